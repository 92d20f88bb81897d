"""The order registry: every way to bracket a chain, by name, behind one signature."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..validation import check_dims, check_real
from .approx import best_fan_steps, greedy_steps
from .costs import KindSig, input_first_cost, loss_first_cost
from .dp import DP_MAX_MATRICES, dp_steps, dp_steps_by
from .hushing import hu_shing_steps
from .plan import Plan, parse_bracketing
from .structured import (
    StructuredPlan,
    check_structure,
    dims_of,
    signatures,
    structured_dp_steps,
)
from .timemodel import TimeModel, active_model, use_machine

__all__ = [
    "plan",
    "optimize",
    "available_orders",
    "register_order",
    "ORDERS",
    "OrderInfo",
    "loss_first_steps",
    "input_first_steps",
    "registry_generation",
]

#: A strategy reads validated dims and returns the steps ``(i, k, j)`` in
#: execution order and their exact cost; the registry makes the :class:`Plan`.
Strategy = Callable[[tuple[int, ...]], "tuple[np.ndarray, int] | Plan"]


@dataclass(frozen=True)
class OrderInfo:
    """A registered order: its strategy, its aliases and a one-line description.

    ``uses_machine``: the plan depends on a time model, not on the dims alone.
    """

    name: str
    strategy: Strategy
    aliases: tuple[str, ...]
    description: str
    uses_machine: bool = False

    def plan(self, dims: tuple[int, ...]) -> Plan:
        """The strategy's bracketing of ``dims`` (already validated) as a :class:`Plan`."""
        out = self.strategy(dims)
        if isinstance(out, Plan):
            out.order = self.name
            return out
        steps, cost = out
        return Plan(dims, steps, self.name, cost=cost, check=False)


#: name -> OrderInfo; aliases are resolved through :data:`_ALIASES`.
ORDERS: dict[str, OrderInfo] = {}
_ALIASES: dict[str, str] = {}


def register_order(
    name: str,
    strategy: Strategy,
    aliases: Sequence[str] = (),
    description: str = "",
    *,
    replace: bool = False,
    uses_machine: bool = False,
) -> None:
    """Add an order to the registry.

    ``strategy(dims)`` takes validated dims (a tuple of Python ints) and
    returns ``(steps, cost)``: the steps ``(i, k, j)`` in execution order and
    their exact cost in scalar multiplications. A name or alias already taken
    is refused unless ``replace=True``; a refused registration changes nothing.
    ``uses_machine=True`` marks a strategy whose plan depends on the active
    time model (:func:`~chainorder.algebra.timemodel.active_model`).

    Examples
    --------
    >>> import numpy as np, chainorder as co
    >>> def pairs_first(dims):  # (A1A2)(A3A4), for four matrices
    ...     steps = np.array([[0, 1, 2], [2, 3, 4], [0, 2, 4]])
    ...     return steps, sum(dims[i] * dims[k] * dims[j] for i, k, j in steps)
    >>> co.register_order("pairs_first", pairs_first, description="two pairs, then their product")
    >>> co.plan([2, 3, 4, 5, 6], "pairs_first").cost
    192
    >>> co.register_order("pairs_first", pairs_first)
    Traceback (most recent call last):
    ...
    ValueError: order 'pairs_first' is already registered; pass replace=True to replace it
    """
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    if not callable(strategy):
        raise TypeError(f"strategy must be callable (dims -> (steps, cost)), got {strategy!r}")
    if isinstance(aliases, str) or not all(isinstance(a, str) for a in aliases):
        raise TypeError(f"aliases must be a sequence of str, got {aliases!r}")
    keys = {_normalize(k) for k in (name, *aliases)}
    if not replace:
        if name in ORDERS:
            raise ValueError(
                f"order {name!r} is already registered; pass replace=True to replace it"
            )
        taken = sorted(k for k in keys if k in _ALIASES and _ALIASES[k] != name)
        if taken:
            raise ValueError(
                f"order name {taken[0]!r} is already registered for {_ALIASES[taken[0]]!r}; "
                "pass replace=True to take it over"
            )
    # all checks passed: change the two tables together
    for key in [k for k, v in _ALIASES.items() if v == name]:
        del _ALIASES[key]
    for key in keys:
        _ALIASES[key] = name
    ORDERS[name] = OrderInfo(name, strategy, tuple(aliases), description, bool(uses_machine))
    for old in set(ORDERS) - set(_ALIASES.values()):  # an order whose every name was taken over
        del ORDERS[old]
    _GENERATION[0] += 1


#: Bumped by every registration, so caches of name -> plan know when a name changed meaning.
_GENERATION = [0]


def registry_generation() -> int:
    """A number that changes whenever :func:`register_order` changes the registry."""
    return _GENERATION[0]


def available_orders(*, machine: bool = False) -> list[str]:
    """Names of the registered orders (aliases not included).

    Orders whose plan depends on a machine's time model (``'time_optimal'``)
    are listed only with ``machine=True``: the others are pure functions of
    the dims, so tables of their costs are the same on every machine.

    Examples
    --------
    >>> "time_optimal" in available_orders(), "time_optimal" in available_orders(machine=True)
    (False, True)
    """
    return [name for name, info in ORDERS.items() if machine or not info.uses_machine]


def _normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def plan(
    dims: Sequence[Any],
    order: str = "optimal",
    *,
    structure: str = "dense",
    machine: TimeModel | None = None,
) -> Plan:
    """Plan the product of a chain with dims ``p0..pn`` in the given order.

    Parameters
    ----------
    dims : sequence of int, or a chain's factors
        ``p0..pn``; matrix ``i`` (1-based) is ``p(i-1) x pi``. Or a structure
        signature: a :class:`~chainorder.algebra.chain.Chain`, or a sequence of
        :class:`~chainorder.algebra.kinds.Kind` objects,
        :class:`~chainorder.algebra.costs.KindSig` descriptors or arrays
        (only kinds and shapes are read).
    order : str
        A registered order name or alias (see :func:`available_orders`):
        ``'optimal'``, ``'loss_first'`` (alias ``'forward'``: left to right,
        the article's forwards computation), ``'input_first'`` (alias
        ``'backward'``: right to left), ``'time_optimal'`` (least predicted
        time), ... -- or a bracketing over ``A1..An`` such as ``'((A1A2)(A3A4))'``.
    structure : {'dense', 'structured'}
        ``'dense'`` (the article's convention) counts every factor as a full
        matrix. ``'structured'`` counts each product by its factors' kinds
        (the table in :mod:`chainorder.algebra.costs`) and returns a
        :class:`~chainorder.algebra.structured.StructuredPlan`: ``'optimal'``
        and ``'dp'`` run the structured optimizer, every other order keeps its
        own bracketing, costed structurally.
    machine : TimeModel, optional
        The time model for ``'time_optimal'`` and for the plan's
        :attr:`~Plan.predicted_seconds` (default: this machine's cached one).
        It prices dense products only, so it is refused with ``'structured'``.

    Returns
    -------
    Plan

    Examples
    --------
    >>> import chainorder as co
    >>> dims = [30, 35, 15, 5, 10, 20, 25]
    >>> co.plan(dims, "loss_first").cost, co.plan(dims, "input_first").cost
    (40500, 47500)
    >>> co.plan(dims, "((A1A2)(A3(A4(A5A6))))").cost
    35125
    """
    sigs = signatures(dims)
    if check_structure(structure) == "structured":
        if machine is not None:
            raise ValueError("the time model prices dense products: machine= needs "
                             "structure='dense'")
        return _structured_plan(sigs, dims, order)
    dims = check_dims(dims if sigs is None else dims_of(sigs))
    if not isinstance(order, str):
        raise TypeError(f"order must be a str (an order name or a bracketing), got {order!r}")
    name = _ALIASES.get(_normalize(order))
    if name is not None:
        with use_machine(machine):
            out = ORDERS[name].plan(dims)
    elif "(" in order or order.strip()[:1] in ("A", "a"):
        out = Plan(dims, parse_bracketing(order, len(dims) - 1), order=order.strip())
    else:
        raise ValueError(_unknown_order(order))
    if machine is not None:
        out.machine = machine
    return out


def _structured_plan(sigs: Any, dims: Any, order: str) -> StructuredPlan:
    """The structured plan of ``order``: the structured optimum, or the order's own bracketing."""
    if sigs is None:
        d = check_dims(dims)
        sigs = [KindSig.dense(p, q) for p, q in zip(d[:-1], d[1:], strict=True)]
    name = _ALIASES.get(_normalize(order)) if isinstance(order, str) else None
    if name in ("optimal", "dp"):
        best = optimize(sigs, structure="structured")
        best.order = name
        return best
    base = plan(dims_of(sigs), order)
    return StructuredPlan(sigs, base.step_array, base.order, check=False)


def _unknown_order(order: str) -> str:
    names = sorted(_ALIASES)
    close = difflib.get_close_matches(_normalize(order), names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (
        f"unknown order {order!r}. Valid orders: {', '.join(sorted(ORDERS))} "
        f"(aliases: {', '.join(sorted(set(names) - set(ORDERS)))}), "
        f"or a bracketing such as '((A1A2)A3)'.{hint}"
    )


def loss_first_steps(n: int) -> np.ndarray:
    """Left to right: ``((A1 A2) A3) ... An``, steps ``(0, k, k+1)``."""
    k = np.arange(1, n, dtype=np.int64)
    return np.stack([np.zeros_like(k), k, k + 1], axis=1).reshape(-1, 3)


def input_first_steps(n: int) -> np.ndarray:
    """Right to left: ``A1 (... (A(n-1) An))``, steps ``(k-1, k, n)`` for ``k = n-1 .. 1``."""
    k = np.arange(n - 1, 0, -1, dtype=np.int64)
    return np.stack([k - 1, k, np.full_like(k, n)], axis=1).reshape(-1, 3)


def _loss_first(dims: tuple[int, ...]) -> tuple[np.ndarray, int]:
    return loss_first_steps(len(dims) - 1), loss_first_cost(dims)


def _input_first(dims: tuple[int, ...]) -> tuple[np.ndarray, int]:
    return input_first_steps(len(dims) - 1), input_first_cost(dims)


_EXACT_METHODS: dict[str, Strategy] = {"dp": dp_steps, "hu-shing": hu_shing_steps}


def optimize(
    dims: Sequence[Any],
    method: str = "auto",
    *,
    structure: str = "dense",
    objective: str = "flops",
    machine: TimeModel | None = None,
    margin: float | None = None,
) -> Plan:
    """The cheapest bracketing of a chain, exactly: fewest multiplications, or least time.

    Parameters
    ----------
    dims : sequence of int, or a chain's factors
        ``p0..pn``, or a structure signature as :func:`plan` takes.
    method : {'auto', 'dp', 'hu-shing'}
        ``'dp'`` is the O(n^3) dynamic program (up to
        :data:`~chainorder.algebra.dp.DP_MAX_MATRICES` matrices), ``'hu-shing'`` the
        O(n log n) algorithm of Hu and Shing (a numba kernel for long chains
        when numba is installed). ``'auto'`` uses the DP up to 64 matrices
        and Hu-Shing beyond; every method returns the same optimal cost.
    structure : {'dense', 'structured'}
        ``'structured'`` minimizes the structured cost (kinds counted) with
        :func:`~chainorder.algebra.structured.structured_dp_steps`, exactly;
        ``method`` must then be ``'auto'`` or ``'dp'``.
    objective : {'flops', 'time'}
        ``'flops'``: fewest scalar multiplications (so fewest FLOPs).
        ``'time'``: least predicted seconds under ``machine`` (the dynamic
        program over the model's step times, exact for the model, up to
        1000 matrices; ``method`` must be ``'auto'`` or ``'dp'``; dense
        structure only); the plan's order is ``'time_optimal'``.
    machine : TimeModel, optional
        The time model for ``objective='time'`` and for the plan's
        :attr:`~Plan.predicted_seconds` (default: this machine's cached one,
        see :func:`~chainorder.algebra.timemodel.active_model`).
    margin : float, optional
        ``objective='time'`` only: keep the FLOP optimum unless the model's
        least-time plan is predicted more than ``1 + margin`` times as fast.
        Default: the model's own :attr:`~chainorder.algebra.timemodel.TimeModel.margin`,
        the error of its predicted time ratios measured at calibration (0
        for a model without one). ``margin=0`` returns the model's exact
        optimum (the FLOP optimum when it ties). A model's error is larger
        than the small gains it predicts, so a margin of 0 chases noise.

    Notes
    -----
    Ties: when several bracketings share the optimal cost, the DP takes
    the smallest split point at every level (Cormen's pseudocode and
    numpy's ``multi_dot`` do the same); Hu-Shing returns the bracketing its
    polygon partition yields, which is deterministic but may be a different
    one of the optimal bracketings.

    Examples
    --------
    >>> import chainorder as co
    >>> p = co.optimize([30, 35, 15, 5, 10, 20, 25])
    >>> p.cost, p.flops, p.parenthesization
    (15125, 30250, '((A1(A2A3))((A4A5)A6))')

    A roofline with slow memory prefers a FLOP-heavier bracketing that
    never writes the 10 x 1000 intermediate:

    >>> from chainorder.algebra.timemodel import TimeModel
    >>> m = TimeModel.from_rates(peak_gflops=50, bandwidth_gbs=5, overhead_seconds=1e-6)
    >>> fast = co.optimize([10, 20, 1000, 20], objective="time", machine=m)
    >>> fast.parenthesization, fast.cost, co.optimize([10, 20, 1000, 20]).cost
    ('(A1(A2A3))', 404000, 400000)
    """
    if objective not in ("flops", "time"):
        raise ValueError(f"objective must be 'flops' or 'time', got {objective!r}")
    if margin is not None:
        margin = check_real(margin, "margin")
        if objective != "time":
            raise ValueError(f"margin= applies to objective='time', got objective={objective!r}")
    sigs = signatures(dims)
    if check_structure(structure) == "structured":
        if objective == "time" or machine is not None:
            raise ValueError("the time model prices dense products: objective='time' and "
                             "machine= need structure='dense'")
        if method not in ("auto", "dp"):
            raise ValueError(f"structure='structured' optimizes with method 'auto' or 'dp', "
                             f"got method={method!r} (Hu-Shing assumes dense costs)")
        if sigs is None:
            return _structured_plan(None, dims, "optimal")
        steps, cost = structured_dp_steps(sigs)
        return StructuredPlan(sigs, steps, "optimal", cost=cost, check=False)
    dims = check_dims(dims if sigs is None else dims_of(sigs))
    if objective == "time":
        return _time_optimal(dims, method, machine, margin)
    key = _normalize(method).replace("_", "-") if isinstance(method, str) else method
    if key == "auto":
        key = "dp" if len(dims) - 1 <= _AUTO_DP_UP_TO else "hu-shing"
    strategy = _EXACT_METHODS.get(key)
    if strategy is None:
        raise ValueError(
            f"unknown method {method!r}; expected one of 'auto', "
            f"{', '.join(map(repr, _EXACT_METHODS))}"
        )
    if key == "dp" and len(dims) - 1 > DP_MAX_MATRICES:
        raise ValueError(
            f"method='dp' handles at most {DP_MAX_MATRICES} matrices (O(n^3) time), got "
            f"{len(dims) - 1}; use method='hu-shing' or 'auto'"
        )
    steps, cost = strategy(dims)
    out = Plan(dims, steps, "optimal", cost=cost, check=False)
    out.machine = machine
    return out


#: Longest chain ``objective='time'`` plans: its DP evaluates the model on every
#: (i, k, j), about 2 s for 500 matrices and 17 s for 1000.
TIME_DP_MAX_MATRICES = 1000


def _time_optimal(dims: tuple[int, ...], method: str, machine: TimeModel | None,
                  margin: float | None = None) -> Plan:
    if method not in ("auto", "dp"):
        raise ValueError(f"objective='time' runs the dynamic program; method must be 'auto' or "
                         f"'dp', got {method!r}")
    if len(dims) - 1 > TIME_DP_MAX_MATRICES:
        raise ValueError(
            f"objective='time' handles at most {TIME_DP_MAX_MATRICES} matrices (an O(n^3) "
            f"dynamic program over the time model), got {len(dims) - 1}; use objective='flops'"
        )
    model = active_model() if machine is None else machine
    steps, least = dp_steps_by(dims, model.step_cost(dims))
    flop_steps = optimize(dims).step_array
    keep = model.margin if margin is None else margin
    if model.plan_seconds(dims, flop_steps) <= (1 + keep) * least:
        steps = flop_steps  # not predicted faster than the model can tell: fewest FLOPs
    out = Plan(dims, steps, "time_optimal", check=False)
    out.machine = model  # predicted_seconds uses the model the plan was made for
    return out


def _time_optimal_order(dims: tuple[int, ...]) -> Plan:
    return optimize(dims, objective="time")


#: Longest chain that ``optimize(method='auto')`` hands to the dynamic program.
_AUTO_DP_UP_TO = 64


register_order(
    "optimal",
    optimize,
    aliases=("opt", "best", "exact"),
    description="cheapest bracketing (exact; DP or Hu-Shing by chain length)",
)
register_order(
    "time_optimal",
    _time_optimal_order,
    aliases=("time", "least_time"),
    description="least predicted time under the machine's time model (DP over step times)",
    uses_machine=True,
)
register_order(
    "loss_first",
    _loss_first,
    aliases=("forward", "forwards", "left_to_right", "ltr"),
    description="left to right from dl/dz_L: the article's forwards computation (AD reverse mode)",
)
register_order(
    "input_first",
    _input_first,
    aliases=("backward", "backwards", "right_to_left", "rtl"),
    description="right to left from dz_1/dx: the article's backwards computation (AD forward mode)",
)
register_order(
    "dp",
    dp_steps,
    aliases=("dynamic_programming", "cormen"),
    description="the O(n^3) matrix-chain dynamic program (exact; up to 3000 matrices)",
)
register_order(
    "hu_shing",
    hu_shing_steps,
    aliases=("hu-shing", "hushing"),
    description="Hu and Shing's O(n log n) algorithm (exact; any length)",
)
register_order(
    "best_fan", best_fan_steps, aliases=("fan",),
    description="cheapest of the n+1 fan bracketings (O(n); at most 2x the optimum)",
)
register_order(
    "greedy", greedy_steps,
    description="cheapest available product first (O(n log n); no constant-factor bound)",
)
