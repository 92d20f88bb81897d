"""The sparse kind: structural counts against the patterns, products against dense, and the
exact optimizer against exhaustive search on chains of sparse and other factors."""

from __future__ import annotations

import numpy as np
import pytest
from chain_helpers import bracketings, random_factors, random_sparse
from hypothesis import given, settings
from hypothesis import strategies as st

import chainorder as co
from chainorder.algebra.kinds import (
    Dense,
    Diagonal,
    Identity,
    Kind,
    KindSig,
    Kronecker,
    Sparse,
    SparsityPattern,
    kind_matmul,
    span_signature,
    structured_product,
    structured_steps_cost,
)
from chainorder.algebra.kinds.sparse import pattern_product
from chainorder.algebra.structured import structured_dp_steps


def sparse_chain(rng: np.random.Generator, n: int) -> list[Kind]:
    """``n`` random sparse factors (densities 0.1 to 0.7), dims 1..6, now and then a diagonal."""
    dims = [int(d) for d in rng.integers(1, 7, size=n + 1)]
    out: list[Kind] = []
    for p, q in zip(dims[:-1], dims[1:], strict=True):
        if p == q and rng.random() < 0.2:
            out.append(Diagonal(rng.standard_normal(p)))
        else:
            out.append(random_sparse(rng, p, q, float(rng.uniform(0.1, 0.7))))
    return out


def mask(k: Kind) -> np.ndarray:
    """Where ``k`` may be nonzero: a sparse factor's pattern, a diagonal's diagonal."""
    if isinstance(k, Sparse):
        return k.pattern.to_mask()
    if isinstance(k, Diagonal | Identity):
        return np.eye(k.shape[0], dtype=np.int64)
    return np.ones(k.shape, dtype=np.int64)


def test_a_pattern_is_hashable_and_equal_by_content() -> None:
    a = SparsityPattern.from_mask([[1, 0], [1, 1]])
    b = SparsityPattern(2, 2, [0, 1, 3], [0, 0, 1])
    assert a == b and hash(a) == hash(b) and a != SparsityPattern.from_mask([[1, 1], [1, 1]])
    assert KindSig("sparse", 2, 2, params=(a,)) == KindSig("sparse", 2, 2, params=(b,))
    np.testing.assert_array_equal(a.to_mask(), [[1, 0], [1, 1]])
    with pytest.raises(ValueError, match="indptr must rise"):
        SparsityPattern(2, 2, [0, 2, 1], [0, 1])
    with pytest.raises(ValueError, match="indices must lie in 0..1"):
        SparsityPattern(1, 2, [0, 1], [2])


def test_sparse_times_sparse_counts_the_structural_products() -> None:
    # A 2x3: row 0 {0, 2}, row 1 {1}; B 3x2: row 0 {0, 1}, row 1 {1}, row 2 {0, 1}
    # Σ_k nnz(col k of A)·nnz(row k of B) = 1·2 + 1·1 + 1·2 = 5
    a = Sparse(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))
    b = Sparse(np.array([[1.0, -1.0], [0.0, 1.0], [1.0, 1.0]]))
    out, count = kind_matmul(a, b)
    assert count == 5 and isinstance(out, Sparse) and out.pattern.nnz == 3
    np.testing.assert_allclose(np.asarray(out), np.asarray(a) @ np.asarray(b))


def test_an_entry_that_cancels_stays_in_the_pattern() -> None:
    a = Sparse(np.array([[1.0, 1.0]]))
    b = Sparse(np.array([[1.0], [-1.0]]))
    out, count = kind_matmul(a, b)
    assert count == 2 and out.pattern.nnz == 1 and out.m.data.tolist() == [0.0]
    assert out.signature == structured_product(a.signature, b.signature)[1]


PARTNERS = ["identity", "diagonal", "dense", "kron_I", "kron_sparse", "sparse"]


def partner(name: str, rng: np.random.Generator, n: int, side: str) -> Kind:
    """A factor meeting an ``n``-wide sparse one on its ``side``."""
    v = rng.standard_normal
    if name == "identity":
        return Identity(n)
    if name == "diagonal":
        return Diagonal(v(n))
    if name == "dense":
        return Dense(v((3, n)) if side == "left" else v((n, 3)))
    if name == "sparse":
        return random_sparse(rng, 4, n) if side == "left" else random_sparse(rng, n, 4)
    if side == "left":  # (A ⊗ xᵀ), A n/2 wide, |x| = 2
        inner: Kind = Identity(n // 2) if name == "kron_I" else random_sparse(rng, 3, n // 2)
    else:
        inner = Identity(n) if name == "kron_I" else random_sparse(rng, n, 3)
    return Kronecker(inner, v(2))


def expected_count(a: Kind, b: Kind) -> int:
    """Multiplications of ``a @ b`` from the patterns, independently of the rules: one per
    pair of stored entries ``a[i, k] b[k, j]``; the identity is free; a Kronecker factor on the
    right keeps its form, on the left it is written out first; a diagonal meets every stored
    entry once."""
    if isinstance(a, Identity) or isinstance(b, Identity):
        return 0
    if isinstance(b, Kronecker):
        return expected_count(a, b.inner)
    if isinstance(a, Kronecker):
        dense, spent = a.densify()
        return spent + expected_count(Dense(dense), b)
    if isinstance(a, Diagonal):
        return int(mask(b).sum())
    if isinstance(b, Diagonal):
        return int(mask(a).sum())
    return int((mask(a) @ mask(b)).sum())


@pytest.mark.parametrize("other", PARTNERS)
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("density", [0.0, 0.3, 1.0])
def test_pairs_agree_with_dense_and_are_counted_on_the_patterns(
        other: str, side: str, density: float) -> None:
    rng = np.random.default_rng([PARTNERS.index(other), side == "left", int(10 * density)])
    s = random_sparse(rng, 6, 6, density)
    o = partner(other, rng, 6, side)
    left, right = (o, s) if side == "left" else (s, o)
    out, count = kind_matmul(left, right)
    np.testing.assert_allclose(np.asarray(out), np.asarray(left) @ np.asarray(right),
                               atol=1e-12)
    model_count, model_sig = structured_product(left.signature, right.signature)
    assert count == model_count == expected_count(left, right)
    assert out.signature == model_sig


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 7))
def test_optimizer_equals_exhaustive_search_on_sparse_chains(seed: int, n: int) -> None:
    sigs = [f.signature for f in sparse_chain(np.random.default_rng(seed), n)]
    costs = [structured_steps_cost(sigs, b) for b in bracketings(0, n)]
    steps, cost = structured_dp_steps(sigs)
    assert cost == min(costs) == structured_steps_cost(sigs, steps.tolist())
    assert co.optimize(sigs, cost="structured").cost == cost


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 7))
def test_optimizer_equals_exhaustive_search_on_mixed_chains(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    factors = random_factors(rng, n)
    sigs = [f.signature for f in factors]
    costs = [structured_steps_cost(sigs, b) for b in bracketings(0, n)]
    assert structured_dp_steps(sigs)[1] == min(costs)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 6))
def test_a_sub_products_pattern_does_not_depend_on_bracketing(seed: int, n: int) -> None:
    factors = sparse_chain(np.random.default_rng(seed), n)
    sigs = [f.signature for f in factors]
    want = span_signature(sigs)
    boolean = mask(factors[0])
    for f in factors[1:]:
        boolean = ((boolean @ mask(f)) > 0).astype(np.int64)
    if want.kind == "sparse":
        np.testing.assert_array_equal(want.params[0].to_mask(), boolean)
    for steps in bracketings(0, n):
        span = dict(enumerate(sigs))
        for a, k, _ in steps:
            span[a] = structured_product(span[a], span.pop(k))[1]
        assert span[0] == want


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 6))
def test_every_order_runs_sparse_counted_and_equals_dense(seed: int, n: int) -> None:
    factors = sparse_chain(np.random.default_rng(seed), n)
    want = np.asarray(factors[0])
    for f in factors[1:]:
        want = want @ np.asarray(f)
    chain = co.Chain(factors)
    for order in ("loss_first", "input_first", "optimal"):
        p = chain.plan(order, cost="structured")
        out, tr = chain.multiply(p, trace=True, cost="structured")
        np.testing.assert_allclose(out, want, rtol=1e-9, atol=1e-9)
        assert tr.multiplications == p.cost


def test_ordering_a_sparse_chain_pays() -> None:
    # a tridiagonal stencil applied 5 times then read by one dense row: loss first keeps a row
    n = 50
    stencil = Sparse(np.eye(n) * 2 - np.eye(n, k=1) - np.eye(n, k=-1))
    sigs = [KindSig.dense(1, n), *[stencil.signature] * 5]
    loss_first = co.plan(sigs, "loss_first", cost="structured").cost
    input_first = co.plan(sigs, "input_first", cost="structured").cost
    assert loss_first == 5 * (3 * n - 2)  # the row meets every stored entry once per factor
    assert input_first > loss_first
    assert pattern_product(stencil.pattern, stencil.pattern)[1].nnz == 5 * n - 6


def test_a_sparse_signature_needs_its_pattern() -> None:
    with pytest.raises(ValueError, match="has no sparsity pattern"):
        structured_product(KindSig("sparse", 2, 2), KindSig("sparse", 2, 2))
