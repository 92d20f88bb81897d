"""Mini-batches: the gradients of the mean loss against per-example means, jax.grad and counts."""

from __future__ import annotations

import numpy as np
import pytest

import chainorder as co
from chainorder.networks.gradients import gradients
from chainorder.networks.layers import Activation, Affine, Softmax
from chainorder.networks.losses import SoftmaxCrossEntropy
from chainorder.networks.network import Network

#: Activations the random networks draw from (softplus' derivative is sigmoid: both covered).
ACTS = ["sigmoid", "tanh", "relu", "softplus", "identity"]


def random_case(seed: int) -> tuple[Network, np.ndarray, np.ndarray]:
    """A random network, batch size, inputs and targets (MSE or cross-entropy, class or rows)."""
    rng = np.random.default_rng(seed)
    widths = [int(w) for w in rng.integers(1, 7, size=int(rng.integers(2, 5)))]
    loss = "cross_entropy" if seed % 3 == 0 else "mse"
    out = "softmax" if seed % 5 == 1 and loss == "mse" else None
    net = Network.from_widths(widths, activation=str(rng.choice(ACTS)), loss=loss, seed=seed,
                              output_activation=out)
    B = int(rng.choice([1, 2, 3, 7, 16]))
    X = rng.standard_normal((B, widths[0]))
    if loss == "mse":
        Y = rng.standard_normal((B, widths[-1]))
    elif seed % 2:
        Y = rng.integers(0, widths[-1], size=B)
    else:
        Y = rng.dirichlet(np.ones(widths[-1]), size=B)
    return net, X, Y


def per_example_mean(net: Network, X: np.ndarray, Y: np.ndarray) -> tuple[dict, np.ndarray]:
    single = [co.loss_first_gradients(net, x, y) for x, y in zip(X, Y, strict=True)]
    grads = {k: np.mean([g[k] for g in single], axis=0) for k in single[0]}
    return grads, np.stack([g.dx for g in single]) / X.shape[0]


def assert_rel(a: np.ndarray, b: np.ndarray, rtol: float) -> None:
    scale = max(float(np.abs(b).max()), 1e-300)
    assert float(np.abs(a - b).max()) <= rtol * scale


SEEDS = range(20)


@pytest.mark.parametrize("order", ["loss_first", "input_first"])
@pytest.mark.parametrize("seed", SEEDS)
def test_batch_gradients_are_the_mean_of_the_examples(seed: int, order: str) -> None:
    net, X, Y = random_case(seed)
    got = gradients(net, X, Y, order)
    want, dx = per_example_mean(net, X, Y)
    assert set(got) == set(want)
    for key in want:
        assert got[key].shape == want[key].shape
        assert_rel(got[key], want[key], 1e-12)
    assert got.dx.shape == X.shape
    assert_rel(got.dx, dx, 1e-12)
    single = [gradients(net, x, y, order).multiplications for x, y in zip(X, Y, strict=True)]
    assert got.multiplications == sum(single)
    assert net.loss(X, Y) == pytest.approx(np.mean([net.loss(x, y) for x, y in zip(X, Y,
                                                                                   strict=True)]))


def _jax_loss(net: Network, jnp: object):
    """The mean loss of ``net`` as a JAX function of (params, X)."""
    def forward(params: dict, X):
        Z = X
        for k, lay in enumerate(net.layers):
            if isinstance(lay, Affine):
                Z = Z @ params[(k, "W")].T + params[(k, "b")]
            elif isinstance(lay, Softmax):
                Z = jnp.exp(Z - Z.max(axis=1, keepdims=True))
                Z = Z / Z.sum(axis=1, keepdims=True)
            elif isinstance(lay, Activation):
                Z = {"sigmoid": lambda z: 1 / (1 + jnp.exp(-z)), "tanh": jnp.tanh,
                     # relu's subgradient 0 at 0, as chainorder's
                     "relu": lambda z: jnp.where(z > 0, z, 0.0), "identity": lambda z: z,
                     "softplus": lambda z: jnp.logaddexp(z, 0.0)}[lay.name](Z)
        return Z

    def mean_loss(params: dict, X, Y):
        Z = forward(params, X)
        if isinstance(net.loss_fn, SoftmaxCrossEntropy):
            lse = jnp.log(jnp.exp(Z - Z.max(axis=1, keepdims=True)).sum(axis=1)) + Z.max(axis=1)
            if Y.ndim == 1:
                return jnp.mean(lse - Z[jnp.arange(Z.shape[0]), Y])
            return jnp.mean(Y.sum(axis=1) * lse - (Y * Z).sum(axis=1))
        return jnp.mean(((Z - Y) ** 2).mean(axis=1))

    return mean_loss


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_gradients_equal_jax_grad_of_the_mean_loss(seed: int) -> None:
    jax = pytest.importorskip("jax")
    net, X, Y = random_case(seed)
    got = co.loss_first_gradients(net, X, Y)
    with jax.enable_x64(True):
        jnp = jax.numpy
        params = {(k, nm): jnp.asarray(a) for k, nm, a in net.parameters()}
        grad = jax.grad(_jax_loss(net, jnp), argnums=(0, 1))(params, jnp.asarray(X),
                                                                jnp.asarray(Y))
        for key in got:
            assert_rel(got[key], np.asarray(grad[0][key]), 1e-10)
        assert_rel(got.dx, np.asarray(grad[1]), 1e-10)
        value = float(_jax_loss(net, jnp)(params, jnp.asarray(X), jnp.asarray(Y)))
    assert net.loss(X, Y) == pytest.approx(value, rel=1e-12)


def test_single_examples_keep_their_shapes_and_results() -> None:
    net = co.article_network(4, 3, 2, seed=0)
    x, y = np.ones(4), np.zeros(2)
    one = co.loss_first_gradients(net, x, y)
    batch = co.loss_first_gradients(net, x[np.newaxis], y[np.newaxis])
    assert one.dx.shape == (4,) and batch.dx.shape == (1, 4)
    assert one.multiplications == batch.multiplications == 39
    for key in one:
        np.testing.assert_allclose(batch[key], one[key], rtol=1e-15, atol=0)


def test_batch_counts_are_b_times_one_example_by_hand() -> None:
    # the article's network 4 -> 3 -> 2: one example's loss-first sweep, by hand:
    # dl/dz3·W2 2·3, dW2 outer 2·3, σ' 3, dW1 outer 3·4, dl/dz1·W1 3·4 = 39 (dense: 88)
    net = co.article_network(4, 3, 2, seed=0)
    X, Y = np.ones((64, 4)), np.zeros((64, 2))
    assert co.loss_first_gradients(net, X, Y).multiplications == 64 * 39
    assert co.loss_first_gradients(net, X, Y, cost="dense").multiplications == 64 * 88
    assert co.input_first_gradients(net, X[:3], Y[:3]).multiplications == 3 * 86


def test_finite_differences_and_training_take_a_batch() -> None:
    net = co.article_network(4, 3, 2, activation="tanh", seed=0)
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    fd, lf = co.finite_difference_gradients(net, X, Y), co.loss_first_gradients(net, X, Y)
    for key in lf:
        np.testing.assert_allclose(fd[key], lf[key], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(fd.dx, lf.dx, rtol=1e-6, atol=1e-9)
    stepped = co.sgd_step(net, lf, alpha=0.1)
    assert stepped.loss(X, Y) < net.loss(X, Y)
    h = co.train(net, X, Y, alpha=0.1, epochs=3, batch_size=2)
    assert h[-1] < h.initial_loss and h.multiplications == [5 * 39 * 1] * 3


@pytest.mark.parametrize(
    ("X", "Y", "pattern"),
    [
        (np.ones((64, 999)), np.zeros((64, 2)),
         r"X of shape \(64, 999\) for a network of input width 4"),
        (np.ones((64, 4)), np.zeros((63, 2)), r"Y must have shape \(64, 2\)"),
        (np.ones((4, 64)), np.zeros((64, 2)), r"pass X.T"),
    ],
)
def test_bad_batches_name_the_argument(X: np.ndarray, Y: np.ndarray, pattern: str) -> None:
    net = co.article_network(4, 3, 2, seed=0)
    with pytest.raises(ValueError, match=pattern):
        co.loss_first_gradients(net, X, Y)


def test_bad_class_indices_are_named() -> None:
    net = co.Network.from_widths([3, 4], loss="cross_entropy")
    with pytest.raises(ValueError, match=r"Y must hold class indices in \[0, 4\), got 7"):
        net.loss(np.ones((2, 3)), np.array([1, 7]))


@pytest.mark.parametrize("seed", range(0, 20, 3))
def test_batch_chains_multiply_to_the_batch_gradients_in_every_order(seed: int) -> None:
    net, X, Y = random_case(seed)
    want = co.loss_first_gradients(net, X, Y)
    B = X.shape[0]
    chain = net.input_chain(X, Y)
    assert chain.dims[-1] == X.size and all(
        f.kind == "block_diagonal" for f in chain.factors[1:])
    for order in ("loss_first", "input_first", "optimal"):
        for cost in ("structured", "dense"):
            dx = chain.multiply(order, cost=cost)
            assert_rel(dx.reshape(B, -1), want.dx, 1e-12)
            for k, name, param in net.parameters():
                pc = net.param_chain(X, Y, k, name, cost=cost)
                assert pc.names[-1] == f"d{net.param_label(k, name)}[b]/d{net.param_label(k, name)}"
                assert_rel(pc.multiply(order, cost=cost).reshape(param.shape), want[k, name], 1e-12)


def test_batch_chain_costs_by_hand_on_the_block_diagonal_patterns() -> None:
    # article network x -> z1 -> z3, B examples: the chain dl/dZ3 [1 x B z3] · diag(W2, .., W2)
    # · diag(σ'_1, .., σ'_B) · diag(W1, .., W1); every block multiplied once per example
    x, z1, z3, B = 20, 8, 3, 5
    net = co.article_network(x, z1, z3, seed=0)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((B, x)), rng.standard_normal((B, z3))
    chain = net.input_chain(X, Y)
    loss_first = B * (z3 * z1 + z1 + z1 * x)  # a row through W2, σ', W1, per example
    input_first = B * (z1 * x + z3 * z1 * x + z3 * x)  # σ'·W1, W2·(σ'W1), the row last
    assert chain.plan("loss_first", cost="structured").cost == loss_first
    assert chain.plan("input_first", cost="structured").cost == input_first
    assert chain.plan("optimal", cost="structured").cost == loss_first
    # dense: the block-diagonal matrices multiplied with their zero blocks
    dense = B * z3 * B * z1 + B * z1 * B * z1 + B * z1 * B * x
    assert chain.plan("loss_first", cost="dense").cost == dense
    # the batch's input-first gradients are B times one example's, and so is loss-first
    one = co.input_first_gradients(net, X[0], Y[0]).multiplications
    assert co.input_first_gradients(net, X, Y).multiplications == B * one
    single = co.loss_first_gradients(net, X[0], Y[0]).multiplications
    assert co.loss_first_gradients(net, X, Y).multiplications == B * single


def test_sharing_a_parameter_across_the_batch_costs_no_multiplication() -> None:
    from chainorder.algebra.kinds import KindSig, Replicate, structured_product
    net = co.article_network(4, 3, 2, seed=0)
    X, Y = np.ones((6, 4)), np.zeros((6, 2))
    pc = net.param_chain(X, Y, 0, "W")
    shared = pc.factors[-1]
    assert isinstance(shared, Replicate) and shared.shape == (6 * 12, 12)
    before = co.Chain(pc.factors[:-1]).plan("loss_first", cost="structured").cost
    assert pc.plan("loss_first", cost="structured").cost == before  # the sum: additions only
    assert structured_product(KindSig.dense(1, 72), shared.signature)[0] == 0
    with pytest.raises(ValueError, match="batch must be an integer >= 1, got 0"):
        Replicate(3, 0)
