"""Study: the matrix-free Jacobian chain -- optimal mixed schedules vs the modes, counted, on JAX.

What is compared, per instance (a chain of factors ``F_0..F_(q-1)``, each known
only by its tangent cost, adjoint cost and tape; :mod:`chainorder.algebra.gjc`):

``tangent``          homogeneous tangent (forward) mode: ``n_0`` tangents through the chain
``adjoint``          homogeneous adjoint (reverse) mode: ``m_(q-1)`` adjoints through it
``preaccumulation``  global preaccumulation: every factor's Jacobian the cheaper way
                     (``accumulate``), then the classic matrix chain of them (``matrix_chain``)
``matrix_chain``     the optimal bracketing of the *given* explicit Jacobians
                     (:func:`chainorder.algebra.orders.optimize` on their dims): what the
                     classic problem costs when building the Jacobians is free
``optimal``          the exact optimum of the generalized problem (:func:`optimize_gjc`)

Counted costs are fused multiply-adds (exact ints), the same for every run. Measured: the
mixed schedule run by :mod:`chainorder.ad` against ``jax.jacfwd`` and
``jax.jacrev``, all jitted, compile time apart, interleaved repeats. JAX is optional.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...algebra.gjc import (
    GJC_COST_UNIT,
    Factor,
    Schedule,
    homogeneous_adjoint_schedule,
    homogeneous_tangent_schedule,
    optimize_gjc,
    preaccumulation_schedule,
)
from ...algebra.gjc_format import read_chain, shipped_chain_path
from ...algebra.orders import optimize
from ...hardware import XLA_ONE_THREAD
from ...networks.factors import article_factors, network_factors
from ...networks.network import Network
from ...timing import Stopwatch, fastest
from ..jax_cases import JAX_CASES, get_jax_case
from ..verdicts import LOADED_MEANS, compare, time_interleaved
from .base import (
    ReportContext,
    Study,
    StudyPage,
    StudySettings,
    markdown_table,
    new_figure,
    note,
    order_style,
    ratio_text,
    register_study,
    setting,
    time_formats,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["GeneralizedChainStudy", "STUDY"]

#: ADMission's public chain instances, shipped in ``chainorder/algebra/data/admission``.
ADMISSION_NAMES = tuple(f"problem_dense{q}" for q in (10, 50, 100, 150, 200))
#: How to get the optional JAX dependency.
JAX_INSTALL = 'pip install -e ".[jax]"'
#: The JAX cases timed by a quick report (small; the full report times every case).
QUICK_TIMED = ("bottleneck-800-10-800", "bottleneck-300-2-300")
#: The instance whose optimum is shown against the memory bound.
MEMORY_INSTANCE = "problem_dense100"

_SCHEDULES = ("tangent", "adjoint", "preaccumulation", "optimal")
_PEERS = ("jacfwd", "jacrev")


# ----------------------------------------------------------------------------- instances


def admission_dir() -> Path:
    """The folder of ADMission's five chains (package data; MIT, see its README.md)."""
    return shipped_chain_path(ADMISSION_NAMES[0]).parent


def admission_reference() -> dict[str, tuple[int, int, int, int]]:
    """What ADMission's ``gdjcpb_solve`` prints per instance, as its data's README records it.

    Returns
    -------
    dict
        ``name -> (optimal, tangent, adjoint, preaccumulation)``, fused multiply-adds.

    Examples
    --------
    >>> admission_reference()["problem_dense10"]
    (296, 296, 2072, 779)
    """
    text = (admission_dir() / "README.md").read_text()
    rows = re.findall(r"^\| (problem_dense\d+) \|((?: \d+ \|){4})$", text, flags=re.M)
    return {name: tuple(int(v) for v in cells.strip(" |").split(" | "))  # type: ignore[misc]
            for name, cells in rows}


def admission_factors(name: str) -> tuple[Factor, ...]:
    """The factors of one ADMission instance, e.g. ``'problem_dense10'``.

    Examples
    --------
    >>> len(admission_factors("problem_dense10"))
    10
    """
    if name not in ADMISSION_NAMES:
        raise ValueError(f"name must be one of {', '.join(ADMISSION_NAMES)}, got {name!r}")
    return read_chain(admission_dir() / name)


def random_factors(seed: int) -> tuple[Factor, ...]:
    """A seeded random chain: 3 to 8 factors, widths log-uniform in 1..300, ``T = A = |E|``.

    ``|E|`` (edges of the factor's DAG) is drawn log-uniform between ``max(m, n)`` and
    ``m·n``: from nearly diagonal to dense.

    Examples
    --------
    >>> [f.shape for f in random_factors(0)][:2]
    [(64, 3), (23, 64)]
    """
    rng = np.random.default_rng([seed, 6])
    q = int(rng.integers(3, 9))
    widths = [int(round(np.exp(rng.uniform(0, np.log(300))))) for _ in range(q + 1)]
    out = []
    for n, m in zip(widths[:-1], widths[1:], strict=True):
        low, high = max(m, n), m * n
        edges = int(round(np.exp(rng.uniform(np.log(low), np.log(high))))) if high > low else high
        out.append(Factor.from_edges(m, n, edges))
    return tuple(out)


#: Jacobian-Chaining's random-chain generator as its shipped configuration
#: (``additionals/configs/config.in``) sets it: chains of 7 factors, widths uniform in 5..500,
#: DAG edges ``|E|`` uniform in 1000..100000, tangent and adjoint factors 1 (``T = A = |E|``).
CHAINING_LENGTH = 7
CHAINING_WIDTHS = (5, 500)
CHAINING_EDGES = (1000, 100_000)
#: Naumann (2020): optimal schedules "improve the best state of the art methods by factors of
#: up to seven" on randomly generated instances (its abstract).
NAUMANN_UP_TO = 7.0


def chaining_factors(seed: int) -> tuple[Factor, ...]:
    """A seeded chain drawn like Jacobian-Chaining's generator (:data:`CHAINING_LENGTH` ...).

    Each factor's input width is the previous factor's output width; widths and the
    edges of each factor's DAG are drawn uniformly, independently, and ``T = A = |E|``.

    Examples
    --------
    >>> f = chaining_factors(0)
    >>> len(f), all(5 <= x.m <= 500 and 1000 <= x.tape <= 100_000 for x in f)
    (7, True)
    """
    rng = np.random.default_rng([seed, 7])
    widths = rng.integers(*CHAINING_WIDTHS, size=CHAINING_LENGTH + 1, endpoint=True).tolist()
    edges = rng.integers(*CHAINING_EDGES, size=CHAINING_LENGTH, endpoint=True).tolist()
    return tuple(Factor.from_edges(int(m), int(n), int(e))
                 for n, m, e in zip(widths[:-1], widths[1:], edges, strict=True))


def chaining_table(count: int) -> pd.DataFrame:
    """:func:`instance_row` of ``count`` chains drawn like Jacobian-Chaining's (seeds 0..)."""
    return pd.DataFrame([instance_row(f"chaining-{s}", "chaining", chaining_factors(s))
                         for s in range(count)])


def distribution(values: pd.Series) -> dict[str, float]:
    """``n``, the median, quartiles, share at or above 2x, and max of savings ``values``.

    Examples
    --------
    >>> d = distribution(pd.Series([1.0, 1.0, 2.0, 4.0]))
    >>> d["n"], d["median"], d["at_least_2x"], d["max"]
    (4, 1.5, 0.5, 4.0)
    """
    v = values.astype(float)
    q1, med, q3 = (float(x) for x in np.quantile(v, [0.25, 0.5, 0.75])) if len(v) else [np.nan] * 3
    return {"n": int(len(v)), "median": med, "q1": q1, "q3": q3,
            "at_least_2x": float((v >= 2).mean()) if len(v) else np.nan,
            "max": float(v.max()) if len(v) else np.nan}


def generated_instances(random_count: int = 8) -> list[tuple[str, str, tuple[Factor, ...]]]:
    """``(name, kind, factors)`` of the generated instances, counted by layer kind.

    The article's network (gradient and full Jacobian), an hourglass, the bottleneck
    and MLP widths of :data:`chainorder.lab.jax_cases.JAX_CASES` as ``tanh`` networks
    (:func:`chainorder.networks.factors.network_factors`: an affine layer and an
    elementwise ``tanh`` per layer), and ``random_count`` seeded random chains.
    """
    out = [
        ("article-gradient", "network", article_factors(1000, 100, 10)),
        ("article-jacobian", "network", article_factors(1000, 100, 10, loss=False)),
        ("hourglass-1000-10-1000", "network",
         network_factors(Network.from_widths([1000, 10, 1000]), loss=False)),
    ]
    for case in JAX_CASES:
        if case.kind in ("bottleneck", "mlp"):
            net = Network.from_widths(list(case.widths))
            out.append((case.id, case.kind, network_factors(net, loss=False)))
    out += [(f"random-factors-{s}", "random", random_factors(s)) for s in range(random_count)]
    return out


# ----------------------------------------------------------------------------- counting


def _schedules(factors: tuple[Factor, ...], memory: int | None = None) -> dict[str, Schedule]:
    return {
        "tangent": homogeneous_tangent_schedule(factors),
        "adjoint": homogeneous_adjoint_schedule(factors),
        "preaccumulation": preaccumulation_schedule(factors, memory),
        "optimal": optimize_gjc(factors, memory),
    }


_OP_NAMES = {("accumulate", "tangent"): "tangent accumulation",
             ("accumulate", "adjoint"): "adjoint accumulation",
             ("tangent", "tangent"): "tangent propagation",
             ("adjoint", "adjoint"): "adjoint propagation", ("multiply", None): "product",
             ("compress", "tangent"): "compressed tangent accumulation",
             ("compress", "adjoint"): "compressed adjoint accumulation"}


def _ops_text(s: Schedule) -> str:
    """The schedule's ops counted by kind, in order of first use, e.g. ``'2 products'``."""
    kinds = [_OP_NAMES[op.kind, op.mode] for op in s.ops]
    counts = {k: kinds.count(k) for k in dict.fromkeys(kinds)}
    return ", ".join(f"{c} {k}{'s' if c > 1 else ''}" for k, c in counts.items())


def instance_row(name: str, source: str, factors: tuple[Factor, ...]) -> dict[str, Any]:
    """One instance's counted costs (fused multiply-adds) and the optimum's shape.

    Examples
    --------
    >>> r = instance_row("x", "admission", admission_factors("problem_dense10"))
    >>> r["optimal"], r["tangent"], r["adjoint"], r["preaccumulation"], r["matrix_chain"]
    (296, 296, 2072, 779, 147)
    """
    s = _schedules(factors)
    dims = (*(f.m for f in reversed(factors)), factors[0].n)
    chain = optimize(dims).cost
    best_mode = min(("tangent", "adjoint"), key=lambda k: s[k].cost)
    opt = s["optimal"]
    return {
        "instance": name, "source": source, "q": len(factors),
        "jacobian": f"{factors[-1].m}x{factors[0].n}",
        **{k: s[k].cost for k in _SCHEDULES[:3]},
        "accumulate": s["preaccumulation"].cost - chain, "matrix_chain": chain,
        "optimal": opt.cost, "best_mode": best_mode,
        "best_mode_over_optimal": s[best_mode].cost / opt.cost,
        "best_baseline": (best := min(_SCHEDULES[:3], key=lambda k: s[k].cost)),
        "best_baseline_over_optimal": s[best].cost / opt.cost,
        "optimal_ops": _ops_text(opt), "tape_peak": opt.memory_peak,
    }


def counted_table(random_count: int = 8) -> pd.DataFrame:
    """Every instance's row of :func:`instance_row`: ADMission's five, then the generated."""
    rows = [instance_row(n, "ADMission", admission_factors(n)) for n in ADMISSION_NAMES]
    rows += [instance_row(n, k, f) for n, k, f in generated_instances(random_count)]
    return pd.DataFrame(rows)


def memory_sweep(factors: tuple[Factor, ...], points: int = 16) -> pd.DataFrame:
    """The optimum and preaccumulation under tape bounds ``M`` from 1 up to the whole tape.

    ``M`` runs over ``points`` values log-spaced from 1 to ``ΣE`` (the tape of
    homogeneous adjoint mode), rounded to ints; ``M = 1`` allows adjoints only over
    factors whose tape is a single entry, tangents are never bound.

    Examples
    --------
    >>> m = memory_sweep(admission_factors("problem_dense50"), points=3)
    >>> m[["memory", "optimal", "preaccumulation"]].values.tolist()
    [[1, 137448, 1071003], [183, 135228, 1065242], [33597, 135228, 740518]]
    """
    total = sum(f.tape for f in factors)
    grid = np.unique(np.rint(np.geomspace(1, total, points)).astype(np.int64))
    rows = []
    for bound in (int(b) for b in grid):
        opt = optimize_gjc(factors, bound)
        rows.append({"memory": bound, "optimal": opt.cost,
                     "preaccumulation": preaccumulation_schedule(factors, bound).cost,
                     "tape_peak": opt.memory_peak, "optimal_ops": _ops_text(opt)})
    return pd.DataFrame(rows)


def memory_threshold(factors: tuple[Factor, ...]) -> int:
    """The least tape bound ``M`` under which the optimum costs what it costs unbounded.

    An op's feasibility changes only where ``M`` crosses the tape of a span of
    consecutive factors, and the optimum never rises with ``M``: a bisection over
    those span tapes is exact.

    Examples
    --------
    >>> memory_threshold(admission_factors("problem_dense50"))
    60
    """
    tapes = np.cumsum([0] + [f.tape for f in factors])
    spans = np.unique((tapes[None, :] - tapes[:, None])[np.triu_indices(len(tapes), 1)])
    free = optimize_gjc(factors).cost
    lo, hi = 0, len(spans) - 1  # the answer is spans[k] for the least k that reaches free
    while lo < hi:
        mid = (lo + hi) // 2
        if optimize_gjc(factors, int(spans[mid])).cost == free:
            hi = mid
        else:
            lo = mid + 1
    return int(spans[lo])


# ----------------------------------------------------------------------------- timing


def _block(fn: Any, x: Any) -> Any:
    return fn(x).block_until_ready()


def time_jax_case(case_id: str, repeats: int = 5, block_seconds: float = 0.01) -> dict[str, Any]:
    """Predicted costs and measured times of one JAX case: the optimum vs jacfwd and jacrev.

    Each method is jitted and compiled ahead of time (compile seconds kept apart), its
    result checked against ``jax.jacfwd``'s, then the three are timed in ``repeats``
    interleaved rounds; one sample is the fastest call within ``block_seconds``. The
    verdict against the better peer (lower median) is ``'faster'`` only when the
    bootstrap intervals of the medians separate (:func:`chainorder.lab.verdicts.compare`).
    """
    import jax

    from ...ad import plan_jacobian

    functions, x = get_jax_case(case_id).build()
    composed = lambda v: reduce(lambda z, f: f(z), functions, v)  # noqa: E731
    with jax.enable_x64(True):
        xj = jax.numpy.asarray(x, dtype=jax.numpy.float64)
        plan = plan_jacobian(functions, xj, mode="optimal", cost="multiply-adds")
        compiled = plan.compile()
        calls: dict[str, Any] = {"optimal": compiled.compiled}
        seconds = {"optimal": compiled.compile_seconds}
        spec = jax.ShapeDtypeStruct(xj.shape, xj.dtype)
        for name, transform in (("jacfwd", jax.jacfwd), ("jacrev", jax.jacrev)):
            with Stopwatch() as compiling:
                calls[name] = jax.jit(transform(composed)).lower(spec).compile()
            seconds[name] = compiling.seconds
        want = np.asarray(calls["jacfwd"](xj))
        got = np.asarray(calls["optimal"](xj)).reshape(want.shape)
        err = float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))
        runs = {k: fastest(_block, c, xj, seconds=block_seconds) for k, c in calls.items()}
        timed = time_interleaved(runs, repeats=repeats, warmup=1)
    costs = plan.costs
    peer = min(_PEERS, key=lambda k: float(np.median(timed.times[k])))
    verdict = compare(timed.times["optimal"], timed.times[peer], loadavgs=timed.loadavgs,
                      others=timed.other_work)
    best_mode = min(("tangent", "adjoint"), key=costs.__getitem__)
    row: dict[str, Any] = {
        "case": case_id, "q": len(plan.factors),
        **{f"{k}_cost": costs[k] for k in ("tangent", "adjoint", "optimal")},
        "optimal_ops": _ops_text(plan.schedules["optimal"]),
        "predicted_speedup": costs[best_mode] / costs["optimal"],
    }
    for k in ("optimal", *_PEERS):
        t = timed.times[k]
        row.update({f"{k}_min_s": min(t), f"{k}_median_s": float(np.median(t)),
                    f"{k}_max_s": max(t), f"{k}_compile_s": seconds[k]})
    row.update({
        "better_peer": peer, "measured_speedup": verdict.ratio,
        "speedup_min": min(timed.times[peer]) / max(timed.times["optimal"]),
        "speedup_max": max(timed.times[peer]) / min(timed.times["optimal"]),
        "verdict": verdict.verdict, "loaded": verdict.loaded, "max_rel_error": err,
    })
    return row


def timed_table(case_ids: tuple[str, ...], repeats: int, block_seconds: float) -> pd.DataFrame:
    """:func:`time_jax_case` of each case (JAX must be installed)."""
    return pd.DataFrame([time_jax_case(c, repeats, block_seconds) for c in case_ids])


def _jax_version() -> str | None:
    try:
        from importlib.metadata import version

        import jax  # noqa: F401
    except ImportError:
        return None
    return version("jax")


# ----------------------------------------------------------------------------- figures


def plot_cost_ratios(counted: pd.DataFrame) -> Figure:
    """Each schedule's cost over the better homogeneous mode's, per instance (log scale)."""
    fig, ax = new_figure(10.0, 5.2)
    fig.subplots_adjust(bottom=0.3, left=0.08)
    sources = counted["source"].tolist()
    for k in range(1, len(sources)):
        if (sources[k] == "ADMission") != (sources[k - 1] == "ADMission"):
            ax.axvline(k - 0.5, color="0.6", lw=0.8)
    best = counted[["tangent", "adjoint"]].min(axis=1).astype(float)
    x = np.arange(len(counted))
    styles = {"tangent": order_style("input_first"), "adjoint": order_style("loss_first"),
              "preaccumulation": order_style("preaccumulation", 0),
              "optimal": order_style("optimal")}
    labels = {"tangent": "homogeneous tangent (input-first)",
              "adjoint": "homogeneous adjoint (loss-first)",
              "preaccumulation": "global preaccumulation", "optimal": "generalized optimum"}
    for name in _SCHEDULES:
        st = styles[name]
        ax.plot(x, counted[name].astype(float) / best, st["marker"], color=st["color"],
                mfc="none" if name != "optimal" else st["color"], ms=7, label=labels[name])
    ax.axhline(1.0, color="0.5", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xticks(x, counted["instance"], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("cost / cost of the better homogeneous mode")
    ax.set_title("Generalized Jacobian chains: each schedule against the better mode",
                 fontsize=10)
    ax.grid(True, axis="y", which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    note(fig, f"cost: {GJC_COST_UNIT}")
    return fig


def plot_memory(mem: pd.DataFrame, tangent: int, adjoint: int, name: str) -> Figure:
    """The optimum and preaccumulation against the tape bound ``M``, the modes as lines."""
    fig, ax = new_figure(7.0, 4.6)
    m = mem["memory"].astype(float)
    ax.step(m, mem["optimal"], where="post", color=order_style("optimal")["color"],
            marker="^", label="generalized optimum under M")
    ax.step(m, mem["preaccumulation"], where="post", color="#9467bd", marker="x",
            label="global preaccumulation under M")
    ax.axhline(tangent, color=order_style("input_first")["color"], ls="--", lw=1,
               label="homogeneous tangent (needs no tape)")
    ax.axhline(adjoint, color=order_style("loss_first")["color"], ls=":", lw=1,
               label=f"homogeneous adjoint (tape {int(mem['memory'].max()):,})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("memory bound M (tape entries)")
    ax.set_ylabel("fused multiply-adds")
    ax.set_title(f"{name}: cost against the memory bound", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7)
    note(fig, f"cost: {GJC_COST_UNIT}")
    return fig


def plot_speedups(timed: pd.DataFrame) -> Figure:
    """Measured speed-up over the better peer (median, min..max) against the predicted."""
    fig, ax = new_figure(6.4, 5.0)
    pred = timed["predicted_speedup"].astype(float)
    meas = timed["measured_speedup"].astype(float)
    err = [meas - timed["speedup_min"].astype(float), timed["speedup_max"].astype(float) - meas]
    ax.errorbar(pred, meas, yerr=np.clip(np.asarray(err, dtype=float), 0, None), fmt="o",
                color=order_style("optimal")["color"], capsize=3)
    for r in timed.itertuples(index=False):
        ax.annotate(r.case, (r.predicted_speedup, r.measured_speedup), fontsize=6,
                    xytext=(4, 2), textcoords="offset points")
    top = max(float(pred.max()), float(timed["speedup_max"].max()), 2.0) * 1.5
    ax.plot([0.5, top], [0.5, top], color="0.5", lw=0.8, ls=":", label="measured = predicted")
    ax.set_xlim(0.5, top * 4)  # room for the case names right of the points
    ax.axhline(1.0, color="0.7", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("predicted speed-up (better mode's cost / optimum's cost)")
    ax.set_ylabel("measured speed-up over the better of jacfwd, jacrev")
    ax.set_title("Mixed schedule on JAX: predicted vs measured", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    note(fig, "bars: min..max over interleaved repeats")
    return fig


# ----------------------------------------------------------------------------- the page


class GeneralizedChainStudy(Study):
    """The generalized optimum against tangent, adjoint, preaccumulation; then run on JAX.

    ``collect`` times the JAX cases of its settings (:data:`QUICK_TIMED` in a quick report,
    every case in a full one). When JAX is not imported yet it first sets
    ``XLA_FLAGS`` to :data:`XLA_ONE_THREAD` unless the variable is set (XLA reads it once),
    so the report process runs XLA on one thread, as the JAX benchmarks do.
    """

    slug = "11-generalized-chain"
    title = "The matrix-free Jacobian chain: optimal mixed modes, counted and run on JAX"
    question = ("How much do optimal mixed tangent/adjoint schedules save over the homogeneous "
                "modes and preaccumulation, and does JAX see it?")
    references = ("naumann2020", "naumann2024", "admission", "jacobian_chaining", "desai2018",
                  "cormen2009")

    @dataclass(frozen=True)
    class Settings(StudySettings):
        """What the page counts and times.

        Attributes
        ----------
        random_instances : int
            Generated chains counted beside ADMission's.
        jax_cases : tuple of str
            Ids of :data:`chainorder.lab.jax_cases.JAX_CASES` timed on JAX (``()``: none).
        block_seconds : float
            A timed sample is the fastest call within this long.
        memory_points : int
            Tape bounds ``M`` the memory figure and table show.
        chaining_instances : int
            Chains drawn like Jacobian-Chaining's generator (:func:`chaining_factors`),
            counted for the comparison with Naumann (2020).
        """

        random_instances: int = setting(quick=8, full=40)
        jax_cases: tuple[str, ...] = setting(quick=QUICK_TIMED,
                                             full=tuple(c.id for c in JAX_CASES))
        block_seconds: float = setting(quick=0.005, full=0.03)
        memory_points: int = 16
        chaining_instances: int = setting(quick=40, full=400)

    def collect(self, ctx: ReportContext) -> None:
        own: GeneralizedChainStudy.Settings = ctx.settings.of(self)
        cases = tuple(get_jax_case(c).id for c in own.jax_cases)
        repeats, block = ctx.settings.repeats, own.block_seconds
        status: dict[str, Any] = {"jax": None, "cases": list(cases)}
        if cases:
            if "jax" not in sys.modules:  # XLA reads its flags once, when JAX is first imported
                os.environ.setdefault("XLA_FLAGS", XLA_ONE_THREAD)
            status["jax"] = _jax_version()
        if status["jax"] is not None:
            status.update(xla_flags=os.environ.get("XLA_FLAGS", ""), repeats=repeats,
                          block_seconds=block)
            timed_table(cases, repeats, block).to_csv(
                ctx.data_dir / "generalized_chain_timed.csv", index=False, lineterminator="\n")
        (ctx.data_dir / "generalized_chain.json").write_text(json.dumps(status, indent=1))

    def render(self, ctx: ReportContext) -> StudyPage:
        status = json.loads((ctx.data_dir / "generalized_chain.json").read_text())
        own: GeneralizedChainStudy.Settings = ctx.settings.of(self)
        counted = counted_table(own.random_instances)
        adm = counted[counted["source"] == "ADMission"]
        reference = admission_reference()
        matches = set(reference) == set(ADMISSION_NAMES) and all(
            (r.optimal, r.tangent, r.adjoint, r.preaccumulation) == reference[r.instance]
            for r in adm.itertuples(index=False))
        mem_f = admission_factors(MEMORY_INSTANCE)
        mem = memory_sweep(mem_f, points=own.memory_points)
        mem_row = counted[counted["instance"] == MEMORY_INSTANCE].iloc[0]
        threshold = memory_threshold(mem_f)
        chaining = chaining_table(own.chaining_instances)
        spread = distribution_table(counted, chaining)
        counted_text = _counted_findings(counted, matches)
        # the distribution over random chains before the extremes
        findings = counted_text[:1] + _distribution_findings(spread) + counted_text[1:] + [
            _memory_finding(mem, mem_row, threshold)]
        body = [
            "## What is compared",
            "",
            "Each instance is a chain of factors `F_0..F_(q-1)` (factor 0 applied first), each "
            "known only by its widths, the cost of one tangent (`T`), of one adjoint (`A`) and "
            "the tape an adjoint sweep keeps (`|E|`); the Jacobians are *not* given. Five "
            "schedules build the chain's Jacobian (Naumann 2020, 2024):",
            "",
            "- `tangent`: homogeneous tangent (forward) mode, `n_0` tangents through the whole "
            "chain: the article's input-first order, `jax.jacfwd`;",
            "- `adjoint`: homogeneous adjoint (reverse) mode, `m_(q-1)` adjoints: the "
            "article's loss-first order, `jax.jacrev`;",
            "- `preaccumulation` = `accumulate` + `matrix_chain`: every factor's Jacobian "
            "built the cheaper way (`min(n·T, m·A)` each), then multiplied in the optimal "
            "bracketing;",
            "- `matrix_chain`: that optimal bracketing alone (`chainorder.optimize` on the "
            "factors' Jacobian dims, Cormen et al. §15.2) -- the classic problem, where the "
            "explicit Jacobians are given for free. It is a lower bound only of schedules "
            "that start from explicit Jacobians, not of the generalized optimum;",
            "- `optimal`: the exact optimum of the generalized problem "
            "(`chainorder.algebra.gjc.optimize_gjc`), mixing accumulations, tangent and "
            "adjoint propagations and dense products.",
            "",
            f"Costs are {GJC_COST_UNIT}; exact integers, counted, not timed. ADMission's "
            "instances are its public `problem_dense*` chains (`T = A = |E|`, shipped as "
            "package data with their MIT licence). The generated ones count a network per "
            "layer kind (`chainorder.networks.factors`: affine `m·n`, elementwise `m`); the "
            "`random-factors-*` ones are seeded random chains (`random_factors`: 3 to 8 "
            "factors, widths log-uniform in 1..300, `|E|` between `max(m, n)` and `m·n`), "
            "not the JAX cases `random-*` timed below.",
            "",
            ctx.figure(plot_cost_ratios(counted), "generalized-chain-cost-ratios",
                       "each schedule's cost over the better homogeneous mode's, per instance"),
            "## Counted costs",
            "",
            f"ADMission's numbers as its `gdjcpb_solve` prints them: "
            f"{'reproduced exactly' if matches else 'NOT reproduced'} "
            "(optimal, tangent, adjoint, preaccumulation). `best_mode_over_optimal`: the better "
            "homogeneous mode's cost over the optimum's; `best_baseline_over_optimal`: the "
            "cheapest of tangent, adjoint and preaccumulation (`best_baseline`) over the "
            "optimum's, the baseline of the findings; `tape_peak`: the optimum's largest tape.",
            "",
            ctx.table(counted, "generalized-chain", counted=True,
                      formats={"best_mode_over_optimal": "{:.4g}",
                               "best_baseline_over_optimal": "{:.4g}"},
                      show=[c for c in ("instance", "q", "tangent", "adjoint", "preaccumulation",
                                        "optimal", "best_baseline", "best_baseline_over_optimal")
                            if c in counted.columns]),
            "## Random chains: the distribution of the saving",
            "",
            "The saving of the optimum over a baseline, as a distribution over seeded random "
            "chains rather than its extremes. `baseline` `best_mode`: the better of tangent "
            "and adjoint; `best_of_three`: the cheapest of tangent, adjoint and "
            "preaccumulation. `random-factors`: the generated chains above; `chaining`: "
            f"{own.chaining_instances} chains drawn like Jacobian-Chaining's generator "
            f"(`chaining_factors`: {CHAINING_LENGTH} factors, widths uniform in "
            f"{CHAINING_WIDTHS[0]}..{CHAINING_WIDTHS[1]}, `|E|` uniform in "
            f"{CHAINING_EDGES[0]:,}..{CHAINING_EDGES[1]:,}, `T = A = |E|`, the settings of its "
            "shipped `config.in`), the population on "
            f"which the page compares with Naumann (2020)'s \"up to seven\". `at_least_2x`: "
            f"the share of chains saving 2x or more; `above_7x`: how many save more than "
            f"{NAUMANN_UP_TO:g}x.",
            "",
            ctx.table(spread, "generalized-chain-distribution", counted=True,
                      formats={c: "{:.4g}" for c in ("median", "q1", "q3", "max")}
                      | {"at_least_2x": "{:.0%}"}),
            "## Checks",
            "",
            *_checks(counted),
            "",
            "## Under a memory bound",
            "",
            f"`{MEMORY_INSTANCE}` with a tape bound `M`: an adjoint op over factors `i..k` is "
            "allowed only if their tapes sum to at most `M` (as in Jacobian-Chaining); tangents "
            "and products are never bound.",
            "",
            ctx.figure(plot_memory(mem, int(mem_row["tangent"]), int(mem_row["adjoint"]),
                                   MEMORY_INSTANCE),
                       "generalized-chain-memory", f"{MEMORY_INSTANCE}: cost against M"),
            ctx.table(mem, "generalized-chain-memory", counted=True),
            "## On JAX",
            "",
        ]
        if not status["cases"]:
            body.append("No JAX case was timed (the report's settings name none).")
            return StudyPage(findings, "\n".join(body))
        if status["jax"] is None:
            findings.append(f"JAX is not installed, so nothing was timed; install it with "
                            f"`{JAX_INSTALL}`.")
            body += [f"JAX is not installed here: nothing was timed. Install it with "
                     f"`{JAX_INSTALL}` and rerun the report; the counted costs above need "
                     "no JAX."]
            return StudyPage(findings, "\n".join(body))
        timed = pd.read_csv(ctx.data_dir / "generalized_chain_timed.csv")
        findings += _timed_findings(timed)
        body += [
            f"JAX {status['jax']}, float64, `XLA_FLAGS={status['xla_flags']}`. Cases from "
            "`chainorder.lab.jax_cases` "
            f"({len(timed)} of {len(JAX_CASES)}). Predicted costs here are multiply-adds per "
            "direction read from each stage's "
            "jaxpr (`chainorder.ad`), not the layer-kind counts above. "
            "Three programs per case, each jitted and compiled ahead of time (compile seconds "
            "in the CSV, not in the times): the optimal schedule "
            "(`plan_jacobian(..., mode='optimal').compile()`; a one-op optimum runs as the "
            "peer's own program), `jax.jit(jax.jacfwd(f))` and `jax.jit(jax.jacrev(f))`. "
            f"They are timed in {status['repeats']} interleaved rounds (each program going "
            "first, and after each other, as often); a "
            f"sample is the fastest call within {status['block_seconds']} s. The verdict "
            "against the better peer is *faster* only when the bootstrap 95% intervals of "
            "the medians separate (`chainorder.lab.verdicts.compare`), else *tie*. Measured "
            "speed-up (`measured`, beside the `predicted` one): the better peer's (`over`) "
            "median over the optimum's, its range `min..max`. "
            "The times are medians; `loaded` and the compile seconds are in the CSV.",
            "",
            ctx.figure(plot_speedups(timed), "generalized-chain-speedups",
                       "measured speed-up of the optimal schedule over the better peer vs "
                       "the predicted one"),
            _timed_summary(timed),
            "",
            ctx.table(timed, "generalized-chain-jax", counted=False, embed=False),
            "",
            f"(JAX is optional: `{JAX_INSTALL}`.)",
        ]
        return StudyPage(findings, "\n".join(body))


def _timed_summary(timed: pd.DataFrame) -> str:
    """The timed table's main columns as Markdown, times in milliseconds."""
    out = pd.DataFrame({
        "case": timed["case"], "optimal schedule": timed["optimal_ops"],
        "predicted": timed["predicted_speedup"].map(ratio_text),
        **{k: timed[f"{k}_median_s"] for k in ("optimal", *_PEERS)},
        "measured": timed["measured_speedup"].map(ratio_text),
        "min..max": [f"{ratio_text(r.speedup_min)}..{ratio_text(r.speedup_max)}"
                     for r in timed.itertuples(index=False)],
        "over": timed["better_peer"], "verdict": timed["verdict"],
    })
    return markdown_table(out, time_formats(["optimal", *_PEERS]))


def distribution_table(counted: pd.DataFrame, chaining: pd.DataFrame) -> pd.DataFrame:
    """:func:`distribution` of the saving per population of random chains and per baseline."""
    rows = []
    for population, rows_of in (("random-factors", counted[counted["source"] == "random"]),
                                ("chaining", chaining)):
        for baseline, column in (("best_mode", "best_mode_over_optimal"),
                                 ("best_of_three", "best_baseline_over_optimal")):
            rows.append({"population": population, "baseline": baseline,
                         **distribution(rows_of[column]),
                         "above_7x": int((rows_of[column] > NAUMANN_UP_TO).sum())})
    return pd.DataFrame(rows)


def _distribution_findings(spread: pd.DataFrame) -> list[str]:
    """The random chains' saving as a distribution, and against Naumann (2020)'s factor."""
    d = spread.set_index(["population", "baseline"])
    out = []
    for population, label in (("random-factors", "seeded `random-factors-*` chains"),
                              ("chaining", "chains drawn like Jacobian-Chaining's generator")):
        three, mode = d.loc[(population, "best_of_three")], d.loc[(population, "best_mode")]
        if not three["n"]:
            continue
        text = (f"Over the {int(three['n'])} {label}, the optimum saves a median "
                f"{ratio_text(three['median'])} over the best of tangent, adjoint and "
                f"preaccumulation (quartiles {ratio_text(three['q1'])} to "
                f"{ratio_text(three['q3'])}; {three['at_least_2x']:.0%} of them 2x or more; "
                f"max {ratio_text(three['max'])}); over the better mode alone, median "
                f"{ratio_text(mode['median'])}, max {ratio_text(mode['max'])}.")
        if population == "chaining":
            above = int(three["above_7x"])
            text += (f" Naumann (2020) reports optimal schedules up to {NAUMANN_UP_TO:g}x "
                     "cheaper than the best state-of-the-art method on random instances of its "
                     f"own; here the largest saving over the best of the three is "
                     f"{ratio_text(three['max'])}, "
                     + (f"above {NAUMANN_UP_TO:g}x on {above} of {int(three['n'])} chains "
                        "(these draws are Jacobian-Chaining's shipped settings, not the "
                        "paper's instances)" if above else f"within {NAUMANN_UP_TO:g}x")
                     + ".")
        out.append(text)
    return out


def _checks(counted: pd.DataFrame) -> list[str]:
    """What holds by construction, checked once: not findings."""
    below_opt = counted[counted[["tangent", "adjoint", "preaccumulation"]].min(axis=1)
                        < counted["optimal"]]
    return [
        "- The optimum has tangent, adjoint and preaccumulation among its candidates, so none "
        "of them can cost less: "
        + ("checked, on all instances." if below_opt.empty else
           f"FAILED on {', '.join(f'`{n}`' for n in below_opt['instance'])} (a bug)."),
        "- `preaccumulation` = `accumulate` + `matrix_chain` on every row: "
        + ("checked." if (counted["preaccumulation"] == counted["accumulate"]
                          + counted["matrix_chain"]).all() else "FAILED (a bug)."),
    ]


def _counted_findings(counted: pd.DataFrame, matches: bool) -> list[str]:
    adm = counted[counted["source"] == "ADMission"]
    gen = counted[counted["source"] != "ADMission"]
    top = counted.loc[counted["best_baseline_over_optimal"].idxmax()]
    mixed = gen[gen["best_baseline_over_optimal"] > 1]
    pre_wins = counted[counted["preaccumulation"] < counted[["tangent", "adjoint"]].min(axis=1)]
    chain_below = counted[counted["matrix_chain"] < counted["optimal"]]
    return [
        "ADMission's five chains (q = 10 to 200): the optimum is "
        + ", ".join(f"{ratio_text(r.best_baseline_over_optimal)}" for r in adm.itertuples())
        + " cheaper than the best of tangent, adjoint and preaccumulation ("
        + ", ".join(f"{ratio_text(r.best_mode_over_optimal)}" for r in adm.itertuples())
        + " than the better mode alone); all four of `gdjcpb_solve`'s numbers per instance "
        "are " + ("reproduced exactly." if matches else "NOT reproduced."),
        f"Largest saving over the best of the three, among all {len(counted)} instances: "
        f"{ratio_text(top.best_baseline_over_optimal)} on `{top.instance}` "
        f"({int(top[top.best_baseline]):,} by {top.best_baseline} vs {int(top.optimal):,} "
        f"fused multiply-adds, optimum: {top.optimal_ops}); an extreme, not a typical chain "
        "(the distribution follows).",
        f"Of {len(gen)} generated instances the optimum beats all three baselines on "
        f"{len(mixed)} ({', '.join(f'`{n}`' for n in mixed['instance'][:6])}"
        f"{' ...' if len(mixed) > 6 else ''}); on the others, such as the article's gradient, "
        "one of them is optimal.",
        f"Global preaccumulation beats the better mode on {len(pre_wins)} of {len(counted)} "
        "instances. The classic matrix chain alone (explicit Jacobians for free) costs less "
        f"than the generalized optimum on {len(chain_below)} of the {len(counted)} "
        f"({', '.join(f'`{n}`' for n in chain_below['instance'])}).",
    ]


def _memory_finding(mem: pd.DataFrame, row: pd.Series, threshold: int) -> str:
    free = int(mem["optimal"].iloc[-1])
    at1 = int(mem["optimal"].iloc[0])
    best = min(int(row["tangent"]), int(row["adjoint"]))
    tape = int(mem["memory"].max())
    return (f"Memory bound on `{MEMORY_INSTANCE}` (the tape of adjoint mode is {tape:,} "
            f"entries): with M = 1 the optimum costs {at1:,} ({ratio_text(best / at1)} cheaper "
            f"than the better mode, {best:,}); the unbounded optimum {free:,} "
            f"({ratio_text(at1 / free)} less again) needs M >= {threshold:,} exactly "
            f"({threshold / tape:.1%} of that tape).")


def _timed_findings(timed: pd.DataFrame) -> list[str]:
    """Mixed optima case by case; one-op optima (the peer's own program) in one line."""
    mixed = timed[timed["predicted_speedup"] > 1]
    plain = timed[timed["predicted_speedup"] <= 1]
    out = []
    if len(mixed):
        faster = int((mixed["verdict"] == "faster").sum())
        out.append(
            f"On JAX the optimal mixed schedule ran faster than the better of `jax.jacfwd` and "
            f"`jax.jacrev` on {faster} of {len(mixed)} cases where it mixes modes; measured "
            "(median) vs predicted speed-up: "
            + "; ".join(f"`{r.case}` {ratio_text(r.measured_speedup)} vs "
                        f"{ratio_text(r.predicted_speedup)}"
                        + ("" if r.verdict == "faster" else f" ({r.verdict})")
                        for r in mixed.itertuples(index=False))
            + ". The cost model counts multiply-adds only, not memory traffic or launches.")
    if len(plain):
        verdicts = plain["verdict"].value_counts()
        out.append(
            f"Where the optimum is one homogeneous mode ({len(plain)} cases; it runs as the "
            f"peer's own program) the verdicts are {verdicts.get('tie', 0)} ties, "
            f"{verdicts.get('faster', 0)} faster, {verdicts.get('slower', 0)} slower; median "
            f"ratios {ratio_text(plain['measured_speedup'].min())} to "
            f"{ratio_text(plain['measured_speedup'].max())}.")
    if timed["loaded"].any():
        out.append(f"{int(timed['loaded'].sum())} of {len(timed)} cases were timed under load "
                   f"({LOADED_MEANS}): wider intervals, fewer verdicts.")
    return out


STUDY = GeneralizedChainStudy()
register_study(STUDY)
