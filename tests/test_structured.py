"""Structured plans: the worked example, bracketing-free kinds, the exact optimizer, execution."""

from __future__ import annotations

import numpy as np
import pytest
from chain_helpers import bracketings, random_factors
from hypothesis import given, settings
from hypothesis import strategies as st

import chainorder as co
from chainorder.algebra.costmodels import StructuredCost
from chainorder.algebra.costs import KindSig
from chainorder.algebra.kinds import (
    KIND_NAMES,
    Diagonal,
    Identity,
    Kronecker,
    span_signature,
    structured_product,
    structured_steps_cost,
)
from chainorder.algebra.structured import structured_dp_steps

# The article, |x| = 1000, |z1| = |z2| = 100, |z3| = 10, with dz2/dz1 diagonal:
#   loss-first:  1*10*100 + 1*100 (row times diagonal) + 1*100*1000             =   101,100
#   input-first: 100*1000 (diagonal times W1) + 10*100*1000 + 1*10*1000         = 1,110,000
ARTICLE = [KindSig.dense(1, 10), KindSig.dense(10, 100), KindSig.diagonal(100),
           KindSig.dense(100, 1000)]
ORDERS = ["loss_first", "input_first", "optimal", "dp", "hu_shing", "best_fan", "greedy"]


def test_worked_example_in_both_conventions() -> None:
    s = {o: co.plan(ARTICLE, o, cost="structured").cost for o in ("loss_first", "input_first")}
    d = {o: co.plan(ARTICLE, o).cost for o in ("loss_first", "input_first")}
    assert s == {"loss_first": 101_100, "input_first": 1_110_000}
    assert d == {"loss_first": 111_000, "input_first": 11_010_000}
    best = co.optimize(ARTICLE, cost="structured")
    assert isinstance(best.cost_model, StructuredCost) and best.cost == 101_100
    assert best.to_dict()["kinds"] == ["dense", "dense", "diagonal", "dense"]
    assert "structured" in repr(best) and "Kinds:" in str(best)


def test_random_chains_draw_every_registered_kind() -> None:
    # the exhaustive-search tests below cover a kind only if random_factors draws it
    drawn = {f.kind for seed in range(40) for f in random_factors(np.random.default_rng(seed), 6)}
    assert drawn == set(KIND_NAMES)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 7))
def test_optimizer_equals_exhaustive_search(seed: int, n: int) -> None:
    sigs = [f.signature for f in random_factors(np.random.default_rng(seed), n)]
    costs = [structured_steps_cost(sigs, b) for b in bracketings(0, n)]
    steps, cost = structured_dp_steps(sigs)
    assert cost == min(costs) == structured_steps_cost(sigs, steps.tolist())
    assert co.optimize(sigs, cost="structured").cost == cost


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 6))
def test_kind_of_a_product_does_not_depend_on_bracketing(seed: int, n: int) -> None:
    sigs = [f.signature for f in random_factors(np.random.default_rng(seed), n)]
    for i in range(n):
        for j in range(i + 2, n + 1):
            want = span_signature(sigs[i:j])
            for steps in bracketings(i, j):
                span = {m: sigs[m] for m in range(i, j)}
                for a, k, _ in steps:
                    span[a] = structured_product(span[a], span.pop(k))[1]
                assert span[i] == want


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 6))
def test_every_order_both_structures_agree_with_dense(seed: int, n: int) -> None:
    factors = random_factors(np.random.default_rng(seed), n)
    dense = [np.asarray(f) for f in factors]
    want = dense[0]
    for m in dense[1:]:
        want = want @ m
    chain = co.Chain(factors)
    for order in ORDERS:
        for structure in ("dense", "structured"):
            p = chain.plan(order, cost=structure)
            out, tr = chain.multiply(p, trace=True, cost=structure)
            np.testing.assert_allclose(out, want, rtol=1e-9, atol=1e-9)
            assert tr.multiplications == p.cost
    out = co.multiply(factors, "optimal", cost="structured")
    np.testing.assert_allclose(out, want, rtol=1e-9, atol=1e-9)


def test_structured_plan_of_plain_dims_is_the_dense_cost() -> None:
    dims = [30, 35, 15, 5, 10, 20, 25]
    assert co.optimize(dims, cost="structured").cost == 15125
    assert co.plan(dims, "loss_first", cost="structured").cost == 40500


def test_a_dense_plan_runs_structured_and_vectors_keep_their_shape() -> None:
    x = np.arange(3.0)
    out, tr = co.multiply([x, Diagonal([1.0, 2.0, 3.0]), np.ones(3)],
                          co.plan([1, 3, 3, 1], "input_first"), cost="structured",
                          trace=True)
    assert out == pytest.approx(8.0) and tr.multiplications == 3 + 3
    assert tr.to_records()[0]["left"] == "diagonal" and "StructuredTrace" in repr(tr)


def test_chain_of_kinds_prints_its_kinds() -> None:
    c = co.Chain([np.ones((1, 2)), Diagonal([1.0, 2.0]), Kronecker(Identity(2), np.ones(3))])
    assert "diagonal" in repr(c) and "kronecker" in repr(c)
    assert c.dims == (1, 2, 2, 6) and c.matrices[2].shape == (2, 6)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: co.plan([2, 3], cost="sparse"), "unknown cost model 'sparse'"),
        (lambda: co.optimize(ARTICLE, "hu-shing", cost="structured"), "Hu-Shing"),
        (lambda: co.plan([KindSig.dense(1, 2), KindSig.diagonal(3)], cost="structured"),
         "factor 1 has 3 rows but factor 0 has 2 columns"),
        (lambda: co.plan([KindSig("tridiagonal", 2, 2)], cost="structured"),
         "kind 'tridiagonal'"),
        (lambda: co.plan([KindSig("dense", 2.0, 2)], cost="structured"), "integers >= 1"),
        (lambda: co.multiply([np.ones((1, 2)), Diagonal([1.0, 2.0])],
                             co.plan([1, 3, 3], "loss_first"), cost="structured"),
         "plan for dims"),
    ],
)
def test_errors_name_the_problem(call, match) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_structured_dp_refuses_very_long_chains() -> None:
    sigs = [KindSig.diagonal(2)] * 201
    with pytest.raises(ValueError, match="at most 200"):
        structured_dp_steps(sigs)


def test_plans_accept_a_chain_and_count_stored_intermediates() -> None:
    chain = co.Chain([np.ones((1, 3)), Diagonal([1.0, 2.0, 3.0]),
                      Kronecker(Identity(3), np.ones(1000))])
    assert co.plan(chain, "input_first").cost == co.plan(chain.dims, "input_first").cost
    p = chain.plan("input_first", cost="structured")
    assert p.cost == 3 + 3 * 1000  # row times diagonal, then the outer product written out
    assert p.largest_intermediate == 3 + 1000  # Kronecker(diagonal, x), not 3 x 3000
    assert p.finish_cost == 3000 and p.result_signature.kind == "kronecker"
    with pytest.raises(TypeError, match="factor 1 is the number 3"):
        co.plan([np.ones((1, 3)), 3], cost="structured")
