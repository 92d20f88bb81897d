"""Execution: every order's product against the plain left-to-right product, and counted costs."""

from __future__ import annotations

import numpy as np
import pytest
from chain_helpers import random_chain, random_dims

import chainorder as co
from chainorder import algebra

SHAPES = {
    "cormen": [30, 35, 15, 5, 10, 20, 25],
    "scalar_loss": [1, 10, 100, 100, 40],
    "one": [4, 6],
    "two": [4, 6, 3],
    "vector_both_ends": [1, 7, 3, 8, 1],
    "random12": None,
}


def _dims(name: str) -> list[int]:
    dims = SHAPES[name]
    return random_dims(np.random.default_rng(12), 12) if dims is None else dims


def _left_to_right(arrays):
    out = arrays[0]
    for a in arrays[1:]:
        out = out @ a
    return out


@pytest.mark.parametrize("case", list(SHAPES))
@pytest.mark.parametrize("order", [*co.available_orders(), "bracketing"])
def test_every_order_on_every_case(order, case, rng):
    dims = _dims(case)
    arrays = random_chain(rng, dims)
    if order == "bracketing":  # a bracketing given as text: the optimal one, written out
        order = co.optimize(dims).parenthesization
    if len(arrays) == 1:  # multiply() wants two arrays, as multi_dot does; a Chain takes one
        out, trace = co.Chain(arrays).multiply(order, trace=True)
    else:
        out, trace = co.multiply(arrays, order, trace=True)
    np.testing.assert_allclose(out, _left_to_right(arrays), rtol=1e-10, atol=1e-12)
    plan = co.plan(dims, order)
    assert trace.multiplications == plan.cost
    assert trace.flops == plan.flops
    assert len(trace.steps) == len(dims) - 2
    assert all(s.seconds >= 0 for s in trace.steps)


def test_one_dimensional_ends_behave_like_multi_dot(rng):
    a, b, c = rng.standard_normal(5), rng.standard_normal((5, 4)), rng.standard_normal(4)
    for arrays in ([a, b], [b, c], [a, b, c]):
        got = co.multiply(arrays, "input_first")
        want = np.linalg.multi_dot(arrays)
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want)


def test_plan_can_be_passed_directly(rng):
    dims = [3, 4, 5, 6]
    arrays = random_chain(rng, dims)
    plan = co.plan(dims, "input_first")
    np.testing.assert_allclose(co.multiply(arrays, plan), np.linalg.multi_dot(arrays))
    with pytest.raises(ValueError, match="plan for dims"):
        co.multiply(arrays[:2], plan)


def test_trace_prints_and_tabulates(rng):
    arrays = random_chain(rng, [2, 3, 4, 5])
    _, trace = co.multiply(arrays, "loss_first", trace=True)
    assert "2 steps" in repr(trace) and "multiplications" in str(trace)
    records = trace.to_records()
    assert [r["multiplications"] for r in records] == [24, 40]


def test_ten_thousand_matrices_without_recursion():
    # numpy's multi_dot recurses and fails past about 1,000 matrices.
    rng = np.random.default_rng(1)
    n = 10_000
    mats = [np.linalg.qr(rng.standard_normal((2, 2)))[0] for _ in range(n)]
    ref = _left_to_right(mats)
    for order in (
        "loss_first",
        "input_first",
        co.plan([2] * (n + 1), "input_first").parenthesization,
    ):
        out, trace = co.multiply(mats, order, trace=True)
        np.testing.assert_allclose(out, ref, atol=1e-9)
        assert trace.multiplications == (n - 1) * 8


@pytest.mark.parametrize(
    ("arrays", "exc", "match"),
    [
        ([], ValueError, "at least two"),
        ([np.ones((3, 3))], ValueError, "holds 1 array; a chain needs at least two"),
        (np.ones((3, 3)), TypeError, "list of arrays"),
        (
            [np.ones((3, 4)), np.ones((5, 2))],
            ValueError,
            "matrix 2 has 5 rows but matrix 1 has 4 columns",
        ),
        ([np.ones((3, 4)), np.ones((4, 2, 2))], ValueError, "3-D"),
        ([np.float64(2.0), np.ones((1, 2))], ValueError, "0-D"),
        ([np.ones((3, 4)), np.ones(4), np.ones((1, 2))], ValueError, "only the first or last"),
        # NaN and Inf used to be refused here; multiply now propagates them as multi_dot
        # does (tests/test_multidot.py)
        ([np.ones((2, 2)), np.array([["a", "b"], ["c", "d"]])], TypeError, "must hold numbers"),
        ([np.ones((2, 0)), np.ones((0, 2))], ValueError, "empty dimension"),
    ],
)
def test_bad_arrays(arrays, exc, match):
    with pytest.raises(exc, match=match):
        co.multiply(arrays)


def test_bad_order_for_arrays(rng):
    arrays = random_chain(rng, [2, 3, 4])
    with pytest.raises(ValueError, match="Valid orders"):
        co.multiply(arrays, "sideways")
    with pytest.raises(ValueError, match="names 3 matrices"):
        co.multiply(arrays, "((A1A2)A3)")


def test_chain_object(rng):
    dims = [1, 6, 5, 9]
    chain = co.Chain(random_chain(rng, dims), names=["dl/dz2", "dz2/dz1", "dz1/dx"])
    assert chain.dims == tuple(dims) and len(chain) == 3
    assert "dl/dz2[1x6]" in repr(chain)
    out, trace = chain.multiply("loss_first", trace=True)
    assert trace.multiplications == algebra.loss_first_cost(dims)
    np.testing.assert_allclose(out, _left_to_right(chain.matrices))
    with pytest.raises(ValueError, match="names has 2 labels"):
        co.Chain(chain.matrices, names=["a", "b"])
