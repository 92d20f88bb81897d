"""Train the article's network on synthetic regression data; count multiplications in both orders.

The network is the article's ``x -> W1 x + b1 -> sigmoid -> W2 z2 + b2 -> MSE``.
Both orders compute the same gradients, so they take the same SGD steps and
the losses agree; what differs is the number of scalar multiplications spent
on the Jacobian products. Run with::

    python examples/train_article.py
"""

from __future__ import annotations

import numpy as np

from chainorder.networks.article import article_costs
from chainorder.networks.gradients import train
from chainorder.networks.network import article_network

X_WIDTH, Z1_WIDTH, Z3_WIDTH = 20, 10, 3
N_EXAMPLES, EPOCHS, ALPHA = 40, 10, 0.3


def synthetic_regression(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets from a random "teacher" of the same shape, plus a little noise."""
    rng = np.random.default_rng(seed)
    teacher = article_network(X_WIDTH, Z1_WIDTH, Z3_WIDTH, seed=seed + 1)
    X = rng.standard_normal((N_EXAMPLES, X_WIDTH))
    zero = np.zeros(Z3_WIDTH)
    Y = np.array([teacher.forward(x, zero).output for x in X])
    return X, Y + 0.01 * rng.standard_normal(Y.shape)


def main() -> None:
    X, Y = synthetic_regression(seed=0)
    net = article_network(X_WIDTH, Z1_WIDTH, Z3_WIDTH, seed=42)
    print(net)
    costs = article_costs(X_WIDTH, Z1_WIDTH, Z3_WIDTH)
    print(f"dl/dx alone, per example (the article's formulas): loss-first "
          f"{costs['loss_first']:,}, input-first {costs['input_first']:,} multiplications\n")

    lf = train(net, X, Y, alpha=ALPHA, epochs=EPOCHS, order="loss_first")
    inf = train(net, X, Y, alpha=ALPHA, epochs=EPOCHS, order="input_first")

    print(f"initial mean loss {lf.initial_loss:.5f}; "
          f"{N_EXAMPLES} SGD steps per epoch, alpha {ALPHA}")
    print("epoch   loss (loss-first)  loss (input-first)   "
          "mults loss-first  mults input-first  ratio")
    for e in range(EPOCHS):
        m_lf, m_inf = lf.multiplications[e], inf.multiplications[e]
        print(f"{e + 1:>5}   {lf[e]:>17.6f}  {inf[e]:>18.6f}   {m_lf:>16,}  {m_inf:>17,}  "
              f"{m_inf / m_lf:5.1f}x")
    gap = max(abs(a - b) for a, b in zip(lf, inf, strict=True))
    print(f"\nlargest loss difference between the orders: {gap:.2e} (same steps, different cost)")


if __name__ == "__main__":
    main()
