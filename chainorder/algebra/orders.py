"""The order registry: every way to bracket a chain, by name, behind one signature."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .approx import best_fan_steps, greedy_steps
from .costmodels import ChainShape, CostModel, as_cost_model, cost_from_flags, is_dense
from .costs import input_first_cost, loss_first_cost
from .dp import DP_MAX_MATRICES, dp_steps
from .hushing import hu_shing_steps
from .plan import Plan, parse_bracketing
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
    "uses_machine",
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
        """The strategy's bracketing of ``dims`` (already validated) as a :class:`Plan`.

        chainorder's own strategies are trusted; a registered one's steps are
        checked to bracket exactly the chain's matrices, each once, and its
        cost is recomputed from the dims.
        """
        out = self.strategy(dims)
        if self.strategy in _BUILTIN_STRATEGIES:
            if isinstance(out, Plan):
                out.order = self.name
                return out
            steps, cost = out
            return Plan(dims, steps, self.name, cost=cost, check=False)
        return _checked_plan(self.name, dims, out)


def _checked_plan(name: str, dims: tuple[int, ...], out: Any) -> Plan:
    """A registered strategy's answer as a Plan, or a ValueError naming the order."""
    if isinstance(out, Plan):
        if out.dims != dims:
            raise ValueError(f"order {name!r} returned a plan of dims {list(out.dims)} for a "
                             f"chain of dims {list(dims)}")
        steps, claimed = out.step_array, None
    elif isinstance(out, tuple) and len(out) == 2:
        steps, claimed = out
    else:
        raise TypeError(f"order {name!r}: its strategy must return (steps, cost) or a Plan, "
                        f"got {type(out).__name__}")
    try:
        result = Plan(dims, steps, name)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"order {name!r} returned steps that are not a bracketing of the "
                         f"{len(dims) - 1} matrices, each once: {exc}") from None
    if claimed is not None and _as_int(claimed) != result.cost:
        warnings.warn(f"order {name!r} claimed cost {claimed!r}; its steps cost {result.cost} "
                      "scalar multiplications, which the plan uses", stacklevel=4)
    return result


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


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


def uses_machine(order: str) -> bool:
    """Whether ``order`` (a registered name or alias) plans by the time model in force, so
    planning it needs one (``cost=`` a model, or ``use_machine``).

    Examples
    --------
    >>> uses_machine("time_optimal"), uses_machine("least-time"), uses_machine("optimal")
    (True, True, False)
    """
    name = _ALIASES.get(_normalize(order)) if isinstance(order, str) else None
    return name is not None and ORDERS[name].uses_machine


def _normalize(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def plan(dims: Sequence[Any] | ChainShape, order: str = "optimal", *, cost: Any = "dense",
         **deprecated: Any) -> Plan:
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
    cost : str or CostModel
        The cost model the plan is priced by (:mod:`chainorder.algebra.costmodels`):
        ``'dense'`` (default: ``p·q·r``, the article's convention), ``'structured'``
        (each product counted by its factors' kinds), ``'time'`` (the time model
        put in force with :func:`~chainorder.algebra.timemodel.use_machine`; planning
        loads none), a :class:`~chainorder.algebra.timemodel.TimeModel`, or a
        :class:`~chainorder.algebra.costmodels.CostModel` of your own.
        ``'optimal'`` and ``'dp'`` are the model's exact optimum; every other
        order keeps its own bracketing, priced by the model (``'time_optimal'``
        under a time model uses that model).
    **deprecated
        ``structure=`` (use ``cost=``) and ``machine=`` (use ``cost=machine``
        for its least-time plan) still work, with a ``DeprecationWarning``.

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
    spec, machine = cost_from_flags(cost, deprecated, "plan", ("structure", "machine"))
    model = as_cost_model(spec)
    chain = ChainShape.of(dims, kinds=model.reads_kinds)
    if not isinstance(order, str):
        raise TypeError(f"order must be a str (an order name or a bracketing), got {order!r}")
    name = _ALIASES.get(_normalize(order))
    if name is None:
        if "(" not in order and order.strip()[:1] not in ("A", "a"):
            raise ValueError(_unknown_order(order))
        out = Plan(chain, parse_bracketing(order, chain.n), order.strip(), cost_model=model)
    elif name in ("optimal", "dp") and not is_dense(model):
        out = _optimum(chain, model, "dp")
        out.order = name
    else:
        out = _registered(name, chain, model, machine)
    if machine is not None:
        out.machine = machine
    return out


def _registered(name: str, chain: ChainShape, model: CostModel,
                machine: TimeModel | None) -> Plan:
    """The registered order's bracketing of ``chain``, priced by ``model``."""
    with use_machine(model if isinstance(model, TimeModel) else machine):
        base = ORDERS[name].plan(chain.dims)
    if is_dense(model) or base.cost_model is model:
        return base
    return Plan(chain, base.step_array, base.order, cost_model=model, check=False)


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


def optimize(dims: Sequence[Any] | ChainShape, method: str = "auto", *, cost: Any = "dense",
             **deprecated: Any) -> Plan:
    """The cheapest bracketing of a chain under a cost model, exactly.

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
        Hu-Shing solves the dense ``p·q·r`` cost only: under any other cost
        model the dynamic program runs (``'auto'`` or ``'dp'``).
    cost : str or CostModel
        What to minimize (:mod:`chainorder.algebra.costmodels`): ``'dense'``
        (default: scalar multiplications, so FLOPs), ``'structured'`` (each
        product counted by its factors' kinds; up to 200 factors),
        ``'time'`` (the model put in force with
        :func:`~chainorder.algebra.timemodel.use_machine`) or a
        :class:`~chainorder.algebra.timemodel.TimeModel`, such as
        :func:`~chainorder.algebra.timemodel.load_model`'s
        (least predicted seconds, up to 1000 matrices, keeping the FLOP
        optimum unless the least-time plan is predicted more than ``1 +
        margin`` times as fast: the model's measured margin, or
        ``model.with_margin(m)``; the plan's order is ``'time_optimal'``),
        or a :class:`~chainorder.algebra.costmodels.CostModel` of your own.
    **deprecated
        ``structure=``, ``objective=``, ``machine=`` and ``margin=`` still
        work, with a ``DeprecationWarning`` naming their ``cost=`` spelling.

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
    >>> fast = co.optimize([10, 20, 1000, 20], cost=m)
    >>> fast.parenthesization, fast.cost, co.optimize([10, 20, 1000, 20]).cost
    ('(A1(A2A3))', 404000, 400000)
    """
    spec, machine = cost_from_flags(cost, deprecated, "optimize",
                                    ("structure", "objective", "machine", "margin"))
    model = as_cost_model(spec)
    out = _optimum(ChainShape.of(dims, kinds=model.reads_kinds), model, method)
    if machine is not None:
        out.machine = machine
    return out


def _optimum(chain: ChainShape, model: CostModel, method: str) -> Plan:
    """The exact optimum of ``chain`` under ``model`` by ``method``, as a Plan."""
    key = _method_key(method)
    if is_dense(model):
        steps, cost = _dense_strategy(key, chain.n)(chain.dims)  # type: ignore[misc]
        return Plan(chain, steps, "optimal", cost=cost, cost_model=model, check=False)
    if key == "hu-shing":
        raise ValueError(f"method {method!r} (Hu-Shing) assumes the dense p·q·r cost; under "
                         f"cost model {model.name!r} method must be 'auto' or 'dp' (the "
                         "dynamic program)")
    return Plan(chain, model.optimal_steps(chain), model.optimum, cost_model=model, check=False)


def _method_key(method: Any) -> str:
    """``method`` as ``'auto'``, ``'dp'`` or ``'hu-shing'``, or a ValueError listing them."""
    key = _normalize(method).replace("_", "-") if isinstance(method, str) else method
    if key != "auto" and key not in _EXACT_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of 'auto', "
                         f"{', '.join(map(repr, _EXACT_METHODS))}")
    return str(key)


def _dense_strategy(key: str, n: int) -> Strategy:
    """The exact dense strategy of ``key`` (``'auto'``: by chain length ``n``)."""
    if key == "auto":
        key = "dp" if n <= _AUTO_DP_UP_TO else "hu-shing"
    if key == "dp" and n > DP_MAX_MATRICES:
        raise ValueError(
            f"method='dp' handles at most {DP_MAX_MATRICES} matrices (O(n^3) time), got "
            f"{n}; use method='hu-shing' or 'auto'"
        )
    return _EXACT_METHODS[key]


def _time_optimal_order(dims: tuple[int, ...]) -> Plan:
    model = active_model("the order 'time_optimal'")
    return _optimum(ChainShape(dims), model, "dp")


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

#: The strategies above are chainorder's own: their steps and costs are trusted.
_BUILTIN_STRATEGIES = frozenset(info.strategy for info in ORDERS.values())
