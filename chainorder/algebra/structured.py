"""Structured chains: plans costed by Jacobian kinds, their exact optimizer, and their execution.

A *structure signature* is a sequence of :class:`~chainorder.algebra.costs.KindSig`
(kind and shape of each factor, no data); a :class:`~chainorder.algebra.chain.Chain`,
a list of :class:`~chainorder.algebra.kinds.Kind` objects or of arrays gives one
(:func:`signatures`). Planning reads only signatures; :func:`multiply_structured`
is the one place that multiplies kinds.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .costs import (
    KIND_NAMES,
    KindSig,
    densify_cost,
    stored_elements,
    structured_product,
    structured_steps_cost,
)
from .kinds import Kind, as_kind, check_factors, kind_matmul, signature_of
from .plan import Plan, Step
from .trace import Trace

__all__ = [
    "STRUCTURES",
    "STRUCTURED_DP_MAX",
    "check_structure",
    "signatures",
    "dims_of",
    "StructuredPlan",
    "structured_dp_steps",
    "KindStep",
    "StructuredTrace",
    "execute_structured",
    "multiply_structured",
]

#: The two cost models a plan can use.
STRUCTURES = ("dense", "structured")

#: Longest chain :func:`structured_dp_steps` takes (an O(n^3) loop in Python).
STRUCTURED_DP_MAX = 200


def check_structure(structure: Any) -> str:
    """``structure`` if it is ``'dense'`` or ``'structured'``, else a ValueError naming both."""
    if structure not in STRUCTURES:
        raise ValueError(f"structure must be 'dense' or 'structured', got {structure!r}")
    return str(structure)


def _is_factor(obj: Any) -> bool:
    return isinstance(obj, (Kind, KindSig, np.ndarray, list, tuple))


def signatures(obj: Any) -> tuple[KindSig, ...] | None:
    """The structure signature of a chain, kinds, KindSigs or arrays; None for plain dims.

    A 1-D first array is a row and a 1-D last array a column, as in
    :func:`chainorder.multiply`.

    Examples
    --------
    >>> from chainorder.algebra.kinds import Diagonal
    >>> signatures([np.ones(3), Diagonal(np.ones(3))])
    (KindSig('dense', 1x3), KindSig('diagonal', 3x3))
    >>> signatures([1, 3, 3]) is None
    True
    """
    if hasattr(obj, "signatures") and not isinstance(obj, Sequence):
        return tuple(obj.signatures)
    if isinstance(obj, (str, bytes, np.ndarray)) or not isinstance(obj, Sequence) or not obj:
        return None
    if not _is_factor(obj[0]):  # plain dims (checked by the caller); O(1) for long chains
        return None
    out = []
    for i, f in enumerate(obj):
        if isinstance(f, numbers.Number):
            raise TypeError(f"factor {i} is the number {f!r}; expected a Kind, KindSig or array")
        if not isinstance(f, (Kind, KindSig)) and np.ndim(f) == 1:
            n = np.shape(f)[0]
            f = KindSig.dense(1, n) if i == 0 else KindSig.dense(n, 1)
        out.append(signature_of(f))
    _check_fit(out)
    return tuple(out)


def _check_fit(sigs: Sequence[KindSig]) -> None:
    for i, s in enumerate(sigs):
        if s.kind not in KIND_NAMES:
            raise ValueError(f"factor {i} has kind {s.kind!r}; expected one of {KIND_NAMES}")
        ints = all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in s.shape)
        if not ints or s.rows < 1 or s.cols < 1:
            raise ValueError(f"factor {i} has shape {s.shape}; dims must be integers >= 1")
        if i and sigs[i - 1].cols != s.rows:
            raise ValueError(
                f"factor {i} has {s.rows} rows but factor {i - 1} has {sigs[i - 1].cols} columns"
            )


def dims_of(sigs: Sequence[KindSig]) -> tuple[int, ...]:
    """``p0..pn`` of a structure signature."""
    return (sigs[0].rows, *(s.cols for s in sigs))


def _fixed_steps(n: int, loss_first: bool) -> list[tuple[int, int, int]]:
    if loss_first:
        return [(0, k, k + 1) for k in range(1, n)]
    return [(k - 1, k, n) for k in range(n - 1, 0, -1)]


class StructuredPlan(Plan):
    """A :class:`~chainorder.algebra.plan.Plan` costed by the structured model.

    ``cost`` counts every step by the kinds of its two operands (the table in
    :mod:`chainorder.algebra.costs`) plus :attr:`finish_cost`, writing the
    product out dense once.

    Examples
    --------
    >>> import chainorder as co
    >>> from chainorder.algebra.costs import KindSig
    >>> sigs = [KindSig.dense(1, 10), KindSig.dense(10, 100), KindSig.diagonal(100),
    ...         KindSig.dense(100, 1000)]
    >>> p = co.plan(sigs, "loss_first", structure="structured")
    >>> p, p.input_first_cost
    (<Plan 'loss_first' (structured): 4 matrices, cost 101,100, (((A1A2)A3)A4)>, 1110000)
    """

    structure = "structured"

    def __init__(
        self, sigs: Sequence[KindSig], steps: Any, order: str = "custom", *,
        cost: int | None = None, check: bool = True,
    ) -> None:
        self.signatures: tuple[KindSig, ...] = tuple(sigs)
        if cost is None:
            arr = np.asarray(steps, dtype=np.int64).reshape(-1, 3)
            cost = structured_steps_cost(self.signatures, arr.tolist())
        super().__init__(dims_of(self.signatures), steps, order, cost=cost, check=check)

    @cached_property
    def _walk(self) -> tuple[tuple[Step, ...], KindSig, int]:
        span = dict(enumerate(self.signatures))
        out = []
        largest = 0
        for i, k, j in self.step_array.tolist():
            left, right = span[i], span.pop(k)
            cost, span[i] = structured_product(left, right)
            out.append(Step(i, k, j, left.shape, right.shape, cost))
            largest = max(largest, stored_elements(span[i]))
        return tuple(out), span[0], largest

    @property
    def steps(self) -> tuple[Step, ...]:  # type: ignore[override]
        """The steps in execution order, each with its structured cost."""
        return self._walk[0]

    @property
    def result_signature(self) -> KindSig:
        """The kind of the chain's product (the same under every bracketing)."""
        return self._walk[1]

    @property
    def largest_intermediate(self) -> int:  # type: ignore[override]
        """Numbers stored by the largest intermediate product, in its kind (0 if none)."""
        return self._walk[2]

    @property
    def finish_cost(self) -> int:
        """Multiplications to write the product out dense (included in :attr:`cost`)."""
        return densify_cost(self.result_signature)

    @cached_property
    def loss_first_cost(self) -> int:
        """Structured cost of the same chain left to right."""
        return structured_steps_cost(self.signatures, _fixed_steps(self.n, True))

    @cached_property
    def input_first_cost(self) -> int:
        """Structured cost of the same chain right to left."""
        return structured_steps_cost(self.signatures, _fixed_steps(self.n, False))

    def to_dict(self) -> dict[str, Any]:
        """:meth:`Plan.to_dict` plus ``structure`` and each factor's ``kinds``."""
        return {**super().to_dict(), "structure": self.structure,
                "kinds": [s.kind for s in self.signatures]}

    def __repr__(self) -> str:
        return super().__repr__().replace(f"{self.order!r}:", f"{self.order!r} (structured):", 1)

    def __str__(self) -> str:
        kinds = ", ".join(s.kind for s in self.signatures[:12])
        more = ", ..." if self.n > 12 else ""
        lines = super().__str__().splitlines()
        lines[0] = "Plan (structured: costs count each factor's kind)"
        lines.insert(4, f"  Kinds:                {kinds}{more}")
        lines.insert(6, f"  Densify product:      {self.finish_cost:,} (in the count)")
        return "\n".join(lines)


def structured_dp_steps(sigs: Sequence[KindSig]) -> tuple[np.ndarray, int]:
    """The cheapest bracketing under the structured cost model, by dynamic programming.

    ``m(i, j) = min_{i<k<j} m(i, k) + m(k, j) + c(K(i, k), K(k, j))`` with
    ``K(i, j)`` the kind of the product over dims ``i..j`` and ``c`` the
    table's count; the total adds the cost of writing ``K(0, n)`` out dense.

    Why this is optimal: the kind of a sub-product does not depend on how it
    was bracketed (:func:`~chainorder.algebra.costs.span_signature`, tested
    over every bracketing of random chains), so ``K(i, j)`` is a function of
    the span alone and the cost of the step ``(i, k, j)`` is a function of
    ``(i, k, j)`` alone, as in the dense problem. A bracketing's cost is then
    the sum of its steps' costs plus a term that is the same for all
    bracketings, and the classical optimal-substructure argument (Cormen
    §15.2) holds unchanged: no state beyond ``(i, j)`` is needed. Ties go to
    the smallest ``k``.

    Examples
    --------
    >>> sigs = [KindSig.dense(1, 10), KindSig.dense(10, 100), KindSig.diagonal(100),
    ...         KindSig.dense(100, 1000)]
    >>> steps, cost = structured_dp_steps(sigs)
    >>> steps.tolist(), cost
    ([[0, 1, 2], [0, 2, 3], [0, 3, 4]], 101100)
    """
    n = len(sigs)
    if n > STRUCTURED_DP_MAX:
        raise ValueError(
            f"the structured optimizer takes at most {STRUCTURED_DP_MAX} factors (an O(n^3) "
            f"loop in Python), got {n}; plan a fixed order such as 'loss_first' instead"
        )
    # kind[i][j]: signature of the product over dims i..j (bracketing-independent)
    kind: list[list[Any]] = [[None] * (n + 1) for _ in range(n + 1)]
    for i in range(n):
        kind[i][i + 1] = sigs[i]
        for j in range(i + 2, n + 1):
            kind[i][j] = structured_product(kind[i][j - 1], sigs[j - 1])[1]
    best = [[0] * (n + 1) for _ in range(n + 1)]  # best[i][j]: least cost of dims i..j
    split = [[0] * (n + 1) for _ in range(n + 1)]  # split[i][j]: its k
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length
            best[i][j], split[i][j] = min(
                (best[i][k] + best[k][j] + structured_product(kind[i][k], kind[k][j])[0], k)
                for k in range(i + 1, j)
            )
    steps: list[tuple[int, int, int]] = []
    _emit(split, 0, n, steps)
    return np.array(steps, dtype=np.int64).reshape(-1, 3), best[0][n] + densify_cost(kind[0][n])


def _emit(split: list[list[int]], i: int, j: int, out: list[tuple[int, int, int]]) -> None:
    """Append the steps of span ``i..j`` children first (depth <= n <= STRUCTURED_DP_MAX)."""
    if j - i < 2:
        return
    k = split[i][j]
    _emit(split, i, k, out)
    _emit(split, k, j, out)
    out.append((i, k, j))


# ----------------------------------------------------------------------------- execution


@dataclass(frozen=True)
class KindStep:
    """One structured multiplication as performed: spans, operand and result kinds, count."""

    i: int
    k: int
    j: int
    left: KindSig
    right: KindSig
    result: KindSig
    multiplications: int
    seconds: float


@dataclass
class StructuredTrace(Trace):
    """What :func:`multiply_structured` did: the plan, every step, and the final densify."""

    steps: list[KindStep] = field(default_factory=list)  # type: ignore[assignment]
    finish: int = 0

    @property
    def multiplications(self) -> int:
        """Counted multiplications, steps plus densify (equals ``plan.cost``)."""
        return sum(s.multiplications for s in self.steps) + self.finish

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per step, ready for ``pandas.DataFrame``."""
        return [
            {"step": n, "i": s.i, "k": s.k, "j": s.j, "left": s.left.kind,
             "right": s.right.kind, "result": s.result.kind, "left_shape": s.left.shape,
             "right_shape": s.right.shape, "multiplications": s.multiplications,
             "seconds": s.seconds}
            for n, s in enumerate(self.steps, 1)
        ]

    def __repr__(self) -> str:
        return (
            f"<StructuredTrace {self.plan.order!r}: {len(self.steps)} steps, "
            f"{self.multiplications:,} multiplications (densify {self.finish:,})>"
        )


def execute_structured(
    factors: Sequence[Kind], plan: Plan, *, timed: bool = False
) -> tuple[Kind, StructuredTrace]:
    """Carry out ``plan`` on kinds; return the product (in its kind) and the trace."""
    partial = dict(enumerate(factors))  # partial[i]: product over dims i..(end of its span)
    tr = StructuredTrace(plan)
    clock = time.perf_counter
    for i, k, j in plan.step_array.tolist():
        left, right = partial[i], partial.pop(k)
        t0 = clock() if timed else 0.0
        partial[i], count = kind_matmul(left, right)
        seconds = clock() - t0 if timed else 0.0
        tr.steps.append(KindStep(i, k, j, left.signature, right.signature,
                                 partial[i].signature, count, seconds))
    return partial[0], tr


def multiply_structured(
    arrays: Sequence[Any], plan: Plan, *, trace: bool = False
) -> np.ndarray | tuple[np.ndarray, StructuredTrace]:
    """The product of a chain of kinds and arrays, each step in its cheapest kind.

    ``co.multiply(arrays, order, structure='structured')`` calls this with
    the plan it makes. The product is returned dense (its densify counted).

    Examples
    --------
    >>> import chainorder as co
    >>> from chainorder.algebra.kinds import Diagonal
    >>> out, tr = co.multiply([np.ones((1, 3)), Diagonal([1.0, 2.0, 3.0])], "loss_first",
    ...                       structure="structured", trace=True)
    >>> out, tr.multiplications
    (array([[1., 2., 3.]]), 3)
    """
    checked = check_factors(arrays, "arrays")
    first_1d = not isinstance(arrays[0], Kind) and np.ndim(arrays[0]) == 1
    last_1d = len(arrays) > 1 and not isinstance(arrays[-1], Kind) and np.ndim(arrays[-1]) == 1
    factors = [as_kind(f) for f in checked]
    sigs = tuple(f.signature for f in factors)
    if not isinstance(plan, StructuredPlan) or plan.signatures != sigs:
        if list(plan.dims) != list(dims_of(sigs)):
            raise ValueError(
                f"order is a plan for dims {list(plan.dims)} but the arrays have dims "
                f"{list(dims_of(sigs))}"
            )
        plan = StructuredPlan(sigs, plan.step_array, plan.order, check=False)
    product, tr = execute_structured(factors, plan, timed=trace)
    out, tr.finish = product.densify()
    if first_1d:
        out = out[0]
    if last_1d:
        out = out[..., 0]
    return (out, tr) if trace else out
