"""A kind added from outside the package: a banded kind, defined here, registered, planned,
executed and densified beside the built-in kinds, then unregistered; the registry's refusals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from chain_helpers import bracketings
from hypothesis import given, settings
from hypothesis import strategies as st

import chainorder as co
from chainorder.algebra.costmodels import StructuredCost
from chainorder.algebra.costs import KIND_NAMES as COSTS_KIND_NAMES
from chainorder.algebra.kinds import (
    KIND_NAMES,
    PAIR_RULES,
    Dense,
    Diagonal,
    DiagonalPlusRankOne,
    Identity,
    Kind,
    KindSig,
    Kronecker,
    PairRule,
    densify_cost,
    densify_left,
    densify_right,
    kind_matmul,
    missing_pairs,
    register_kind,
    rule_for,
    span_signature,
    stored_elements,
    structured_product,
    structured_steps_cost,
    unregister_kind,
)
from chainorder.algebra.structured import structured_dp_steps

BUILT_IN = tuple(KIND_NAMES)  # the built-in kinds, however many the package registers

# ----------------------------------------------------------------------------- the new kind


def _span(n: int, offset: int) -> tuple[int, int]:
    """Rows ``i`` of an ``n x n`` matrix whose entry ``(i, i + offset)`` exists."""
    return max(0, -offset), min(n, n - offset)


def _overlap(n: int, a: int, b: int) -> tuple[int, int]:
    """Rows ``i`` with ``(i, i+a)`` on diagonal ``a`` of the left and ``(i+a, i+a+b)`` on
    diagonal ``b`` of the right factor: one multiplication each."""
    return max(0, -a, -a - b), min(n, n - a, n - a - b)


class Banded(Kind):
    """An ``n x n`` band: diagonals ``-lower .. upper``, each stored as a vector.

    ``diagonals[a][t]`` is the entry ``(i, i + a)`` with ``i = t + max(0, -a)``.
    Its signature carries the bandwidths: ``KindSig('banded', n, n, (lower, upper))``.
    """

    kind = "banded"

    def __init__(self, n: int, diagonals: dict[int, np.ndarray]) -> None:
        offsets = sorted(diagonals)
        self.n, self.lower, self.upper = n, -offsets[0], offsets[-1]
        if offsets != list(range(-self.lower, self.upper + 1)) or self.lower < 0 \
                or self.upper < 0 or max(self.lower, self.upper) >= n:
            raise ValueError(f"diagonals must be offsets -lower..upper within {n}, got {offsets}")
        self.diagonals = {a: np.asarray(diagonals[a], dtype=np.float64) for a in offsets}

    @classmethod
    def random(cls, rng: np.random.Generator, n: int, lower: int, upper: int) -> Banded:
        return cls(n, {a: rng.standard_normal(n - abs(a)) for a in range(-lower, upper + 1)})

    @staticmethod
    def sig(n: int, lower: int, upper: int) -> KindSig:
        return KindSig("banded", n, n, params=(lower, upper))

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    @property
    def stored(self) -> tuple[np.ndarray, ...]:
        return tuple(self.diagonals.values())

    @property
    def signature(self) -> KindSig:
        return self.sig(self.n, self.lower, self.upper)

    def densify(self) -> tuple[np.ndarray, int]:
        out = np.zeros((self.n, self.n))
        for a, d in self.diagonals.items():
            rows = np.arange(*_span(self.n, a))
            out[rows, rows + a] = d
        return out, 0  # a band written into zeros: no multiplication

    @classmethod
    def densify_cost(cls, sig: KindSig) -> int:
        return 0

    @classmethod
    def stored_elements(cls, sig: KindSig) -> int:
        lower, upper = sig.params
        return sum(sig.rows - abs(a) for a in range(-lower, upper + 1))


def _band_band_count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
    n, (la, ua), (lb, ub) = a.rows, a.params, b.params
    count = 0
    for oa in range(-la, ua + 1):
        for ob in range(-lb, ub + 1):
            lo, hi = _overlap(n, oa, ob)
            count += max(0, hi - lo)
    return count, Banded.sig(n, min(la + lb, n - 1), min(ua + ub, n - 1))


def _band_band(a: Banded, b: Banded) -> Banded:
    n = a.n
    out = {c: np.zeros(n - abs(c))
           for c in range(-min(a.lower + b.lower, n - 1), min(a.upper + b.upper, n - 1) + 1)}
    for oa, da in a.diagonals.items():
        for ob, db in b.diagonals.items():
            lo, hi = _overlap(n, oa, ob)
            if hi <= lo:
                continue
            c = oa + ob  # the product's diagonal; t-index = row - max(0, -offset)
            sa, sb, sc = max(0, -oa), max(0, -ob), max(0, -c)
            out[c][lo - sc:hi - sc] += da[lo - sa:hi - sa] * db[lo + oa - sb:hi + oa - sb]
    return Banded(n, out)


def _band_dense(a: Banded, b: Dense) -> Dense:
    out = np.zeros((a.n, b.shape[1]))
    for oa, d in a.diagonals.items():
        rows = np.arange(*_span(a.n, oa))
        out[rows] += d[:, np.newaxis] * b.a[rows + oa]
    return Dense(out)


def _dense_band(a: Dense, b: Banded) -> Dense:
    out = np.zeros((a.shape[0], b.n))
    for ob, d in b.diagonals.items():
        rows = np.arange(*_span(b.n, ob))
        out[:, rows + ob] += a.a[:, rows] * d
    return Dense(out)


def _band_diagonal(a: Banded, b: Diagonal) -> Banded:
    return Banded(a.n, {o: d * b.d[np.arange(*_span(a.n, o)) + o] for o, d in a.diagonals.items()})


def _diagonal_band(a: Diagonal, b: Banded) -> Banded:
    return Banded(b.n, {o: a.d[np.arange(*_span(b.n, o))] * d for o, d in b.diagonals.items()})


def _nnz(sig: KindSig) -> int:
    return Banded.stored_elements(sig)


def _band_dense_count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
    # every stored entry of the band scales a row of length r
    return _nnz(a) * b.cols, KindSig.dense(a.rows, b.cols)


def _dense_band_count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
    # every stored entry of the band scales a column of length p
    return a.rows * _nnz(b), KindSig.dense(a.rows, b.cols)


BANDED_RULES = [
    PairRule("banded", "banded", _band_band_count, _band_band),
    PairRule("banded", "dense", _band_dense_count, _band_dense),
    PairRule("dense", "banded", _dense_band_count, _dense_band),
    PairRule("banded", "diagonal", lambda a, b: (_nnz(a), a), _band_diagonal),
    PairRule("diagonal", "banded", lambda a, b: (_nnz(b), b), _diagonal_band),
    densify_left("banded", "diag_rank_one"),  # the band written out (free), then dense's rule
    densify_right("diag_rank_one", "banded"),
]


@contextmanager
def banded_registered() -> Iterator[None]:
    register_kind(Banded, BANDED_RULES)
    try:
        yield
    finally:
        unregister_kind("banded")


@pytest.fixture
def banded() -> Iterator[None]:
    with banded_registered():
        yield


# ----------------------------------------------------------------------------- factors


def make(name: str, rng: np.random.Generator, n: int) -> Kind:
    """A factor of kind ``name`` with ``n`` rows (left factors: ``n`` columns, by transposing
    the roles below; all but dense are square here, dense is ``n x 3`` or ``3 x n``)."""
    v = rng.standard_normal
    if name == "identity":
        return Identity(n)
    if name == "diagonal":
        return Diagonal(v(n))
    if name == "dro":
        return DiagonalPlusRankOne(v(n), v(n), v(n))
    if name.startswith("banded"):
        lower, upper = (int(c) for c in name.removeprefix("banded"))
        return Banded.random(rng, n, min(lower, n - 1), min(upper, n - 1))
    raise ValueError(name)


PARTNERS = ["identity", "diagonal", "dro", "dense", "banded00", "banded12", "banded31",
            "kron_I", "kron_diag", "kron_dense", "kron_banded11"]
BANDS = ["banded00", "banded10", "banded12", "banded44"]
INNER = {"I": "identity", "diag": "diagonal"}


def partner(name: str, rng: np.random.Generator, n: int, side: str) -> Kind:
    """A built-in (or banded) factor meeting an ``n x n`` band on its ``side``."""
    v = rng.standard_normal
    if name == "dense":
        return Dense(v((3, n)) if side == "left" else v((n, 3)))
    if name.startswith("kron_"):
        inner_name = name.removeprefix("kron_")
        if side == "left":  # (A ⊗ xᵀ) with A m x (n / 2), |x| = 2
            m = n // 2
            inner = Dense(v((3, m))) if inner_name == "dense" else make(
                INNER.get(inner_name, inner_name), rng, m)
            return Kronecker(inner, v(2))
        inner = Dense(v((n, 3))) if inner_name == "dense" else make(
            INNER.get(inner_name, inner_name), rng, n)
        return Kronecker(inner, v(2))
    return make(name, rng, n)


def mask(k: Kind) -> np.ndarray:
    """Where a factor can be nonzero: its pattern, as 0/1 integers."""
    if isinstance(k, Banded):
        offset = np.subtract.outer(np.arange(k.n), np.arange(k.n)) * -1  # [i, j]: j - i
        return ((-k.lower <= offset) & (offset <= k.upper)).astype(np.int64)
    if isinstance(k, Diagonal):
        return np.eye(k.shape[0], dtype=np.int64)
    return np.ones(k.shape, dtype=np.int64)


def expected_count(a: Kind, b: Kind) -> int:
    """The multiplications of ``a @ b`` counted independently of the rules, on the patterns:
    one per pair of nonzeros ``a[i, k] b[k, j]``; the identity is free, a Kronecker factor
    on the right keeps its form, on the left it is written out first, and a diagonal plus
    rank one meets a written-out band."""
    if isinstance(a, Identity) or isinstance(b, Identity):
        return 0
    if isinstance(b, Kronecker):
        return expected_count(a, b.inner)
    if isinstance(a, Kronecker):
        dense, spent = a.densify()
        return spent + expected_count(Dense(dense), b)
    if isinstance(a, DiagonalPlusRankOne) or isinstance(b, DiagonalPlusRankOne):
        return 3 * a.shape[0] * b.shape[1]  # dense times diag_rank_one, either way, square
    return int((mask(a) @ mask(b)).sum())


# ----------------------------------------------------------------------------- pairs


@pytest.mark.parametrize("band", BANDS)
@pytest.mark.parametrize("other", PARTNERS)
@pytest.mark.parametrize("side", ["left", "right"])
def test_pairs_with_every_kind_agree_with_dense_and_are_counted(
        banded: None, band: str, other: str, side: str) -> None:
    rng = np.random.default_rng([PARTNERS.index(other), BANDS.index(band), side == "left"])
    n = 6
    b = make(band, rng, n)
    o = partner(other, rng, n, side)
    left, right = (o, b) if side == "left" else (b, o)
    out, count = kind_matmul(left, right)
    np.testing.assert_allclose(np.asarray(out), np.asarray(left) @ np.asarray(right),
                               atol=1e-12)
    model_count, model_sig = structured_product(left.signature, right.signature)
    assert count == model_count == expected_count(left, right)
    assert out.signature == model_sig
    dense, spent = out.densify()
    assert spent == densify_cost(out.signature)
    assert stored_elements(out.signature) == sum(s.size for s in out.stored)


def test_the_registry_knows_the_new_kind_while_registered() -> None:
    assert tuple(KIND_NAMES) == BUILT_IN and "banded" not in COSTS_KIND_NAMES
    rules = dict(PAIR_RULES)
    with banded_registered():
        assert tuple(KIND_NAMES) == (*BUILT_IN, "banded")
        assert "banded" in COSTS_KIND_NAMES and missing_pairs() == []
        assert rule_for("banded", "identity") is PAIR_RULES[("*", "identity")]
        assert rule_for("kronecker", "banded") is PAIR_RULES[("kronecker", "*")]
        assert len(PAIR_RULES) == len(rules) + len(BANDED_RULES)
        sig = Banded.sig(5, 1, 2)
        assert repr(sig) == "KindSig('banded', 5x5, (1, 2))"
        assert stored_elements(sig) == 4 + 5 + 4 + 3 and densify_cost(sig) == 0
        kron = KindSig.kronecker(sig, 3)
        assert densify_cost(kron) == 5 * 5 * 3  # the band written out, then 5·5 outer products
        k = Kronecker(Banded.random(np.random.default_rng(0), 5, 1, 2), np.ones(3))
        assert k.densify()[1] == densify_cost(k.signature)
    assert tuple(KIND_NAMES) == BUILT_IN and dict(PAIR_RULES) == rules
    with pytest.raises(ValueError, match="no rule multiplies a 'banded' factor by a 'dense' one; "
                                         "'banded' is not a registered kind"):
        rule_for("banded", "dense")
    with pytest.raises(ValueError, match="factor 0 has kind 'banded'"):
        co.plan([Banded.sig(3, 1, 1)], cost="structured")


# ----------------------------------------------------------------------------- chains


def mixed_factors(rng: np.random.Generator, n: int) -> list[Kind]:
    """A random chain of ``n`` factors, bands among every built-in kind, shapes fitting."""
    rows = int(rng.integers(1, 6))
    out: list[Kind] = []
    v = rng.standard_normal
    for _ in range(n):
        kind = rng.choice(["banded", "banded", "banded", "dense", "diagonal", "identity", "dro",
                           "kron"])
        if kind == "banded":
            f: Kind = Banded.random(rng, rows, int(rng.integers(0, rows)),
                                    int(rng.integers(0, rows)))
        elif kind == "dense":
            f = Dense(v((rows, int(rng.integers(1, 6)))))
        elif kind == "kron":
            inner = rng.choice(["identity", "banded", "dense"])
            if inner == "dense":
                a: Kind = Dense(v((rows, int(rng.integers(1, 3)))))
            elif inner == "banded":
                a = Banded.random(rng, rows, int(rng.integers(0, rows)), 0)
            else:
                a = Identity(rows)
            f = Kronecker(a, v(int(rng.integers(1, 3))))
        else:
            f = make(kind, rng, rows)
        out.append(f)
        rows = f.shape[1]
    return out


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 7))
def test_optimizer_equals_exhaustive_search_with_the_new_kind(seed: int, n: int) -> None:
    with banded_registered():
        sigs = [f.signature for f in mixed_factors(np.random.default_rng(seed), n)]
        costs = [structured_steps_cost(sigs, b) for b in bracketings(0, n)]
        steps, cost = structured_dp_steps(sigs)
        assert cost == min(costs) == structured_steps_cost(sigs, steps.tolist())
        best = co.optimize(sigs, cost="structured")
        assert isinstance(best.cost_model, StructuredCost) and best.cost == cost


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 6))
def test_kind_of_a_product_does_not_depend_on_bracketing_with_the_new_kind(
        seed: int, n: int) -> None:
    with banded_registered():
        sigs = [f.signature for f in mixed_factors(np.random.default_rng(seed), n)]
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
def test_every_order_runs_in_kinds_counted_and_equals_dense(seed: int, n: int) -> None:
    with banded_registered():
        factors = mixed_factors(np.random.default_rng(seed), n)
        want = np.asarray(factors[0])
        for f in factors[1:]:
            want = want @ np.asarray(f)
        chain = co.Chain(factors)
        for order in ("loss_first", "input_first", "optimal", "best_fan", "greedy"):
            p = chain.plan(order, cost="structured")
            out, tr = chain.multiply(p, trace=True, cost="structured")
            np.testing.assert_allclose(out, want, rtol=1e-9, atol=1e-9)
            assert tr.multiplications == p.cost
            for s in tr.steps:  # each product counted as its pair's rule says
                assert (s.multiplications, s.result) == structured_product(s.left, s.right)
            assert tr.finish == densify_cost(p.result_signature) == p.finish_cost


def test_densify_path_and_stored_intermediates() -> None:
    rng = np.random.default_rng(7)
    with banded_registered():
        band = Banded.random(rng, 4, 1, 1)
        factors = [Dense(rng.standard_normal((1, 4))), band, Kronecker(band, np.ones(5))]
        p = co.plan(factors, "input_first", cost="structured")
        # band @ (band ⊗ x) = (band @ band) ⊗ x: the band-band count; then the row times it;
        # then the row's Kronecker form written out (an outer product, 4·5)
        band_band = structured_product(band.signature, band.signature)[0]
        assert p.cost == band_band + 1 * _nnz(Banded.sig(4, 2, 2)) + 4 * 5
        assert p.largest_intermediate == _nnz(Banded.sig(4, 2, 2)) + 5  # the band and x
        out, tr = co.multiply(factors, p, cost="structured", trace=True)
        want = np.asarray(factors[0]) @ np.asarray(band) @ np.asarray(factors[2])
        np.testing.assert_allclose(out, want, atol=1e-12)
        assert tr.multiplications == p.cost and tr.finish == 4 * 5


# ----------------------------------------------------------------------------- refusals


class Spare(Banded):
    kind = "spare"


class Unfinished(Kind):
    kind = "unfinished"

    @property
    def shape(self) -> tuple[int, int]:
        return (1, 1)

    @property
    def stored(self) -> tuple[np.ndarray, ...]:
        return ()

    def densify(self) -> tuple[np.ndarray, int]:
        return np.zeros((1, 1)), 0


def _rule(left: str, right: str) -> PairRule:
    return PairRule(left, right, lambda a, b: (0, a), lambda a, b: a)


def _spare_rules() -> list[PairRule]:
    return [_rule(a, b) for a, b in [("spare", "spare"), ("spare", "dense"), ("dense", "spare"),
                                     ("spare", "diagonal"), ("diagonal", "spare"),
                                     ("spare", "diag_rank_one"), ("diag_rank_one", "spare")]]


@pytest.mark.parametrize(
    ("cls", "rules", "error", "match"),
    [
        (Spare, [*_spare_rules(), _rule("spare", "dense")], ValueError,
         "a rule for 'spare' @ 'dense' exists already"),
        (Spare, _spare_rules()[:3], ValueError,
         "kind 'spare' leaves 4 pair\\(s\\) without a rule: 'diagonal' @ 'spare', "
         "'diag_rank_one' @ 'spare', 'spare' @ 'diagonal', 'spare' @ 'diag_rank_one'"),
        (Spare, [*_spare_rules(), _rule("dense", "diagonal")], ValueError,
         "does not name kind 'spare'"),
        (Spare, [*_spare_rules(), _rule("spare", "tridiagonal")], ValueError,
         "names kind 'tridiagonal', which is not registered"),
        (Spare, [*_spare_rules(), "rule"], TypeError, "PairRule objects"),
        (Dense, [], ValueError, "kind 'dense' is registered already"),
        (Unfinished, [], TypeError, "Unfinished does not define densify_cost, stored_elements"),
        (int, [], TypeError, "must be a Kind subclass"),
    ],
)
def test_registration_refuses_and_leaves_the_registry_whole(cls: Any, rules: list[Any],
                                                            error: type, match: str) -> None:
    before = (tuple(KIND_NAMES), dict(PAIR_RULES))
    with pytest.raises(error, match=match):
        register_kind(cls, rules)
    assert (tuple(KIND_NAMES), dict(PAIR_RULES)) == before and missing_pairs() == []


def test_a_complete_kind_registers_and_unregisters() -> None:
    register_kind(Spare, _spare_rules())
    try:
        assert "spare" in KIND_NAMES and missing_pairs() == []
        with pytest.raises(ValueError, match="kind 'spare' is registered already"):
            register_kind(Spare, _spare_rules())
    finally:
        unregister_kind("spare")
    assert "spare" not in KIND_NAMES
    assert not [pair for pair in PAIR_RULES if "spare" in pair]


@pytest.mark.parametrize(("name", "match"), [
    ("dense", "kind 'dense' is built in and cannot be unregistered"),
    ("tridiagonal", "unknown kind 'tridiagonal'; expected one of 'dense', 'diagonal'"),
])
def test_unregister_refuses_built_in_and_unknown_kinds(name: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        unregister_kind(name)
