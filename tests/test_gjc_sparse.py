"""Sparse factors in the generalized chain: the DP against exhaustive search, the format."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainorder.algebra.coloring import column_coloring, row_coloring
from chainorder.algebra.gjc import (
    Factor,
    Op,
    Schedule,
    homogeneous_adjoint_cost,
    homogeneous_tangent_cost,
    optimize_gjc,
    preaccumulation_cost,
    span_pattern,
)
from chainorder.algebra.kinds.sparse import SparsityPattern
from chainorder.lab.studies.generalized_chain import _OP_NAMES


def random_chain(seed: int, q: int, sparse: float = 0.7) -> list[Factor]:
    """q factors, widths 1..9, each with a random pattern with probability ``sparse``."""
    rng = np.random.default_rng(seed)
    dims = rng.integers(1, 10, q + 1).tolist()
    out = []
    for i in range(q):
        m, n = dims[i + 1], dims[i]
        pattern = None
        if rng.random() < sparse:
            mask = rng.random((m, n)) < rng.uniform(0.05, 0.6)
            pattern = SparsityPattern.from_mask(mask)
        t, a, e = (int(x) for x in rng.integers(1, 60, 3))
        out.append(Factor(m, n, t, a, e, pattern=pattern))
    return out


def dense_mask(f: list[Factor], i: int, j: int) -> np.ndarray | None:
    """The boolean product of the factors' masks, independently of the library's products."""
    if any(x.pattern is None for x in f[i : j + 1]):
        return None
    out = f[i].pattern.to_mask()  # type: ignore[union-attr]
    for x in f[i + 1 : j + 1]:
        out = (x.pattern.to_mask() @ out > 0).astype(int)  # type: ignore[union-attr]
    return out


def reachable_costs(f: list[Factor]) -> set[int]:
    """Every cost some schedule reaches on the whole chain (all trees, costs as a set)."""

    @cache
    def reach(i: int, j: int) -> frozenset[int]:
        part = f[i : j + 1]
        st_, sa = sum(x.tangent_cost for x in part), sum(x.adjoint_cost for x in part)
        out = {f[i].n * st_, f[j].m * sa}
        mask = dense_mask(f, i, j)
        if mask is not None:
            p = SparsityPattern.from_mask(mask)
            out |= {column_coloring(p).count * st_, row_coloring(p).count * sa}
        for k in range(i, j):
            left, right = reach(i, k), reach(k + 1, j)
            dense = f[j].m * f[k].m * f[i].n
            tan = f[i].n * sum(x.tangent_cost for x in f[k + 1 : j + 1])
            adj = f[j].m * sum(x.adjoint_cost for x in f[i : k + 1])
            out |= {a + b + dense for a in left for b in right}
            out |= {a + tan for a in left} | {b + adj for b in right}
        return frozenset(out)

    return set(reach(0, len(f) - 1))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 7), st.sampled_from([0.0, 0.5, 1.0]))
def test_dp_equals_exhaustive_search(seed: int, q: int, sparse: float) -> None:
    f = random_chain(seed, q, sparse)
    s = optimize_gjc(f)
    assert s.cost == min(reachable_costs(f))
    assert isinstance(s.cost, int)
    again = Schedule(f, s.ops)  # every op re-checked and re-costed
    assert again.cost == s.cost and again.ops == s.ops


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_without_patterns_nothing_changes(seed: int, q: int) -> None:
    f = random_chain(seed, q, 1.0)
    plain = [Factor(x.m, x.n, x.tangent_cost, x.adjoint_cost, x.tape) for x in f]
    for fn in (homogeneous_tangent_cost, homogeneous_adjoint_cost, preaccumulation_cost):
        assert fn(f) == fn(plain)
    s = optimize_gjc(plain)
    assert all(op.kind != "compress" for op in s.ops)
    assert s.ops == optimize_gjc(plain, method="numpy").ops
    assert optimize_gjc(f).cost <= s.cost


def tridiagonal(n: int) -> SparsityPattern:
    return SparsityPattern.from_mask(np.eye(n) + np.eye(n, k=1) + np.eye(n, k=-1))


def test_stencil_chain_is_compressed() -> None:
    n = 50
    f = [Factor(n, n, 3 * n, 3 * n, 3 * n, pattern=tridiagonal(n))] * 3
    s = optimize_gjc(f)
    assert [op.label for op in s.ops] == ["compress F0..F2 by 7 tangents"]
    assert s.cost == 7 * 3 * 3 * n
    assert span_pattern(f, 0, 2).nnz == n * 7 - 2 * (1 + 2 + 3)
    assert s.cost < s.tangent_cost


def test_compression_mixes_with_propagation() -> None:
    s = optimize_gjc(random_chain(0, 4, 1.0))
    assert [op.label for op in s.ops] == [
        "compress F2..F3 by 2 adjoints", "adjoint F0..F1 <- J(F2..F3)"]
    assert (s.cost, s.tangent_cost, s.adjoint_cost, s.preaccumulation_cost) == (201, 952, 231, 603)


def test_schedule_round_trips_and_old_documents_read() -> None:
    f = random_chain(3, 4, 1.0)
    s = optimize_gjc(f)
    doc = json.loads(json.dumps(s.to_dict()))
    assert Schedule.from_dict(doc) == s
    plain = [Factor(x.m, x.n, x.tangent_cost, x.adjoint_cost, x.tape) for x in f]
    old = optimize_gjc(plain).to_dict()
    assert all("pattern" not in x for x in old["factors"])
    assert Schedule.from_dict(old).ops == optimize_gjc(plain).ops


def test_compress_ops_are_checked() -> None:
    p = tridiagonal(5)
    f = [Factor(5, 5, 10, 10, 10, pattern=p), Factor(5, 5, 10, 10, 10)]
    with pytest.raises(ValueError, match=r"ops\[0\].*factors\[1\] has none"):
        Schedule(f, [("compress", "tangent", 0, 1, None)])
    with pytest.raises(ValueError, match="split None"):
        Schedule(f[:1], [("compress", "tangent", 0, 0, 0)])
    with pytest.raises(ValueError, match="mode must be"):
        Schedule(f[:1], [("compress", None, 0, 0, None)])
    s = Schedule(f[:1], [("compress", "adjoint", 0, 0, None)])
    assert s.ops == (Op("compress", "adjoint", 0, 0, None, 3, 30, 10),)
    assert _OP_NAMES[s.ops[0].kind, s.ops[0].mode] == "compressed adjoint accumulation"
    assert "compress F0 by 3 adjoints" in str(s)


def test_bad_patterns() -> None:
    with pytest.raises(ValueError, match="pattern is 5x5 but the factor's Jacobian is 4x5"):
        Factor(4, 5, 1, 1, 1, pattern=tridiagonal(5))
    with pytest.raises(TypeError, match="pattern must be a SparsityPattern"):
        Factor(5, 5, 1, 1, 1, pattern=np.eye(5))
    with pytest.raises(ValueError, match="numpy"):
        optimize_gjc([Factor(5, 5, 1, 1, 1, pattern=tridiagonal(5))], method="numpy")
    assert "pattern=SparsityPattern(5x5" in repr(Factor(5, 5, 1, 1, 1, pattern=tridiagonal(5)))


def test_the_text_format_warns_that_it_drops_patterns() -> None:
    from chainorder.algebra.gjc_format import format_chain

    f = [Factor(5, 5, 7, 7, 7, pattern=tridiagonal(5))]
    with pytest.warns(UserWarning, match="cannot hold"):
        assert format_chain(f) == "1\n5 5 7\n"
