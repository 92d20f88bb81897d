"""Train the article's network with a convolution in front; count multiplications three ways.

The network is ``x -> Conv1D -> sigmoid -> MaxPool1D -> Affine -> sigmoid -> MSE``
(:func:`chainorder.networks.conv_article_network`) on mini-batches of synthetic
signals. Its convolution and pool have sparse Jacobians (a banded block-Toeplitz
input Jacobian, an im2col weight Jacobian, a selection): counted on their
patterns they cost a fraction of the dense count the article's convention
gives. Both orders take the same steps; they differ in what the Jacobian
products cost. Run with::

    python examples/conv_article.py
"""

from __future__ import annotations

import numpy as np

from chainorder.networks import conv_article_network, loss_first_gradients, train

LENGTH, CHANNELS, KERNEL, OUTPUTS = 64, 4, 5, 3
N_EXAMPLES, BATCH, EPOCHS, ALPHA = 48, 16, 8, 0.5


def synthetic_signals(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy sines whose targets are a random teacher network's outputs."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, LENGTH)
    freq = rng.uniform(1.0, 6.0, size=(N_EXAMPLES, 1))
    X = np.sin(2 * np.pi * freq * t) + 0.1 * rng.standard_normal((N_EXAMPLES, LENGTH))
    teacher = conv_article_network(LENGTH, CHANNELS, KERNEL, OUTPUTS, seed=seed + 1)
    return X, teacher.forward(X, np.zeros((N_EXAMPLES, OUTPUTS))).output


def main() -> None:
    X, Y = synthetic_signals(seed=0)
    net = conv_article_network(LENGTH, CHANNELS, KERNEL, OUTPUTS, seed=42)
    print(net)
    one = {cost: loss_first_gradients(net, X[0], Y[0], cost=cost).multiplications
           for cost in ("structured", "dense")}
    print(f"one example's loss-first gradients: {one['structured']:,} multiplications "
          f"on the patterns, {one['dense']:,} counted dense "
          f"({one['dense'] / one['structured']:.0f}x)\n")
    lf = train(net, X, Y, alpha=ALPHA, epochs=EPOCHS, batch_size=BATCH, order="loss_first")
    inf = train(net, X, Y, alpha=ALPHA, epochs=EPOCHS, batch_size=BATCH, order="input_first")
    print(f"initial mean loss {lf.initial_loss:.5f}; batches of {BATCH}, alpha {ALPHA}")
    print("epoch   loss (loss-first)  loss (input-first)   mults loss-first  mults input-first")
    for e in range(EPOCHS):
        print(f"{e + 1:>5}   {lf[e]:>17.6f}  {inf[e]:>18.6f}   {lf.multiplications[e]:>16,}  "
              f"{inf.multiplications[e]:>17,}")
    gap = max(abs(a - b) for a, b in zip(lf, inf, strict=True))
    print(f"\nlargest loss difference between the orders: {gap:.2e} (same steps, different cost)")


if __name__ == "__main__":
    main()
