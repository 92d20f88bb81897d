"""Execution: the one place that multiplies, counting every scalar multiplication it performs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike

from ..validation import chain_dims, check_matmul_dtypes, check_multi_dot_arrays
from .costmodels import as_cost_model, cost_from_flags, is_dense
from .costs import matmul_cost
from .orders import ORDERS, registry_generation
from .orders import plan as make_plan
from .plan import Plan
from .structured import StructuredTrace, multiply_structured
from .trace import Trace, TraceStep

__all__ = [
    "multiply",
    "execute",
    "step_kernel",
    "Trace",
    "TraceStep",
    "CACHE_MAX_MATRICES",
]

#: The steps of a plan as ``(i, k)``: multiply the product starting at dim i by the one at k.
Pairs = tuple[tuple[int, int], ...]


@overload
def multiply(
    arrays: Sequence[ArrayLike],
    order: str | Plan = ...,
    *,
    out: np.ndarray | None = ...,
    trace: Literal[False] = ...,
    cost: Any = ...,
    **deprecated: Any,
) -> Any: ...
@overload
def multiply(
    arrays: Sequence[ArrayLike],
    order: str | Plan = ...,
    *,
    out: np.ndarray | None = ...,
    trace: Literal[True],
    cost: Any = ...,
    **deprecated: Any,
) -> tuple[Any, Trace | StructuredTrace]: ...


def multiply(
    arrays: Sequence[ArrayLike],
    order: str | Plan = "optimal",
    *,
    out: np.ndarray | None = None,
    trace: bool = False,
    cost: Any = "dense",
    **deprecated: Any,
) -> Any:
    """Multiply a chain of arrays in a chosen order: a drop-in for :func:`numpy.linalg.multi_dot`.

    Takes what ``multi_dot`` takes and returns what it returns (type, shape,
    dtype), multiplying with ``np.dot`` as it does; the order is any that
    chainorder plans. Plans are cached by the arrays' shapes and the order,
    so a repeated call costs about a microsecond more than its ``np.dot``
    steps, where ``multi_dot`` plans again on every call.

    Parameters
    ----------
    arrays : sequence of array_like
        At least two arrays, loss side first. A 1-D first array is a row
        vector and a 1-D last array a column vector; the others are 2-D.
        Values are not inspected: NaN and Inf propagate, integer arrays stay
        integer (and wrap on overflow, as numpy's do), mixed dtypes promote,
        all as in ``np.dot``.
    order : str or Plan
        Any order :func:`chainorder.plan` accepts (a registered name or a
        bracketing such as ``'((A1A2)A3)'``), or a ready :class:`Plan` whose
        dims match the arrays. ``'optimal'`` has the cost of ``multi_dot``'s
        order, and up to 64 matrices the same bracketing (ties included).
    out : ndarray, optional
        Where to write the product, under ``multi_dot``'s rules: a
        C-contiguous ndarray of exactly the product's dtype and shape. The
        2-D shape ``multi_dot`` asks for when an end is 1-D (``(1, m)``,
        ``(p, 1)``, ``(1, 1)``) is accepted too.
    trace : bool
        Also return a :class:`Trace` of every step: shapes, scalar
        multiplications counted from the operands' shapes (their total is
        ``plan.cost``), seconds.
    cost : str or CostModel
        The cost model that plans a named order (see :func:`chainorder.plan`;
        default ``'dense'``). Under a model that reads kinds (``'structured'``)
        the arrays may be :class:`~chainorder.algebra.kinds.Kind` objects and
        each product is taken in its cheapest kind and counted as such (see
        :func:`~chainorder.algebra.structured.multiply_structured`; no ``out``).
    **deprecated
        ``structure=`` still works, with a ``DeprecationWarning`` (use ``cost=``).

    Returns
    -------
    product : ndarray or numpy scalar
        2-D, or 1-D when one end is 1-D, or a numpy scalar when both are
        (``out``, or a view of it, when ``out`` is given).
    trace : Trace
        Only with ``trace=True``.

    Examples
    --------
    >>> import numpy as np, chainorder as co
    >>> A, B, C = np.ones((10, 100)), np.ones((100, 5)), np.ones((5, 50))
    >>> out, tr = co.multiply([A, B, C], "loss_first", trace=True)
    >>> out.shape, tr.multiplications
    ((10, 50), 7500)
    >>> co.multiply([np.arange(3), np.eye(3, dtype=int), np.arange(3)])
    np.int64(5)
    """
    if deprecated or cost != "dense":
        return _multiply_by(arrays, order, out, trace, cost, deprecated)
    shapes = None
    if arrays.__class__ is list or arrays.__class__ is tuple:
        shapes = tuple([a.shape for a in arrays if a.__class__ is _NDARRAY])
    if shapes is not None and len(shapes) == len(arrays):
        # plain ndarrays: their shapes are checked once, then the check is cached with them
        mats: list[Any] = [*arrays]
        if len(shapes) > CACHE_MAX_MATRICES:
            plan, pairs = _plan_and_pairs(order, chain_dims(shapes))
        elif order.__class__ is str:
            plan, pairs, fixed = _planned_for_shapes(shapes, order, registry_generation())
            if not fixed:  # the order reads the time model in force: plan again
                plan, pairs = _plan_afresh(plan.dims, order)
        else:
            plan, pairs = _plan_and_pairs(order, _dims_of_shapes(shapes))
    else:
        mats, dims = check_multi_dot_arrays(arrays)
        plan, pairs = _plan_and_pairs(order, dims)
    try:
        if trace or out is not None:
            product, tr = _run(mats, plan, _out_target(out, mats, plan.dims), trace)
            return (product, tr) if trace else product
        for i, k in pairs:  # the last pair is (0, k): mats[0] ends as the product
            mats[i] = _dot(mats[i], mats[k])
    except (TypeError, ValueError):  # numpy's words for a dtype it cannot multiply
        check_matmul_dtypes(mats)  # a clear message if a dtype was the cause
        raise
    return mats[0]


_NDARRAY = np.ndarray
#: The kernel every executed step calls, as multi_dot does: same results to the bit in the
#: same order, same ``out`` rules, and a lighter call than ``@`` on small arrays (no ufunc
#: dispatch). A step's timed seconds are this call's; the time model is calibrated on it.
step_kernel = np.dot
_dot = step_kernel


@lru_cache(maxsize=256)
def _planned_for_shapes(
    shapes: tuple[tuple[int, ...], ...], order: str, generation: int
) -> tuple[Plan, Pairs, bool]:
    """Check a chain's shapes once, then plan it (see :func:`_planned`)."""
    return _planned(_dims_of_shapes(shapes), order, generation)


_dims_of_shapes = lru_cache(maxsize=256)(chain_dims)
#: Longer chains are planned on every call: their planning is small beside their
#: multiplying, and 256 cached plans of 10^5 matrices would hold gigabytes.
CACHE_MAX_MATRICES = 1000


@lru_cache(maxsize=256)
def _planned(dims: tuple[int, ...], order: str, generation: int) -> tuple[Plan, Pairs, bool]:
    """The plan of ``order`` for ``dims``, its ``(i, k)`` pairs, and whether it depends on
    the dims alone (an order that reads the active time model does not). ``generation``
    keys the registry's state, so a re-registered name is planned afresh."""
    chosen, pairs = _plan_afresh(dims, order)
    info = ORDERS.get(chosen.order)
    return chosen, pairs, info is None or not info.uses_machine


def _plan_afresh(dims: tuple[int, ...], order: str) -> tuple[Plan, Pairs]:
    chosen = make_plan(dims, order)
    return chosen, _pairs(chosen)


def _multiply_by(
    arrays: Any, order: str | Plan, out: Any, trace: bool, cost: Any, flags: dict[str, Any]
) -> Any:
    """``multiply`` under a cost model other than the default: kinds, or dense arrays."""
    model = as_cost_model(cost_from_flags(cost, flags, "multiply")[0])
    if is_dense(model):
        return multiply(arrays, order, out=out, trace=trace)  # type: ignore[call-overload]
    if model.reads_kinds:
        if out is not None:
            raise ValueError(f"out= needs a model that multiplies dense arrays, not "
                             f"cost={model.name!r}; the product in kinds is made dense at its "
                             "end, copy it into your array")
        chosen = order if isinstance(order, Plan) else make_plan(arrays, order, cost=model)
        return multiply_structured(arrays, chosen, trace=trace)
    mats, dims = check_multi_dot_arrays(arrays)
    chosen = order if isinstance(order, Plan) else make_plan(dims, order, cost=model)
    return multiply(mats, chosen, out=out, trace=trace)  # type: ignore[call-overload]


#: id(plan) -> (plan, pairs) for plans passed in ready-made; the entry holds the plan
#: itself, so its id cannot be reused while it is cached.
_READY: dict[int, tuple[Plan, Pairs]] = {}


def _plan_and_pairs(order: Any, dims: tuple[int, ...]) -> tuple[Plan, Pairs]:
    if isinstance(order, str):
        if len(dims) - 1 > CACHE_MAX_MATRICES:
            return _plan_afresh(dims, str(order))
        chosen, pairs, fixed = _planned(dims, str(order), registry_generation())
        return (chosen, pairs) if fixed else _plan_afresh(dims, str(order))
    if not isinstance(order, Plan):
        raise TypeError(
            f"order must be an order name, a bracketing such as '((A1A2)A3)' or a Plan, "
            f"got {type(order).__name__} {order!r}"
        )
    if order.dims != dims:
        raise ValueError(
            f"order is a plan for dims {list(order.dims)} but the arrays have dims {list(dims)}"
        )
    hit = _READY.get(id(order))
    if hit is None or hit[0] is not order:
        if len(_READY) >= 64:
            _READY.clear()
        hit = _READY[id(order)] = (order, _pairs(order))
    return hit


def _pairs(chosen: Plan) -> Pairs:
    return tuple((i, k) for i, k, _ in chosen.step_array.tolist())


def _out_target(out: Any, mats: list[np.ndarray], dims: tuple[int, ...]) -> np.ndarray | None:
    """``out`` checked against the product's shape, as a view of that shape (dtype: later)."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    first_1d, last_1d = mats[0].ndim == 1, mats[-1].ndim == 1
    shape = ((), (dims[0],))[not first_1d] + ((), (dims[-1],))[not last_1d]
    if out.shape != shape and out.shape != (dims[0], dims[-1]):
        also = f" (or {(dims[0], dims[-1])}, as multi_dot takes it)" if first_1d or last_1d else ""
        raise ValueError(f"out has shape {out.shape} but the product has shape {shape}{also}")
    if not out.flags.c_contiguous:
        raise ValueError(
            f"out must be C-contiguous, as for numpy.linalg.multi_dot; got strides {out.strides} "
            f"for shape {out.shape}; pass np.empty({out.shape}, dtype=np.{out.dtype})"
        )
    return out if out.shape == shape else out.reshape(shape)


def _run(
    mats: list[np.ndarray], chosen: Plan, target: np.ndarray | None, timed: bool
) -> tuple[Any, Trace]:
    """Steps one by one, counted (and timed if asked), the last one into ``target``."""
    tr = Trace(chosen)
    clock = time.perf_counter
    steps = chosen.step_array.tolist()
    for n, (i, k, j) in enumerate(steps, 1):
        left, right = mats[i], mats[k]
        into = target if n == len(steps) else None
        if into is not None:
            _check_out_dtype(into, left, right)
        t0 = clock() if timed else 0.0
        mats[i] = _dot(left, right, out=into)
        seconds = clock() - t0 if timed else 0.0
        (p, q), r = _left_shape(left), _right_cols(right)
        tr.steps.append(TraceStep(i, k, j, (p, q), (q, r), matmul_cost(p, q, r), seconds))
    return (mats[0] if target is None or target.ndim else target[()]), tr


def _check_out_dtype(target: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
    want = np.promote_types(left.dtype, right.dtype)
    if target.dtype != want:
        raise ValueError(
            f"out has dtype {target.dtype} but the product's dtype is {want}; "
            "as for numpy.linalg.multi_dot, out must have exactly the product's dtype"
        )


def _left_shape(a: np.ndarray) -> tuple[int, int]:
    return (1, a.shape[0]) if a.ndim == 1 else a.shape  # a 1-D left factor is a row


def _right_cols(a: np.ndarray) -> int:
    return 1 if a.ndim == 1 else a.shape[1]  # a 1-D right factor is a column


def execute(
    mats: Sequence[np.ndarray], plan: Plan, *, timed: bool = False
) -> tuple[np.ndarray, Trace]:
    """Carry out ``plan`` on checked arrays; return the product and its trace.

    For callers that validated the chain already (a :class:`Chain`, a sweep):
    no checks, no plan lookup. Intermediates replace the left factor of
    their step in a list, so chains of any length run without recursion.
    """
    return _run(list(mats), plan, None, timed)
