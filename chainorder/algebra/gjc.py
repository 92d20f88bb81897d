"""The generalized (matrix-free) Jacobian chain problem: factors, schedules, the exact optimizer.

The model
---------
A chain of ``q`` factors ``F_0, ..., F_(q-1)``, **factor 0 applied first**
(indices are 0-based everywhere: in data, in text and in files), with
``F_i: R^(n_i) -> R^(m_i)`` and ``n_(i+1) = m_i``. The wanted Jacobian is
``F' = F_(q-1)' ... F_1' F_0'`` of shape ``m_(q-1) x n_0``. A factor
(:class:`Factor`) is known by

* ``m, n``: its output and input widths;
* ``tangent_cost`` ``T_i``: one tangent (Jacobian-vector product) costs ``T_i``;
* ``adjoint_cost`` ``A_i``: one adjoint (vector-Jacobian product) costs ``A_i``;
* ``tape`` ``|E_i|``: an adjoint sweep over ``F_i`` keeps a tape of ``|E_i|`` entries;
* ``modes``: the sweeps the factor allows, both by default; a factor whose derivative
  exists only as a vector-Jacobian product (JAX's ``custom_vjp``) allows adjoints only,
  and no op may run tangents through it (nor adjoints through a tangent-only factor).

``F(i..j)`` is the sub-chain ``F_j ∘ ... ∘ F_i`` and ``J(i..j)`` its Jacobian,
``m_j x n_i``. Costs are fused multiply-adds (= scalar multiplications,
:data:`GJC_COST_UNIT`), exact Python ints, counted as the references count
them (U. Naumann, "Optimization of Generalized Jacobian Chain Products
without Memory Constraints", arXiv:2003.05755, 2020; "Matrix-Free Jacobian
Chaining", 2024; the public tools ADMission ``gdjcpb_solve`` and
Jacobian-Chaining's ``DynamicProgrammingOptimizer``).

The schedule format (stable: executors read it)
-----------------------------------------------
A :class:`Schedule` is a tuple of :class:`Op` in execution order. Each op
*produces* ``J(first..last)`` (inclusive, 0-based); every span is produced
exactly once and consumed at most once; the last op produces ``J(0..q-1)``.
An :class:`Op` is ``(kind, mode, first, last, split, evaluations, cost,
memory)``:

``kind, mode``          what the op does (``s = split``)                   cost; tape
----------------------  -------------------------------------------------  ------------------
accumulate, tangent     ``J(first..last)`` from ``n_first`` identity       ``n_first·ΣT``; 0
                        tangents through ``F_first..F_last`` (split None)
accumulate, adjoint     ``J(first..last)`` from ``m_last`` identity        ``m_last·ΣA``; ``ΣE``
                        adjoints through ``F_last..F_first`` (split None)
tangent, tangent        the ``n_first`` columns of the built               ``n_first·ΣT(s+1..``
                        ``J(first..s)`` pushed through ``F_(s+1)..F_last``  ``last)``; 0
adjoint, adjoint        the ``m_last`` rows of the built                   ``m_last·ΣA(first..s)``;
                        ``J(s+1..last)`` pulled back through               ``ΣE(first..s)``
                        ``F_s..F_first``
multiply, None          ``J(first..last) = J(s+1..last) @ J(first..s)``    ``m_last·m_s·n_first``; 0
compress, tangent       ``J(first..last)`` from ``c`` compressed tangents  ``c·ΣT``; 0
                        (``c`` column colors of the span's pattern)
compress, adjoint       ``J(first..last)`` from ``c`` compressed adjoints  ``c·ΣA``; ``ΣE``
                        (``c`` row colors of the span's pattern)

``evaluations`` is the number of tangents (``n_first``) or adjoints
(``m_last``) an op evaluates, the colors ``c`` for a compressed
accumulation, 0 for a product; ``cost`` its fused
multiply-adds; ``memory`` the tape it keeps (0 unless adjoint).
:attr:`Op.operands` lists the built Jacobians an op consumes and
:attr:`Op.swept` the factors it runs tangents or adjoints through.
:meth:`Schedule.to_dict` writes each op as a JSON object with these keys
(``mode``/``split`` may be ``null``) plus ``shape`` ``[m_last, n_first]``;
:meth:`Schedule.from_dict` reads it back, checking every op.

The memory bound (as Jacobian-Chaining has it): with ``memory=M`` an op
that runs adjoints over ``F_first..F_s`` (or, for an adjoint accumulation,
over ``F_first..F_last``) is allowed only if the tapes of those factors sum
to at most ``M``; tangents and products are never restricted. A schedule's
``memory_peak`` is the largest tape of any of its ops (Jacobians kept
between ops are not counted, as in the references).

Accumulating a span ``i..j`` by tangents costs exactly as much as
accumulating ``F_i`` and propagating tangents over ``i+1..j``, and by
adjoints as much as accumulating ``F_j`` and propagating adjoints over
``i..j-1`` (which keeps a smaller tape); the optimizer takes the span
accumulation on such ties when it has fewer ops (``ties='fewest_ops'``).
The homogeneous baselines are one span accumulation each.

Sparse factors
--------------
A factor may carry its Jacobian's sparsity pattern (:attr:`Factor.pattern`,
a :class:`~chainorder.algebra.kinds.sparse.SparsityPattern`, ``m x n``). A
span whose factors all carry one has the boolean product of their patterns
(``P_last ... P_first``, whatever the bracketing), and a ``compress`` op
accumulates it from the seeds of a coloring of that pattern
(:mod:`chainorder.algebra.coloring`): ``c`` compressed tangents (a column
coloring) or adjoints (a row coloring), then a gather onto the pattern. Its
split is None, its operands none, its swept factors ``first..last``, like a
plain accumulation; the built Jacobian counts as dense for the ops that
consume it. A schedule without ``compress`` ops reads and costs as before;
:meth:`Schedule.to_dict` writes a factor's pattern as ``{"rows", "cols",
"indptr", "indices"}``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..validation import check_positive_int, format_bytes
from .costs import GJC_COST_UNIT, matmul_cost
from .orders import optimize

if TYPE_CHECKING:
    from .kinds.sparse import SparsityPattern

__all__ = [
    "GJC_COST_UNIT",
    "TIES",
    "GJC_MAX_FACTORS",
    "check_gjc_size",
    "Factor",
    "Op",
    "Schedule",
    "check_factors",
    "optimize_gjc",
    "homogeneous_tangent_cost",
    "homogeneous_adjoint_cost",
    "preaccumulation_cost",
    "homogeneous_tangent_schedule",
    "homogeneous_adjoint_schedule",
    "preaccumulation_schedule",
]


KINDS = ("accumulate", "tangent", "adjoint", "multiply", "compress")
MODES = ("tangent", "adjoint")


@dataclass(frozen=True, repr=False)
class Factor:
    """One factor ``F: R^n -> R^m`` of a generalized Jacobian chain.

    Parameters
    ----------
    m, n : int
        Output and input widths; the Jacobian ``F'`` is ``m x n``.
    tangent_cost : int
        ``T``: fused multiply-adds of one tangent (Jacobian-vector product).
    adjoint_cost : int
        ``A``: fused multiply-adds of one adjoint (vector-Jacobian product).
    tape : int
        ``|E|``: entries an adjoint sweep over ``F`` keeps (its DAG's edges).
    modes : tuple of str
        The sweeps ``F`` allows: ``('tangent', 'adjoint')`` (the default), ``('tangent',)``
        or ``('adjoint',)``; the optimizer never runs a forbidden sweep through it.
    pattern : SparsityPattern, optional
        Where ``F'`` may be nonzero (``m x n``); spans of factors that all carry one may be
        accumulated from compressed seeds (``compress`` ops). None: dense, as before.

    Examples
    --------
    >>> Factor(5, 10, 22, 22, 22)
    Factor(m=5, n=10, tangent_cost=22, adjoint_cost=22, tape=22)
    >>> Factor.from_edges(5, 10, 22) == Factor(5, 10, 22, 22, 22)
    True
    >>> Factor(5, 10, 22, 22, 22, modes=["adjoint"])
    Factor(m=5, n=10, tangent_cost=22, adjoint_cost=22, tape=22, modes=('adjoint',))
    """

    m: int
    n: int
    tangent_cost: int
    adjoint_cost: int
    tape: int
    modes: tuple[str, ...] = MODES
    pattern: SparsityPattern | None = None

    def __post_init__(self) -> None:
        for name in ("m", "n", "tangent_cost", "adjoint_cost", "tape"):
            object.__setattr__(self, name, check_positive_int(getattr(self, name), name))
        object.__setattr__(self, "modes", _check_modes(self.modes))
        object.__setattr__(self, "pattern", _check_pattern(self.pattern, self.m, self.n))

    def allows(self, mode: str) -> bool:
        """Whether tangents (``'tangent'``) or adjoints (``'adjoint'``) may run through ``F``."""
        return mode in self.modes

    def __repr__(self) -> str:
        fields = (f"m={self.m}, n={self.n}, tangent_cost={self.tangent_cost}, "
                  f"adjoint_cost={self.adjoint_cost}, tape={self.tape}")
        restricted = "" if self.modes == MODES else f", modes={self.modes!r}"
        sparse = "" if self.pattern is None else f", pattern={self.pattern!r}"
        return f"Factor({fields}{restricted}{sparse})"

    @classmethod
    def from_edges(cls, m: int, n: int, edges: int) -> Factor:
        """A factor whose tangent, adjoint and tape all cost its DAG's ``edges`` (ADMission)."""
        return cls(m, n, edges, edges, edges)

    @property
    def shape(self) -> tuple[int, int]:
        """``(m, n)``, the shape of the factor's Jacobian."""
        return (self.m, self.n)


def _check_modes(modes: Any) -> tuple[str, ...]:
    """``modes`` as a tuple in the order of :data:`MODES`, each known, at least one."""
    given = (modes,) if isinstance(modes, str) else modes
    try:
        wanted = set(given)
    except TypeError:
        wanted = {object()}
    if not wanted or not wanted <= set(MODES):
        raise ValueError(
            f"modes must be a non-empty subset of {MODES!r} (the sweeps a factor allows), "
            f"got {modes!r}"
        )
    return tuple(m for m in MODES if m in wanted)


def _check_pattern(pattern: Any, m: int, n: int) -> SparsityPattern | None:
    """``pattern`` (a SparsityPattern, or a dict of :meth:`Schedule.to_dict`) checked ``m x n``."""
    from .kinds.sparse import SparsityPattern

    if pattern is None:
        return None
    if isinstance(pattern, Mapping):
        try:
            pattern = SparsityPattern(**pattern)
        except TypeError:
            raise ValueError(
                "pattern must hold the keys rows, cols, indptr, indices, "
                f"got {sorted(pattern)}") from None
    if not isinstance(pattern, SparsityPattern):
        raise TypeError(
            f"pattern must be a SparsityPattern or None, got {type(pattern).__name__}")
    if pattern.shape != (m, n):
        raise ValueError(
            f"pattern is {pattern.rows}x{pattern.cols} but the factor's Jacobian is {m}x{n}")
    return pattern


def span_pattern(f: Sequence[Factor], first: int, last: int) -> SparsityPattern | None:
    """The pattern of ``J(first..last)``, ``P_last ... P_first``; None if a factor has none.

    Examples
    --------
    >>> from chainorder.algebra.kinds.sparse import SparsityPattern
    >>> p = SparsityPattern.from_mask(np.eye(3) + np.eye(3, k=1))
    >>> span_pattern([Factor(3, 3, 1, 1, 1, pattern=p)] * 2, 0, 1)
    SparsityPattern(3x3, nnz=6)
    """
    from .kinds.sparse import pattern_product

    out = f[first].pattern
    for x in f[first + 1 : last + 1]:
        if out is None or x.pattern is None:
            return None
        out = pattern_product(x.pattern, out)[1]
    return out


@lru_cache(maxsize=4096)
def _colors(pattern: SparsityPattern, mode: str) -> int:
    """Colors of a column (tangents) or row (adjoints) coloring of ``pattern``."""
    from .coloring import column_coloring, row_coloring

    return (column_coloring if mode == "tangent" else row_coloring)(pattern).count


def compressed_evaluations(f: Sequence[Factor], first: int, last: int, mode: str) -> int | None:
    """Compressed tangents (``mode='tangent'``) or adjoints that accumulate ``J(first..last)``.

    None when a factor of the span has no pattern.
    """
    p = span_pattern(f, first, last)
    return None if p is None else _colors(p, mode)


def _forbidden(f: Sequence[Factor], mode: str, first: int, last: int) -> int | None:
    """The first factor of ``first..last`` that does not allow ``mode``, or None."""
    return next((i for i in range(first, last + 1) if not f[i].allows(mode)), None)


def _check_feasible(f: Sequence[Factor], memory: int | None) -> None:
    """Refuse a chain no schedule can build: an adjoint-only factor whose tape passes ``memory``."""
    if memory is None:
        return
    for i, x in enumerate(f):
        if x.modes == ("adjoint",) and x.tape > memory:
            raise ValueError(
                f"factors[{i}] allows adjoints only and keeps a tape of {x.tape:,} entries, "
                f"more than memory={memory:,}: no schedule can build its Jacobian; raise memory "
                f"to at least {x.tape:,}"
            )


def check_factors(factors: Any, name: str = "factors") -> tuple[Factor, ...]:
    """Return ``factors`` as a tuple of :class:`Factor`, checking ``n_(i+1) == m_i``.

    Examples
    --------
    >>> check_factors([Factor.from_edges(5, 10, 1), Factor.from_edges(2, 4, 1)])
    Traceback (most recent call last):
    ...
    ValueError: factors[1] has n=4 inputs but factors[0] has m=5 outputs; each factor's n \
must equal the previous factor's m (factor 0 is applied first)
    """
    if isinstance(factors, (str, bytes, Mapping, Factor)) or not isinstance(factors, Iterable):
        raise TypeError(
            f"{name} must be a sequence of Factor (factor 0 applied first), "
            f"got {type(factors).__name__}"
        )
    out = tuple(factors)
    if not out:
        raise ValueError(f"{name} is empty: a chain needs at least one factor")
    for i, f in enumerate(out):
        if not isinstance(f, Factor):
            raise TypeError(
                f"{name}[{i}] must be a Factor(m, n, tangent_cost, adjoint_cost, tape), "
                f"got {type(f).__name__} {f!r}"
            )
        if i and f.n != out[i - 1].m:
            raise ValueError(
                f"{name}[{i}] has n={f.n} inputs but {name}[{i - 1}] has m={out[i - 1].m} "
                "outputs; each factor's n must equal the previous factor's m "
                "(factor 0 is applied first)"
            )
    return out


def _check_memory(memory: Any) -> int | None:
    return None if memory is None else check_positive_int(memory, "memory")


class Op(NamedTuple):
    """One operation of a :class:`Schedule`; it produces ``J(first..last)``.

    See the module docstring for the meaning of ``kind``, ``mode`` and
    ``split`` and for how ``cost`` and ``memory`` are counted.
    """

    kind: str
    mode: str | None
    first: int
    last: int
    split: int | None
    evaluations: int
    cost: int
    memory: int

    @property
    def label(self) -> str:
        """The op as text, e.g. ``'tangent F1..F3 <- J(F0)'``."""
        span = _span(self.first, self.last)
        if self.kind == "compress":
            return f"compress {span} by {self.evaluations} {self.mode}s"
        if self.kind == "accumulate" or self.split is None:
            return f"accumulate {span} by {self.mode}s"
        s = self.split  # every op but an accumulation splits its span after factor s
        if self.kind == "tangent":
            return f"tangent {_span(s + 1, self.last)} <- J({_span(self.first, s)})"
        if self.kind == "adjoint":
            return f"adjoint {_span(self.first, s)} <- J({_span(s + 1, self.last)})"
        return f"multiply J({_span(s + 1, self.last)}) @ J({_span(self.first, s)})"

    @property
    def swept(self) -> tuple[int, int] | None:
        """Factors ``(a, b)``, inclusive, the op runs tangents or adjoints through (None: product).

        ``(first, last)`` for an accumulation, ``(split+1, last)`` for
        tangents, ``(first, split)`` for adjoints.
        """
        return _swept(self.kind, self.first, self.last, self.split)

    @property
    def operands(self) -> tuple[tuple[int, int], ...]:
        """Spans ``(a, b)`` of the built Jacobians the op consumes, earlier factors first."""
        return _operands(self.kind, self.first, self.last, self.split)

    def to_dict(self) -> dict[str, Any]:
        """The op as a JSON-ready dict (the keys of the module docstring's table)."""
        return dict(self._asdict())


def _span(a: int, b: int) -> str:
    return f"F{a}" if a == b else f"F{a}..F{b}"


def _swept(kind: str, first: int, last: int, split: Any) -> tuple[int, int] | None:
    if kind in ("accumulate", "compress"):
        return (first, last)
    return {"tangent": (split + 1, last), "adjoint": (first, split)}.get(kind)


def _operands(kind: str, first: int, last: int, split: Any) -> tuple[tuple[int, int], ...]:
    if kind in ("accumulate", "compress"):
        return ()
    left, right = (first, split), (split + 1, last)
    return {"tangent": (left,), "adjoint": (right,)}.get(kind, (left, right))


def _make_op(
    f: tuple[Factor, ...], kind: str, mode: str | None, first: int, last: int, split: int | None
) -> Op:
    """The op with its evaluations, cost and tape counted from the factors (inputs trusted)."""
    swept = _swept(kind, first, last, split)
    if swept is None:  # a product J(split+1..last) @ J(first..split)
        cost = matmul_cost(f[last].m, f[split].m, f[first].n)  # type: ignore[index]
        return Op(kind, None, first, last, split, 0, cost, 0)
    part = f[swept[0] : swept[1] + 1]
    evals = _evaluations(f, kind, mode, first, last)
    if mode == "tangent":
        return Op(kind, mode, first, last, split, evals,
                  evals * sum(x.tangent_cost for x in part), 0)
    cost = evals * sum(x.adjoint_cost for x in part)
    return Op(kind, mode, first, last, split, evals, cost, sum(x.tape for x in part))


def _evaluations(f: tuple[Factor, ...], kind: str, mode: str | None, first: int, last: int) -> int:
    """Tangents or adjoints an op evaluates: ``n_first``, ``m_last`` or the colors."""
    if kind != "compress":
        return f[first].n if mode == "tangent" else f[last].m
    evals = compressed_evaluations(f, first, last, mode or "")
    if evals is None:
        bad = next(i for i in range(first, last + 1) if f[i].pattern is None)
        raise ValueError(
            f"compress {_span(first, last)} needs a pattern on every factor of the span; "
            f"factors[{bad}] has none")
    return evals


# ----------------------------------------------------------------------------- schedule


class Schedule:
    """Operations that build the Jacobian of a factor chain, with their exact cost.

    Made by :func:`optimize_gjc` and the baseline functions; build one by
    hand from ops given as :class:`Op`, dicts (keys ``kind, mode, first,
    last, split``) or tuples ``(kind, mode, first, last, split)``: every op
    is checked (its operands built before, its factors untouched, the
    memory bound kept) and re-costed.

    Attributes
    ----------
    factors : tuple of Factor
    ops : tuple of Op
        In execution order.
    cost : int
        Fused multiply-adds, the sum of the ops' costs.
    memory_peak : int
        The largest tape any op keeps (0 without adjoints).
    memory : int or None
        The bound the schedule was made under (None: unbounded).
    order : str
        ``'optimal'``, ``'tangent'``, ``'adjoint'``, ``'preaccumulation'`` or ``'custom'``.

    Examples
    --------
    >>> f = [Factor.from_edges(4, 2, 8), Factor.from_edges(1, 4, 4)]
    >>> s = Schedule(f, [("accumulate", "adjoint", 1, 1, None), ("adjoint", "adjoint", 0, 1, 0)])
    >>> s.cost, s.memory_peak, [op.cost for op in s.ops]
    (12, 8, [4, 8])
    """

    def __init__(
        self,
        factors: Sequence[Factor],
        ops: Iterable[Any],
        *,
        memory: int | None = None,
        order: str = "custom",
        check: bool = True,
    ) -> None:
        if check:
            factors = check_factors(factors)
            memory = _check_memory(memory)
            ops = _check_ops(factors, ops, memory)
        self.factors: tuple[Factor, ...] = tuple(factors)
        self.ops: tuple[Op, ...] = tuple(ops)
        self.memory: int | None = memory
        self.order = str(order)
        self.cost: int = sum(op.cost for op in self.ops)
        self.memory_peak: int = max((op.memory for op in self.ops), default=0)

    @property
    def q(self) -> int:
        """Number of factors."""
        return len(self.factors)

    @property
    def shape(self) -> tuple[int, int]:
        """``(m_(q-1), n_0)``, the shape of the chain's Jacobian."""
        return (self.factors[-1].m, self.factors[0].n)

    @cached_property
    def tangent_cost(self) -> int:
        """Cost of homogeneous tangent mode on the same factors, for comparison."""
        return homogeneous_tangent_cost(self.factors)

    @cached_property
    def adjoint_cost(self) -> int:
        """Cost of homogeneous adjoint mode on the same factors (ignores the memory bound)."""
        return homogeneous_adjoint_cost(self.factors)

    @cached_property
    def preaccumulation_cost(self) -> int:
        """Cost of global preaccumulation on the same factors, under the same memory bound."""
        return preaccumulation_cost(self.factors, self.memory)

    def speedup(self, other: str | Schedule = "tangent") -> float:
        """How many times cheaper this schedule is than ``other``.

        ``other`` is a :class:`Schedule` of the same factors or one of
        ``'tangent'``, ``'adjoint'``, ``'preaccumulation'``.
        """
        if isinstance(other, Schedule):
            if other.factors != self.factors:
                raise ValueError("other is a schedule of different factors")
            return _ratio(other.cost, self.cost)
        fixed = {
            "tangent": "tangent_cost",
            "adjoint": "adjoint_cost",
            "preaccumulation": "preaccumulation_cost",
        }
        if other not in fixed:
            raise ValueError(
                f"other must be a Schedule or one of {', '.join(map(repr, fixed))}, got {other!r}"
            )
        return _ratio(getattr(self, fixed[other]), self.cost)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: factors, bound, cost, peak, baselines and the ops."""
        return {
            "order": self.order,
            "unit": GJC_COST_UNIT,
            "factors": [
                {"m": f.m, "n": f.n, "tangent_cost": f.tangent_cost,
                 "adjoint_cost": f.adjoint_cost, "tape": f.tape,
                 **({} if f.modes == MODES else {"modes": list(f.modes)}),
                 **({} if f.pattern is None else {"pattern": _pattern_dict(f.pattern)})}
                for f in self.factors
            ],
            "memory": self.memory,
            "cost": self.cost,
            "memory_peak": self.memory_peak,
            "tangent": self.tangent_cost,
            "adjoint": self.adjoint_cost,
            "preaccumulation": self.preaccumulation_cost,
            "schedule": [
                {**op.to_dict(), "shape": [self.factors[op.last].m, self.factors[op.first].n]}
                for op in self.ops
            ],
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Schedule:
        """The schedule of a :meth:`to_dict` document, every op checked and re-costed."""
        if not isinstance(doc, Mapping) or "factors" not in doc or "schedule" not in doc:
            raise ValueError("doc must be a mapping with keys 'factors' and 'schedule'")
        factors = [Factor(**f) for f in doc["factors"]]
        return cls(
            factors, doc["schedule"], memory=doc.get("memory"), order=doc.get("order", "custom")
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return self.factors == other.factors and self.ops == other.ops

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"<Schedule {self.order!r}: {self.q} factors, {len(self.ops)} ops, "
            f"cost {self.cost:,}, tape peak {self.memory_peak:,}>"
        )

    def __str__(self) -> str:
        t, a, p = self.tangent_cost, self.adjoint_cost, self.preaccumulation_cost
        bound = "none" if self.memory is None else f"{self.memory:,} tape entries"
        tape = sum(f.tape for f in self.factors)
        over = ""
        if self.memory is not None and tape > self.memory:
            over = f"; its tape {tape:,} > bound"
        lines = [
            f"  Order:                 {self.order}",
            f"  Factors:               {self.q} (F0 applied first), Jacobian "
            f"{self.shape[0]}x{self.shape[1]}",
            f"  Memory bound:          {bound}",
            f"  Fused multiply-adds:   {self.cost:,}",
            f"  Tape peak:             {self.memory_peak:,} entries",
            f"  Homogeneous tangent:   {t:,}   ({_fmt_ratio(t, self.cost)} this schedule)",
            f"  Homogeneous adjoint:   {a:,}   ({_fmt_ratio(a, self.cost)} this schedule{over})",
            f"  Preaccumulation:       {p:,}   ({_fmt_ratio(p, self.cost)} this schedule)",
            f"  step  {'operation':<38}  evaluations  multiply-adds  tape",
        ]
        shown = self.ops[:30]
        for s, op in enumerate(shown, 1):
            lines.append(
                f"  {s:>4}  {op.label:<38}  {op.evaluations:>11,}  {op.cost:>13,}  {op.memory:,}"
            )
        if len(self.ops) > len(shown):
            lines.append(f"  ... {len(self.ops) - len(shown)} more ops")
        return "Schedule\n" + "\n".join(lines)


def _pattern_dict(p: SparsityPattern) -> dict[str, Any]:
    return {"rows": p.rows, "cols": p.cols, "indptr": p.indptr.tolist(),
            "indices": p.indices.tolist()}


def _ratio(a: int, b: int) -> float:
    return float("inf") if b == 0 and a > 0 else (1.0 if b == 0 else a / b)


def _fmt_ratio(a: int, b: int) -> str:
    return f"{_ratio(a, b):.3g}x"


def _check_ops(f: tuple[Factor, ...], ops: Iterable[Any], memory: int | None) -> list[Op]:
    """Check that ``ops`` build ``J(0..q-1)`` op by op; return them re-costed."""
    q = len(f)
    raw = [True] * q  # raw[i]: factor i is not yet inside any built Jacobian
    built: dict[int, int] = {}  # built[first] = last for every Jacobian built, not yet consumed
    out: list[Op] = []
    for s, item in enumerate(ops):
        kind, mode, first, last, split = fields = _op_fields(item, s, q)
        where = f"ops[{s}] {fields}"
        swept = _swept(kind, first, last, split)
        need_raw = range(swept[0], swept[1] + 1) if swept else range(0)
        operands = _operands(kind, first, last, split)
        for a, b in operands:
            if built.get(a) != b:
                raise ValueError(f"{where} needs J({_span(a, b)}), which is not built (or used)")
        for i in need_raw:
            if not raw[i]:
                raise ValueError(f"{where}: factor F{i} is already inside a built Jacobian")
        try:
            op = _make_op(f, kind, mode, first, last, split)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        bad = None if swept is None else _forbidden(f, op.mode or "", *swept)
        if bad is not None:
            raise ValueError(
                f"{where} runs {op.mode}s through F{bad}, which allows only {f[bad].modes}"
            )
        if memory is not None and op.memory > memory:
            raise ValueError(f"{where} keeps a tape of {op.memory:,} > memory={memory:,}")
        for a, _ in operands:
            del built[a]
        for i in need_raw:
            raw[i] = False
        built[first] = last
        out.append(op)
    if built != {0: q - 1}:
        spans = ", ".join(f"J({_span(a, b)})" for a, b in sorted(built.items())) or "nothing"
        raise ValueError(
            f"ops must end with the whole chain's Jacobian J({_span(0, q - 1)}); they leave {spans}"
        )
    return out


def _op_fields(op: Any, s: int, q: int) -> tuple[str, str | None, int, int, int | None]:
    """``(kind, mode, first, last, split)`` of ops[s], each checked on its own."""
    if isinstance(op, Mapping):
        try:
            op = (op["kind"], op.get("mode"), op["first"], op["last"], op.get("split"))
        except KeyError as exc:
            raise ValueError(f"ops[{s}] lacks the key {exc.args[0]!r}") from None
    if isinstance(op, str) or not isinstance(op, Sequence) or len(op) < 5:
        raise TypeError(
            f"ops[{s}] must be an Op, a dict or a tuple (kind, mode, first, last, split), "
            f"got {op!r}"
        )
    kind, mode, first, last, split = op[:5]
    where = f"ops[{s}] {(kind, mode, first, last, split)}"
    if kind not in KINDS:
        raise ValueError(f"{where}: kind must be one of {', '.join(KINDS)}")
    want = {"tangent": ("tangent",), "adjoint": ("adjoint",), "multiply": (None,)}.get(kind, MODES)
    if mode not in want:
        expected = " or ".join(map(repr, want))
        raise ValueError(f"{where}: mode must be {expected} for kind {kind!r}")
    first, last = _index(first), _index(last)
    if first is None or last is None or not 0 <= first <= last < q:
        raise ValueError(f"{where}: need integers 0 <= first <= last < {q}")
    if kind in ("accumulate", "compress"):
        if split is not None:
            raise ValueError(f"{where}: an accumulation has split None")
        return kind, mode, first, last, None
    split = _index(split)
    if split is None or not first <= split < last:
        raise ValueError(f"{where}: need an integer split with first <= split < last")
    return kind, mode, first, last, split


def _index(value: Any) -> int | None:
    """``value`` as an int if it is an integer (numpy ints too, bools not), else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return None
    return int(value)


# ----------------------------------------------------------------------------- optimizer


#: How :func:`optimize_gjc` breaks ties between equally cheap schedules.
TIES = ("fewest_ops", "least_memory")

#: Longest chain :func:`optimize_gjc` takes unless told otherwise: about 10 s of numpy DP
#: and 60 MB of tables on a 2-core machine (the DP is O(q^3) time, O(q^2) memory).
GJC_MAX_FACTORS = 1000

#: Seconds per q^3 of the numpy DP (q = 2000 took 75 s on a 2-core Xeon) and bytes per
#: q^2 of its seven int64 tables: the basis of the estimates in refusals.
_SECONDS_PER_CUBE = 75 / 2000**3
_BYTES_PER_SQUARE = 7 * 8


def check_gjc_size(q: int, max_factors: Any = GJC_MAX_FACTORS) -> None:
    """Refuse a chain of ``q`` factors longer than ``max_factors``, with the cost of running it.

    Examples
    --------
    >>> check_gjc_size(10_000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: a chain of 10,000 factors is longer than max_factors=1,000: ... about 2.6 h ...
    """
    limit = check_positive_int(max_factors, "max_factors")
    if q <= limit:
        return
    hours = _SECONDS_PER_CUBE * q**3 / 3600
    took = f"{hours:.2g} h" if hours >= 1 else f"{hours * 60:.2g} min"
    raise ValueError(
        f"a chain of {q:,} factors is longer than max_factors={limit:,}: the exact DP would "
        f"take about {took} and {format_bytes(_BYTES_PER_SQUARE * q * q)} here (O(q^3) time, "
        f"O(q^2) memory); pass max_factors={q} (CLI: --max-factors {q}) to run it anyway")


def optimize_gjc(
    factors: Sequence[Factor],
    memory: int | None = None,
    *,
    ties: str = "fewest_ops",
    method: str = "auto",
    max_factors: int = GJC_MAX_FACTORS,
) -> Schedule:
    """The cheapest schedule of a generalized Jacobian chain, exactly (O(q^3)).

    Dynamic programming over sub-chains, as in Naumann (2020, 2024) and the
    references' tools. With ``C(i, j)`` the least cost of ``J(i..j)``
    (``i <= j``, factor ``i`` applied first), ``ΣT(a..b)`` etc. sums over
    factors ``a..b`` and ``ok(a..b)`` meaning ``ΣE(a..b) <= memory``::

        C(i, j) = min( n_i·ΣT(i..j),                           # accumulate by tangents
                       m_j·ΣA(i..j)              if ok(i..j),  # accumulate by adjoints
                       min over i <= k < j of
                         C(i, k) + C(k+1, j) + m_j·m_k·n_i,    # multiply
                         C(i, k) + n_i·ΣT(k+1..j),             # tangents through k+1..j
                         C(k+1, j) + m_j·ΣA(i..k)  if ok(i..k) )  # adjoints through i..k

    For ``i = j`` only the accumulations apply. A sweep through a factor that
    does not allow its mode (:attr:`Factor.modes`) is left out like one
    past the memory bound, so the DP stays exact. Accumulating a longer span
    never costs less than accumulating one factor and propagating (it costs
    the same), so the references leave it out; here it breaks ties, e.g.
    homogeneous tangent mode is one op. Every op's feasibility depends on
    its own span only, so the DP stays exact under the memory bound.

    Parameters
    ----------
    factors : sequence of Factor
        Factor 0 is applied first.
    memory : int, optional
        Largest tape an adjoint op may keep; None for no bound.
    ties : {'fewest_ops', 'least_memory'}
        Among the cheapest schedules, take one with the fewest ops (long
        sweeps: fewer kernel launches when executed; the tape peak breaks
        further ties) or one with the least tape peak (then the fewest ops).
        The second criterion is exact (the DP minimizes it among all
        cheapest schedules), the third is best effort. Remaining ties go
        to accumulating the whole span (tangents first), then to the
        smaller split ``k``, then to multiply, tangent, adjoint.
    max_factors : int
        Longest chain accepted (default :data:`GJC_MAX_FACTORS`); a longer
        one is refused before any table is allocated, with the estimated
        time and memory. Raise it to run a longer chain anyway.
    method : {'auto', 'python', 'numpy'}
        The same DP in Python ints (exact at any size; about 1 s for
        ``q = 200``) or with numpy, one chain length at a time in int64
        (several times faster on long chains; refused where int64 could
        overflow). Both choose the same schedule; ``'auto'`` takes numpy
        from 48 factors on when it is safe.

    Returns
    -------
    Schedule

    Notes
    -----
    On ADMission's five ``problem_dense*`` chains this reproduces what
    ``gdjcpb_solve`` prints, optimum and baselines, and on the 79,992 random
    chains of Jacobian-Chaining's published batch results (lengths 1..8) its
    one-thread optimum (``tests/test_gjc.py`` checks the first of each
    length). ADMission has no memory bound and ``T = A = |E|``; the bound and
    separate ``T``, ``A`` are those of Jacobian-Chaining's optimizer.

    Examples
    --------
    The first five factors of ADMission's ``problem_dense10``:

    >>> f = [Factor.from_edges(*r) for r in
    ...      [(10, 1, 75), (5, 10, 22), (1, 5, 25), (8, 1, 55), (3, 8, 32)]]
    >>> s = optimize_gjc(f)
    >>> s.cost, s.tangent_cost, s.adjoint_cost, s.preaccumulation_cost
    (209, 209, 627, 443)
    >>> [op.label for op in s.ops]
    ['accumulate F0..F4 by tangents']
    """
    f = check_factors(factors)
    check_gjc_size(len(f), max_factors)
    memory = _check_memory(memory)
    _check_feasible(f, memory)
    if ties not in TIES:
        raise ValueError(f"ties must be one of {', '.join(map(repr, TIES))}, got {ties!r}")
    if method not in ("auto", "python", "numpy"):
        raise ValueError(f"method must be 'auto', 'python' or 'numpy', got {method!r}")
    safe = _fits_int64(f)
    if method == "numpy" and not safe:
        raise ValueError(
            "method='numpy' could overflow int64 on these factors (costs near 2**60); "
            "use method='python' (exact Python ints)"
        )
    sparse = any(x.pattern is not None for x in f)
    if method == "numpy" and sparse:
        raise ValueError(
            "method='numpy' does not plan compressed accumulations; factors with a pattern "
            "need method='python' or 'auto'")
    by_ops = ties == "fewest_ops"
    if method == "numpy" or (method == "auto" and len(f) >= _NUMPY_FROM and safe and not sparse):
        choose = _fill_numpy(f, memory, by_ops)
    else:
        best = _fill(f, memory, by_ops)
        choose = best.__getitem__
    ops = _ops_from_table(f, choose, 0, len(f) - 1)
    return Schedule(f, ops, memory=memory, order="optimal", check=False)


#: best[(i, j)] = (kind, mode, split) of the chosen way to J(i..j)
_Table = dict[tuple[int, int], tuple[str, "str | None", "int | None"]]

_CHOICES = (
    ("multiply", None),
    ("tangent", "tangent"),
    ("adjoint", "adjoint"),
    ("accumulate", "tangent"),
    ("accumulate", "adjoint"),
    ("compress", "tangent"),
    ("compress", "adjoint"),
)


def _fill(f: tuple[Factor, ...], memory: int | None, by_ops: bool) -> _Table:  # noqa: C901 (the DP)
    """The DP of :func:`optimize_gjc` in exact Python ints: the chosen op of every span."""
    q = len(f)
    m = [x.m for x in f]
    n = [x.n for x in f]
    # prefix sums: ST[b+1] - ST[a] = ΣT(a..b), likewise A and E
    ST, SA, SE = [0], [0], [0]
    # NT[b+1] - NT[a]: factors of a..b that forbid tangents; NA likewise adjoints
    NT, NA = [0], [0]
    for x in f:
        ST.append(ST[-1] + x.tangent_cost)
        SA.append(SA[-1] + x.adjoint_cost)
        SE.append(SE[-1] + x.tape)
        NT.append(NT[-1] + (not x.allows("tangent")))
        NA.append(NA[-1] + (not x.allows("adjoint")))
    bound = SE[-1] if memory is None else memory
    never = float("inf")  # the cost of a sweep a factor forbids
    # ties between equal costs: one number, ops count then peak (by_ops) or peak then ops
    wide_ops, wide_peak = 2 * q, SE[-1] + 1

    def tie(ops: int, peak: int) -> int:
        return ops * wide_peak + peak if by_ops else peak * wide_ops + ops

    # C, N, P[i][j]: cost, op count and tape peak of the chosen way to J(i..j)
    C = [[0] * q for _ in range(q)]
    N = [[1] * q for _ in range(q)]
    P = [[0] * q for _ in range(q)]
    best: _Table = {}
    spans = _SpanPatterns(f)
    for length in range(1, q + 1):
        for i in range(q - length + 1):
            j = i + length - 1
            mj, ni, tape = m[j] * n[i], n[i], SE[j + 1] - SE[i]
            # accumulate J(i..j) by n_i tangents (best so far), or by m_j adjoints
            bc: float = ni * (ST[j + 1] - ST[i]) if NT[j + 1] == NT[i] else never
            bo, bp, pick = 1, 0, (3, i)  # pick: (choice, k)
            bt = tie(1, 0)
            c = m[j] * (SA[j + 1] - SA[i])
            ok = tape <= bound and NA[j + 1] == NA[i]
            if ok and (c < bc or (c == bc and tie(1, tape) < bt)):
                bc, bt, bo, bp, pick = c, tie(1, tape), 1, tape, (4, i)
            Ci, SEi, SAi, STj = C[i], SE[i], SA[i], ST[j + 1]
            for k in range(i, j):
                lc, rc = Ci[k], C[k + 1][j]  # J(i..k), the factors applied first; J(k+1..j)
                c = lc + rc + mj * m[k]  # multiply
                if c <= bc:
                    o, p = N[i][k] + N[k + 1][j] + 1, max(P[i][k], P[k + 1][j])
                    if c < bc or tie(o, p) < bt:
                        bc, bt, bo, bp, pick = c, tie(o, p), o, p, (0, k)
                c = lc + ni * (STj - ST[k + 1])  # tangents through k+1..j
                if c <= bc and NT[j + 1] == NT[k + 1]:
                    o, p = N[i][k] + 1, P[i][k]
                    if c < bc or tie(o, p) < bt:
                        bc, bt, bo, bp, pick = c, tie(o, p), o, p, (1, k)
                tape = SE[k + 1] - SEi
                c = rc + m[j] * (SA[k + 1] - SAi)  # adjoints through i..k
                if c <= bc and tape <= bound and NA[k + 1] == NA[i]:
                    o, p = N[k + 1][j] + 1, max(P[k + 1][j], tape)
                    if c < bc or tie(o, p) < bt:
                        bc, bt, bo, bp, pick = c, tie(o, p), o, p, (2, k)
            for w, c, t in _compressed(f, spans, i, j, bc, ST, SA, SE, NT, NA, bound):
                if c < bc or (c == bc and tie(1, t) < bt):
                    bc, bt, bo, bp, pick = c, tie(1, t), 1, t, (w, i)
            C[i][j], N[i][j], P[i][j] = int(bc), bo, bp
            kind, mode = _CHOICES[pick[0]]
            best[i, j] = (kind, mode, None if kind in ("accumulate", "compress") else pick[1])
    return best


class _SpanPatterns:
    """The pattern of every span ``i..j`` of factors that all carry one, built incrementally."""

    def __init__(self, f: tuple[Factor, ...]) -> None:
        self.f = f
        self.known: dict[tuple[int, int], SparsityPattern | None] = {}

    def get(self, i: int, j: int) -> SparsityPattern | None:
        from .kinds.sparse import pattern_product

        if (i, j) not in self.known:
            below = self.f[i].pattern if i == j else self.get(i, j - 1)
            p = None if below is None or self.f[j].pattern is None else (
                below if i == j else pattern_product(self.f[j].pattern, below)[1])
            self.known[i, j] = p
        return self.known[i, j]


def _compressed(
    f: tuple[Factor, ...], spans: _SpanPatterns, i: int, j: int, best: float,
    ST: list[int], SA: list[int], SE: list[int], NT: list[int], NA: list[int], bound: int,
) -> list[tuple[int, int, int]]:
    """``(choice, cost, tape)`` of the compressed accumulations of ``J(i..j)`` that may win.

    A coloring is made only when its lower bound (the most entries of a row, for
    columns; of a column, for rows) times the sweep's cost does not pass ``best``.
    """
    p = spans.get(i, j)
    if p is None:
        return []
    out = []
    tape = SE[j + 1] - SE[i]
    sweeps = ((5, "tangent", ST, NT, p.row_counts), (6, "adjoint", SA, NA, p.col_counts))
    for w, mode, S, N, counts in sweeps:
        per = S[j + 1] - S[i]
        if N[j + 1] != N[i] or (mode == "adjoint" and tape > bound):
            continue
        if int(counts().max(initial=0)) * per > best:
            continue
        out.append((w, _colors(p, mode) * per, tape if mode == "adjoint" else 0))
    return out


#: Chains from this many factors on are planned by :func:`_fill_numpy` (same answers).
_NUMPY_FROM = 48


def _fits_int64(f: tuple[Factor, ...]) -> bool:
    """Whether every DP cost and tie number of ``f`` stays far below 2**62 in int64."""
    top = max(max(x.m, x.n) for x in f)
    T, A, E = (sum(getattr(x, a) for x in f) for a in ("tangent_cost", "adjoint_cost", "tape"))
    return top * (2 * T + A) + top**3 < 2**60 and 2 * len(f) * (E + 1) < 2**60


def _fill_numpy(  # noqa: C901 (the DP, vectorized)
    f: tuple[Factor, ...], memory: int | None, by_ops: bool
) -> Callable[[tuple[int, int]], tuple[str, str | None, int | None]]:
    """:func:`_fill` with every start and split of one length at once (int64; same choices).

    Candidates of J(i..j) sit in the order :func:`_fill` tries them: the two
    accumulations, then multiply, tangent, adjoint for k = i, i+1, ...; the
    first with the least cost, then the least tie number, wins in both.
    """
    q = len(f)
    m = np.array([x.m for x in f], dtype=np.int64)
    n = np.array([x.n for x in f], dtype=np.int64)
    ST, SA, SE = (
        np.concatenate([[0], np.cumsum([getattr(x, a) for x in f])]).astype(np.int64)
        for a in ("tangent_cost", "adjoint_cost", "tape")
    )
    # NT[b+1] - NT[a]: factors of a..b that forbid tangents; NA likewise adjoints
    NT, NA = (
        np.concatenate([[0], np.cumsum([not x.allows(mode) for x in f])]).astype(np.int64)
        for mode in MODES
    )
    bound = int(SE[-1]) if memory is None else min(memory, int(SE[-1]))
    big = np.int64(2**62)  # above every cost and tie number (_fits_int64)
    wide = np.int64(SE[-1] + 1 if by_ops else 2 * q)

    def tie(ops: np.ndarray, peak: np.ndarray) -> np.ndarray:
        return ops * wide + peak if by_ops else peak * wide + ops

    # X_s[i, L]: value of the span of length L starting at i; X_e[j, L]: ending at j
    # (cost C, op count N, tape peak P); both layouts make every split a strided view
    C_s, N_s, P_s, C_e, N_e, P_e = (np.zeros((q, q + 1), dtype=np.int64) for _ in range(6))
    pick = np.zeros((q, q + 1), dtype=np.int64)  # pick[i, L]: index of the winning candidate
    for L in range(1, q + 1):
        S = q - L + 1  # starts i = 0..S-1, ends j = i + L - 1
        i, j = np.arange(S), np.arange(L - 1, q)
        tape_all = SE[j + 1] - SE[i]
        ok_t, ok_a = NT[j + 1] == NT[i], (tape_all <= bound) & (NA[j + 1] == NA[i])
        acc_t = np.where(ok_t, n[i] * (ST[j + 1] - ST[i]), big)  # accumulate J(i..j) by tangents
        acc_a = np.where(ok_a, m[j] * (SA[j + 1] - SA[i]), big)  # by adjoints
        low = np.minimum(acc_t, acc_a)
        if L >= 2:
            lc, lo, lp = C_s[:S, 1:L], N_s[:S, 1:L], P_s[:S, 1:L]  # J(i..k), k = i+t-1
            rc, ro, rp = (X[L - 1 :, L - 1 : 0 : -1] for X in (C_e, N_e, P_e))  # J(k+1..j)
            mk = sliding_window_view(m, L - 1)[:S]
            st_k1, sa_k1, se_k1, nt_k1, na_k1 = (
                sliding_window_view(X, L - 1)[1 : S + 1] for X in (ST, SA, SE, NT, NA)
            )
            tape = se_k1 - SE[i, None]  # ΣE(i..k)
            ok_t = NT[j + 1, None] == nt_k1  # tangents may run through k+1..j
            ok_a = (tape <= bound) & (na_k1 == NA[i, None])  # adjoints through i..k
            costs = (
                lc + rc + (m[j] * n[i])[:, None] * mk,  # multiply
                np.where(ok_t, lc + n[i, None] * (ST[j + 1, None] - st_k1), big),  # tangents
                np.where(ok_a, rc + m[j, None] * (sa_k1 - SA[i, None]), big),  # adjoints
            )
            for c in costs:
                low = np.minimum(low, c.min(axis=1))
        # the candidates at the least cost, as rows r, order (the place _fill tries them
        # in: the accumulations, then multiply, tangent, adjoint for k = i, i+1, ...),
        # op count and tape peak; ties need ops and peaks only for these
        found = []
        for w, c, peak in ((0, acc_t, 0), (1, acc_a, tape_all)):
            (r,) = np.nonzero(c == low)
            found.append((r, np.full(len(r), w), np.ones(len(r), np.int64),
                          np.broadcast_to(peak, (S,))[r]))
        if L >= 2:
            for w, c in enumerate(costs):
                r, t = np.nonzero(c == low[:, None])
                if w == 0:
                    o, p = lo[r, t] + ro[r, t] + 1, np.maximum(lp[r, t], rp[r, t])
                elif w == 1:
                    o, p = lo[r, t] + 1, lp[r, t]
                else:
                    o, p = ro[r, t] + 1, np.maximum(rp[r, t], tape[r, t])
                found.append((r, 2 + 3 * t + w, o, p))
        r, order, o, p = (np.concatenate(x) for x in zip(*found, strict=True))
        first = np.lexsort((order, tie(o, p), r))  # by row, then tie number, then order
        first = first[np.r_[True, r[first][1:] != r[first][:-1]]]  # one winner per row
        rows = r[first]
        for X_s, X_e, X in ((C_s, C_e, low[rows]), (N_s, N_e, o[first]), (P_s, P_e, p[first])):
            X_s[rows, L] = X
            X_e[rows + L - 1, L] = X
        pick[rows, L] = order[first]

    def choose(span: tuple[int, int]) -> tuple[str, str | None, int | None]:
        a, b = span
        w = int(pick[a, b - a + 1])
        if w < 2:
            return ("accumulate", ("tangent", "adjoint")[w], None)
        t, c = divmod(w - 2, 3)
        return (*_CHOICES[c], a + t)

    return choose


def _ops_from_table(
    f: tuple[Factor, ...],
    choose: Callable[[tuple[int, int]], tuple[str, str | None, int | None]],
    i: int,
    j: int,
) -> list[Op]:
    """The ops of the best way to ``J(i..j)`` in post-order (operands first, left span first)."""
    out: list[Op] = []
    todo: list[tuple[int, int, bool]] = [(i, j, False)]
    while todo:  # an explicit stack: long chains would pass Python's recursion limit
        a, b, expanded = todo.pop()
        kind, mode, k = choose((a, b))
        if expanded or kind in ("accumulate", "compress"):
            out.append(_make_op(f, kind, mode, a, b, k))
            continue
        todo.append((a, b, True))
        assert k is not None
        if kind in ("multiply", "adjoint"):
            todo.append((k + 1, b, False))
        if kind in ("multiply", "tangent"):
            todo.append((a, k, False))
    return out


# ----------------------------------------------------------------------------- baselines


def homogeneous_tangent_cost(factors: Sequence[Factor]) -> int:
    """Tangent (forward) mode over the whole chain: ``n_0 · ΣT``.

    Examples
    --------
    >>> homogeneous_tangent_cost([Factor.from_edges(4, 2, 8), Factor.from_edges(1, 4, 4)])
    24
    """
    f = check_factors(factors)
    return f[0].n * sum(x.tangent_cost for x in f)


def homogeneous_adjoint_cost(factors: Sequence[Factor]) -> int:
    """Adjoint (reverse) mode over the whole chain: ``m_(q-1) · ΣA``, tape ``ΣE``.

    Examples
    --------
    >>> homogeneous_adjoint_cost([Factor.from_edges(4, 2, 8), Factor.from_edges(1, 4, 4)])
    12
    """
    f = check_factors(factors)
    return f[-1].m * sum(x.adjoint_cost for x in f)


def homogeneous_tangent_schedule(factors: Sequence[Factor]) -> Schedule:
    """Homogeneous tangent mode as one op: accumulate ``F0..F(q-1)`` by ``n_0`` tangents.

    Refused (``ValueError``) when a factor does not allow tangents.
    """
    f = check_factors(factors)
    _check_homogeneous(f, "tangent")
    op = _make_op(f, "accumulate", "tangent", 0, len(f) - 1, None)
    return Schedule(f, [op], order="tangent", check=False)


def homogeneous_adjoint_schedule(factors: Sequence[Factor]) -> Schedule:
    """Homogeneous adjoint mode as one op: accumulate ``F0..F(q-1)`` by ``m_(q-1)`` adjoints.

    Its tape peak is the whole chain's tape ``ΣE``; no memory bound applies. Refused
    (``ValueError``) when a factor does not allow adjoints.
    """
    f = check_factors(factors)
    _check_homogeneous(f, "adjoint")
    op = _make_op(f, "accumulate", "adjoint", 0, len(f) - 1, None)
    return Schedule(f, [op], order="adjoint", check=False)


def _check_homogeneous(f: tuple[Factor, ...], mode: str) -> None:
    bad = _forbidden(f, mode, 0, len(f) - 1)
    if bad is not None:
        raise ValueError(
            f"factors[{bad}] allows only {f[bad].modes}: homogeneous {mode} mode needs {mode}s "
            "through every factor; optimize_gjc finds the best schedule the factors allow"
        )


def preaccumulation_schedule(factors: Sequence[Factor], memory: int | None = None) -> Schedule:
    """Global preaccumulation: every factor's Jacobian, then the classic matrix chain.

    Each ``F_i'`` is accumulated the cheaper way, ``min(n_i·T_i, m_i·A_i)``
    (tangents on a tie, and whenever ``|E_i| > memory``), or the way it allows
    (:attr:`Factor.modes`); then the dense
    Jacobians are multiplied in the order of
    :func:`chainorder.algebra.orders.optimize`. Its chain, loss side on the
    left, is ``F_(q-1)' ... F_0'`` with dims ``(m_(q-1), ..., m_0, n_0)``.

    Examples
    --------
    >>> f = [Factor.from_edges(4, 2, 8), Factor.from_edges(1, 4, 4)]
    >>> s = preaccumulation_schedule(f)
    >>> [op.label for op in s.ops], s.cost
    (['accumulate F0 by tangents', 'accumulate F1 by adjoints', 'multiply J(F1) @ J(F0)'], 28)
    """
    f = check_factors(factors)
    memory = _check_memory(memory)
    _check_feasible(f, memory)
    q = len(f)
    ops = []
    for i, x in enumerate(f):
        adjoint = x.m * x.adjoint_cost < x.n * x.tangent_cost
        if memory is not None and x.tape > memory:
            adjoint = False
        if not x.allows("tangent") or not x.allows("adjoint"):
            adjoint = x.allows("adjoint")
        ops.append(_make_op(f, "accumulate", "adjoint" if adjoint else "tangent", i, i, None))
    dims = (*(x.m for x in reversed(f)), f[0].n)
    # chainorder step (a, k, b) over dims a..b is factors q-b..q-1-a, split after factor q-1-k
    for a, k, b in optimize(dims).step_array.tolist():
        ops.append(_make_op(f, "multiply", None, q - b, q - 1 - a, q - 1 - k))
    return Schedule(f, ops, memory=memory, order="preaccumulation", check=False)


def preaccumulation_cost(factors: Sequence[Factor], memory: int | None = None) -> int:
    """Cost of :func:`preaccumulation_schedule`: ``Σ min(n_i·T_i, m_i·A_i)`` + the chain optimum.

    Examples
    --------
    >>> preaccumulation_cost([Factor.from_edges(4, 2, 8), Factor.from_edges(1, 4, 4)])
    28
    """
    return preaccumulation_schedule(factors, memory).cost
