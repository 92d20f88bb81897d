"""``jacobian(f, sparsity=...)``: detected patterns, compressed schedules, sparse results."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402
import scipy.sparse as sps  # noqa: E402
from jax.experimental import sparse as jsparse  # noqa: E402

import chainorder as co  # noqa: E402
from chainorder.ad.sparsity import detect_pattern  # noqa: E402
from chainorder.algebra.kinds.sparse import SparsityPattern  # noqa: E402


def lap1(u):
    return jnp.roll(u, 1) - 2 * u + jnp.roll(u, -1)


def stepper1(u):
    for _ in range(3):
        u = u + 0.1 * (lap1(u) - u**3)
    return u


def lap2(u):
    v = jnp.pad(u, 1)
    return v[:-2, 1:-1] + v[2:, 1:-1] + v[1:-1, :-2] + v[1:-1, 2:] - 4 * u


def stepper2(x):
    u = x.reshape(6, 7)
    for _ in range(2):
        u = u + 0.1 * (lap2(u) - u**3)
    return u.ravel()


def convnet(x):
    k1 = jnp.linspace(0.1, 0.5, 12).reshape(4, 1, 3)
    y = jnp.tanh(jax.lax.conv_general_dilated(x.reshape(1, 1, -1), k1, (1,), "SAME"))
    k2 = jnp.linspace(-0.3, 0.2, 24).reshape(2, 4, 3)
    return jax.lax.conv_general_dilated(y, k2, (2,), "VALID").ravel()


def grouped_conv(x):
    k = jnp.linspace(0.1, 0.9, 4 * 2 * 3).reshape(4, 2, 3)  # 4 channels in 2 groups
    y = jax.lax.conv_general_dilated(x.reshape(1, 4, -1), k, (2,), [(2, 1)],
                                     rhs_dilation=(2,), feature_group_count=2)
    return jnp.sin(y).ravel()


def scanned(x):
    def body(c, _):
        return c + 0.1 * (lap1(c) - jnp.sin(c)), c.sum()
    u, ys = jax.lax.scan(body, x, None, length=3)
    return jnp.concatenate([u, ys])


def bottleneck(x):
    a = jnp.linspace(-1, 1, 2 * x.size).reshape(2, x.size) / x.size
    b = jnp.linspace(-1, 1, 2 * x.size).reshape(x.size, 2)
    u = stepper1(x)
    return stepper1(b @ jnp.tanh(a @ u))


CASES = {"stencil-1d": (stepper1, 16), "stencil-2d": (stepper2, 42), "conv": (convnet, 20),
         "grouped-conv": (grouped_conv, 24),
         "scan": (scanned, 12), "bottleneck": (bottleneck, 16)}


def _x(n: int) -> jnp.ndarray:
    return jnp.linspace(0.1, 0.9, n) ** 2


def _mask(f, x) -> np.ndarray:
    return (np.abs(np.asarray(jax.jacfwd(f)(x))) > 0).reshape(-1, x.size)


@pytest.mark.parametrize("name", ["stencil-1d", "stencil-2d", "conv", "grouped-conv", "scan"])
def test_detected_pattern_equals_true_nonzeros(name: str) -> None:
    f, n = CASES[name]
    with jax.enable_x64(True):
        x = _x(n)
        p = detect_pattern(f, x)
        assert p is not None
        np.testing.assert_array_equal(p.to_mask().astype(bool), _mask(f, x))


# (input shape, kernel shape, strides, padding, lhs dilation, rhs dilation, groups, layout)
CONVS = [
    ((1, 1, 13), (3, 1, 4), (2,), [(1, 2)], (1,), (1,), 1, None),
    ((2, 4, 9), (6, 2, 3), (1,), [(2, 0)], (2,), (2,), 2, None),
    ((1, 3, 7), (2, 3, 2), (3,), [(-1, 1)], (1,), (1,), 1, None),
    ((1, 2, 6, 5), (4, 1, 3, 2), (1, 2), [(1, 1), (0, 1)], (1, 2), (2, 1), 2, None),
    ((1, 6, 5, 2), (3, 2, 2, 4), (2, 1), "SAME", None, None, 1, ("NHWC", "HWIO", "NHWC")),
    ((2, 2, 3, 4), (3, 2, 2, 2), (1, 1), "VALID", None, None, 1, ("NCHW", "OIHW", "NHWC")),
]


@pytest.mark.parametrize("shape, kernel, strides, padding, lhs_dil, rhs_dil, groups, layout",
                         CONVS)
def test_a_convolution_pattern_by_index_arithmetic_equals_its_jacobian(
        shape, kernel, strides, padding, lhs_dil, rhs_dil, groups, layout) -> None:
    with jax.enable_x64(True):
        w = jnp.asarray(np.random.default_rng(1).uniform(0.5, 1.5, kernel))

        def f(x):
            return jax.lax.conv_general_dilated(
                x.reshape(shape), w, strides, padding, lhs_dilation=lhs_dil,
                rhs_dilation=rhs_dil, dimension_numbers=layout,
                feature_group_count=groups).ravel()

        x = jnp.linspace(0.1, 0.9, int(np.prod(shape)))
        truth = np.asarray(jax.jacfwd(f)(x)) != 0
        got = detect_pattern(f, x)
        assert got is not None
        np.testing.assert_array_equal(got.to_mask().astype(bool), truth)


def test_a_batch_grouped_convolution_is_probed() -> None:
    with jax.enable_x64(True):
        w = jnp.asarray(np.random.default_rng(2).uniform(0.5, 1.5, (4, 2, 3)))

        def f(x):
            return jax.lax.conv_general_dilated(x.reshape(4, 2, 7), w, (2,), "SAME",
                                                batch_group_count=2).ravel()

        x = jnp.linspace(0.1, 0.9, 56)
        got = detect_pattern(f, x)
        assert got is not None
        np.testing.assert_array_equal(got.to_mask().astype(bool),
                                      np.asarray(jax.jacfwd(f)(x)) != 0)


def test_detected_pattern_covers_dense_and_unknown_ops() -> None:
    def f(x):
        return jnp.concatenate([jnp.cumsum(x[:3]), (jnp.ones((2, 5)) @ x) * x[0], x[1:]])

    with jax.enable_x64(True):
        x = _x(5)
        p = detect_pattern(f, x)
        want = _mask(f, x)
        assert p is not None and np.all(p.to_mask().astype(bool) >= want)


@pytest.mark.parametrize("mode", ["auto", "optimal"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_results_equal_jacfwd(name: str, mode: str) -> None:
    f, n = CASES[name]
    with jax.enable_x64(True):
        x = _x(n)
        want = jax.jacfwd(f)(x)
        plan = co.plan_jacobian(f, x, sparsity="detect", mode=mode, cost="multiply-adds")
        assert all(isinstance(c, int) for c in plan.costs.values())
        assert float(jnp.abs(plan(x) - want).max()) <= 1e-10
        got = jax.jit(co.jacobian(f, sparsity="detect", mode=mode))(x)
        assert float(jnp.abs(got - want).max()) <= 1e-10


def test_stencil_plans_a_compressed_accumulation() -> None:
    with jax.enable_x64(True):
        x = _x(40)
        plan = co.plan_jacobian(stepper1, x, sparsity="detect", mode="optimal",
                                cost="multiply-adds")
        assert [op.kind for op in plan.schedule.ops] == ["compress"]
        assert plan.schedule.ops[0].evaluations <= 12 < x.size  # 7 a row, 8 at best (periodic)
        assert plan.costs["optimal"] * 3 < plan.costs["tangent"]
        assert plan.pattern.nnz == 40 * 7


@pytest.mark.parametrize("given", ["pattern", "mask", "scipy"])
def test_given_pattern_for_the_whole_function(given: str) -> None:
    with jax.enable_x64(True):
        x = _x(16)
        mask = _mask(stepper1, x)
        sparsity = {"pattern": SparsityPattern.from_mask(mask), "mask": mask,
                    "scipy": sps.csr_array(mask)}[given]
        plan = co.plan_jacobian(stepper1, x, sparsity=sparsity, mode="optimal")
        assert len(plan.factors) == 1 and plan.schedule.ops[0].kind == "compress"
        assert float(jnp.abs(plan(x) - jax.jacfwd(stepper1)(x)).max()) <= 1e-10


def test_sparse_output_is_a_bcoo_on_the_pattern() -> None:
    with jax.enable_x64(True):
        x = _x(16)
        jf = co.jacobian(stepper1, sparsity="detect", sparse_output=True)
        for out in (jf(x), jax.jit(jf)(x)):
            assert isinstance(out, jsparse.BCOO)
            assert out.nse == 16 * 7 and out.shape == (16, 16)
            assert float(jnp.abs(out.todense() - jax.jacfwd(stepper1)(x)).max()) <= 1e-10


def test_without_sparsity_nothing_changes() -> None:
    with jax.enable_x64(True):
        x = _x(16)
        plain = co.plan_jacobian(stepper1, x, cost="multiply-adds")
        assert all(f.pattern is None for f in plain.factors)
        assert all(op.kind != "compress" for s in plain.schedules.values() for op in s.ops)


@pytest.mark.parametrize("bad, error, match", [
    ("detected", ValueError, "sparsity must be None, 'detect'"),
    (3, TypeError, "sparsity must be None, 'detect'"),
    (np.ones(4), ValueError, "sparsity as an array must be 2-D"),
])
def test_bad_sparsity_arguments(bad, error, match) -> None:
    with pytest.raises(error, match=match):
        co.jacobian(stepper1, sparsity=bad)
    with pytest.raises(error, match=match):
        co.plan_jacobian(stepper1, _x(4), sparsity=bad)


def test_bad_pattern_shape_and_sparse_output() -> None:
    with pytest.raises(ValueError, match="sparsity is a 3x3 pattern but the Jacobian is 4x4"):
        co.plan_jacobian(stepper1, _x(4), sparsity=np.eye(3, dtype=bool))
    with pytest.raises(TypeError, match="sparse_output must be True or False"):
        co.jacobian(stepper1, sparse_output="yes")


def test_a_convolution_is_counted_as_its_multiply_adds() -> None:
    # y = conv(x): each of the 4 x 16 outputs reads 1 channel x 3 taps (SAME, stride 1);
    # grouped: each of the 4 x 5 outputs reads 2 channels of its group x 3 taps
    plan = co.plan_jacobian(convnet, jnp.ones(16), cost="multiply-adds")
    conv = [f for f in plan.factors if f.label == "conv_general_dilated"]
    assert [(f.n, f.m, f.tangent, f.adjoint) for f in conv][0] == (16, 64, 64 * 3, 64 * 3)
    grouped = co.plan_jacobian(grouped_conv, jnp.ones(40), cost="multiply-adds")
    first = grouped.factors[0]
    assert first.label == "conv_general_dilated"
    assert first.tangent == first.m * 2 * 3
