"""Execution: the one place that multiplies, counting every scalar multiplication it performs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np

from ..validation import check_arrays
from .costs import flops, matmul_cost
from .orders import plan as make_plan
from .plan import Plan
from .structured import StructuredTrace, check_structure, multiply_structured

__all__ = ["multiply", "execute", "counted_matmul", "Trace", "TraceStep"]


@dataclass(frozen=True)
class TraceStep:
    """One multiplication as performed: spans, shapes, counted multiplications, seconds."""

    i: int
    k: int
    j: int
    left_shape: tuple[int, int]
    right_shape: tuple[int, int]
    multiplications: int
    seconds: float


@dataclass
class Trace:
    """What :func:`multiply` did: the plan it followed and every step it performed."""

    plan: Plan
    steps: list[TraceStep] = field(default_factory=list)

    @property
    def multiplications(self) -> int:
        """Scalar multiplications counted from the operands' shapes (equals ``plan.cost``)."""
        return sum(s.multiplications for s in self.steps)

    @property
    def flops(self) -> int:
        """Twice :attr:`multiplications`."""
        return flops(self.multiplications)

    @property
    def seconds(self) -> float:
        """Wall time of the multiplications alone, summed over steps."""
        return sum(s.seconds for s in self.steps)

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per step, ready for ``pandas.DataFrame``."""
        return [
            {
                "step": n,
                "i": s.i,
                "k": s.k,
                "j": s.j,
                "left_shape": s.left_shape,
                "right_shape": s.right_shape,
                "multiplications": s.multiplications,
                "flops": flops(s.multiplications),
                "seconds": s.seconds,
            }
            for n, s in enumerate(self.steps, 1)
        ]

    def __repr__(self) -> str:
        return (
            f"<Trace {self.plan.order!r}: {len(self.steps)} steps, "
            f"{self.multiplications:,} multiplications, {self.seconds * 1e3:.3f} ms>"
        )

    def __str__(self) -> str:
        lines = [repr(self), "  step  shapes                        multiplications      seconds"]
        for n, s in enumerate(self.steps[:30], 1):
            shapes = f"{s.left_shape[0]}x{s.left_shape[1]} @ {s.right_shape[0]}x{s.right_shape[1]}"
            lines.append(f"  {n:>4}  {shapes:<28}  {s.multiplications:>15,}  {s.seconds:.3e}")
        if len(self.steps) > 30:
            lines.append(f"  ... {len(self.steps) - 30} more steps")
        return "\n".join(lines)


@overload
def multiply(
    arrays: Sequence[Any], order: str | Plan = ..., *, trace: Literal[False] = ...,
    structure: str = ...,
) -> np.ndarray: ...
@overload
def multiply(
    arrays: Sequence[Any], order: str | Plan = ..., *, trace: Literal[True],
    structure: str = ...,
) -> tuple[np.ndarray, Trace | StructuredTrace]: ...


def multiply(
    arrays: Sequence[Any], order: str | Plan = "optimal", *, trace: bool = False,
    structure: str = "dense",
) -> np.ndarray | tuple[np.ndarray, Trace | StructuredTrace]:
    """Multiply a chain of arrays in the given order, like :func:`numpy.linalg.multi_dot`.

    Parameters
    ----------
    arrays : sequence of array_like
        The chain, loss side first. A 1-D first array is a row vector and a
        1-D last array a column vector; the result drops those axes again.
        Integer and boolean arrays are multiplied as float64 (no silent
        integer overflow); complex arrays as complex128.
    order : str or Plan
        Any order :func:`chainorder.plan` accepts, or a ready :class:`Plan`
        whose dims match the arrays.
    trace : bool
        Also return a :class:`Trace` of every step (shapes, counted
        multiplications, seconds).
    structure : {'dense', 'structured'}
        ``'structured'``: the arrays may be :class:`~chainorder.algebra.kinds.Kind`
        objects, each product is taken in its cheapest kind and counted as such
        (see :func:`~chainorder.algebra.structured.multiply_structured`).

    Examples
    --------
    >>> import numpy as np, chainorder as co
    >>> A, B, C = np.ones((10, 100)), np.ones((100, 5)), np.ones((5, 50))
    >>> out, tr = co.multiply([A, B, C], "loss_first", trace=True)
    >>> out.shape, tr.multiplications
    ((10, 50), 7500)
    """
    if check_structure(structure) == "structured":
        chosen = order if isinstance(order, Plan) else make_plan(arrays, order, structure=structure)
        return multiply_structured(arrays, chosen, trace=trace)
    first_1d = np.ndim(arrays[0]) == 1 if _is_sequence(arrays) and len(arrays) else False
    last_1d = np.ndim(arrays[-1]) == 1 if _is_sequence(arrays) and len(arrays) > 1 else False
    mats = check_arrays(arrays)
    dims = [mats[0].shape[0], *(m.shape[1] for m in mats)]
    chosen = _resolve(order, dims)
    out, tr = execute(mats, chosen, timed=trace)
    if first_1d:
        out = out[0]
    if last_1d:
        out = out[..., 0]
    return (out, tr) if trace else out


def _is_sequence(obj: Any) -> bool:
    return isinstance(obj, Sequence) and not isinstance(obj, (str, bytes))


def _resolve(order: str | Plan, dims: list[int]) -> Plan:
    if isinstance(order, Plan):
        if list(order.dims) != dims:
            raise ValueError(
                f"order is a plan for dims {list(order.dims)} but the arrays have dims {dims}"
            )
        return order
    return make_plan(dims, order)


def execute(
    mats: Sequence[np.ndarray], plan: Plan, *, timed: bool = False
) -> tuple[np.ndarray, Trace]:
    """Carry out ``plan`` on checked 2-D arrays; return the product and its trace.

    Intermediates live in a dict keyed by the first dim of their span, so
    chains of any length run without recursion.
    """
    partial = dict(enumerate(mats))  # partial[i]: product over dims i..(end of its span)
    tr = Trace(plan)
    clock = time.perf_counter
    for i, k, j in plan.step_array.tolist():
        left, right = partial[i], partial.pop(k)
        t0 = clock() if timed else 0.0
        partial[i], count = counted_matmul(left, right)
        seconds = clock() - t0 if timed else 0.0
        (p, q), r = left.shape, right.shape[1]
        tr.steps.append(TraceStep(i, k, j, (p, q), (q, r), count, seconds))
    return partial[0], tr


def counted_matmul(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, int]:
    """``left @ right`` for 2-D arrays, with its scalar multiplications ``p*q*r``.

    Examples
    --------
    >>> product, count = counted_matmul(np.ones((1, 3)), np.ones((3, 4)))
    >>> product.shape, count
    ((1, 4), 12)
    """
    (p, q), r = left.shape, right.shape[1]
    return left @ right, matmul_cost(p, q, r)
