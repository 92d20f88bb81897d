"""multiply as a numpy.linalg.multi_dot drop-in: same result type, shape, dtype, out= and errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.linalg import multi_dot

import chainorder as co
from chainorder.algebra import ORDERS

#: dtype of each array in a chain: (name, dtypes cycled over the chain, rtol of the values)
DTYPES = {
    "float64": ([np.float64], 1e-12),
    "float32": ([np.float32], 1e-4),
    "complex128": ([np.complex128], 1e-12),
    "int64": ([np.int64], 0),
    "int32": ([np.int32], 0),
    "bool": ([np.bool_], 0),
    "int64+float32": ([np.int64, np.float32], 1e-5),
    "float32+float64": ([np.float32, np.float64], 1e-5),
    "object": ([object], 1e-12),
}


def _chain(rng, dims, dtypes, first_1d=False, last_1d=False):
    """Arrays of the given dims, small integers (exact in every dtype), ends 1-D if asked."""
    mats = []
    for m, (p, q) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        dtype = dtypes[m % len(dtypes)]
        a = rng.integers(-2, 3, size=(p, q))
        if dtype is np.complex128:
            a = a + 1j * rng.integers(-2, 3, size=(p, q))
        mats.append(a.astype(dtype))
    if first_1d:
        mats[0] = mats[0][0]
    if last_1d:
        mats[-1] = mats[-1][:, 0]
    return mats


def assert_same_as_multi_dot(got, want, rtol=1e-12):
    """Same type, shape and dtype as multi_dot's result; values equal to rounding."""
    assert type(got) is type(want)
    assert np.shape(got) == np.shape(want)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    if np.asarray(want).dtype == object:
        want, got = np.asarray(want, dtype=complex), np.asarray(got, dtype=complex)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0)


@pytest.mark.parametrize("ends", ["2d", "first_1d", "last_1d", "both_1d"])
@pytest.mark.parametrize("n", [2, 3, 4, 6])
@pytest.mark.parametrize("dtype", list(DTYPES))
def test_grid_matches_multi_dot(rng, dtype, n, ends):
    dtypes, rtol = DTYPES[dtype]
    dims = [int(d) for d in rng.integers(1, 7, size=n + 1)]
    first_1d, last_1d = ends in ("first_1d", "both_1d"), ends in ("last_1d", "both_1d")
    arrays = _chain(rng, dims, dtypes, first_1d, last_1d)
    assert_same_as_multi_dot(co.multiply(arrays), multi_dot(arrays), rtol)


@settings(max_examples=60, deadline=None)
@given(
    dims=st.lists(st.integers(1, 9), min_size=3, max_size=9),
    first_1d=st.booleans(),
    last_1d=st.booleans(),
    dtype=st.sampled_from(list(DTYPES)),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_chain_matches_multi_dot(dims, first_1d, last_1d, dtype, seed):
    dtypes, rtol = DTYPES[dtype]
    arrays = _chain(np.random.default_rng(seed), dims, dtypes, first_1d, last_1d)
    assert_same_as_multi_dot(co.multiply(arrays), multi_dot(arrays), rtol)


@pytest.mark.parametrize("n", [3, 4, 7, 12])
def test_same_bits_as_multi_dot_for_matrices(rng, n):
    # same bracketing (ties included) and the same np.dot calls: equal to the last bit
    dims = [int(d) for d in rng.integers(1, 40, size=n + 1)]
    arrays = [rng.standard_normal((p, q)) for p, q in zip(dims[:-1], dims[1:], strict=True)]
    np.testing.assert_array_equal(co.multiply(arrays), multi_dot(arrays))
    tied = [np.ones((4, 4)) * (m + 1) for m in range(n)]  # every bracketing costs the same
    np.testing.assert_array_equal(co.multiply(tied), multi_dot(tied))


def test_vector_ends_give_a_numpy_scalar(rng):
    v, m, w = rng.standard_normal(4), rng.standard_normal((4, 3)), rng.standard_normal(3)
    for arrays in ([v, m, w], [v, v], [v, m, m.T, v]):
        got = co.multiply(arrays)
        assert isinstance(got, np.float64) and type(got) is type(multi_dot(arrays))


def test_integers_stay_integers_and_exact():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    got = co.multiply([a, a.T, a])
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, a @ a.T @ a)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # numpy's too
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_propagate_like_multi_dot(rng, bad):
    # multiply used to refuse non-finite entries; multi_dot propagates them, so now do we
    arrays = _chain(rng, [3, 4, 2, 5], [np.float64])
    arrays[1][1, 1] = bad
    got = co.multiply(arrays)
    np.testing.assert_array_equal(got, multi_dot(arrays))  # NaN positions equal too
    assert not np.all(np.isfinite(got))


def test_no_copy_and_inputs_untouched(rng):
    arrays = _chain(rng, [3, 4, 2, 5], [np.float64])
    before = [a.copy() for a in arrays]
    listed = list(arrays)
    co.multiply(arrays, out=np.empty((3, 5)))
    assert all(a is b for a, b in zip(arrays, listed, strict=True))
    for a, b in zip(arrays, before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_inputs_as_nested_lists_and_tuples(rng):
    arrays = _chain(rng, [2, 3, 4], [np.float64])
    lists = tuple(a.tolist() for a in arrays)
    assert_same_as_multi_dot(co.multiply(lists), multi_dot(lists))
    stack = np.stack([np.eye(3)] * 4)  # a 3-D array is read as a stack of matrices
    assert_same_as_multi_dot(co.multiply(stack), multi_dot(stack))


# --- out= -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 5])
def test_out_is_written_and_returned(rng, n):
    arrays = _chain(rng, [3, *[4] * (n - 1), 5], [np.float64])
    out = np.full((3, 5), np.nan)
    got = co.multiply(arrays, out=out)
    assert got is out
    np.testing.assert_allclose(out, multi_dot(arrays), rtol=1e-12)


@pytest.mark.parametrize(
    ("ends", "shape"),
    [
        ("first_1d", (5,)),
        ("first_1d", (1, 5)),  # the 2-D form multi_dot wants for more than two arrays
        ("last_1d", (3,)),
        ("last_1d", (3, 1)),
        ("both_1d", ()),
        ("both_1d", (1, 1)),
    ],
)
def test_out_with_vector_ends(rng, ends, shape):
    first_1d, last_1d = ends in ("first_1d", "both_1d"), ends in ("last_1d", "both_1d")
    arrays = _chain(rng, [3, 4, 2, 5], [np.float64], first_1d, last_1d)
    want = multi_dot(arrays)
    out = np.empty(shape)
    got = co.multiply(arrays, out=out)
    assert type(got) is type(want) and np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(out.reshape(np.shape(want)), want, rtol=1e-12)
    if isinstance(got, np.ndarray):
        assert np.shares_memory(got, out)


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize(
    ("out", "exc", "match"),
    [
        (np.empty((3, 5), np.float32), ValueError, "dtype float32 but the product's dtype"),
        (np.empty((5, 3)), ValueError, r"shape \(5, 3\) but the product has shape \(3, 5\)"),
        (np.empty(15), ValueError, "shape"),
        (np.empty((5, 3)).T, ValueError, "C-contiguous"),
        (np.empty((3, 10))[:, ::2], ValueError, "C-contiguous"),
        ([[0.0] * 5] * 3, TypeError, "out must be a numpy.ndarray"),
    ],
    ids=["dtype", "shape", "flat", "transposed", "strided", "list"],
)
def test_bad_out_is_refused_where_multi_dot_refuses_it(rng, n, out, exc, match):
    arrays = _chain(rng, [3, *[4] * (n - 1), 5], [np.float64])
    with pytest.raises((ValueError, TypeError)):
        multi_dot(arrays, out=out)
    with pytest.raises(exc, match=match):
        co.multiply(arrays, out=out)


def test_out_dtype_follows_numpy_promotion(rng):
    arrays = _chain(rng, [2, 3, 4], [np.int64])
    with pytest.raises(ValueError, match="dtype float64 but the product's dtype is int64"):
        co.multiply(arrays, out=np.empty((2, 4)))
    out = np.empty((2, 4), np.int64)
    assert co.multiply(arrays, out=out) is out


# --- plans, traces, keywords ----------------------------------------------------------------


@pytest.mark.parametrize("order", co.available_orders())
@pytest.mark.parametrize("ends", ["2d", "first_1d", "both_1d"])
def test_trace_counts_equal_plan_cost_for_every_order(rng, order, ends):
    dims = [1 if ends != "2d" else 3, 7, 2, 9, 4, 6, 1 if ends == "both_1d" else 5]
    arrays = _chain(rng, dims, [np.float64], ends != "2d", ends == "both_1d")
    product, trace = co.multiply(arrays, order, trace=True)
    plan = co.plan(dims, order)
    assert trace.multiplications == plan.cost
    assert [s.multiplications for s in trace.steps] == [s.cost for s in plan.steps]
    assert trace.plan == plan
    assert_same_as_multi_dot(product, multi_dot(arrays), 1e-10)
    product_into, trace_into = co.multiply(
        arrays, order, trace=True, out=np.empty(np.shape(product))
    )
    assert trace_into.multiplications == plan.cost
    np.testing.assert_allclose(product_into, product, rtol=1e-12)


def test_optimal_brackets_like_multi_dot():
    # numpy's multi_dot picks (AB)C here (Cormen 15.2 style costs: 7500 against 75000)
    dims = [10, 100, 5, 50]
    mats = [np.ones((p, q)) for p, q in zip(dims[:-1], dims[1:], strict=True)]
    _, trace = co.multiply(mats, trace=True)
    assert trace.plan.parenthesization == "((A1A2)A3)" and trace.multiplications == 7500


def test_a_re_registered_order_is_planned_afresh(rng):
    arrays = _chain(rng, [2, 3, 4, 5, 6], [np.float64])
    original = ORDERS["greedy"]
    before = co.multiply(arrays, "greedy", trace=True)[1].plan

    def right_to_left(dims):
        return co.plan(dims, "input_first").step_array, co.plan(dims, "input_first").cost

    try:
        co.register_order("greedy", right_to_left, replace=True)
        after = co.multiply(arrays, "greedy", trace=True)[1].plan
        assert after == co.plan(list(before.dims), "input_first")
    finally:
        co.register_order(
            "greedy", original.strategy, original.aliases, original.description, replace=True
        )
    assert co.multiply(arrays, "greedy", trace=True)[1].plan == before


def test_time_optimal_follows_the_model_in_force(rng):
    # a time-optimal plan reads the active time model, so it is never served from the cache
    from chainorder.algebra.timemodel import TimeModel, use_machine

    dims = [216, 178, 151, 102, 228, 118]  # the two models below bracket it differently
    arrays = _chain(rng, dims, [np.float64])
    plans = []
    for model in (TimeModel.from_rates(50, 20, 1e-6), TimeModel.from_rates(1000, 0.01, 0)):
        with use_machine(model):
            product, trace = co.multiply(arrays, "time_optimal", trace=True)
            co.multiply(arrays, "time_optimal")  # the fast path, same shapes again
        assert trace.plan == co.plan(dims, "time_optimal", cost=model)
        assert trace.multiplications == trace.plan.cost
        np.testing.assert_allclose(product, multi_dot(arrays), rtol=1e-10)
        plans.append(trace.plan.parenthesization)
    assert plans[0] != plans[1]


def test_plan_and_bracketing_orders(rng):
    arrays = _chain(rng, [2, 3, 4, 5], [np.float64])
    plan = co.plan([2, 3, 4, 5], "input_first")
    for order in (plan, plan, "(A1(A2A3))", "backward"):
        _, trace = co.multiply(arrays, order, trace=True)
        assert trace.plan == plan


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"cost": "sparse"}, ValueError, "unknown cost model 'sparse'"),
        ({"cost": "structured", "out": np.empty((2, 4))}, ValueError, "out= needs"),
        ({"order": 3}, TypeError, "order must be an order name"),
        ({"order": "sideways"}, ValueError, "Valid orders"),
    ],
)
def test_bad_keywords(rng, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        co.multiply(_chain(rng, [2, 3, 4], [np.float64]), **kwargs)


@pytest.mark.parametrize(
    ("arrays", "exc", "match"),
    [
        ([np.ones((2, 2))], ValueError, "holds 1 array"),
        ((np.ones((2, 2)) for _ in range(3)), TypeError, "must be a list of arrays"),
        ([np.ones(2), np.ones(2), np.ones((2, 2))], ValueError, r"arrays\[1\] must be a 2-D"),
        ([np.ones((2, 2)), np.ones((2, 2, 2)), np.ones(2)], ValueError, "3-D"),
        ([np.ones((2, 2)), np.float64(2.0)], ValueError, r"arrays\[1\] must be a 1-D vector or"),
        ([np.ones((2, 3)), np.ones((2, 3)), np.ones(3)], ValueError, "matrix 2 has 2 rows"),
        ([np.ones((2, 2)), np.array([["a", "b"], ["c", "d"]])], TypeError, r"arrays\[1\] must"),
        ([np.ones((2, 2)), [["a", "b"], ["c", "d"]]], TypeError, r"arrays\[1\] must hold"),
        ([np.ones((2, 2)), np.ones((2, 2)), np.ones((2, 2), "M8[s]")], TypeError, "datetime"),
        ([np.ones((2, 2)), [[1, 2], [3]]], TypeError, r"arrays\[1\] cannot be read"),
    ],
)
def test_bad_arrays_where_multi_dot_fails_too(arrays, exc, match):
    with pytest.raises(exc, match=match):
        co.multiply(arrays)


def test_long_chains_are_planned_afresh_not_cached(rng):
    from chainorder.algebra.execute import CACHE_MAX_MATRICES

    n = CACHE_MAX_MATRICES + 1
    mats = [np.eye(2)] * n
    for order in ("optimal", co.plan([2] * (n + 1), "loss_first")):
        product, trace = co.multiply(mats, order, trace=True)
        np.testing.assert_array_equal(product, np.eye(2))
        assert trace.multiplications == (n - 1) * 8
    listed = [m.tolist() for m in mats[:3]] + mats[3:]  # the careful path
    np.testing.assert_array_equal(co.multiply(listed, "input_first"), np.eye(2))


def test_many_small_matrices_without_recursion(rng):
    mats = [np.linalg.qr(rng.standard_normal((3, 3)))[0] for _ in range(2000)]
    ref = mats[0]
    for m in mats[1:]:
        ref = ref @ m
    np.testing.assert_allclose(co.multiply(mats), ref, atol=1e-9)
