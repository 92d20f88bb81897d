"""Layers, losses, networks and recurrent chains: shapes, finite-difference Jacobians, errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

from chainorder.networks import (
    ACTIVATIONS,
    Activation,
    Affine,
    MSELoss,
    Network,
    RecurrentNetwork,
    Softmax,
    SoftmaxCrossEntropy,
    article_network,
    recurrent_chain,
    recurrent_example,
)
from chainorder.networks.gradients import numerical_gradient


def fd_jacobian(f, z: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Rows ``d f_i / dz`` by central differences."""
    width = f(z).shape[0]
    return np.stack([numerical_gradient(lambda t, i=i: f(t)[i], z, eps) for i in range(width)])


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


# ----------------------------------------------------------------------------- Affine


def test_affine_forward_and_jacobians() -> None:
    rng = np.random.default_rng(0)
    W, b, z = rng.standard_normal((3, 5)), rng.standard_normal(3), rng.standard_normal(5)
    lay = Affine(W, b)
    np.testing.assert_allclose(lay.forward(z), W @ z + b)
    np.testing.assert_array_equal(lay.input_jacobian(z), W)
    jac = lay.param_jacobians(z)
    assert jac["W"].shape == (3, 15) and jac["b"].shape == (3, 3)
    # W flattened row by row: dz/dW · W.ravel() reproduces W z
    np.testing.assert_allclose(jac["W"] @ W.ravel(), W @ z)
    np.testing.assert_array_equal(jac["W"], np.kron(np.eye(3), z[None, :]))
    np.testing.assert_array_equal(jac["b"], np.eye(3))


def test_affine_param_jacobian_matches_finite_differences() -> None:
    rng = np.random.default_rng(1)
    W, b, z = rng.standard_normal((4, 2)), rng.standard_normal(4), rng.standard_normal(2)
    lay = Affine(W, b)
    fd_W = fd_jacobian(lambda w: Affine(w.reshape(4, 2), b).forward(z), W.ravel())
    fd_b = fd_jacobian(lambda c: Affine(W, c).forward(z), b)
    np.testing.assert_allclose(lay.param_jacobians(z)["W"], fd_W, atol=1e-8)
    np.testing.assert_allclose(lay.param_jacobians(z)["b"], fd_b, atol=1e-8)


def test_affine_copies_and_freezes_its_arrays() -> None:
    W = np.ones((2, 2))
    lay = Affine(W, np.zeros(2))
    W[0, 0] = 5.0
    assert lay.W[0, 0] == 1.0
    with pytest.raises(ValueError, match="read-only"):
        lay.W[0, 0] = 2.0


@pytest.mark.parametrize(
    ("W", "b", "pattern"),
    [
        (np.ones(3), np.ones(3), r"W must be a non-empty 2-D array .* shape \(3,\)"),
        (
            np.ones((3, 2)),
            np.ones(2),
            r"b must have shape \(3,\) to match W of shape \(3, 2\), got b of shape \(2,\)",
        ),
        (np.ones((3, 2)), np.ones((3, 1)), r"got b of shape \(3, 1\); pass b.ravel\(\)"),
        (np.array([[1.0, np.nan]]), np.ones(1), r"W has a non-finite entry nan at index \(0, 1\)"),
        (np.ones((1, 2)), [np.inf], r"b has a non-finite entry inf"),
    ],
)
def test_affine_rejects_bad_shapes_and_values(W, b, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        Affine(W, b)


def test_affine_rejects_non_numbers_and_wrong_inputs() -> None:
    with pytest.raises(TypeError, match="W must hold real numbers"):
        Affine([["a", "b"]], [0.0])
    lay = Affine(np.ones((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"z must have length 3, got shape \(2,\)"):
        lay.forward(np.ones(2))
    assert repr(lay) == "Affine(W: 2x3, b: 2)"


# ----------------------------------------------------------------------------- elementwise layers


Z_AWAY_FROM_ZERO = np.array([-2.0, -0.7, 0.3, 1.1, 2.5])


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_jacobian_matches_finite_differences(name: str) -> None:
    act = Activation(name)
    jac = act.input_jacobian(Z_AWAY_FROM_ZERO)
    assert np.count_nonzero(jac - np.diag(np.diag(jac))) == 0
    np.testing.assert_allclose(jac, fd_jacobian(act.forward, Z_AWAY_FROM_ZERO), atol=1e-8)


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "tanh"])
def test_activations_are_stable_at_extreme_inputs(name: str) -> None:
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    act = Activation(name)
    with np.errstate(over="raise", invalid="raise"):
        out, jac = act.forward(z), act.input_jacobian(z)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(jac))


def test_activation_values() -> None:
    z = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(Activation("sigmoid").forward(z), 1 / (1 + np.exp(-z)))
    np.testing.assert_allclose(Activation("softplus").forward(z), np.log1p(np.exp(z)))
    np.testing.assert_array_equal(Activation("relu").forward(z), [0.0, 0.0, 2.0])
    np.testing.assert_array_equal(Activation("identity").input_jacobian(z), np.eye(3))
    assert repr(Activation("TANH")) == "Activation('tanh')"


def test_unknown_activation_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown activation 'gelu'; valid activations: identity,"):
        Activation("gelu")
    with pytest.raises(TypeError, match="activation name must be a str"):
        Activation(3)  # type: ignore[arg-type]


def test_softmax_jacobian() -> None:
    z = np.array([0.5, -1.0, 2.0, 0.0])
    sm = Softmax()
    s = sm.forward(z)
    jac = sm.input_jacobian(z)
    np.testing.assert_allclose(jac, np.diag(s) - np.outer(s, s))
    np.testing.assert_allclose(jac.sum(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(jac, fd_jacobian(sm.forward, z), atol=1e-8)
    assert np.all(np.isfinite(sm.forward(np.array([1000.0, -1000.0]))))


# ----------------------------------------------------------------------------- losses


def test_mse_value_and_gradient() -> None:
    z, y = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 1.0])
    loss = MSELoss()
    assert loss.value(z, y) == pytest.approx((1 + 0 + 9) / 3)
    grad = loss.gradient(z, y)
    assert grad.shape == (1, 3)
    fd = numerical_gradient(lambda t: loss.value(t, y), z)
    np.testing.assert_allclose(grad[0], fd, rtol=1e-8)


@pytest.mark.parametrize("target", [2, np.int64(0), np.array([0.1, 0.2, 0.3, 0.4])])
def test_cross_entropy_gradient_matches_finite_differences(target) -> None:
    z = np.array([0.3, -1.2, 2.0, 0.5])
    loss = SoftmaxCrossEntropy()
    grad = loss.gradient(z, target)
    assert grad.shape == (1, 4)
    fd = numerical_gradient(lambda t: loss.value(t, target), z)
    np.testing.assert_allclose(grad[0], fd, rtol=1e-7, atol=1e-10)


def test_cross_entropy_value_is_stable() -> None:
    loss = SoftmaxCrossEntropy()
    assert loss.value(np.array([1000.0, 0.0]), 0) == pytest.approx(0.0)
    assert loss.value(np.array([1000.0, 0.0]), 1) == pytest.approx(1000.0)


def test_loss_targets_are_checked() -> None:
    ce = SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match=r"class index in \[0, 3\), got 3"):
        ce.value(np.zeros(3), 3)
    with pytest.raises(TypeError, match="class index .int. or a probability vector .* got 1.0"):
        ce.value(np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="entries >= 0"):
        ce.value(np.zeros(2), [1.5, -0.5])
    with pytest.warns(UserWarning, match="sums to"):
        ce.value(np.zeros(2), [0.5, 0.6])
    with pytest.raises(ValueError, match=r"y must have length 2, got shape \(3,\)"):
        MSELoss().value(np.zeros(2), np.zeros(3))


# ----------------------------------------------------------------------------- Network


def test_article_network_chain_has_the_article_dims() -> None:
    net = article_network(7, 5, 3, seed=0)
    rng = np.random.default_rng(2)
    chain = net.input_chain(rng.standard_normal(7), rng.standard_normal(3))
    assert chain.dims == (1, 3, 5, 5, 7)
    assert chain.names == ["dl/dz3", "dz3/dz2", "dz2/dz1", "dz1/dx"]
    assert net.widths == (7, 5, 5, 3)
    assert repr(net) == (
        "<Network x[7] -> Affine(5x7) -> z1[5] -> sigmoid -> z2[5] -> Affine(3x5) -> z3[3]"
        " -> MSELoss>"
    )


def test_forward_pass_keeps_every_activation() -> None:
    net = article_network(4, 3, 2, activation="tanh", seed=3)
    x, y = np.arange(4.0), np.zeros(2)
    fp = net.forward(x, y)
    W1, b1 = net.layers[0].W, net.layers[0].b
    W2, b2 = net.layers[2].W, net.layers[2].b
    np.testing.assert_array_equal(fp.zs[0], x)
    np.testing.assert_allclose(fp.zs[1], W1 @ x + b1)
    np.testing.assert_allclose(fp.zs[2], np.tanh(fp.zs[1]))
    np.testing.assert_allclose(fp.zs[3], W2 @ fp.zs[2] + b2)
    assert fp.loss == pytest.approx(np.mean(fp.zs[3] ** 2)) == net.loss(x, y)
    assert repr(fp).startswith("<ForwardPass x[4] -> z1[3] -> z2[3] -> z3[2], loss ")


def test_param_chain_shapes_and_names() -> None:
    net = Network.from_widths([6, 5, 4, 3], activation="relu", seed=4)
    x, y = np.linspace(-1, 1, 6), np.zeros(3)
    assert [(k, nm, a.shape) for k, nm, a in net.parameters()] == [
        (0, "W", (5, 6)), (0, "b", (5,)),
        (2, "W", (4, 5)), (2, "b", (4,)),
        (4, "W", (3, 4)), (4, "b", (3,)),
    ]
    c = net.param_chain(x, y, 0, "W")
    assert c.dims == (1, 3, 4, 4, 5, 5, 30)
    assert c.names[-1] == "dz1/dW1"
    c = net.param_chain(x, y, 4, "b")
    assert c.dims == (1, 3, 3) and c.names == ["dl/dz5", "dz5/db3"]
    assert net.param_label(2, "W") == "W2"


def test_param_chain_rejects_non_affine_layers_and_names() -> None:
    net = article_network(4, 3, 2)
    with pytest.raises(ValueError, match=r"one of \[0, 2\]; got 1 \(Activation\('sigmoid'\)\)"):
        net.param_chain(np.ones(4), np.zeros(2), 1, "W")
    with pytest.raises(ValueError, match=r"name must be one of \['W', 'b'\], got 'V'"):
        net.param_chain(np.ones(4), np.zeros(2), 0, "V")


def test_network_checks_widths_and_layers() -> None:
    first, second = Affine(np.ones((3, 5)), np.zeros(3)), Affine(np.ones((2, 4)), np.zeros(2))
    pattern = r"layers\[2\]: Affine\(W: 2x4, b: 2\) expects input width 4 but gets width 3"
    with pytest.raises(ValueError, match=pattern):
        Network([first, Activation("tanh"), second])
    with pytest.raises(TypeError, match=r"layers\[1\] must be a Layer"):
        Network([Affine(np.ones((3, 5)), np.zeros(3)), np.tanh])
    with pytest.raises(ValueError, match="fixes the input width"):
        Network([Activation("tanh")])
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        Network([Affine(np.ones((3, 5)), np.zeros(3))], loss="hinge")


@pytest.mark.parametrize(
    ("x", "error", "pattern"),
    [
        (np.array([1.0, np.nan, 0.0, 0.0]), ValueError, r"x has a non-finite entry nan at index"),
        (np.ones(5), ValueError, r"x must have length 4, got shape \(5,\)"),
        (np.ones((4, 1)), ValueError, r"1-D array of length 4, got shape \(4, 1\); pass x.ravel"),
        (np.array(["a"] * 4), TypeError, "x must hold real numbers"),
    ],
)
def test_bad_inputs_name_x(x, error, pattern) -> None:
    net = article_network(4, 3, 2)
    with pytest.raises(error, match=pattern):
        net.forward(x, np.zeros(2))


def test_bad_target_names_y() -> None:
    net = article_network(4, 3, 2)
    with pytest.raises(ValueError, match=r"y has a non-finite entry inf"):
        net.loss(np.ones(4), [0.0, np.inf])


def test_with_parameters_returns_a_new_network() -> None:
    net = article_network(4, 3, 2, seed=5)
    W = np.full((3, 4), 0.25)
    new = net.with_parameters({(0, "W"): W})
    np.testing.assert_array_equal(new.layers[0].W, W)
    assert not np.array_equal(net.layers[0].W, W)
    assert new.layers[1] is net.layers[1]
    with pytest.raises(ValueError, match=r"updates\[\(0, 'W'\)\] has shape \(4, 3\), expected"):
        net.with_parameters({(0, "W"): W.T})
    with pytest.raises(ValueError, match=r"no parameter \(1, 'W'\)"):
        net.with_parameters({(1, "W"): W})


def test_from_widths_is_seeded_and_glorot_scaled() -> None:
    a = Network.from_widths([8, 6, 4], seed=7)
    b = Network.from_widths([8, 6, 4], seed=7)
    c = Network.from_widths([8, 6, 4], seed=8)
    np.testing.assert_array_equal(a.layers[0].W, b.layers[0].W)
    assert not np.array_equal(a.layers[0].W, c.layers[0].W)
    assert np.abs(a.layers[0].W).max() <= np.sqrt(6 / 14)
    net = Network.from_widths([3, 4, 5], activation=None, output_activation="softmax")
    assert [type(lay).__name__ for lay in net.layers] == ["Affine", "Affine", "Softmax"]
    with pytest.warns(UserWarning, match="applies softmax again"):
        Network.from_widths([3, 4, 5], output_activation="softmax", loss="cross_entropy")


def test_long_chain_stays_finite() -> None:
    net = Network.from_widths([20] * 61, activation="tanh", seed=9)
    rng = np.random.default_rng(9)
    chain = net.input_chain(rng.standard_normal(20), rng.standard_normal(20))
    assert len(chain) == 120
    dx = chain.multiply("loss_first")
    assert np.all(np.isfinite(dx)) and np.linalg.norm(dx) > 1e-30


def test_input_chain_product_matches_finite_differences() -> None:
    net = Network.from_widths([5, 4, 6, 3], activation="softplus", seed=10)
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal(5), rng.standard_normal(3)
    dx = net.input_chain(x, y).multiply("optimal")[0]
    assert rel_err(dx, numerical_gradient(lambda t: net.loss(t, y), x)) < 1e-6


# ----------------------------------------------------------------------------- recurrent


@pytest.mark.parametrize("T", [1, 2, 7])
def test_recurrent_chain_is_dl_dx1(T: int) -> None:
    rnn, xs, y = recurrent_example(T, hidden=5, inputs=3, seed=11)
    chain = rnn.input_chain(xs, y)
    assert len(chain) == T + 1
    assert chain.dims == (1, *([5] * T), 3)
    assert chain.names[0] == f"dl/dh{T}" and chain.names[-1] == "dh1/dx1"

    def loss_of_x1(x1: np.ndarray) -> float:
        return rnn.loss(np.vstack([x1, xs[1:]]), y)

    dx1 = chain.multiply("loss_first")[0]
    assert rel_err(dx1, numerical_gradient(loss_of_x1, xs[0])) < 1e-6
    np.testing.assert_allclose(chain.multiply("input_first")[0], dx1, rtol=1e-10)


def test_recurrent_chain_matches_example_and_is_long() -> None:
    c = recurrent_chain(400, hidden=8, inputs=2, seed=12)
    rnn, xs, y = recurrent_example(400, hidden=8, inputs=2, seed=12)
    assert len(c) == 401
    np.testing.assert_array_equal(c.matrices[5], rnn.input_chain(xs, y).matrices[5])
    assert np.all(np.isfinite(c.multiply("loss_first")))
    assert c.plan("loss_first").cost < c.plan("input_first").cost
    assert repr(rnn) == "<RecurrentNetwork hidden 8, inputs 2, MSELoss>"


def test_recurrent_checks_inputs() -> None:
    with pytest.raises(ValueError, match=r"W must be square .* got shape \(3, 2\)"):
        RecurrentNetwork(np.ones((3, 2)), np.ones((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match=r"U must have 3 rows to match W of shape \(3, 3\)"):
        RecurrentNetwork(np.eye(3), np.ones((2, 2)), np.zeros(3))
    rnn = RecurrentNetwork.from_sizes(3, 2, seed=0)
    with pytest.raises(ValueError, match=re.escape("xs must be a T x 2 array")):
        rnn.loss(np.ones((4, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="T must be >= 1, got 0"):
        recurrent_chain(0, 3, 2)
    with pytest.raises(TypeError, match="hidden must be an integer"):
        recurrent_chain(3, 2.5, 2)


def test_dense_chains_past_the_memory_budget_are_refused_up_front():
    net = article_network(1000, 100, 10, seed=0)
    x, y = np.ones(1000), np.zeros(10)
    with pytest.raises(ValueError, match=r"would need 888\.1 kB .* budget of 1\.0 kB"):
        net.input_chain(x, y, cost="dense", max_bytes="1kB")
    with pytest.raises(ValueError, match=r"would need 80\.1 MB .*max_bytes="):
        net.param_chain(x, y, 0, "W", cost="dense", max_bytes=10**6)
    assert net.input_chain(x, y, cost="dense", max_bytes="2MB").dims == (1, 10, 100, 100, 1000)
    structured = net.param_chain(x, y, 0, "W", max_bytes=1)  # kinds: nothing dense is built
    assert structured.dims[-1] == 100_000


def test_the_memory_budget_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("CHAINORDER_MAX_MEMORY", "1kB")
    chain = article_network(100, 10, 2, seed=0).param_chain(np.ones(100), np.zeros(2), 0, "W")
    with pytest.raises(ValueError, match="CHAINORDER_MAX_MEMORY"):
        chain.matrices  # noqa: B018
