"""Jacobians of a chain of JAX functions: measured, planned as a generalized chain, run jitted.

The chain is ``F = F_(q-1) o ... o F_0`` (``functions[0]`` applied first, 0-based as in
:mod:`chainorder.algebra.gjc`), ``F_i: R^(n_i) -> R^(m_i)``. Its Jacobian
``F' = F_(q-1)' ... F_0'`` can be computed by tangent mode through everything (what
``jax.jacfwd`` does: ``n_0`` tangents), adjoint mode through everything (``jax.jacrev``:
``m_(q-1)`` adjoints), or a *mixed schedule* (:func:`chainorder.algebra.gjc.optimize_gjc`):
accumulate some factors' Jacobians, push their columns forward by tangents or their rows
backward by adjoints, and multiply dense blocks. On a chain with a bottleneck such as
``500 -> 500 -> 5 -> 500 -> 500`` the mixed schedule is many times cheaper than both.

Pipeline, one function each::

    functions, x -> measure_factors   shapes (jax.eval_shape), T_i, A_i, tape   (no data)
                 -> plan_jacobian     a JacobianPlan: gjc schedules and their costs
                 -> .compile()        a CompiledJacobian: the schedule jitted, compile timed
                 -> jacobian(functions, x) does all three; recommend() explains the choice

JAX is optional: this module imports it on first use, and ``import chainorder`` never
imports this module. Every entry point runs under ``jax.enable_x64(True)``, a context
rather than a global switch, so results are float64 and JAX's global state is untouched.

Cost unit: scalar multiplications (= fused multiply-adds), as everywhere in chainorder.
``T_i`` (``A_i``) is the marginal cost of one more tangent (adjoint) direction through
``F_i``, read from XLA's cost analysis of the lowered, vmapped ``jvp`` (``vjp``) at batch
sizes 1 and 2: ``T_i = (flops(2) - flops(1)) / 2``. See :func:`measure_factors`.

How good the cost model is (``benchmarks/bench_jax_chain.py``, 15 cases, XLA and BLAS on
one thread, two runs on 2 shared cores at load 4 to 6): it *ranks* the schedules right on
every case -- where it picks a homogeneous mode, the median time ratio to the better of
``jax.jacfwd`` and ``jax.jacrev`` was 0.93 to 1.04 (noise: that program *is* the peer's) --
but it *overstates* the gain of mixed schedules at a bottleneck: predicted 67x, 113x, 67x
and 39x, measured 15-30x, 6-8x, 10-18x and 5-9x. The model has no term for what those
schedules spend their time on: every op reads its factors' weights once whatever its
batch, so an op with 2 to 5 directions is bound by memory traffic, and every op and call
has a fixed cost (a few to 30 us). Predicted multiplications per measured second were
2 to 9 G for those schedules and 10 to 40 G for the homogeneous modes' large batches;
fitting one such rate to all 45 (case, method) times leaves a median error of 47%, one
rate plus a fixed cost per op 25%. ``tune=True`` measures instead of predicting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial, reduce
from typing import Any

from ..validation import check_positive_int
from .gjc import (
    Factor,
    Schedule,
    homogeneous_adjoint_schedule,
    homogeneous_tangent_schedule,
    optimize_gjc,
    preaccumulation_schedule,
)

__all__ = [
    "AUTO_MARGIN",
    "TUNE_WITHIN",
    "MODES",
    "CompiledJacobian",
    "JacobianPlan",
    "MeasuredFactor",
    "Recommendation",
    "jacobian",
    "jacobian_program",
    "measure_factors",
    "plan_jacobian",
    "recommend",
]

#: The schedules :func:`plan_jacobian` makes, by name (``'auto'`` picks one of them).
MODES = ("auto", "tangent", "adjoint", "preaccumulation", "optimal")

#: ``tune=True`` times only the schedules predicted at most this many times the cheapest.
TUNE_WITHIN = 2.0

#: ``mode='auto'`` takes the mixed schedule only when it is predicted this fraction cheaper
#: than the better homogeneous mode: its extra kernel launches and copies are not costed.
AUTO_MARGIN = 0.25


def _jax() -> Any:
    try:
        import jax
    except ImportError as err:  # pragma: no cover - exercised only without jax
        raise ImportError(
            "chainorder.algebra.jax_chain needs JAX: pip install 'chainorder[jax]'"
        ) from err
    return jax


# ---------------------------------------------------------------------------- measurement


@dataclass(frozen=True)
class MeasuredFactor:
    """One function of the chain as measured: shapes, per-direction costs, tape.

    Attributes
    ----------
    index : int
        0-based position (``functions[0]`` is applied first).
    in_shape, out_shape : tuple of int
        Arrays are flattened: ``n = prod(in_shape)``, ``m = prod(out_shape)``.
    tangent, adjoint : int
        ``T_i`` and ``A_i``: scalar multiplications of one more tangent (adjoint) direction.
    tape : int
        ``|E_i|``: scalars in the residuals ``jax.vjp`` keeps for the adjoint.
    primal : int
        Scalar multiplications of one evaluation (XLA flops / 2).
    """

    index: int
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    tangent: int
    adjoint: int
    tape: int
    primal: int

    @property
    def n(self) -> int:
        return math.prod(self.in_shape)

    @property
    def m(self) -> int:
        return math.prod(self.out_shape)

    def factor(self) -> Factor:
        """The factor as the gjc optimizer reads it (every cost at least 1)."""
        return Factor(self.m, self.n, self.tangent, self.adjoint, max(1, self.tape))

    def __repr__(self) -> str:
        return (
            f"<MeasuredFactor F{self.index}: R^{self.n} -> R^{self.m}, T={self.tangent:,}, "
            f"A={self.adjoint:,}, tape={self.tape:,}>"
        )


def _flat(f: Callable[..., Any], in_shape: tuple[int, ...]) -> Callable[[Any], Any]:
    """``f`` as a map of flat vectors (reshapes are free in XLA)."""
    return lambda v: f(v.reshape(in_shape)).reshape(-1)


def _compose(fs: Sequence[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    return lambda v: reduce(lambda z, f: f(z), fs, v)


def _tangent_batch(f: Callable[[Any], Any], z: Any, seeds: Any) -> Any:
    """``F'(z) @ seeds`` for an ``(n, b)`` block of tangent seeds, by vmapped ``jvp``."""
    jax = _jax()
    return jax.vmap(lambda v: jax.jvp(f, (z,), (v,))[1], in_axes=1, out_axes=1)(seeds)


def _adjoint_batch(f: Callable[[Any], Any], z: Any, seeds: Any) -> Any:
    """``seeds @ F'(z)`` for a ``(b, m)`` block of adjoint seeds, by vmapped ``vjp``."""
    jax = _jax()
    _, pullback = jax.vjp(f, z)
    return jax.vmap(lambda u: pullback(u)[0])(seeds)


def _flops(fn: Callable[..., Any], *specs: Any) -> float:
    """XLA's flop count of ``fn`` lowered for arguments of the given shapes.

    The lowered (unoptimized) HLO is analysed: about ten times faster than compiling,
    and equal to the compiled count on dense layers; compiled only when it says nothing.
    """
    lowered = _jax().jit(fn).lower(*specs)
    cost = lowered.cost_analysis() or lowered.compile().cost_analysis()
    if isinstance(cost, (list, tuple)):  # older jax: one dict per device
        cost = cost[0] if cost else {}
    return float((cost or {}).get("flops", 0.0))


def _marginal(flops_1: float, flops_2: float) -> int:
    """Multiplications of one more direction, from the flops at batch sizes 1 and 2."""
    return max(1, round((flops_2 - flops_1) / 2))


def _measure_one(index: int, f: Callable[..., Any], z: Any) -> tuple[MeasuredFactor, Any]:
    jax = _jax()
    spec = jax.ShapeDtypeStruct
    out = jax.eval_shape(f, z)
    n, m = math.prod(z.shape), math.prod(out.shape)
    g, v = _flat(f, tuple(z.shape)), spec((n,), z.dtype)
    t = [_flops(partial(_tangent_batch, g), v, spec((n, b), z.dtype)) for b in (1, 2)]
    a = [_flops(partial(_adjoint_batch, g), v, spec((b, m), out.dtype)) for b in (1, 2)]
    residuals = jax.eval_shape(lambda u: jax.tree_util.tree_leaves(jax.vjp(g, u)[1]), v)
    measured = MeasuredFactor(
        index, tuple(z.shape), tuple(out.shape), _marginal(*t), _marginal(*a),
        sum(math.prod(r.shape) for r in residuals), round(_flops(g, v) / 2),
    )
    return measured, spec(out.shape, out.dtype)


def measure_factors(functions: Sequence[Callable[..., Any]], x: Any) -> list[MeasuredFactor]:
    """Shapes and per-direction costs of every function of the chain, without data.

    Shapes come from ``jax.eval_shape``. ``T_i`` (``A_i``) is the marginal cost of one
    more tangent (adjoint) direction: XLA's cost analysis of the lowered ``vmap(jvp)``
    (``vmap(vjp)``) at batch sizes 1 and 2, in scalar multiplications (XLA flops / 2),
    so the one-off work of a call (the primal, ``1 - tanh^2``) is not charged per
    direction. The tape ``|E_i|`` is the number of scalars ``jax.vjp`` keeps as residuals.
    Five small lowerings per function (XLA's HLO cost analysis, no compilation); the same
    function object applied again at the same shape is measured once.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> W = jnp.ones((3, 4))
    >>> measure_factors([lambda x: W @ x], jnp.ones(4))
    [<MeasuredFactor F0: R^4 -> R^3, T=12, A=12, tape=12>]
    """
    jax = _jax()
    functions = _check_functions(functions)
    with jax.enable_x64(True):
        z = jax.ShapeDtypeStruct(*_shape_dtype(x))
        out: list[MeasuredFactor] = []
        seen: dict[tuple[int, tuple[int, ...]], tuple[MeasuredFactor, Any]] = {}
        for i, f in enumerate(functions):  # a function repeated at one shape is measured once
            key = (id(f), tuple(z.shape))
            if key not in seen:
                seen[key] = _measure_one(i, f, z)
            measured, z = seen[key]
            out.append(replace(measured, index=i))
    return out


def _shape_dtype(x: Any) -> tuple[tuple[int, ...], Any]:
    jnp = _jax().numpy
    shape = tuple(getattr(x, "shape", None) or jnp.shape(x))
    dtype = getattr(x, "dtype", None) or jnp.result_type(x)
    if not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
        raise TypeError(f"x must be a real array, got dtype {dtype}")
    return shape, jnp.float64


def _check_functions(functions: Any) -> list[Callable[..., Any]]:
    if isinstance(functions, (str, bytes)) or not isinstance(functions, Sequence):
        raise TypeError(
            "functions must be a sequence of callables (functions[0] applied first), "
            f"got {type(functions).__name__}"
        )
    if not functions:
        raise ValueError("functions must hold at least one callable, got an empty sequence")
    for i, f in enumerate(functions):
        if not callable(f):
            raise TypeError(f"functions[{i}] must be callable, got {f!r}")
    return list(functions)


# ------------------------------------------------------------------------------ execution


def _run_ops(schedule: Schedule, fs: Sequence[Callable[[Any], Any]], zs: Sequence[Any]) -> Any:
    """Execute the schedule's ops in order; ``zs[i]`` is the flat input of ``F_i``, i < q."""
    jnp = _jax().numpy
    built: dict[int, Any] = {}  # built[first] = J(first..last), made and not yet consumed
    for op in schedule.ops:
        a, b, s = op.first, op.last, op.split
        if op.kind == "accumulate" and op.mode == "tangent":
            eye = jnp.eye(schedule.factors[a].n, dtype=zs[a].dtype)
            jac = _tangent_batch(_compose(fs[a : b + 1]), zs[a], eye)
        elif op.kind == "accumulate":
            eye = jnp.eye(schedule.factors[b].m, dtype=zs[a].dtype)
            jac = _adjoint_batch(_compose(fs[a : b + 1]), zs[a], eye)
        elif op.kind == "tangent":
            jac = _tangent_batch(_compose(fs[s + 1 : b + 1]), zs[s + 1], built.pop(a))
        elif op.kind == "adjoint":
            jac = _adjoint_batch(_compose(fs[a : s + 1]), zs[a], built.pop(s + 1))
        else:
            jac = built.pop(s + 1) @ built.pop(a)
        built[a] = jac
    return built[0]


def jacobian_program(
    functions: Sequence[Callable[..., Any]],
    measured: Sequence[MeasuredFactor],
    schedule: Schedule,
) -> Callable[[Any], Any]:
    """The schedule as a traceable ``x -> F'(x)``, shaped ``out_shape + in_shape``.

    Not jitted: wrap it in ``jax.jit`` (as :meth:`JacobianPlan.compile` does) or trace it
    into a larger program. The primal values ``z_i`` are computed once, up front (XLA
    merges them with the primal work inside the ops). A homogeneous schedule (one
    accumulation over the whole chain) runs as ``jax.jacfwd`` or ``jax.jacrev`` of the
    composition: the peers' own program, so choosing it never costs anything over them.
    """
    jax = _jax()
    fs = [_flat(f, mf.in_shape) for f, mf in zip(functions, measured, strict=True)]
    shape = measured[-1].out_shape + measured[0].in_shape
    (first, *rest) = schedule.ops
    if not rest and first.kind == "accumulate":
        transform = jax.jacfwd if first.mode == "tangent" else jax.jacrev
        whole = transform(_compose(fs))
        return lambda x: whole(x.reshape(-1)).reshape(shape)

    def run(x: Any) -> Any:
        zs = [x.reshape(-1)]
        for f in fs[:-1]:
            zs.append(f(zs[-1]))
        return _run_ops(schedule, fs, zs).reshape(shape)

    return run


@dataclass
class CompiledJacobian:
    """A jitted, compiled ``x -> F'(x)`` for one schedule; its compile time kept apart.

    Call it with an ``x`` of the planned shape; the result is float64 and shaped like
    ``jax.jacfwd``'s (``out_shape + in_shape``).
    """

    plan: JacobianPlan
    compiled: Any
    compile_seconds: float

    def __call__(self, x: Any) -> Any:
        jax = _jax()
        with jax.enable_x64(True):
            return self.compiled(jax.numpy.asarray(x, dtype=jax.numpy.float64))

    def __repr__(self) -> str:
        return (
            f"<CompiledJacobian {self.plan.mode}, {len(self.plan.measured)} factors, "
            f"compiled in {self.compile_seconds:.3f} s>"
        )


# ------------------------------------------------------------------------------- planning


@dataclass
class JacobianPlan:
    """The schedules for the Jacobian of a chain of JAX functions, and the one chosen.

    Attributes
    ----------
    functions : list of callables
    measured : list of MeasuredFactor
    mode : str
        The schedule chosen: ``'tangent'``, ``'adjoint'``, ``'preaccumulation'``,
        ``'optimal'`` or ``'custom'``.
    schedules : dict of str to Schedule
        Every schedule considered, by mode; ``schedules[mode]`` is the one run.
    x_shape : tuple of int
    seconds : dict of str to float
        With ``tune=True``: the measured seconds per call of each candidate schedule.
    """

    functions: list[Callable[..., Any]]
    measured: list[MeasuredFactor]
    mode: str
    schedules: dict[str, Schedule] = field(default_factory=dict)
    x_shape: tuple[int, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    _compiled: dict[str, CompiledJacobian] = field(default_factory=dict, init=False, repr=False)

    @property
    def schedule(self) -> Schedule:
        """The chosen schedule."""
        return self.schedules[self.mode]

    @property
    def costs(self) -> dict[str, int]:
        """Predicted scalar multiplications of every schedule considered, by mode."""
        return {name: s.cost for name, s in self.schedules.items()}

    def program(self) -> Callable[[Any], Any]:
        """The chosen schedule as a plain traceable ``x -> F'(x)`` (not jitted)."""
        return jacobian_program(self.functions, self.measured, self.schedule)

    def compile(self) -> CompiledJacobian:
        """Jit and compile the chosen schedule ahead of time, timing the compilation."""
        if self.mode in self._compiled:
            return self._compiled[self.mode]
        jax = _jax()
        with jax.enable_x64(True):
            start = time.perf_counter()
            spec = jax.ShapeDtypeStruct(self.x_shape, jax.numpy.float64)
            compiled = jax.jit(self.program()).lower(spec).compile()
            seconds = time.perf_counter() - start
        self._compiled[self.mode] = CompiledJacobian(self, compiled, seconds)
        return self._compiled[self.mode]

    def __repr__(self) -> str:
        widths = [self.measured[0].n, *(mf.m for mf in self.measured)]
        return (
            f"<JacobianPlan {self.mode}: {' -> '.join(map(str, widths))}, "
            f"{self.schedule.cost:,} multiplications>"
        )

    def __str__(self) -> str:
        return f"{self!r}\n{self.schedule}"


def _block(compiled: Any, x: Any) -> Any:
    return compiled(x).block_until_ready()


def _fastest_within(run: Callable[[], Any], seconds: float) -> float:
    """The fastest of the calls of ``run`` made in ``seconds`` (at least three calls)."""
    best, calls, stop = math.inf, 0, time.perf_counter() + seconds
    while calls < 3 or time.perf_counter() < stop:
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
        calls += 1
    return best


def _tune(plan: JacobianPlan, x: Any, rounds: int, block_seconds: float = 0.02) -> str:
    """Time the candidate schedules on ``x``, interleaved; record and return the fastest.

    Candidates are tangent mode, adjoint mode and the optimal schedule (when it differs
    from both), each only if predicted within :data:`TUNE_WITHIN` of the cheapest.
    """
    jax = _jax()
    cheapest = min(plan.costs.values())
    candidates = [
        name for name in ("tangent", "adjoint", "optimal")
        if plan.costs[name] <= TUNE_WITHIN * cheapest
    ]
    if "optimal" in candidates and any(
        plan.schedules["optimal"].ops == plan.schedules[c].ops for c in ("tangent", "adjoint")
    ):
        candidates.remove("optimal")
    if len(candidates) == 1:
        return candidates[0]
    compiled = {}
    for name in candidates:
        plan.mode = name
        compiled[name] = plan.compile().compiled
    with jax.enable_x64(True):
        xj = jax.numpy.asarray(x, dtype=jax.numpy.float64)
        runs = {name: partial(_block, c, xj) for name, c in compiled.items()}
        times: dict[str, list[float]] = {name: [] for name in runs}
        for r in range(rounds):
            order = candidates[r % len(candidates) :] + candidates[: r % len(candidates)]
            for name in order:  # a time budget per block: equally fast, equally many samples
                times[name].append(_fastest_within(runs[name], block_seconds))
    plan.seconds = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    return min(plan.seconds, key=plan.seconds.__getitem__)


def _choose(costs: dict[str, int], margin: float) -> str:
    homogeneous = min(("tangent", "adjoint"), key=costs.__getitem__)
    return "optimal" if costs["optimal"] < (1 - margin) * costs[homogeneous] else homogeneous


def plan_jacobian(
    functions: Sequence[Callable[..., Any]],
    x: Any,
    mode: str = "auto",
    *,
    schedule: Schedule | None = None,
    memory: int | None = None,
    margin: float = AUTO_MARGIN,
    tune: bool = False,
    rounds: int = 5,
) -> JacobianPlan:
    """Measure the chain's functions at ``x``'s shape and choose a schedule.

    Parameters
    ----------
    functions : sequence of callables
        ``f_0..f_(q-1)``, JAX-traceable, each mapping one array to one array; ``f_0``
        takes ``x``, ``f_(i+1)`` takes ``f_i``'s output.
    x : array_like
        The point; only its shape is read here.
    mode : {'auto', 'tangent', 'adjoint', 'preaccumulation', 'optimal'}
        ``'auto'`` takes ``'optimal'`` (the exact gjc optimum) when it is predicted at
        least ``margin`` cheaper than the better homogeneous mode, else that mode.
    schedule : Schedule, optional
        Run this schedule (built on ``[mf.factor() for mf in measure_factors(...)]``);
        ``mode`` is then ``'custom'``.
    memory : int, optional
        Tape bound (scalars kept by one adjoint op) for the optimal and preaccumulation
        schedules; the homogeneous modes ignore it, as jax.jacrev does.
    margin : float
        See ``mode``.
    tune : bool
        With ``mode='auto'``: compile tangent mode, adjoint mode and the optimal schedule
        (those predicted within :data:`TUNE_WITHIN` of the cheapest), time them on ``x``
        (``rounds`` interleaved rounds; per schedule the median of its fastest call per
        round) and take the fastest, like FFTW's measuring planner. Costs a few
        compilations and about a second; the times land in ``plan.seconds`` and the
        compiled programs are kept for :meth:`JacobianPlan.compile`.
    rounds : int
        See ``tune``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> W = jnp.ones((2, 3))
    >>> plan_jacobian([lambda x: W @ x, jnp.sin], jnp.ones(3)).mode
    'adjoint'
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be in [0, 1), got {margin!r}")
    rounds = check_positive_int(rounds, "rounds")
    measured = measure_factors(functions, x)
    factors = [mf.factor() for mf in measured]
    schedules = {
        "tangent": homogeneous_tangent_schedule(factors),
        "adjoint": homogeneous_adjoint_schedule(factors),
        "preaccumulation": preaccumulation_schedule(factors, memory),
        "optimal": optimize_gjc(factors, memory),
    }
    if schedule is not None:
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedule must be a gjc Schedule, got {type(schedule).__name__}")
        if list(schedule.factors) != factors:
            raise ValueError(
                "schedule must be built on the measured factors "
                "[mf.factor() for mf in measure_factors(functions, x)]"
            )
        schedules["custom"] = schedule
        mode = "custom"
    elif mode == "auto" and not tune:
        mode = _choose({k: s.cost for k, s in schedules.items()}, margin)
    plan = JacobianPlan(list(functions), measured, mode, schedules, _shape_dtype(x)[0])
    if mode == "auto":
        plan.mode = _tune(plan, x, rounds)
    return plan


def jacobian(
    functions: Sequence[Callable[..., Any]], x: Any, mode: str = "auto", **options: Any
) -> Any:
    """The Jacobian of ``f_(q-1) o ... o f_0`` at ``x`` by a planned, jitted schedule.

    Equal to ``jax.jacfwd`` of the composition (float64), shaped ``out_shape + in_shape``.
    Measuring, planning and compiling happen on every call: to reuse them, keep
    ``plan_jacobian(functions, x).compile()`` and call it.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> W = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    >>> jacobian([lambda x: W @ x, lambda z: 2 * z], jnp.ones(2)).tolist()
    [[2.0, 4.0], [6.0, 8.0]]
    """
    return plan_jacobian(functions, x, mode, **options).compile()(x)


@dataclass
class Recommendation:
    """Which way to compute a chain's Jacobian, why, and the predicted costs; prints a table.

    ``seconds`` holds measured seconds per call when made with ``tune=True``.
    """

    mode: str
    reason: str
    costs: dict[str, int]
    plan: JacobianPlan
    seconds: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        best = self.costs[self.mode]
        head = "predicted scalar multiplications (x: relative to the recommended)"
        rows = [f"recommended: {self.mode} -- {self.reason}",
                head + (", measured seconds per call" if self.seconds else "")]
        for name, cost in self.costs.items():
            mark = "*" if name == self.mode else " "
            measured = f"  {self.seconds[name]:.3g} s" if name in self.seconds else ""
            rows.append(f" {mark} {name:<16}{cost:>18,}  {cost / best:8.2f}x{measured}")
        rows.append("schedule:")
        rows += [f"  {i}. {op.label}" for i, op in enumerate(self.plan.schedule.ops, 1)]
        return "\n".join(rows)

    def __repr__(self) -> str:
        return f"<Recommendation {self.mode}: {self.reason}>"


def _reason(plan: JacobianPlan, margin: float, tune: bool) -> str:
    costs = plan.costs
    homogeneous = min(("tangent", "adjoint"), key=costs.__getitem__)
    n, m = plan.measured[0].n, plan.measured[-1].m
    if plan.seconds:
        return f"fastest of {', '.join(plan.seconds)} measured on x ({n} inputs, {m} outputs)"
    if tune:
        return f"the only schedule predicted within {TUNE_WITHIN:g}x of the cheapest"
    if plan.mode == "optimal":
        return (
            f"the mixed schedule is predicted {costs[homogeneous] / costs['optimal']:.1f}x "
            f"cheaper than {homogeneous} mode ({n} inputs, {m} outputs)"
        )
    tie = " (a tie: tune=True measures)" if costs["tangent"] == costs["adjoint"] else ""
    saving = max(0.0, 1 - costs["optimal"] / costs[homogeneous])
    return (
        f"{n} inputs, {m} outputs{tie}; the best mixed schedule would save only "
        f"{saving:.0%} (threshold {margin:.0%})"
    )


def recommend(
    functions: Sequence[Callable[..., Any]],
    x: Any,
    *,
    margin: float = AUTO_MARGIN,
    tune: bool = False,
    rounds: int = 5,
) -> Recommendation:
    """Say whether tangent mode, adjoint mode or the mixed schedule suits the chain, and why.

    Parameters are those of :func:`plan_jacobian`; with ``tune=True`` the recommendation
    rests on measured times rather than on the predicted costs.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> W = jnp.ones((1, 50))
    >>> r = recommend([jnp.tanh, lambda z: W @ z], jnp.ones(50))
    >>> r.mode, r.costs["tangent"] // r.costs["adjoint"]
    ('adjoint', 50)
    >>> print(str(r).splitlines()[0])
    recommended: adjoint -- 50 inputs, 1 outputs; the best mixed schedule would save only 0% \
(threshold 25%)
    """
    plan = plan_jacobian(functions, x, "auto", margin=margin, tune=tune, rounds=rounds)
    reason = _reason(plan, margin, tune)
    return Recommendation(plan.mode, reason, plan.costs, plan, dict(plan.seconds))
