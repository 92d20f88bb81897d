"""Structured chains: execution of plans on Jacobian kinds, each product in its cheapest kind.

A *structure signature* is a sequence of :class:`~chainorder.algebra.costs.KindSig`
(kind and shape of each factor, no data); a :class:`~chainorder.algebra.chain.Chain`,
a list of :class:`~chainorder.algebra.kinds.Kind` objects or of arrays gives one
(:func:`~chainorder.algebra.costmodels.signatures`). Planning reads only
signatures, under the structured cost model
(:class:`~chainorder.algebra.costmodels.StructuredCost`, ``cost='structured'``);
:func:`multiply_structured` is the one place that multiplies kinds.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .costmodels import (
    MODEL_DP_MAX,
    STRUCTURED,
    ChainShape,
    dims_of,
    signatures,
)
from .costs import KindSig
from .kinds import Kind, as_kind, check_factors, kind_matmul
from .plan import Plan
from .trace import Trace

__all__ = [
    "STRUCTURES",
    "STRUCTURED_DP_MAX",
    "check_structure",
    "signatures",
    "dims_of",
    "structured_dp_steps",
    "KindStep",
    "StructuredTrace",
    "execute_structured",
    "multiply_structured",
]

#: The two cost conventions of the article's analysis (``cost='dense'``, ``cost='structured'``).
STRUCTURES = ("dense", "structured")

#: Longest chain :func:`structured_dp_steps` takes (an O(n^3) loop in Python).
STRUCTURED_DP_MAX = MODEL_DP_MAX


def check_structure(value: Any) -> str:
    """``value`` if it is ``'dense'`` or ``'structured'``, else a ValueError naming both."""
    if value not in STRUCTURES:
        raise ValueError(f"structure must be 'dense' or 'structured', got {value!r}")
    return str(value)


def structured_dp_steps(sigs: Sequence[KindSig]) -> tuple[np.ndarray, int]:
    """The cheapest bracketing under the structured cost model, and its cost (densify included).

    ``m(i, j) = min_{i<k<j} m(i, k) + m(k, j) + c(K(i, k), K(k, j))`` with
    ``K(i, j)`` the kind of the product over dims ``i..j`` and ``c`` the pair's
    count rule; the total adds the cost of writing ``K(0, n)`` out dense. Exact
    (see :class:`~chainorder.algebra.costmodels.StructuredCost`); ties go to
    the smallest ``k``.

    Examples
    --------
    >>> sigs = [KindSig.dense(1, 10), KindSig.dense(10, 100), KindSig.diagonal(100),
    ...         KindSig.dense(100, 1000)]
    >>> steps, cost = structured_dp_steps(sigs)
    >>> steps.tolist(), cost
    ([[0, 1, 2], [0, 2, 3], [0, 3, 4]], 101100)
    """
    chain = ChainShape(dims_of(sigs), tuple(sigs))
    steps = STRUCTURED.optimal_steps(chain)
    return steps, STRUCTURED.total(chain, steps)


class _StructuredPlan(Plan):
    """Deprecated: a :class:`~chainorder.algebra.plan.Plan` priced by the structured model."""

    def __init__(self, sigs: Sequence[KindSig], steps: Any, order: str = "custom", *,
                 cost: int | None = None, check: bool = True) -> None:
        chain = ChainShape.of(sigs) if check else ChainShape(dims_of(sigs), tuple(sigs))
        super().__init__(chain, steps, order, cost=cost, check=check, cost_model=STRUCTURED)


_StructuredPlan.__name__ = _StructuredPlan.__qualname__ = "StructuredPlan"


def __getattr__(name: str) -> object:
    """``StructuredPlan`` is one :class:`Plan` now; the old name warns."""
    if name != "StructuredPlan":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn("StructuredPlan is deprecated: every plan is a Plan carrying its cost model; "
                  "use chainorder.plan(..., cost='structured') or Plan(..., "
                  "cost_model=StructuredCost())", DeprecationWarning, stacklevel=2)
    return _StructuredPlan


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

    ``co.multiply(arrays, order, cost='structured')`` calls this with the
    plan it makes; a plan priced by a model that does not read kinds is
    priced again by the structured one. The product is returned dense (its
    densify counted).

    Examples
    --------
    >>> import chainorder as co
    >>> from chainorder.algebra.kinds import Diagonal
    >>> out, tr = co.multiply([np.ones((1, 3)), Diagonal([1.0, 2.0, 3.0])], "loss_first",
    ...                       cost="structured", trace=True)
    >>> out, tr.multiplications
    (array([[1., 2., 3.]]), 3)
    """
    checked = check_factors(arrays, "arrays")
    first_1d = not isinstance(arrays[0], Kind) and np.ndim(arrays[0]) == 1
    last_1d = len(arrays) > 1 and not isinstance(arrays[-1], Kind) and np.ndim(arrays[-1]) == 1
    factors = [as_kind(f) for f in checked]
    sigs = tuple(f.signature for f in factors)
    if not plan.cost_model.reads_kinds or plan.signatures != sigs:
        if list(plan.dims) != list(dims_of(sigs)):
            raise ValueError(
                f"order is a plan for dims {list(plan.dims)} but the arrays have dims "
                f"{list(dims_of(sigs))}"
            )
        plan = Plan(ChainShape(dims_of(sigs), sigs), plan.step_array, plan.order,
                    cost_model=STRUCTURED, check=False)
    product, tr = execute_structured(factors, plan, timed=trace)
    out, tr.finish = product.densify()
    if first_1d:
        out = out[0]
    if last_1d:
        out = out[..., 0]
    return (out, tr) if trace else out
