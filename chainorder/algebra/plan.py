"""The plan of a chain product: a bracketing as ordered steps, its exact cost, and its text form.

A chain ``A1 A2 ... An`` has dims ``p0..pn`` (``Ai`` is ``p(i-1) x pi``). A
bracketing is a list of *steps* ``(i, k, j)`` with ``0 <= i < k < j <= n``:
multiply the product over dims ``i..k`` (matrices ``A(i+1)..Ak``) by the
product over dims ``k..j`` (matrices ``A(k+1)..Aj``), at a cost of
``p_i * p_k * p_j`` scalar multiplications. This is the triangle ``(i, k, j)``
of the polygon picture of Hu and Shing. Planning never touches arrays.

A plan carries the cost model it was priced by (:attr:`Plan.cost_model`,
:mod:`chainorder.algebra.costmodels`): its ``cost`` and its steps' costs are
that model's count (the dense ``p_i p_k p_j`` unless another was chosen).
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np

from ..validation import check_dims
from .costmodels import DENSE, ChainShape, CostModel, StructuredCost, is_dense
from .costs import KindSig, flops, input_first_cost, loss_first_cost, stored_elements
from .timemodel import TimeModel, active_model

__all__ = [
    "Plan",
    "Step",
    "format_bracketing",
    "parse_bracketing",
    "check_steps",
    "steps_from_triangles",
]


class Step(NamedTuple):
    """One multiplication of a plan: product over dims ``i..k`` times product over ``k..j``."""

    i: int
    k: int
    j: int
    left_shape: tuple[int, int]
    right_shape: tuple[int, int]
    cost: int

    @property
    def label(self) -> str:
        """The two factors as text, e.g. ``'A1..A3 @ A4'``."""
        return f"{_span(self.i, self.k)} @ {_span(self.k, self.j)}"


def _span(a: int, b: int) -> str:
    return f"A{b}" if b - a == 1 else f"A{a + 1}..A{b}"


class Plan:
    """A bracketing of a matrix chain with its exact cost; made by :func:`chainorder.plan`.

    Attributes
    ----------
    dims : tuple of int
        ``p0..pn``; the chain has ``n = len(dims) - 1`` matrices.
    order : str
        The order that produced the plan (``'optimal'``, ``'loss_first'``, a
        bracketing string, ...).
    step_array : ndarray of int64, shape (n-1, 3)
        The steps ``(i, k, j)`` in execution order (read-only).
    cost : int
        Scalar multiplications, exactly (under :attr:`cost_model`'s count:
        ``p·q·r`` per step by default; a model of the user's counts its own unit).
    cost_model : CostModel
        The cost model the plan is priced by (:class:`~chainorder.algebra.costmodels.DenseCost`
        unless ``cost=`` chose another).
    chain_shape : ChainShape
        What the cost model read of the chain: dims and, if known, kinds.
    machine : TimeModel or None
        The time model behind :attr:`predicted_seconds` (the cost model if it
        is one; None: the one put in force with ``use_machine``, if any).

    Examples
    --------
    >>> import chainorder as co
    >>> p = co.plan([10, 100, 5, 50], "((A1A2)A3)")
    >>> p.cost, p.flops, p.largest_intermediate
    (7500, 15000, 500)
    """

    def __init__(
        self,
        dims: Sequence[int] | ChainShape,
        steps: Any,
        order: str = "custom",
        *,
        cost: Any = None,
        check: bool = True,
        cost_model: CostModel | None = None,
    ) -> None:
        if isinstance(dims, ChainShape):
            shape = dims
        elif check:
            shape = ChainShape(check_dims(dims))
        else:  # unchecked dims come from the planners, already a tuple of Python ints
            shape = ChainShape(dims if isinstance(dims, tuple) else tuple(map(int, dims)))
        if check:
            raw = np.asarray(steps)
            if raw.size and not np.issubdtype(raw.dtype, np.integer):
                raise TypeError(f"steps must hold integers (i, k, j), got dtype {raw.dtype}")
            if cost_model is not None and not isinstance(cost_model, CostModel):
                raise TypeError(f"cost_model must be a CostModel, got {cost_model!r}")
        self.chain_shape = shape
        self.dims: tuple[int, ...] = shape.dims
        arr = np.array(steps, dtype=np.int64).reshape(-1, 3)
        if check:
            check_steps(len(self.dims) - 1, arr)
        arr.setflags(write=False)
        self.step_array = arr
        self.order = str(order)
        self.cost_model: CostModel = DENSE if cost_model is None else cost_model
        if cost is None:
            cost = self.cost_model.counting.total(shape, arr)
        self.cost: Any = int(cost) if isinstance(cost, numbers.Integral) else cost
        self.machine: TimeModel | None = (
            self.cost_model if isinstance(self.cost_model, TimeModel) else None)

    @property
    def n(self) -> int:
        """Number of matrices in the chain."""
        return len(self.dims) - 1

    @property
    def flops(self) -> int:
        """FLOPs: twice :attr:`cost` (a multiply-add counts as two)."""
        return flops(self.cost)

    @property
    def _counting(self) -> CostModel:
        return self.cost_model.counting

    @property
    def signatures(self) -> tuple[KindSig, ...]:
        """Each factor's kind and shape, as the cost model read them (dense without kinds)."""
        return self.chain_shape.signatures

    @cached_property
    def steps(self) -> tuple[Step, ...]:
        """The steps in execution order, with shapes and costs (under the plan's cost model)."""
        p, model, shape = self.dims, self._counting, self.chain_shape
        dense = is_dense(model)
        return tuple(
            Step(i, k, j, (p[i], p[k]), (p[k], p[j]),
                 p[i] * p[k] * p[j] if dense else model.step_cost(shape, i, k, j))
            for i, k, j in self.step_array.tolist()
        )

    @property
    def result_signature(self) -> KindSig:
        """The kind of the chain's product (the same under every bracketing)."""
        return self.chain_shape.kind(0, self.n)

    @property
    def finish_cost(self) -> Any:
        """The cost every bracketing pays once, included in :attr:`cost` (for the structured
        model: writing the product out dense)."""
        return self._counting.finish_cost(self.chain_shape)

    @property
    def predicted_seconds(self) -> float:
        """Predicted wall time of the plan's products, in seconds, from a time model.

        The model is :attr:`machine` if set (the plan's cost model when that
        is a time model, ``co.plan(..., cost=m)``; or set it by hand), else the
        one put in force with :func:`~chainorder.algebra.timemodel.use_machine`.
        Nothing is read from disk: with neither this raises
        :class:`~chainorder.algebra.timemodel.NotCalibratedError`, whose
        message says how to get one (``chainorder calibrate`` caches this
        machine's, :func:`~chainorder.algebra.timemodel.load_model` reads it).

        Examples
        --------
        >>> import chainorder as co
        >>> from chainorder.algebra.timemodel import TimeModel
        >>> m = TimeModel.from_rates(peak_gflops=50, bandwidth_gbs=20, overhead_seconds=1e-6)
        >>> round(co.plan([1000, 1000, 1000], cost=m).predicted_seconds, 4)
        0.0412
        """
        if self.machine is not None:
            return self.machine.plan_seconds(self.dims, self.step_array)
        model = active_model("plan.predicted_seconds (the plan has no time model, plan.machine)")
        return model.plan_seconds(self.dims, self.step_array)

    @cached_property
    def largest_intermediate(self) -> int:
        """Elements in the largest intermediate product (``p_i * p_j`` over steps; 0 if none).

        With the factors' kinds known, the numbers it stores in its kind.
        """
        if len(self.step_array) == 0:
            return 0
        pairs = self.step_array[:, [0, 2]].tolist()
        if self.chain_shape.has_kinds:
            return max(stored_elements(self.chain_shape.kind(i, j)) for i, j in pairs)
        p = self.dims
        return max(p[i] * p[j] for i, j in pairs)

    @cached_property
    def parenthesization(self) -> str:
        """The bracketing as text over ``A1..An``, e.g. ``'((A1(A2A3))((A4A5)A6))'``."""
        return format_bracketing(self.n, self.step_array)

    @cached_property
    def loss_first_cost(self) -> Any:
        """Cost of the same chain multiplied left to right, for comparison."""
        if is_dense(self._counting):
            return loss_first_cost(self.dims)
        return self._counting.total(self.chain_shape, _fixed_steps(self.n, True))

    @cached_property
    def input_first_cost(self) -> Any:
        """Cost of the same chain multiplied right to left, for comparison."""
        if is_dense(self._counting):
            return input_first_cost(self.dims)
        return self._counting.total(self.chain_shape, _fixed_steps(self.n, False))

    def speedup(self, other: str | Plan = "loss_first") -> float:
        """How many times cheaper this plan is than ``other``.

        ``other`` is a :class:`Plan` of the same dims, or ``'loss_first'`` /
        ``'input_first'``; for any other order, pass ``co.plan(p.dims, name)``.
        """
        if isinstance(other, Plan):
            if other.dims != self.dims:
                raise ValueError(f"other has dims {other.dims}, expected this plan's {self.dims}")
            return _ratio(other.cost, self.cost)
        fixed = {"loss_first": self.loss_first_cost, "input_first": self.input_first_cost}
        if other not in fixed:
            raise TypeError(
                f"other must be a Plan, 'loss_first' or 'input_first', got {other!r}; "
                f"for another order pass chainorder.plan(p.dims, {other!r})"
            )
        return _ratio(fixed[other], self.cost)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: order, dims, cost, FLOPs, bracketing, largest intermediate;
        under a cost model other than the dense one also ``cost_model`` (its name), and
        under the structured one each factor's ``kinds``."""
        out = {
            "order": self.order,
            "dims": list(self.dims),
            "cost": self.cost,
            "flops": self.flops if self._counting.unit == "multiplications" else None,
            "parenthesization": self.parenthesization,
            "largest_intermediate": self.largest_intermediate,
        }
        if not is_dense(self._counting):
            out["cost_model"] = self._counting.name
        if isinstance(self._counting, StructuredCost):
            out.update(structure="structured", kinds=[s.kind for s in self.signatures])
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Plan):
            return NotImplemented
        return self.dims == other.dims and np.array_equal(self.step_array, other.step_array)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        model = "" if is_dense(self._counting) else f" ({self._counting.name})"
        return (
            f"<Plan {self.order!r}{model}: {self.n} matrices, cost {self.cost:,}, "
            f"{_short(self.parenthesization)}>"
        )

    def _header(self) -> list[str]:
        model = self._counting
        if is_dense(model):
            return ["Plan"]
        if isinstance(model, StructuredCost):
            kinds = ", ".join(s.kind for s in self.signatures[:12])
            return ["Plan (structured: costs count each factor's kind)",
                    f"  Kinds:                {kinds}{', ...' if self.n > 12 else ''}"]
        return [f"Plan (cost model {model.name!r}: {model!r})"]

    def _cost_lines(self) -> list[str]:
        unit = self._counting.unit
        if unit != "multiplications":
            return [f"  {f'Cost ({unit}):':<22}{self.cost:,}"]
        lines = [f"  Multiplications:      {self.cost:,}   ({self.flops:,} FLOPs)"]
        if isinstance(self._counting, StructuredCost):
            lines.append(f"  Densify product:      {self.finish_cost:,} (in the count)")
        return lines

    def __str__(self) -> str:
        lf, inf = self.loss_first_cost, self.input_first_cost
        head = self._header()
        lines = [
            f"  Order:                {self.order}",
            f"  Matrices:             {self.n}",
            f"  Dims:                 {_short(' x '.join(map(str, self.dims)))}",
            *head[1:],
            f"  Bracketing:           {_short(self.parenthesization)}",
            *self._cost_lines(),
            f"  Loss-first (left):    {lf:,}   ({_fmt_ratio(lf, self.cost)} this plan)",
            f"  Input-first (right):  {inf:,}   ({_fmt_ratio(inf, self.cost)} this plan)",
            f"  Largest intermediate: {self.largest_intermediate:,} elements",
        ]
        if self.machine is not None:
            lines.append(f"  Predicted time:       {self.predicted_seconds:.4g} s  "
                         f"({self.machine!r})")
        if self.n >= 2:
            unit = "multiplications" if self._counting.unit == "multiplications" else "cost"
            lines.append(f"  step  factors                 shapes                    {unit}")
            shown = self.steps[:20]
            for s, st in enumerate(shown, 1):
                (a, b), (_, c) = st.left_shape, st.right_shape
                shapes = f"{a}x{b} @ {b}x{c}"
                lines.append(f"  {s:>4}  {st.label:<22}  {shapes:<24}  {st.cost:,}")
            if len(self.steps) > len(shown):
                lines.append(f"  ... {len(self.steps) - len(shown)} more steps")
        return head[0] + "\n" + "\n".join(lines)


def _fixed_steps(n: int, loss_first: bool) -> list[tuple[int, int, int]]:
    if loss_first:
        return [(0, k, k + 1) for k in range(1, n)]
    return [(k - 1, k, n) for k in range(n - 1, 0, -1)]


def _ratio(a: int, b: int) -> float:
    return float("inf") if b == 0 and a > 0 else (1.0 if b == 0 else a / b)


def _fmt_ratio(a: int, b: int) -> str:
    return f"{_ratio(a, b):.3g}x"


def _short(text: str, width: int = 72) -> str:
    return text if len(text) <= width else text[: width - 5] + " ..."


def check_steps(n: int, steps: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``steps`` fully bracket ``n`` matrices in a valid order."""
    if steps.shape != (max(n - 1, 0), 3):
        raise ValueError(
            f"steps must have shape ({max(n - 1, 0)}, 3) for a chain of {n} matrices, "
            f"got {steps.shape}"
        )
    end = {i: i + 1 for i in range(n)}  # end[i]: dims i..end[i] are already one product
    for s, (i, k, j) in enumerate(steps.tolist()):
        if not 0 <= i < k < j <= n:
            raise ValueError(f"step {s} is {(i, k, j)}; expected 0 <= i < k < j <= {n}")
        if end.get(i) != k or end.get(k) != j:
            raise ValueError(
                f"step {s} {(i, k, j)} multiplies products that are not built yet "
                f"(operand spans must be dims {i}..{k} and {k}..{j})"
            )
        end[i] = j
        del end[k]


def format_bracketing(n: int, steps: np.ndarray) -> str:
    """The text form of a bracketing: ``'('`` before and ``')'`` after each step's span.

    Examples
    --------
    >>> format_bracketing(3, np.array([[1, 2, 3], [0, 1, 3]]))
    '(A1(A2A3))'
    """
    opens = np.zeros(n + 1, dtype=np.int64)
    closes = np.zeros(n + 1, dtype=np.int64)
    if len(steps):
        np.add.at(opens, np.asarray(steps)[:, 0], 1)
        np.add.at(closes, np.asarray(steps)[:, 2], 1)
    return "".join(
        "(" * int(opens[m - 1]) + f"A{m}" + ")" * int(closes[m]) for m in range(1, n + 1)
    )


_TOKEN = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<mat>[Aa](?P<num>\d+))|(?P<sep>[*@·.])|(?P<bad>\S))"
)


def parse_bracketing(text: str, n: int | None = None) -> np.ndarray:
    """Parse a bracketing such as ``'((A1A2)(A3A4))'`` into steps ``(i, k, j)``.

    Matrices are ``A1..An`` in order; every product of two factors is in
    brackets (the outermost pair may be left out), redundant brackets
    around one factor are allowed, and ``*``, ``@`` or white space may
    separate factors. Errors name the 1-based character position.

    Examples
    --------
    >>> parse_bracketing("(A1(A2A3))").tolist()
    [[1, 2, 3], [0, 1, 3]]
    """
    if not isinstance(text, str):
        raise TypeError(f"bracketing must be a str, got {type(text).__name__}")
    steps: list[tuple[int, int, int]] = []
    frames: list[tuple[int, list[tuple[int, int]]]] = [(0, [])]  # (position of '(', factors)
    count = 0
    for m in _TOKEN.finditer(text):
        pos = m.start(m.lastgroup or 0) + 1
        if m.group("open"):
            frames.append((pos, []))
        elif m.group("close"):
            if len(frames) == 1:
                raise ValueError(f"bracketing {text!r}: unmatched ')' at position {pos}")
            opened, factors = frames.pop()
            frames[-1][1].append(_reduce(factors, steps, text, opened))
        elif m.group("mat"):
            count += 1
            num = int(m.group("num"))
            if num != count:
                raise ValueError(
                    f"bracketing {text!r}: found A{num} at position {pos}, expected A{count} "
                    "(matrices must appear in order A1, A2, ...)"
                )
            frames[-1][1].append((num - 1, num))
        elif m.group("bad"):
            raise ValueError(
                f"bracketing {text!r}: unexpected character {m.group('bad')!r} at position {pos}; "
                "use A1..An, brackets, and optionally '*' or '@'"
            )
    if len(frames) > 1:
        raise ValueError(f"bracketing {text!r}: '(' at position {frames[-1][0]} is never closed")
    if count == 0:
        raise ValueError(f"bracketing {text!r} names no matrices; expected e.g. '((A1A2)A3)'")
    _reduce(frames[0][1], steps, text, 0)
    if n is not None and count != n:
        raise ValueError(
            f"bracketing {text!r} names {count} matrices (A1..A{count}) but the dims describe {n}"
        )
    return np.array(steps, dtype=np.int64).reshape(-1, 3)


def _reduce(
    factors: list[tuple[int, int]], steps: list[tuple[int, int, int]], text: str, opened: int
) -> tuple[int, int]:
    """Close one bracket: one factor passes through, two make a step, more are ambiguous."""
    where = f"the bracket opened at position {opened}" if opened else "the top level"
    if not factors:
        raise ValueError(f"bracketing {text!r}: {where} is empty")
    if len(factors) > 2:
        raise ValueError(
            f"bracketing {text!r}: {where} holds {len(factors)} factors side by side; "
            "bracket them in pairs, e.g. '((A1A2)A3)' rather than '(A1A2A3)'"
        )
    if len(factors) == 1:
        return factors[0]
    (i, k), (_, j) = factors
    steps.append((i, k, j))
    return (i, j)


def steps_from_triangles(triangles: np.ndarray, shift: int, m: int) -> np.ndarray:
    """A polygon triangulation (rotated by ``shift``) as steps ``(i, k, j)`` in execution order.

    Steps are in original vertex numbers, sorted by ``j - i``, then ``i``.

    Parameters
    ----------
    triangles : ndarray of int, shape (m-2, 3)
        Triangles over the rotated polygon, in any order and vertex order.
    shift : int
        Original index of rotated vertex 0.
    m : int
        Number of vertices (dims).

    Returns
    -------
    ndarray of int64, shape (m-2, 3)
        Rows ``i < k < j``; an operand ``(i, k)`` of a row is built by an
        earlier row, having a smaller ``k - i``.
    """
    steps = np.sort((np.asarray(triangles, dtype=np.int64) + shift) % m, axis=1)
    order = np.lexsort((steps[:, 0], steps[:, 2] - steps[:, 0]))
    return np.ascontiguousarray(steps[order]).reshape(-1, 3)
