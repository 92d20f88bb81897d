"""``jacobian(f)``: the Jacobian of a function by its fastest schedule, as a transform.

``jacobian(f, argnums, has_aux)`` returns a function with ``f``'s arguments that returns
what ``jax.jacfwd(f, argnums, has_aux)`` returns. On the first call at a signature
(the arguments' tree, shapes and dtypes) it makes a :class:`JacobianPlan`: the engine
traces ``f`` and cuts it into a chain of factors, the planner makes the candidate
schedules and the cost model predicts each one's seconds; the plan is cached, so later
calls at that signature run the chosen, compiled schedule only. Tangent and adjoint
mode run the engine's own ``jacfwd`` and ``jacrev``, so choosing one costs nothing over
them. Inside ``jax.jit`` or ``jax.vmap`` the plan is made while tracing, and the
schedule is traced into the enclosing program.

``sparsity='detect'`` (or a pattern of the whole Jacobian) gives the factors sparsity
patterns (:mod:`chainorder.ad.sparsity`); the optimizer may then accumulate a span of
sparse factors from the compressed seeds of a coloring (:mod:`chainorder.algebra.coloring`),
executed as a ``vmap`` of ``jvp`` (``vjp``) over the seeds and a gather onto the pattern.
``sparse_output=True`` returns a ``jax.experimental.sparse.BCOO``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import update_wrapper
from typing import Any

from ..algebra.gjc import Schedule, span_pattern
from .costmodel import MultiplyAdds
from .engine import get_engine
from .planner import AUTO_MARGIN, HOMOGENEOUS, MODES, ADFactor, candidate_schedules, choose

__all__ = [
    "CompiledJacobian",
    "Jacobian",
    "JacobianPlan",
    "Recommendation",
    "jacobian",
    "plan_jacobian",
    "recommend",
]

#: ``tune=True`` times only the schedules predicted within this factor of the fastest.
TUNE_WITHIN = 2.0


# ----------------------------------------------------------------------------- the plan


@dataclass
class JacobianPlan:
    """How the Jacobian of ``f`` at one signature is computed: the cut, the schedules, the choice.

    Attributes
    ----------
    mode : str
        The schedule run: ``'tangent'`` (``jax.jacfwd``), ``'adjoint'`` (``jax.jacrev``),
        ``'preaccumulation'``, ``'optimal'``, ``'optimal-time'`` or ``'custom'``.
    factors : list of ADFactor
        The chain the program was cut into (empty when it could not be cut).
    schedules : dict of str to Schedule
        Every schedule considered, by name.
    seconds : dict of str to float
        Each schedule's predicted cost by ``cost`` (seconds, or multiply-adds).
    measured : dict of str to float
        With ``tune=True``: the measured seconds per call of the candidates.
    cut : str
        How the program was cut, factor by factor.
    """

    engine: Any
    f: Callable[..., Any]
    layout: Any
    program: Any
    mode: str
    schedules: dict[str, Schedule]
    seconds: dict[str, float]
    cost: Any
    cut: str
    specs: Any = None
    sparse_output: bool = False
    measured: dict[str, float] = field(default_factory=dict)
    _runners: dict[str, Callable[..., Any]] = field(default_factory=dict, repr=False)

    @property
    def factors(self) -> list[ADFactor]:
        return list(self.program.factors) if self.program is not None else []

    @property
    def schedule(self) -> Schedule | None:
        """The schedule run (None when the program was not cut: the peer's program runs)."""
        return self.schedules.get(self.mode)

    @property
    def costs(self) -> dict[str, int]:
        """Multiply-adds of every schedule considered, by name."""
        return {name: s.cost for name, s in self.schedules.items()}

    @property
    def reusable(self) -> bool:
        return self.program is None or self.program.reusable

    def function(self, mode: str | None = None) -> Callable[..., Any]:
        """The schedule ``mode`` (default: the chosen one) as a traceable function of ``f``'s
        arguments, not jitted."""
        mode = self.mode if mode is None else mode
        split, raw = self.layout.split, self._made(mode)
        if self._needs_consts(mode):
            consts = self.program.consts
            return lambda *args: raw(consts, *split(args))
        return lambda *args: raw(*split(args))

    def _peer_of(self, mode: str) -> str:
        """``mode``, or the homogeneous mode whose single sweep it is (then the peer's own
        program runs: an optimum of one sweep is not a new program)."""
        if mode in self.schedules and mode not in HOMOGENEOUS:
            for h in HOMOGENEOUS:
                if h in self.schedules and self.schedules[h].ops == self.schedules[mode].ops:
                    return h
        return mode

    def _needs_consts(self, mode: str) -> bool:
        mode = self._peer_of(mode)
        return mode in self.schedules and not (
            mode in HOMOGENEOUS and not self._shards(mode))

    def _shards(self, mode: str) -> bool:
        devices = getattr(self.engine, "device_count", lambda: 1)()
        batch = self.layout.n if mode == "tangent" else self.layout.m
        return bool(devices > 1 and batch >= getattr(self.engine, "shard_from", math.inf))

    def _raw(self, mode: str, values: bool = False) -> Callable[..., Any]:
        if mode not in self.schedules and not (mode in HOMOGENEOUS and self.program is None):
            raise ValueError(
                f"mode must be one of {', '.join(map(repr, self.schedules or HOMOGENEOUS))} "
                f"for this plan, got {mode!r}")
        if self._needs_consts(mode):
            return self.engine.schedule_function(self.program, self.schedules[mode], self.f,
                                                 values=values)
        return self.engine.peer_function(self.layout, self.f, self._peer_of(mode))

    @property
    def pattern(self) -> Any:
        """The Jacobian's pattern (``m x n``, flattened) when every factor carries one."""
        factors = [x.factor() for x in self.factors]
        return span_pattern(factors, 0, len(factors) - 1) if factors else None

    def _made(self, mode: str) -> Callable[..., Any]:
        """:meth:`_raw`, returning a BCOO on :attr:`pattern` with ``sparse_output``."""
        if not self.sparse_output:
            return self._raw(mode)
        from .sparse_output import as_bcoo

        values = self._needs_consts(mode)  # a schedule: its values; a peer: its dense result
        raw, pattern, layout = self._raw(mode, values), self.pattern, self.layout
        return lambda *a: as_bcoo(raw(*a), pattern, layout, values)

    def runner(self, mode: str | None = None) -> Callable[..., Any]:
        """The schedule ``mode`` jitted, as ``f``'s arguments -> Jacobian (made once)."""
        mode = self.mode if mode is None else mode
        if mode not in self._runners:
            jitted = self.engine.jit(self._made(mode))
            split = self.layout.split
            if self._needs_consts(mode):
                consts = self.program.consts
                self._runners[mode] = lambda *args: jitted(consts, *split(args))
            else:
                self._runners[mode] = lambda *args: jitted(*split(args))
        return self._runners[mode]

    def __call__(self, *args: Any) -> Any:
        return self.runner()(*args)

    def compile(self, mode: str | None = None) -> CompiledJacobian:
        """Compile the schedule ahead of time for the plan's signature, timing it."""
        mode = self.mode if mode is None else mode
        start = time.perf_counter()
        raw = self.engine.jit(self._made(mode))
        dyn, rest = self.layout.split(self.specs)
        if self._needs_consts(mode):
            consts = self.program.consts
            compiled = raw.lower(consts, dyn, rest).compile()
            call = lambda *args: compiled(consts, *self.layout.split(args))  # noqa: E731
        else:
            compiled = raw.lower(dyn, rest).compile()
            call = lambda *args: compiled(*self.layout.split(args))  # noqa: E731
        return CompiledJacobian(self, mode, call, time.perf_counter() - start)

    def __repr__(self) -> str:
        widths = " -> ".join(map(str, self.program.widths)) if self.program else "not cut"
        what = f", {self.schedule.cost:,} multiply-adds" if self.schedule else ""
        return f"<JacobianPlan {self.mode}: {widths}{what}>"

    def __str__(self) -> str:
        return f"{self!r}\n{self.cut}" + (f"\n{self.schedule}" if self.schedule else "")


@dataclass
class CompiledJacobian:
    """A schedule compiled ahead of time; ``compiled(*args)`` runs it, its compile time kept."""

    plan: JacobianPlan
    mode: str
    compiled: Callable[..., Any]
    compile_seconds: float

    def __call__(self, *args: Any) -> Any:
        return self.compiled(*args)

    def __repr__(self) -> str:
        return f"<CompiledJacobian {self.mode}, compiled in {self.compile_seconds:.3f} s>"


# ----------------------------------------------------------------------------- planning


def _check_argnums(argnums: Any) -> int | tuple[int, ...]:
    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if is_int(argnums):
        return int(argnums)
    if isinstance(argnums, tuple) and argnums and all(is_int(v) for v in argnums):
        return tuple(int(v) for v in argnums)
    raise TypeError(
        f"argnums must be an int or a non-empty tuple of ints, got {type(argnums).__name__} "
        f"{argnums!r}; jacobian(f) returns a function: call jacobian(f)(x) (what was "
        "jacobian(functions, x) is now jacobian(functions)(x))")


def _check_cost(cost: Any, engine: Any) -> Any:
    if cost is None:
        return engine.default_cost()
    if cost in ("multiply-adds", "flops"):
        return MultiplyAdds()
    if not hasattr(cost, "schedule_seconds"):
        raise TypeError(
            "cost must be None (this machine's time model), 'multiply-adds' or an object "
            f"with schedule_seconds(schedule, factors), got {cost!r}")
    return cost


def _check_options(mode: Any, margin: Any, memory: Any) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    if not isinstance(margin, (int, float)) or not 0 <= margin < 1:
        raise ValueError(f"margin must be a number in [0, 1), got {margin!r}")
    if memory is not None and (not isinstance(memory, int) or memory < 1):
        raise ValueError(f"memory must be None or an int >= 1 (tape scalars), got {memory!r}")


def _check_sparsity(sparsity: Any, sparse_output: Any) -> Any:
    """``sparsity`` as None, ``'detect'`` or a SparsityPattern; ``sparse_output`` a bool."""
    from .sparse_output import to_pattern

    if not isinstance(sparse_output, bool):
        raise TypeError(f"sparse_output must be True or False, got {sparse_output!r}")
    if sparsity is None or (isinstance(sparsity, str) and sparsity == "detect"):
        return sparsity
    if isinstance(sparsity, str):
        raise ValueError(
            f"sparsity must be None, 'detect', a SparsityPattern, a 2-D bool array or a "
            f"scipy.sparse matrix, got {sparsity!r}")
    return to_pattern(sparsity)


def _is_chain(f: Any) -> bool:
    return isinstance(f, Sequence) and not isinstance(f, (str, bytes))


def _check_function(f: Any) -> None:
    if _is_chain(f):
        if not f:
            raise ValueError("functions must hold at least one callable, got an empty sequence")
        for i, g in enumerate(f):
            if not callable(g):
                raise TypeError(f"functions[{i}] must be callable, got {g!r}")
    elif not callable(f):
        raise TypeError(
            f"f must be a callable or a sequence of callables (a chain), got {f!r}")


def _make_plan(engine: Any, f: Any, args: Sequence[Any], argnums: int | tuple[int, ...],
               has_aux: bool, mode: str, cost: Any, memory: int | None, margin: float,
               schedule: Schedule | None = None, sparsity: Any = None,
               sparse_output: bool = False) -> JacobianPlan:
    chain = _is_chain(f)
    if chain and (argnums != 0 or has_aux or len(args) != 1):
        raise ValueError("a chain of functions takes one array x: call jacobian(functions)(x)")
    whole = engine.compose(f) if chain else f
    layout = engine.make_layout(args, argnums, has_aux)
    try:
        program = (engine.trace_chain(f, args[0], layout) if chain
                   else engine.trace_program(f, args, layout))
    except engine.not_cut as why:
        program, cut = None, f"not cut ({why}): the peer's program runs"
    else:
        cut = program.cut
    specs = engine.specs(args)
    if program is not None and sparsity is not None:
        program = engine.with_sparsity(program, sparsity)
        cut = program.cut
    if program is None and sparse_output:
        raise ValueError(f"sparse_output=True needs a program that can be cut; this one is {cut}")
    if program is None:
        layout.out_tree = None
        peer = "tangent" if layout.n <= max(1, layout.m) else "adjoint"
        return JacobianPlan(engine, whole, layout, None, peer if mode == "auto" else mode,
                            {}, {}, cost, cut, specs)
    factors = program.factors
    schedules = candidate_schedules(factors, cost, memory)
    if schedule is not None:
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a gjc Schedule, got {type(schedule).__name__}")
        if list(schedule.factors) != [x.factor() for x in factors]:
            raise ValueError("schedule must be built on the plan's factors "
                             "[f.factor() for f in plan.factors]")
        schedules["custom"], mode = schedule, "custom"
    seconds = {k: float(cost.schedule_seconds(s, factors)) for k, s in schedules.items()}
    if mode == "auto":
        mode = choose(schedules, seconds, margin)
    elif mode not in schedules:
        raise ValueError(
            f"mode {mode!r} is not possible here (a factor forbids it: {cut}); "
            f"possible: {', '.join(map(repr, schedules))}")
    return JacobianPlan(engine, whole, layout, program, mode, schedules, seconds, cost, cut,
                        specs, sparse_output)


def _tune(plan: JacobianPlan, args: Sequence[Any], rounds: int) -> None:
    """Time the candidates predicted within :data:`TUNE_WITHIN` of the fastest; run the fastest."""
    if not plan.schedules:
        return
    fastest = min(plan.seconds.values())
    names = [k for k in ("tangent", "adjoint", "optimal", "optimal-time")
             if k in plan.seconds and plan.seconds[k] <= TUNE_WITHIN * fastest]
    for k in list(names):
        if k not in HOMOGENEOUS and any(
                plan.schedules[k].ops == plan.schedules[h].ops for h in names if h != k):
            names.remove(k)
    if len(names) < 2:
        return
    calls = {}
    for k in names:
        run = plan.runner(k)
        run(*args)  # compile outside the timing
        calls[k] = lambda run=run: run(*args)
    times = plan.engine.time_calls(calls, rounds)
    plan.measured = {k: sorted(t)[len(t) // 2] for k, t in times.items()}
    plan.mode = min(plan.measured, key=plan.measured.__getitem__)


class Jacobian:
    """The function :func:`jacobian` returns: ``f``'s arguments in, ``jax.jacfwd``'s result out.

    Plans are cached per signature (:attr:`plans`); :meth:`plan` makes or returns one.
    """

    def __init__(self, f: Any, argnums: int | tuple[int, ...], has_aux: bool, *,
                 mode: str, cost: Any, memory: int | None, margin: float,
                 engine: Any, sparsity: Any = None, sparse_output: bool = False) -> None:
        self.f, self.argnums, self.has_aux = f, argnums, has_aux
        self.sparsity, self.sparse_output = sparsity, sparse_output
        self.mode, self.memory, self.margin = mode, memory, margin
        self.engine = get_engine(engine)
        self._cost = cost
        self.plans: dict[Any, JacobianPlan] = {}
        if not _is_chain(f):
            update_wrapper(self, f, updated=())

    @property
    def cost(self) -> Any:
        """The cost model (this machine's time model unless one was given), read once."""
        self._cost = _check_cost(self._cost, self.engine)
        return self._cost

    def plan(self, *args: Any) -> JacobianPlan:
        """The plan for arguments of ``args``' signature (made on first use, then cached)."""
        key = self.engine.signature(args)
        plan = self.plans.get(key)
        if plan is None:
            plan = _make_plan(self.engine, self.f, args, self.argnums, self.has_aux,
                              self.mode, self.cost, self.memory, self.margin,
                              sparsity=self.sparsity, sparse_output=self.sparse_output)
            if plan.reusable:
                self.plans[key] = plan
        return plan

    def __call__(self, *args: Any) -> Any:
        return self.plan(*args)(*args)

    def __repr__(self) -> str:
        name = getattr(self.f, "__name__", None) or f"a chain of {len(self.f)} functions"
        return f"<jacobian of {name}, argnums={self.argnums!r}, {len(self.plans)} plan(s)>"


def jacobian(
    f: Callable[..., Any] | Sequence[Callable[..., Any]],
    argnums: int | tuple[int, ...] = 0,
    has_aux: bool = False,
    *,
    mode: str = "auto",
    cost: Any = None,
    memory: int | None = None,
    margin: float = AUTO_MARGIN,
    engine: Any = "jax",
    sparsity: Any = None,
    sparse_output: bool = False,
) -> Jacobian:
    """The Jacobian of ``f`` as a function, by the fastest schedule: a drop-in ``jax.jacfwd``.

    Parameters
    ----------
    f : callable or sequence of callables
        Any JAX-traceable function; or stage functions ``f_0..f_(q-1)`` of a chain
        (``f_0`` applied first, one array in and out), whose stages are its factors.
    argnums, has_aux
        As for ``jax.jacfwd``.
    mode : {'auto', 'tangent', 'adjoint', 'preaccumulation', 'optimal', 'optimal-time'}
        ``'auto'`` runs the schedule ``cost`` predicts fastest (a mixed one only when it is
        predicted ``margin`` faster than ``jax.jacfwd`` and ``jax.jacrev``).
    cost : None, 'multiply-adds' or a cost model
        None: this machine's JAX time model (``chainorder.ad.jax_engine.calibrate()``
        makes and caches it; until then typical CPU rates). See :mod:`chainorder.ad.costmodel`.
    memory : int, optional
        Largest tape (scalars) one adjoint op of a mixed schedule may keep.
    margin : float
        See ``mode``.
    engine : str
        The AD engine (``'jax'``).
    sparsity : None, 'detect', SparsityPattern, 2-D bool array or scipy.sparse matrix
        None: every factor dense (as before). ``'detect'``: each cut factor's pattern is
        detected from its jaxpr (:mod:`chainorder.ad.sparsity`), and spans of sparse
        factors may be accumulated from compressed tangents or adjoints of a coloring.
        A pattern: the pattern of the whole Jacobian (``m x n``, outputs and inputs
        flattened), as sparsejac takes it; the program then is one factor.
    sparse_output : bool
        Return the Jacobian as a ``jax.experimental.sparse.BCOO`` of shape ``output shape
        + input shape`` on the Jacobian's pattern (every entry where a factor is dense),
        jit-compatible; one differentiated array in and one array out. Default: dense.

    Returns
    -------
    Jacobian
        Callable with ``f``'s arguments, returning what ``jax.jacfwd(f, argnums,
        has_aux)`` returns (``jax.jacrev``'s dtypes where ``f`` has a ``custom_vjp``).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> W = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    >>> jf = jacobian(lambda x: 2 * (W @ x))
    >>> jax.jit(jf)(jnp.ones(2)).tolist()
    [[2.0, 4.0], [6.0, 8.0]]
    """
    _check_function(f)
    argnums = _check_argnums(argnums)
    _check_options(mode, margin, memory)
    sparsity = _check_sparsity(sparsity, sparse_output)
    return Jacobian(f, argnums, bool(has_aux), mode=mode, cost=cost, memory=memory,
                    margin=margin, engine=engine, sparsity=sparsity,
                    sparse_output=sparse_output)


def plan_jacobian(
    f: Callable[..., Any] | Sequence[Callable[..., Any]],
    *args: Any,
    argnums: int | tuple[int, ...] = 0,
    has_aux: bool = False,
    mode: str = "auto",
    cost: Any = None,
    memory: int | None = None,
    margin: float = AUTO_MARGIN,
    schedule: Schedule | None = None,
    tune: bool = False,
    rounds: int = 5,
    engine: Any = "jax",
    sparsity: Any = None,
    sparse_output: bool = False,
) -> JacobianPlan:
    """The plan :func:`jacobian` makes for ``f`` at ``args`` (their shapes and dtypes).

    ``schedule`` runs a schedule built by hand on ``[x.factor() for x in plan.factors]``
    (mode ``'custom'``). ``tune=True`` compiles the candidates predicted within
    :data:`TUNE_WITHIN` of the fastest, times them on ``args`` (``rounds`` interleaved
    rounds) and runs the fastest; the times land in ``plan.measured``. ``sparsity`` and
    ``sparse_output`` as for :func:`jacobian`.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> plan = plan_jacobian(lambda x: jnp.sin(jnp.ones((2, 3)) @ x), jnp.ones(3))
    >>> plan.mode, [x.kind for x in plan.factors]
    ('adjoint', ['dense', 'diagonal'])
    """
    _check_function(f)
    argnums = _check_argnums(argnums)
    _check_options(mode, margin, memory)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds!r}")
    sparsity = _check_sparsity(sparsity, sparse_output)
    eng = get_engine(engine)
    plan = _make_plan(eng, f, args, argnums, has_aux, mode, _check_cost(cost, eng), memory,
                      margin, schedule, sparsity, sparse_output)
    if tune and mode == "auto" and schedule is None:
        if eng.is_traced(args):
            raise ValueError("tune=True times the schedules on args: pass concrete arrays, "
                             "not values of an enclosing jit or vmap")
        _tune(plan, args, rounds)
    return plan


@dataclass
class Recommendation:
    """Which schedule suits the Jacobian of ``f``, why, how ``f`` was cut; prints a table."""

    mode: str
    reason: str
    plan: JacobianPlan

    @property
    def costs(self) -> dict[str, int]:
        return self.plan.costs

    @property
    def seconds(self) -> dict[str, float]:
        return self.plan.seconds

    def __str__(self) -> str:
        p = self.plan
        rows = [f"recommended: {self.mode} -- {self.reason}", p.cut]
        if p.schedules:
            unit = "multiply-adds" if isinstance(p.cost, MultiplyAdds) else "predicted us"
            best = p.seconds[p.mode]
            rows.append(f"   {'schedule':<16}{'multiply-adds':>16}  {unit:>13}  x chosen"
                        + ("  measured us" if p.measured else ""))
            for name, s in p.schedules.items():
                mark = "*" if name == p.mode else " "
                t = p.seconds[name] * (1 if unit == "multiply-adds" else 1e6)
                measured = f"  {p.measured[name] * 1e6:11.1f}" if name in p.measured else ""
                rows.append(f" {mark} {name:<16}{s.cost:>16,}  {t:>13.4g}  "
                            f"{p.seconds[name] / best:7.2f}x{measured}")
            rows.append("schedule:")
            rows += [f"  {i}. {op.label}" for i, op in enumerate(p.schedules[p.mode].ops, 1)]
        return "\n".join(rows)

    def __repr__(self) -> str:
        return f"<Recommendation {self.mode}: {self.reason}>"


def _reason(plan: JacobianPlan, margin: float) -> str:
    n, m = plan.layout.n, plan.layout.m
    size = f"{n} inputs, {m} outputs"
    if plan.program is None:
        return f"{size}; the program was not cut, so the peer's own program runs"
    if plan.measured:
        return f"fastest of {', '.join(plan.measured)} measured on the arguments ({size})"
    s = plan.seconds
    homogeneous = [k for k in HOMOGENEOUS if k in s]
    if not homogeneous:
        return f"{size}; a factor allows one sweep only, so no homogeneous mode is possible"
    best = min(homogeneous, key=s.__getitem__)
    if plan.mode not in HOMOGENEOUS:
        return f"predicted {s[best] / s[plan.mode]:.1f}x faster than {best} mode ({size})"
    mixed = [k for k in ("optimal", "optimal-time") if k in s]
    fast = min(mixed, key=s.__getitem__)
    gain = s[best] / s[fast]
    return (f"{size}; the best mixed schedule is predicted {gain:.2f}x as fast "
            f"(it must be {1 / (1 - margin):.2f}x)")


def recommend(
    f: Callable[..., Any] | Sequence[Callable[..., Any]],
    *args: Any,
    **options: Any,
) -> Recommendation:
    """Say how ``f`` was cut, which schedule suits its Jacobian at ``args``, and why.

    Options are those of :func:`plan_jacobian`.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> W = jnp.ones((1, 50))
    >>> r = recommend(lambda x: W @ jnp.tanh(x), jnp.ones(50))
    >>> r.mode
    'adjoint'
    >>> print(str(r).splitlines()[1])
    cut automatically into 2 factors: 50 [tanh (diagonal)] -> 50 [dot_general] -> 1
    """
    plan = plan_jacobian(f, *args, **options)
    return Recommendation(plan.mode, _reason(plan, options.get("margin", AUTO_MARGIN)), plan)
