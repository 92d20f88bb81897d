"""Convolution and pooling layers: outputs, Jacobians and gradients against JAX; sparse counts."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

import chainorder as co
from chainorder.algebra.kinds import KindSig, Sparse, kind_matmul, structured_product
from chainorder.networks.conv import (
    AvgPool1D,
    AvgPool2D,
    Conv1D,
    Conv2D,
    MaxPool1D,
    MaxPool2D,
    WindowLayer,
    conv_article_network,
)
from chainorder.networks.factors import layer_factor
from chainorder.networks.gradients import gradients, sgd_step
from chainorder.networks.layers import Activation, Affine, Layer
from chainorder.networks.network import Network

jax = pytest.importorskip("jax")
jnp = jax.numpy
lax = jax.lax

SEEDS = range(20)


def assert_rel(a: Any, b: Any, rtol: float = 1e-10) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    scale = max(float(np.abs(b).max()), 1e-300)
    assert float(np.abs(a - b).max()) <= rtol * scale


# ----------------------------------------------------------------------------- random cases


def random_window_layer(rng: np.random.Generator, dims: int, channels: int,
                        spatial: tuple[int, ...], kind: str) -> WindowLayer:
    """A random conv (``kind='conv'``), avg or max pool on ``(channels, *spatial)``, that fits."""
    while True:
        k = tuple(int(v) for v in rng.integers(1, 4, size=dims))
        s = tuple(int(v) for v in rng.integers(1, 3, size=dims))
        shape: Any = spatial[0] if dims == 1 else spatial
        try:
            if kind == "conv":
                p = tuple(int(v) for v in rng.integers(0, 3, size=dims))
                out = int(rng.integers(1, 4))
                W = rng.standard_normal((out, channels, *k))
                cls: Any = Conv1D if dims == 1 else Conv2D
                return cls(W, rng.standard_normal(out), shape, stride=s, padding=p)
            p = tuple(int(rng.integers(0, ki // 2 + 1)) for ki in k)
            pools: dict[tuple[int, str], Any] = {(1, "avg"): AvgPool1D, (2, "avg"): AvgPool2D,
                     (1, "max"): MaxPool1D, (2, "max"): MaxPool2D}
            return pools[(dims, kind)](channels, shape, k, stride=s, padding=p)
        except ValueError:
            continue  # the window does not fit: draw again


def random_case(seed: int) -> tuple[Network, np.ndarray, np.ndarray]:
    """conv -> act -> pool [-> conv -> act] -> Affine [-> act], 1-D or 2-D; a batch of 1..3."""
    rng = np.random.default_rng(seed)
    dims = 1 + seed % 2
    channels = int(rng.integers(1, 4))
    spatial = tuple(int(v) for v in rng.integers(4, 9 - 2 * (dims - 1), size=dims))
    layers: list[Layer] = []
    plan = ["conv", "avg" if seed % 4 < 2 else "max"] + (["conv"] if seed % 3 == 0 else [])
    for kind in plan:
        lay = random_window_layer(rng, dims, channels, spatial, kind)
        layers.append(lay)
        if kind == "conv":
            layers.append(Activation(str(rng.choice(["sigmoid", "tanh"]))))
        channels, spatial = lay.out_channels, lay.out_spatial
    width = channels * int(np.prod(spatial))
    z = int(rng.integers(1, 4))
    layers.append(Affine(rng.standard_normal((z, width)) / np.sqrt(width), rng.standard_normal(z)))
    if seed % 2:
        layers.append(Activation("sigmoid"))
    net = Network(layers, "mse")
    B = int(rng.integers(1, 4))
    return net, rng.standard_normal((B, net.widths[0])), rng.standard_normal((B, z))


# ----------------------------------------------------------------------------- JAX references


def jax_window(lay: WindowLayer, Z: Any, W: Any = None, b: Any = None) -> Any:
    """``lay`` on a ``B x in_width`` batch by lax.conv_general_dilated / lax.reduce_window."""
    X = Z.reshape(Z.shape[0], lay.channels, *lay.spatial)
    pads = [(p, p) for p in lay.padding]
    if isinstance(lay, (Conv1D, Conv2D)):
        W = lay.W if W is None else W
        b = lay.b if b is None else b
        spec = ("NCH", "OIH", "NCH") if lay.dims == 1 else ("NCHW", "OIHW", "NCHW")
        out = lax.conv_general_dilated(X, W, lay.stride, pads, dimension_numbers=spec)
        out = out + b.reshape(-1, *([1] * lay.dims))
    else:
        window, strides = (1, 1, *lay.kernel), (1, 1, *lay.stride)
        full = [(0, 0), (0, 0), *pads]
        if isinstance(lay, (MaxPool1D, MaxPool2D)):
            out = lax.reduce_window(X, -jnp.inf, lax.max, window, strides, full)
        else:
            out = lax.reduce_window(X, 0.0, lax.add, window, strides, full) / np.prod(lay.kernel)
    return out.reshape(Z.shape[0], -1)


def jax_forward(net: Network, params: dict, X: Any) -> Any:
    Z = X
    for k, lay in enumerate(net.layers):
        if isinstance(lay, Affine):
            Z = Z @ params[(k, "W")].T + params[(k, "b")]
        elif isinstance(lay, Activation):
            Z = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}[lay.name](Z)
        elif isinstance(lay, WindowLayer):
            Z = jax_window(lay, Z, params.get((k, "W")), params.get((k, "b")))
    return Z


def jax_mean_loss(net: Network) -> Any:
    def loss(params: dict, X: Any, Y: Any) -> Any:
        return jnp.mean(((jax_forward(net, params, X) - Y) ** 2).mean(axis=1))
    return loss


def jax_grads(net: Network, X: np.ndarray, Y: np.ndarray) -> tuple[dict, np.ndarray]:
    params = {(k, nm): jnp.asarray(a) for k, nm, a in net.parameters()}
    grad = jax.jit(jax.grad(jax_mean_loss(net), argnums=(0, 1)))  # one compile, not one an op
    g, dx = grad(params, jnp.asarray(X), jnp.asarray(Y))
    return {k: np.asarray(v) for k, v in g.items()}, np.asarray(dx)


# ----------------------------------------------------------------------------- gradients


@functools.cache
def jax_reference(seed: int) -> tuple[dict, np.ndarray, dict, np.ndarray]:
    """jax.grad of case ``seed``'s mean loss on its batch and on its first example."""
    net, X, Y = random_case(seed)
    with jax.enable_x64(True):
        return (*jax_grads(net, X, Y), *jax_grads(net, X[:1], Y[:1]))


@pytest.mark.parametrize("order", ["loss_first", "input_first"])
@pytest.mark.parametrize("seed", SEEDS)
def test_gradients_equal_jax_grad(seed: int, order: str) -> None:
    net, X, Y = random_case(seed)
    want_batch, dx_batch, want_one, dx_one = jax_reference(seed)
    one = gradients(net, X[0], Y[0], order)
    assert set(one) == set(want_one)
    for key in want_one:
        assert_rel(one[key], want_one[key])
    assert_rel(one.dx, dx_one[0])
    # a max pool selects per example: its batch Jacobian is one sparse block-diagonal pattern
    batch = gradients(net, X, Y, order)
    assert set(batch) == set(want_batch)
    for key in want_batch:
        assert_rel(batch[key], want_batch[key])
    assert_rel(batch.dx, dx_batch)


@pytest.mark.parametrize("seed", SEEDS[:6])
def test_dense_convention_gives_the_same_gradients(seed: int) -> None:
    net, X, Y = random_case(seed)
    structured = co.loss_first_gradients(net, X[0], Y[0])
    for order in (co.loss_first_gradients, co.input_first_gradients):
        dense = order(net, X[0], Y[0], cost="dense")
        for key in structured:
            assert_rel(dense[key], structured[key], 1e-12)
        assert dense.multiplications > structured.multiplications


def test_batch_count_is_b_times_one_example() -> None:
    net, X, Y = random_case(3)
    X = np.vstack([X, X])
    Y = np.vstack([Y, Y])
    one = co.loss_first_gradients(net, X[0], Y[0]).multiplications
    assert co.loss_first_gradients(net, X, Y).multiplications == X.shape[0] * one


# ----------------------------------------------------------------------------- layers


def window_layers(seed: int) -> list[WindowLayer]:
    rng = np.random.default_rng(100 + seed)
    dims = 1 + seed % 2
    channels = int(rng.integers(1, 4))
    spatial = tuple(int(v) for v in rng.integers(3, 8, size=dims))
    return [random_window_layer(rng, dims, channels, spatial, kind)
            for kind in ("conv", "avg", "max")]


@pytest.mark.parametrize("seed", SEEDS)
def test_outputs_equal_lax(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for lay in window_layers(seed):
        Z = rng.standard_normal((3, lay.width))
        with jax.enable_x64(True):
            want = np.asarray(jax_window(lay, jnp.asarray(Z)))
        assert_rel(lay._forward_batch(Z), want, 1e-12)
        assert_rel(lay.forward(Z[1]), want[1], 1e-12)
        assert lay.out_width(lay.width) == want.shape[1]


def jax_jacobians(lay: WindowLayer, z: np.ndarray) -> dict[str, np.ndarray]:
    """``'x'``, and for a conv ``'W'``, ``'b'``: jax.jacobian, parameters flattened."""
    with jax.enable_x64(True):
        zj = jnp.asarray(z)
        # jitted: one compile per Jacobian, not one per eager operation
        out = {"x": np.asarray(jax.jit(jax.jacobian(lambda v: jax_window(lay, v[None])[0]))(zj))}
        if lay.params:
            W, b = jnp.asarray(lay.params["W"]), jnp.asarray(lay.params["b"])
            jw = jax.jit(jax.jacobian(lambda w: jax_window(lay, zj[None], w, b)[0]))(W)
            jb = jax.jit(jax.jacobian(lambda c: jax_window(lay, zj[None], W, c)[0]))(b)
            out["W"] = np.asarray(jw).reshape(jw.shape[0], -1)
            out["b"] = np.asarray(jb)
    return out


def layer_kinds(lay: WindowLayer, z: np.ndarray) -> dict[str, Any]:
    return {"x": lay.input_kind(z), **lay.param_kinds(z)}


@pytest.mark.parametrize("seed", SEEDS)
def test_jacobians_equal_jax_jacobian_and_finite_differences(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for lay in window_layers(seed):
        z = rng.standard_normal(lay.width)
        want = jax_jacobians(lay, z)
        kinds = layer_kinds(lay, z)
        dense = {"x": lay.input_jacobian(z), **lay.param_jacobians(z)}
        assert set(kinds) == set(want) == set(dense)
        for name in want:
            assert isinstance(kinds[name], Sparse)
            assert_rel(dense[name], want[name], 1e-12)
            assert_rel(np.asarray(kinds[name]), want[name], 1e-12)
        eps = 1e-6
        fd = np.stack([(lay.forward(z + eps * e) - lay.forward(z - eps * e)) / (2 * eps)
                       for e in np.eye(lay.width)], axis=1)
        assert np.allclose(dense["x"], fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("seed", SEEDS)
def test_structured_counts_equal_counts_on_the_dense_pattern(seed: int) -> None:
    """Every Jacobian's count, in a product with a dense row, a diagonal and another sparse
    factor, equals the count made on the 0/1 pattern of jax.jacobian's dense matrix."""
    rng = np.random.default_rng(seed)
    layers = window_layers(seed)
    for lay in layers:
        z = rng.standard_normal(lay.width)
        want = jax_jacobians(lay, z)
        for name, kind in layer_kinds(lay, z).items():
            mask = (want[name] != 0).astype(np.int64)
            rows = kind.shape[0]
            sig = kind.signature
            assert sig.params[0].nnz == mask.sum()
            assert structured_product(KindSig.dense(1, rows), sig)[0] == mask.sum()
            assert structured_product(KindSig.diagonal(rows), sig)[0] == mask.sum()
            # a sparse · sparse product: the pattern's transpose times the pattern
            t = Sparse(want[name].T)
            count, out = structured_product(t.signature, sig)
            assert count == int((mask.T @ mask).sum())
            assert np.array_equal(out.params[0].to_mask(), (mask.T @ mask != 0).astype(int))
            product, counted = kind_matmul(t, kind)
            assert counted == count
            assert_rel(np.asarray(product), want[name].T @ want[name], 1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_chain_of_layers_counts_on_patterns(seed: int) -> None:
    """pool · conv and conv · pool, as adjacent layers of a network meet, counted on patterns."""
    rng = np.random.default_rng(seed)
    dims = 1 + seed % 2
    conv = random_window_layer(rng, dims, int(rng.integers(1, 3)),
                               tuple(int(v) for v in rng.integers(4, 8, size=dims)), "conv")
    pool = random_window_layer(rng, dims, conv.out_channels, conv.out_spatial,
                               "max" if seed % 2 else "avg")
    z = rng.standard_normal(conv.width)
    a, b = pool.input_kind(conv.forward(z)), conv.input_kind(z)
    ma = (jax_jacobians(pool, conv.forward(z))["x"] != 0).astype(np.int64)
    mb = (jax_jacobians(conv, z)["x"] != 0).astype(np.int64)
    count, _ = structured_product(a.signature, b.signature)
    assert count == int((ma @ mb).sum())


@pytest.mark.parametrize("seed", SEEDS[:8])
def test_loss_first_count_is_the_sum_of_pattern_counts(seed: int) -> None:
    """A row times each Jacobian costs its nonzeros (jax.jacobian's pattern), Affine m·n twice."""
    net, X, Y = random_case(seed)
    fp = net.forward(X[0], Y[0])
    want = 0
    for k, lay in enumerate(net.layers):
        if isinstance(lay, WindowLayer):
            want += sum(int((j != 0).sum()) for j in jax_jacobians(lay, fp.zs[k]).values())
        elif isinstance(lay, Affine):
            want += 2 * lay.W.size  # row · W, and dl/dW written out as an outer product
        else:
            want += net.widths[k]
    assert co.loss_first_gradients(net, X[0], Y[0]).multiplications == want


@pytest.mark.parametrize("seed", SEEDS[:6])
def test_layer_factor_counts_the_input_jacobian(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for lay in window_layers(seed):
        z = rng.standard_normal(lay.width)
        nnz = int((jax_jacobians(lay, z)["x"] != 0).sum())
        f = layer_factor(lay, lay.width)
        assert (f.m, f.n) == (lay.out_width(lay.width), lay.width)
        assert f.tangent_cost == f.adjoint_cost == f.tape == nnz


# ----------------------------------------------------------------------------- networks


def test_conv_article_network_trains_and_reprints() -> None:
    net = conv_article_network(12, 3, 3, 2, pooling="avg", seed=1)
    x, y = np.linspace(-1, 1, 12), np.array([0.2, 0.8])
    g = co.loss_first_gradients(net, x, y)
    assert g.by_label().keys() == {"W1", "b1", "W2", "b2"}
    new = sgd_step(net, g, alpha=0.5)
    assert isinstance(new, Network)
    assert not np.array_equal(new.layers[0].params["W"], net.layers[0].params["W"])
    assert new.loss(x, y) < net.loss(x, y)
    fd = co.finite_difference_gradients(net, x, y)
    for key in g:
        assert np.allclose(g[key], fd[key], rtol=1e-6, atol=1e-9)


def test_conv_article_network_in_2_channels() -> None:
    net = conv_article_network(10, 2, 4, 3, in_channels=2, pool=3, seed=0)
    assert net.widths == (20, 14, 14, 4, 3, 3)
    X = np.random.default_rng(0).standard_normal((4, 20))
    with jax.enable_x64(True):
        want, dx = jax_grads(net, X, np.zeros((4, 3)))
    got = co.loss_first_gradients(net, X, np.zeros((4, 3)))
    for key in want:
        assert_rel(got[key], want[key])
    assert_rel(got.dx, dx)


def test_reprs_and_labels() -> None:
    conv = Conv2D.from_sizes(2, 3, (2, 3), (5, 6), stride=(1, 2), padding=1, seed=0)
    assert repr(conv) == "Conv2D(W: 3x2x2x3, b: 3, shape=5x6, stride=1x2, padding=1x1)"
    assert conv.label() == "Conv2D(2->3, k2x3)"
    assert conv.out_spatial == (6, 3)
    pool = MaxPool2D(3, (6, 3), 2, stride=1)
    assert repr(pool) == "MaxPool2D(channels=3, window=2x2, shape=6x3, stride=1x1, padding=0x0)"
    assert pool.label() == "MaxPool2D(2x2)"


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("make, error, match", [
    (lambda: Conv1D(np.ones((2, 3)), np.zeros(2), 5), ValueError, r"W must have shape"),
    (lambda: Conv1D(np.ones((2, 1, 3)), np.zeros(3), 5), ValueError, r"b must have shape \(2,\)"),
    (lambda: Conv1D(np.ones((1, 1, 6)), [0.0], 5), ValueError,
     r"kernel 6 does not fit the padded input: length 5 with padding 0"),
    (lambda: Conv1D(np.ones((1, 1, 2)), [0.0], 5, stride=0), ValueError,
     r"stride must be at least 1"),
    (lambda: Conv1D(np.ones((1, 1, 2)), [0.0], 5, padding=-1), ValueError,
     r"padding must be at least 0"),
    (lambda: Conv1D(np.ones((1, 1, 2)), [0.0], 5, padding=1.5), TypeError,
     r"padding must be an int or a sequence of 1 ints, got 1.5"),
    (lambda: Conv2D(np.ones((1, 1, 2, 2)), [0.0], (4, 4), stride=(1, 2, 3)), TypeError,
     r"stride must be an int or a sequence of 2 ints"),
    (lambda: Conv2D(np.ones((1, 1, 2, 2)), [0.0], 4.0), TypeError, r"shape must be an int"),
    (lambda: Conv1D(np.full((1, 1, 2), np.nan), [0.0], 5), ValueError, r"W"),
    (lambda: MaxPool1D(2, 6, 2, padding=2), ValueError, r"padding must be at most half"),
    (lambda: AvgPool2D(0, (4, 4), 2), ValueError, r"channels"),
    (lambda: AvgPool1D(1, 3, 4), ValueError, r"window 4 does not fit"),
    (lambda: Conv1D.from_sizes(1, 0, 3, 8), ValueError, r"out_channels"),
    (lambda: conv_article_network(8, 2, 3, 2, pooling="median"), ValueError,
     r"unknown pooling 'median'; valid: 'max', 'avg'"),
    (lambda: conv_article_network(8, 2, 9, 2), ValueError, r"kernel 9 does not fit"),
    (lambda: Network([Conv1D.from_sizes(1, 2, 3, 8), AvgPool1D(3, 6, 2)]), ValueError,
     r"layers\[1\]: AvgPool1D.* expects input width 18 \(3 channels x 6\) but gets width 12"),
    (lambda: Network([Activation("tanh")]), ValueError, r"fixes the input width"),
    (lambda: Network(Conv1D.from_sizes(1, 2, 3, 8)),  # type: ignore[arg-type]
     TypeError, r"list of Layer"),
])
def test_bad_arguments_raise_clearly(make: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make()


def test_bad_inputs_raise_clearly() -> None:
    conv = Conv1D.from_sizes(2, 2, 3, 8)
    with pytest.raises(ValueError, match="16"):
        conv.forward(np.ones(8))
    net = conv_article_network(8, 2, 3, 2)
    with pytest.raises(ValueError, match=r"expected shape \(B, 8\)"):
        net.forward(np.ones((3, 7)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="layer must be the index of a layer with parameters"):
        net.param_chain(np.ones(8), np.zeros(2), 1, "W")
    with pytest.raises(ValueError, match=r"name must be one of \['W', 'b'\]"):
        net.param_chain(np.ones(8), np.zeros(2), 0, "U")


def test_param_chain_of_a_convolution_is_sparse() -> None:
    net = conv_article_network(8, 2, 3, 2)
    chain = net.param_chain(np.ones(8), np.zeros(2), 0, "W")
    assert chain.names[-1] == "dz1/dW1"
    assert isinstance(chain.matrices[-1], np.ndarray)
    assert "sparse" in repr(chain)
