"""Loss-first vs input-first gradients: agreement, finite differences, counts, SGD, training."""

from __future__ import annotations

import numpy as np
import pytest

from chainorder.algebra.costs import matmul_cost
from chainorder.algebra.orders import plan
from chainorder.networks import (
    Activation,
    Affine,
    Network,
    Softmax,
    article_network,
)
from chainorder.networks.gradients import (
    Gradients,
    finite_difference_gradients,
    gradients,
    input_first_gradients,
    loss_first_gradients,
    numerical_gradient,
    sgd_step,
    train,
)


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def _case(widths, activation, seed, *, loss="mse", output=None, target="vector"):
    net = Network.from_widths(widths, activation=activation, loss=loss, seed=seed,
                              output_activation=output)
    rng = np.random.default_rng(seed)
    # non-zero biases, so the bias gradients and activations are exercised off their defaults
    net = net.with_parameters({(k, "b"): 0.3 * rng.standard_normal(a.shape)
                               for k, nm, a in net.parameters() if nm == "b"})
    x = rng.standard_normal(widths[0])
    if target == "class":
        y = int(rng.integers(widths[-1]))
    elif target == "distribution":
        y = rng.dirichlet(np.ones(widths[-1]))
    else:
        y = rng.standard_normal(widths[-1])
    return net, x, y


#: name -> (widths, activation, seed, keyword options): every layer kind and every loss.
CASES = {
    "identity": ([5, 4, 3], "identity", 0, {}),
    "relu": ([5, 6, 4, 3], "relu", 1, {}),
    "tanh": ([5, 4, 4, 3], "tanh", 2, {}),
    "sigmoid": ([6, 4, 2], "sigmoid", 3, {}),
    "softplus": ([4, 5, 3], "softplus", 4, {}),
    "softmax+mse": ([5, 4, 3], "tanh", 5, {"output": "softmax"}),
    "cross_entropy_class": ([5, 4, 4], "tanh", 6, {"loss": "cross_entropy", "target": "class"}),
    "cross_entropy_distribution": (
        [5, 4, 4], "sigmoid", 7, {"loss": "cross_entropy", "target": "distribution"}
    ),
}


@pytest.fixture(params=sorted(CASES))
def case(request):
    widths, activation, seed, options = CASES[request.param]
    return _case(widths, activation, seed, **options)


def test_loss_first_matches_central_differences(case) -> None:
    net, x, y = case
    if any(isinstance(lay, Activation) and lay.name == "relu" for lay in net.layers):
        zs = net.forward(x, y).zs
        pre = [zs[k] for k, lay in enumerate(net.layers) if isinstance(lay, Activation)]
        assert min(np.abs(z).min() for z in pre) > 1e-4  # relu is differentiated away from 0
    lf = loss_first_gradients(net, x, y)
    fd = finite_difference_gradients(net, x, y, eps=1e-6)
    assert set(lf) == set(fd)
    for key in lf:
        assert lf[key].shape == fd[key].shape
        assert rel_err(lf[key], fd[key]) < 1e-6, (key, rel_err(lf[key], fd[key]))
    assert rel_err(lf.dx, fd.dx) < 1e-6


@pytest.mark.parametrize("structure", ["structured", "dense"])
def test_two_orders_agree(case, structure) -> None:
    net, x, y = case
    lf = loss_first_gradients(net, x, y, cost=structure)
    inf = input_first_gradients(net, x, y, cost=structure)
    dense = loss_first_gradients(net, x, y, cost="dense")
    for key in lf:
        assert rel_err(inf[key], lf[key]) < 1e-10
        assert rel_err(dense[key], lf[key]) < 1e-12
    assert rel_err(inf.dx, lf.dx) < 1e-10
    assert inf.multiplications > lf.multiplications
    assert dense.multiplications >= lf.multiplications


def test_input_chain_product_is_loss_first_dx(case) -> None:
    net, x, y = case
    chain = net.input_chain(x, y)
    lf = loss_first_gradients(net, x, y)
    for order in ("loss_first", "input_first", "optimal"):
        for structure in ("dense", "structured"):
            out = chain.multiply(order, cost=structure)[0]
            np.testing.assert_allclose(out, lf.dx, rtol=1e-10, atol=1e-14)


def test_softmax_layer_with_cross_entropy_on_probabilities() -> None:
    rng = np.random.default_rng(8)
    net = Network([Affine(rng.standard_normal((3, 4)), rng.standard_normal(3)), Softmax()], "mse")
    x, y = rng.standard_normal(4), np.array([0.2, 0.5, 0.3])
    lf, fd = loss_first_gradients(net, x, y), finite_difference_gradients(net, x, y)
    assert all(rel_err(lf[k], fd[k]) < 1e-6 for k in lf)


def _article_loss_first_count(x: int, z1: int, z3: int) -> int:
    """The sweep by hand: each step is a 1 x n row times an n x m Jacobian."""
    layer2 = 1 * z3 * (z3 * z1) + 1 * z3 * z3 + 1 * z3 * z1  # dW2, db2, then dl/dz2
    layer1 = 1 * z1 * z1                                       # dl/dz1 = dl/dz2 · diag
    layer0 = 1 * z1 * (z1 * x) + 1 * z1 * z1 + 1 * z1 * x     # dW1, db1 (cached dl/dz1), dl/dx
    return layer2 + layer1 + layer0


def _article_structured_count(x: int, z1: int, z3: int) -> int:
    """The structured sweep by hand: dl/dW is the outer product row ⊗ z_in, db and I are free."""
    layer2 = z3 * z1 + 0 + 1 * z3 * z1   # dW2 = outer(row, z2), db2 = row, dl/dz2 = row W2
    layer1 = z1                          # row times diag(σ')
    layer0 = z1 * x + 0 + 1 * z1 * x     # dW1 = outer(row, x), db1 = row, dl/dx = row W1
    return layer2 + layer1 + layer0


@pytest.mark.parametrize(("x", "z1", "z3"), [(4, 3, 2), (30, 7, 1), (12, 20, 5), (50, 10, 10)])
def test_counted_multiplications_are_exact(x: int, z1: int, z3: int) -> None:
    net = article_network(x, z1, z3, seed=x)
    rng = np.random.default_rng(z1)
    xv, y = rng.standard_normal(x), rng.standard_normal(z3)
    lf = loss_first_gradients(net, xv, y, cost="dense")
    assert lf.multiplications == _article_loss_first_count(x, z1, z3)
    # loss-first = the dl/dx chain left to right, plus one row-times-Jacobian per parameter
    chain = net.input_chain(xv, y)
    per_param = sum(matmul_cost(1, net.widths[k + 1], a.size) for k, _, a in net.parameters())
    assert lf.multiplications == plan(chain.dims, "loss_first").cost + per_param
    inf = input_first_gradients(net, xv, y, cost="dense")
    param_dims = [net.param_chain(xv, y, k, nm).dims for k, nm, _ in net.parameters()]
    expected = sum(plan(dims, "input_first").cost for dims in param_dims)
    assert inf.multiplications == expected + plan(chain.dims, "input_first").cost
    assert isinstance(lf.multiplications, int) and isinstance(inf.multiplications, int)
    # structured: the hand count, and input-first = the structured plans of the same chains
    lfs = loss_first_gradients(net, xv, y)
    assert lfs.multiplications == _article_structured_count(x, z1, z3)
    infs = input_first_gradients(net, xv, y)
    chains = [net.param_chain(xv, y, k, nm) for k, nm, _ in net.parameters()] + [chain]
    assert infs.multiplications == sum(
        c.plan("input_first", cost="structured").cost for c in chains)
    for key in lf:
        np.testing.assert_allclose(lfs[key], lf[key], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(infs[key], lf[key], rtol=1e-10, atol=1e-14)


def test_gradients_mapping_and_repr() -> None:
    net = article_network(4, 3, 2, seed=0)
    g = loss_first_gradients(net, np.ones(4), np.zeros(2))
    assert isinstance(g, Gradients) and len(g) == 4
    assert list(g) == [(0, "W"), (0, "b"), (2, "W"), (2, "b")]
    assert sorted(g.by_label()) == ["W1", "W2", "b1", "b2"]
    assert g[(0, "W")].shape == (3, 4) and g.dx.shape == (4,)
    assert repr(g) == (
        "<Gradients 'loss_first': dW1[3x4], db1[3], dW2[2x3], db2[2], dx[4]; 39 multiplications>"
    )
    assert gradients(net, np.ones(4), np.zeros(2), order="backward").order == "input_first"
    with pytest.raises(ValueError, match="unknown order 'sideways'; valid orders: loss_first"):
        gradients(net, np.ones(4), np.zeros(2), order="sideways")
    with pytest.raises(TypeError, match="net must be a chainorder Network"):
        loss_first_gradients("net", np.ones(4), np.zeros(2))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- numerical_gradient


def test_numerical_gradient_on_the_articles_example() -> None:
    # f(x, y) = x y at x = 2, y = -6: df/dx = -6 (the article), df/dy = 2
    np.testing.assert_allclose(numerical_gradient(lambda t: t[0] * t[1], [2.0, -6.0]), [-6.0, 2.0])


def test_numerical_gradient_keeps_shape_and_is_second_order() -> None:
    theta = np.arange(6.0).reshape(2, 3) / 7

    def f(t: np.ndarray) -> float:
        return float(np.sum(np.sin(t) * t**2))

    exact = np.cos(theta) * theta**2 + 2 * theta * np.sin(theta)
    got = numerical_gradient(f, theta, eps=1e-5)
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got, exact, rtol=1e-8, atol=1e-10)
    f_theta = theta.copy()
    numerical_gradient(f, f_theta)
    np.testing.assert_array_equal(f_theta, theta)  # the input is left as it was


def test_numerical_gradient_checks_arguments() -> None:
    with pytest.raises(ValueError, match="eps must be a finite number > 0, got 0"):
        numerical_gradient(np.sum, [1.0], eps=0)
    with pytest.raises(TypeError, match="f must be callable"):
        numerical_gradient(3, [1.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="theta has a non-finite entry"):
        numerical_gradient(np.sum, [np.nan])


# ----------------------------------------------------------------------------- SGD and training


def test_sgd_step_is_exact_and_returns_a_new_network() -> None:
    net, x, y = _case([4, 3, 2], "tanh", 9)
    g = loss_first_gradients(net, x, y)
    new = sgd_step(net, g, alpha=0.1)
    assert new is not net
    for (k, nm, old), (_, _, updated) in zip(net.parameters(), new.parameters(), strict=True):
        np.testing.assert_allclose(updated, old - 0.1 * g[(k, nm)])
    assert new.loss(x, y) < net.loss(x, y)


@pytest.mark.parametrize(
    ("alpha", "error", "pattern"),
    [
        (0.0, ValueError, "alpha must be a finite number > 0, got 0.0"),
        (-0.5, ValueError, "alpha must be a finite number > 0, got -0.5"),
        (float("nan"), ValueError, "alpha must be a finite number > 0, got nan"),
        ("0.1", TypeError, "alpha must be a real number > 0, got '0.1'"),
        (True, TypeError, "alpha must be a real number > 0, got True"),
    ],
)
def test_sgd_step_rejects_bad_alpha(alpha, error, pattern) -> None:
    net, x, y = _case([4, 3, 2], "tanh", 9)
    with pytest.raises(error, match=pattern):
        sgd_step(net, loss_first_gradients(net, x, y), alpha)


def test_sgd_step_rejects_mismatched_gradients() -> None:
    net, x, y = _case([4, 3, 2], "tanh", 9)
    g = dict(loss_first_gradients(net, x, y))
    with pytest.raises(ValueError, match="grads must map every parameter key"):
        sgd_step(net, {k: v for k, v in g.items() if k != (0, "W")}, 0.1)
    g[(0, "W")] = g[(0, "W")].T
    with pytest.raises(ValueError, match=r"grads\[\(0, 'W'\)\] has shape \(4, 3\), expected"):
        sgd_step(net, g, 0.1)


def _regression_data(seed: int, n: int = 24):
    rng = np.random.default_rng(seed)
    teacher = article_network(6, 4, 2, activation="tanh", seed=seed + 100)
    X = rng.standard_normal((n, 6))
    Y = np.array([teacher.forward(x, np.zeros(2)).output for x in X])
    return X, Y


def test_training_lowers_the_loss_and_orders_match() -> None:
    X, Y = _regression_data(13)
    net = article_network(6, 4, 2, activation="tanh", seed=14)
    lf = train(net, X, Y, alpha=0.05, epochs=8, order="loss_first")
    inf = train(net, X, Y, alpha=0.05, epochs=8, order="input_first")
    assert isinstance(lf, list) and len(lf) == 8
    assert lf[-1] < 0.5 * lf.initial_loss
    assert all(b <= a for a, b in zip(lf[:-1], lf[1:], strict=True))
    np.testing.assert_allclose(inf, lf, rtol=1e-10)
    assert lf.multiplications == [24 * _article_structured_count(6, 4, 2)] * 8
    assert all(i > f for i, f in zip(inf.multiplications, lf.multiplications, strict=True))
    np.testing.assert_allclose(lf.network.layers[0].W, inf.network.layers[0].W, rtol=1e-10)
    assert repr(lf).startswith("<TrainingHistory 'loss_first': 8 epochs, loss ")


def test_training_with_cross_entropy_lowers_the_loss() -> None:
    rng = np.random.default_rng(15)
    X = rng.standard_normal((30, 4))
    Y = [int(v) for v in (X[:, 0] + X[:, 1] > 0)]
    net = Network.from_widths([4, 5, 2], activation="tanh", loss="cross_entropy", seed=15)
    hist = train(net, X, Y, alpha=0.1, epochs=5)
    assert hist[-1] < hist.initial_loss


def test_train_checks_arguments() -> None:
    X, Y = _regression_data(16, n=4)
    net = article_network(6, 4, 2, activation="tanh", seed=16)
    with pytest.raises(ValueError, match="alpha must be a finite number > 0, got -1"):
        train(net, X, Y, alpha=-1, epochs=1)
    with pytest.raises(ValueError, match="epochs must be >= 1, got 0"):
        train(net, X, Y, alpha=0.1, epochs=0)
    with pytest.raises(ValueError, match=r"Y must hold one target per row of X \(4\), got 3"):
        train(net, X, Y[:3], alpha=0.1, epochs=1)
    with pytest.raises(ValueError, match=r"X must be a non-empty 2-D array, .* got shape \(6,\)"):
        train(net, X[0], Y[:1], alpha=0.1, epochs=1)
    with pytest.raises(ValueError, match="unknown order 'optimal'"):
        train(net, X, Y, alpha=0.1, epochs=1, order="optimal")
