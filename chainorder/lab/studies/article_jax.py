"""Study: the article's claim timed in JAX, its modes' memory, and its chains dense vs structured.

On the article's network (``x -> 100 -> sigmoid -> 10``, MSE loss) and deeper
ones (more ``100 -> sigmoid`` layers), for ``|x|`` from 10 up, ``dl/dx`` and
all parameter gradients ``dl/dθ`` are computed by ``jax.jacrev`` (loss-first,
reverse mode), ``jax.jacfwd`` (input-first, forward mode) and
:func:`chainorder.jacobian`, all jitted. Before anything runs, each mode's
memory is read off a model of what it keeps (:func:`model_bytes`); a point
over the budget is skipped and the page says where memory stops each mode.
The first call (trace, compile, run) and the steady call are timed apart,
the steady ones in interleaved rounds. Beside them: the counted costs in
both conventions, and the chainorder numpy chains of ``dl/dx`` multiplied
dense and in their kinds. JAX is optional.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...hardware import XLA_ONE_THREAD, blas_threads, numpy_blas
from ...networks.gradients import loss_first_gradients
from ...networks.network import Network, article_network
from ...timing import Stopwatch, fastest, interleave
from ...validation import format_bytes
from .base import (
    ReportContext,
    Study,
    StudyPage,
    StudySettings,
    ints_text,
    loglog,
    new_figure,
    note,
    ratio_text,
    register_study,
    seconds_text,
    setting,
)
from .base import jax_version as _jax_version
from .conventions import CONVENTIONS, convention_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ArticleJaxStudy", "STUDY"]

#: Width of every hidden layer (``|z1| = |z2|``) and of the output (``|z3|``), as the article's.
HIDDEN, OUT = 100, 10
#: How to get the optional JAX dependency.
JAX_INSTALL = "pip install 'chainorder[jax]'"
#: The JAX modes timed: the article's order each one is, and its AD name.
MODES: dict[str, str] = {"jacrev": "loss-first (reverse mode)",
                         "jacfwd": "input-first (forward mode)",
                         "co.jacobian": "chainorder.jacobian (its own choice)"}
#: What is differentiated: the input only, or every parameter and the input.
TARGETS: dict[str, str] = {"dx": "dl/dx", "dtheta": "dl/dθ and dl/dx"}
#: A fit whose largest relative residual exceeds this fails (said on the page).
FIT_TOLERANCE = 0.25
_FLOAT = 8  # bytes of a float64


# ----------------------------------------------------------------------------- sizes and memory


def study_network(x: int, depth: int, seed: int = 0) -> Network:
    """The article's network (``depth=1``) or one with ``depth`` hidden ``100 -> sigmoid`` layers.

    Examples
    --------
    >>> study_network(4, 2).widths
    (4, 100, 100, 100, 100, 10)
    """
    if depth == 1:
        return article_network(x, HIDDEN, OUT, seed=seed)
    return Network.from_widths([x, *([HIDDEN] * depth), OUT], activation="sigmoid", seed=seed)


def sizes(x: int, depth: int) -> dict[str, int]:
    """``params`` (``|θ|``) and ``widths`` (the sum of every ``|z_k|`` but ``x``), from the sizes.

    Examples
    --------
    >>> sizes(1000, 1)
    {'params': 101110, 'widths': 210}
    """
    params = HIDDEN * x + HIDDEN + (depth - 1) * (HIDDEN * HIDDEN + HIDDEN) + OUT * HIDDEN + OUT
    return {"params": params, "widths": 2 * HIDDEN * depth + OUT}


def forward_multiplications(x: int, depth: int) -> int:
    """Multiplications of one forward pass (the affine layers' ``W z``), from the sizes.

    Examples
    --------
    >>> forward_multiplications(10, 1)
    2000
    """
    return HIDDEN * x + (depth - 1) * HIDDEN * HIDDEN + OUT * HIDDEN


def directions(x: int, depth: int, target: str) -> int:
    """Inputs differentiated: ``|x|`` for ``dl/dx``, ``|θ| + |x|`` for ``dl/dθ``."""
    return x if target == "dx" else sizes(x, depth)["params"] + x


def model_bytes(x: int, depth: int, target: str, mode: str) -> int:
    """Bytes a mode holds at once, from the sizes: arguments, output and what the mode keeps.

    Reverse mode (``jacrev``; ``co.jacobian``, which picks the adjoint for a
    scalar loss) keeps its tape, every ``z_k``, and the cotangents of the
    ``n`` inputs: ``8·(Σ|z_k| + n)``. Forward mode pushes ``n`` tangents at
    once: the ``n x n`` basis of the inputs and ``n`` tangents of every
    ``z_k``, ``8·(n² + n·Σ|z_k|)``. Arguments (``θ``, ``x``) and the output
    (``n`` entries) are added to both.

    Examples
    --------
    >>> format_bytes(model_bytes(100_000, 1, "dx", "jacfwd"))
    '80.2 GB'
    >>> format_bytes(model_bytes(100_000, 1, "dx", "jacrev"))
    '82.4 MB'
    """
    s, n = sizes(x, depth), directions(x, depth, target)
    held = s["params"] + x + n
    if mode == "jacfwd":
        return _FLOAT * (held + n * n + n * s["widths"])
    return _FLOAT * (held + s["widths"] + n)


def memory_stop(depth: int, target: str, mode: str, budget: int, upto: int = 10**9) -> int:
    """The largest ``|x|`` (at most ``upto``) whose :func:`model_bytes` fits ``budget`` (0: none).

    Examples
    --------
    >>> memory_stop(1, "dx", "jacfwd", 2**30)
    11430
    """
    if model_bytes(1, depth, target, mode) > budget:
        return 0
    lo, hi = 1, upto
    while lo < hi:  # model_bytes grows with |x|: the last size that fits
        mid = (lo + hi + 1) // 2
        if model_bytes(mid, depth, target, mode) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def memory_plan(xs: tuple[int, ...], depths: tuple[int, ...], budget: int) -> pd.DataFrame:
    """Each point's modelled bytes and whether it fits ``budget``: what will be run, and what not.

    Returns
    -------
    DataFrame
        ``depth, x, target, mode, directions, model_bytes, fits``.
    """
    rows = [{"depth": d, "x": x, "target": t, "mode": m, "directions": directions(x, d, t),
             "model_bytes": model_bytes(x, d, t, m),
             "fits": model_bytes(x, d, t, m) <= budget}
            for d in depths for t in TARGETS for x in xs for m in MODES]
    return pd.DataFrame(rows)


def memory_stops(depths: tuple[int, ...], budget: int) -> pd.DataFrame:
    """:func:`memory_stop` of every depth, target and mode: ``depth, target, mode, stop_x``."""
    return pd.DataFrame([{"depth": d, "target": t, "mode": m,
                          "stop_x": memory_stop(d, t, m, budget)}
                         for d in depths for t in TARGETS for m in MODES])


# ----------------------------------------------------------------------------- counted costs


def counted_costs(xs: tuple[int, ...], depths: tuple[int, ...]) -> pd.DataFrame:
    """Each order's multiplications per point and convention (no timing; read from kinds).

    ``dl/dx``: the planned cost of the network's input chain in each order.
    ``dl/dθ``: loss-first is one cached sweep (counted from the Jacobians'
    kinds, :func:`~chainorder.networks.gradients.loss_first_gradients` on a
    batch of one); input-first multiplies every parameter's chain and the
    input's, each input side first, no caching.

    Returns
    -------
    DataFrame
        ``depth, x, target, convention, loss_first, input_first, ratio,
        tangent_passes``: the last is what forward mode performs as ``jax.jacfwd``
        runs it, ``n`` dense tangents each costing one forward pass
        (:func:`forward_multiplications`), where the chain counts ``dz1/dW1`` in
        its kind.
    """
    rows = []
    for d in depths:
        for x in xs:
            net = study_network(x, d)
            xv, yv = np.ones(x), np.zeros(OUT)
            chain = net.input_chain(xv, yv)  # in kinds; a dense plan counts it densely
            params = [net.param_chain(xv, yv, k, name) for k, name, _ in net.parameters()]
            for conv in CONVENTIONS:
                dx = {o: chain.plan(o, cost=conv).cost for o in ("loss_first", "input_first")}
                lf = loss_first_gradients(net, xv[None], yv[None], cost=conv).multiplications
                inf = dx["input_first"] + sum(c.plan("input_first", cost=conv).cost
                                              for c in params)
                for target, (a, b) in (("dx", (dx["loss_first"], dx["input_first"])),
                                       ("dtheta", (lf, inf))):
                    tangents = directions(x, d, target) * forward_multiplications(x, d)
                    rows.append({"depth": d, "x": x, "target": target, "convention": conv,
                                 "loss_first": int(a), "input_first": int(b),
                                 "ratio": b / a, "tangent_passes": tangents})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- JAX


def _jax_problem(net: Network, seed: int = 0) -> tuple[Callable[..., Any], Any, Any]:
    """The network's loss as a JAX function of ``(params, x)``, and the point (float64)."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    params = [{k: jnp.asarray(v) for k, v in layer.params.items()} for layer in net.layers]
    x, y = jnp.asarray(rng.standard_normal(net.widths[0])), jnp.asarray(np.zeros(OUT))
    kinds = [type(layer).__name__ for layer in net.layers]

    def loss(p: Any, v: Any) -> Any:
        for kind, q in zip(kinds, p, strict=True):
            v = q["W"] @ v + q["b"] if kind == "Affine" else jax.nn.sigmoid(v)
        return jnp.mean((v - y) ** 2)

    return loss, params, x


def _transform(mode: str) -> Callable[..., Any]:
    import jax

    from ...ad import jacobian

    table: dict[str, Callable[..., Any]] = {"jacrev": jax.jacrev, "jacfwd": jax.jacfwd,
                                            "co.jacobian": jacobian}
    return table[mode]


def _flat(tree: Any) -> np.ndarray:
    import jax

    return np.concatenate([np.ravel(np.asarray(a)) for a in jax.tree_util.tree_leaves(tree)])


def _prepare(loss: Callable[..., Any], args: tuple[Any, ...], target: str, mode: str
             ) -> dict[str, Any]:
    """Jit one mode, time its first call, read its compiled memory; the steady call to time."""
    import jax

    argnums = 1 if target == "dx" else (0, 1)
    transformed = _transform(mode)(loss, argnums=argnums)
    fn = jax.jit(transformed)
    with Stopwatch() as first:
        result = jax.block_until_ready(fn(*args))
    mem = jax.jit(_transform(mode)(loss, argnums=argnums)).lower(*args).compile()
    analysis = mem.memory_analysis()
    chosen = mode
    if mode == "co.jacobian":
        chosen = ",".join(sorted({p.mode for p in transformed.plans.values()})) or "—"
    return {"fn": fn, "result": _flat(result), "first_call_s": first.seconds, "chosen": chosen,
            "measured_temp_bytes": int(getattr(analysis, "temp_size_in_bytes", 0) or 0),
            "measured_bytes": int(sum(int(getattr(analysis, f"{k}_size_in_bytes", 0) or 0)
                                      for k in ("temp", "argument", "output")))}


def time_jax_point(depth: int, x: int, target: str, modes: tuple[str, ...], rounds: int,
                   block_seconds: float) -> list[dict[str, Any]]:
    """Every mode of ``modes`` at one point: first call, steady calls (interleaved), memory."""
    import jax

    with jax.enable_x64(True):
        loss, params, xv = _jax_problem(study_network(x, depth))
        args = (params, xv)
        prepared = {m: _prepare(loss, args, target, m) for m in modes}
        samplers = {m: fastest(lambda f=p["fn"]: jax.block_until_ready(f(*args)),
                               seconds=block_seconds, min_calls=2)
                    for m, p in prepared.items()}
        times = interleave(samplers, rounds=rounds, warmup=1)
    ref = prepared[modes[0]]["result"]
    rows = []
    for m, p in prepared.items():
        t = times[m]
        err = float(np.max(np.abs(p["result"] - ref)) / max(1.0, float(np.max(np.abs(ref)))))
        rows.append({"depth": depth, "x": x, "target": target, "mode": m,
                     "chosen": p["chosen"], "first_call_s": p["first_call_s"],
                     "median_s": float(np.median(t)), "min_s": min(t), "max_s": max(t),
                     "rounds": len(t), "measured_temp_bytes": p["measured_temp_bytes"],
                     "measured_bytes": p["measured_bytes"],
                     "model_bytes": model_bytes(x, depth, target, m), "max_rel_error": err})
    return rows


def time_numpy_chains(depth: int, x: int, rounds: int, block_seconds: float
                      ) -> list[dict[str, Any]]:
    """The numpy chain of ``dl/dx`` in both orders, dense and in its kinds, interleaved."""
    net = study_network(x, depth)
    rng = np.random.default_rng(1)
    xv, yv = rng.standard_normal(x), rng.standard_normal(OUT)
    chains = {conv: net.input_chain(xv, yv, cost=conv) for conv in CONVENTIONS}
    plans = {(conv, o): chains[conv].plan(o, cost=conv)  # planned outside the timed call
             for conv in CONVENTIONS for o in ("loss_first", "input_first")}
    samplers = {(conv, o): fastest(lambda c=chains[conv], p=pl, s=conv: c.multiply(p, cost=s),
                                   seconds=block_seconds, min_calls=2)
                for (conv, o), pl in plans.items()}
    named = {f"{c}/{o}": s for (c, o), s in samplers.items()}
    times = interleave(named, rounds=rounds, warmup=1)
    return [{"depth": depth, "x": x, "convention": c, "order": o,
             "median_s": float(np.median(times[f"{c}/{o}"])), "min_s": min(times[f"{c}/{o}"]),
             "rounds": len(times[f"{c}/{o}"]), "multiplications": plans[(c, o)].cost}
            for c, o in samplers]


# ----------------------------------------------------------------------------- the fit


def fit_affine(xs: Any, ts: Any) -> dict[str, Any]:
    """``t = t_call + slope·|x|`` by least squares on relative errors; the residuals and verdict.

    Returns
    -------
    dict
        ``t_call``, ``slope``, ``residuals`` (``fit / measured - 1`` per point),
        ``max_residual`` (largest absolute one), ``points`` and ``fits``
        (``max_residual <= FIT_TOLERANCE`` with at least 3 points).

    Examples
    --------
    >>> f = fit_affine([10, 100, 1000], [1.1e-5, 2e-5, 1.1e-4])
    >>> round(f["t_call"] * 1e6, 3), round(f["slope"] * 1e9, 3), f["fits"]
    (10.0, 100.0, True)
    """
    x, t = np.asarray(xs, dtype=float), np.asarray(ts, dtype=float)
    A = np.column_stack([np.ones_like(x), x]) / t[:, None]
    coef = np.linalg.lstsq(A, np.ones_like(t), rcond=None)[0]
    res = (coef[0] + coef[1] * x) / t - 1
    worst = float(np.max(np.abs(res))) if len(res) else float("nan")
    return {"t_call": float(coef[0]), "slope": float(coef[1]), "residuals": res.tolist(),
            "max_residual": worst, "points": len(x),
            "fits": len(x) >= 3 and worst <= FIT_TOLERANCE}


def fit_table(timed: pd.DataFrame) -> pd.DataFrame:
    """:func:`fit_affine` of each depth, target and mode over its timed ``|x|`` (3 or more)."""
    rows = []
    for (d, t, m), g in timed.groupby(["depth", "target", "mode"], sort=True):
        g = g.sort_values("x")
        if len(g) < 2:
            continue
        f = fit_affine(g["x"], g["median_s"])
        worst_at = int(g["x"].iloc[int(np.argmax(np.abs(f["residuals"])))])
        rows.append({"depth": d, "target": t, "mode": m, "points": f["points"],
                     "t_call_us": f["t_call"] * 1e6, "ns_per_x": f["slope"] * 1e9,
                     "max_residual": f["max_residual"], "worst_x": worst_at,
                     "residuals": " ".join(f"{r:+.0%}" for r in f["residuals"]),
                     "fits": bool(f["fits"])})
    return pd.DataFrame(rows)


def ratio_table(timed: pd.DataFrame, costs: pd.DataFrame, fits: pd.DataFrame) -> pd.DataFrame:
    """Input-first over loss-first per point: measured (jacfwd / jacrev), fitted, and counted."""
    w = timed.pivot_table(index=["depth", "target", "x"], columns="mode", values="median_s")
    if "jacfwd" not in w or "jacrev" not in w:
        return pd.DataFrame()
    w = w.dropna(subset=["jacfwd", "jacrev"]).reset_index()
    f = fits.set_index(["depth", "target", "mode"]) if len(fits) else None
    c = costs.set_index(["depth", "target", "x", "convention"])["ratio"]
    tp = costs.set_index(["depth", "target", "x", "convention"])
    free = tp["tangent_passes"] / tp["loss_first"]
    rows = []
    for r in w.itertuples(index=False):
        fitted = float("nan")
        fwd, rev = (r.depth, r.target, "jacfwd"), (r.depth, r.target, "jacrev")
        if f is not None and fwd in f.index and rev in f.index:
            a, b = f.loc[fwd], f.loc[rev]
            fitted = ((a["t_call_us"] + a["ns_per_x"] * r.x / 1e3)
                      / (b["t_call_us"] + b["ns_per_x"] * r.x / 1e3))
        rows.append({"depth": r.depth, "target": r.target, "x": r.x,
                     "measured": r.jacfwd / r.jacrev, "fitted": fitted,
                     "counted_dense": c.get((r.depth, r.target, r.x, "dense"), float("nan")),
                     "counted_structured": c.get((r.depth, r.target, r.x, "structured"),
                                                 float("nan")),
                     "counted_matrix_free": free.get((r.depth, r.target, r.x, "structured"),
                                                    float("nan"))})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- findings


def _ratio_findings(ratios: pd.DataFrame, fits: pd.DataFrame) -> list[str]:
    out = []
    for (d, t), g in ratios.groupby(["depth", "target"], sort=True):
        g = g.sort_values("x")
        pts = "; ".join(f"{ratio_text(m)} at {int(x):,} (counted {ratio_text(s)} structured, "
                        f"{ratio_text(dn)} dense, {ratio_text(tm)} matrix-free)"
                        for x, m, s, dn, tm in
                        zip(g["x"], g["measured"], g["counted_structured"],
                            g["counted_dense"], g["counted_matrix_free"], strict=True))
        out.append(f"Depth {d}, {TARGETS[t]}: jacfwd / jacrev in steady time, by |x|: {pts}.")
    for r in fits.itertuples(index=False):
        verdict = ("fits" if r.fits else
                   "fails" if r.points >= 3 else "has too few points to test")
        out.append(
            f"Depth {r.depth}, {TARGETS[r.target]}, {r.mode}: t = t_call + b·|x| {verdict} "
            f"(t_call {seconds_text(r.t_call_us * 1e-6)}, b {seconds_text(r.ns_per_x * 1e-9)} "
            "per |x|; residuals "
            f"{r.residuals}, worst at |x| = {r.worst_x:,}; tolerance {FIT_TOLERANCE:.0%}).")
    return out


def _memory_findings(plan: pd.DataFrame, stops: pd.DataFrame, timed: pd.DataFrame,
                     budget: int) -> list[str]:
    out = []
    skipped = plan[~plan["fits"]]
    for (d, t), g in stops.groupby(["depth", "target"], sort=True):
        text = ", ".join(f"{m} at |x| = {int(s):,}" if s else f"{m} at no |x|"
                         for m, s in zip(g["mode"], g["stop_x"], strict=True))
        out.append(f"Memory (model, budget {format_bytes(budget)}), depth {d}, {TARGETS[t]}: "
                   f"the largest |x| that fits is {text}.")
    out.append(f"{len(skipped)} of {len(plan)} planned points were skipped, not tried, "
               "because the model puts them over the budget"
               + (": " + "; ".join(f"{m} {TARGETS[t]} at |x| = {x:,} (depth {d}, "
                                   f"{format_bytes(b)})" for d, x, t, m, b in
                                   skipped[["depth", "x", "target", "mode", "model_bytes"]]
                                   .head(6).itertuples(index=False, name=None))
                  + (f"; and {len(skipped) - 6} more (`data/article_jax_memory.csv`)"
                     if len(skipped) > 6 else "")
                  if len(skipped) else "") + ".")
    if len(timed):
        big = timed.loc[timed.groupby("mode")["model_bytes"].idxmax()]
        out.append("Memory measured (XLA's memory analysis: arguments, output, temporaries) "
                   "vs the model, at each mode's largest timed point: " + "; ".join(
                       f"{r.mode} {TARGETS[r.target]} |x| = {r.x:,}: "
                       f"{format_bytes(r.measured_bytes)} vs {format_bytes(r.model_bytes)}"
                       for r in big.itertuples(index=False)) + ".")
    return out


def _call_findings(timed: pd.DataFrame) -> list[str]:
    first = timed["first_call_s"] / timed["median_s"]
    out = [f"The first call (trace, compile, run) took {ratio_text(first.min())} to "
           f"{ratio_text(first.max())} the steady call ({len(timed)} points)."]
    co_rows = timed[timed["mode"] == "co.jacobian"]
    rev = timed[timed["mode"] == "jacrev"].set_index(["depth", "target", "x"])["median_s"]
    if len(co_rows):
        rel = [r.median_s / rev[(r.depth, r.target, r.x)] for r in co_rows.itertuples()
               if (r.depth, r.target, r.x) in rev.index]
        chosen = sorted(set(co_rows["chosen"]))
        out.append(f"chainorder.jacobian chose {', '.join(chosen)} at every point "
                   f"({len(co_rows)}); its steady time over jacrev's: "
                   f"{ratio_text(min(rel))} to {ratio_text(max(rel))}." if rel else
                   f"chainorder.jacobian chose {', '.join(chosen)}.")
    out.append(f"Largest difference of a mode's result from jacrev's: "
               f"{timed['max_rel_error'].max():.2g} (relative to the largest entry).")
    return out


def _numpy_findings(nump: pd.DataFrame) -> list[str]:
    if not len(nump):
        return []
    w = nump.pivot_table(index=["depth", "x", "convention"], columns="order",
                         values="median_s").reset_index()
    w["ratio"] = w["input_first"] / w["loss_first"]
    out = []
    for d, g in w.groupby("depth"):
        pts = "; ".join(
            f"|x| = {int(x):,}: " + ", ".join(
                f"{ratio_text(g[(g['x'] == x) & (g['convention'] == c)]['ratio'].iloc[0])} {c}"
                for c in CONVENTIONS) for x in sorted(g["x"].unique()))
        out.append(f"numpy chains of dl/dx, depth {d}, input-first / loss-first in wall time: "
                   f"{pts}.")
    out += _dense_over_structured(nump)
    return out


def _dense_over_structured(nump: pd.DataFrame) -> list[str]:
    """Dense over structured, timed and counted, per order at each depth's largest ``|x|``."""
    t = nump.set_index(["depth", "x", "order", "convention"])
    out = []
    for d in sorted(nump["depth"].unique()):
        x = int(nump[nump["depth"] == d]["x"].max())
        parts = []
        for o in ("loss_first", "input_first"):
            dn, st = t.loc[(d, x, o, "dense")], t.loc[(d, x, o, "structured")]
            parts.append(f"{o.replace('_', '-')} {ratio_text(dn['median_s'] / st['median_s'])} "
                         f"in time vs {ratio_text(dn['multiplications'] / st['multiplications'])}"
                         " counted")
        out.append(f"numpy chains, depth {d}, |x| = {x:,}: dense over structured, "
                   + "; ".join(parts) + ".")
    return out


# ----------------------------------------------------------------------------- figure


def plot_times(timed: pd.DataFrame) -> Figure:
    """Steady time vs ``|x|`` per mode and target (depth 1), with the first call dotted."""
    fig, ax = new_figure()
    colours = {"jacrev": "#1f77b4", "jacfwd": "#d62728", "co.jacobian": "#2ca02c"}
    d1 = timed[timed["depth"] == timed["depth"].min()]
    for (t, m), g in d1.groupby(["target", "mode"], sort=True):
        g = g.sort_values("x")
        style = "-o" if t == "dx" else "--s"
        ax.plot(g["x"], g["median_s"] * 1e6, style, color=colours[m], ms=4,
                label=f"{m}, {TARGETS[t]} ({MODES[m].split(' (')[0]})")
    loglog(ax, "|x|", "steady time per call (µs, median of rounds)",
           f"the article's network in JAX, depth {int(d1['depth'].min())}, jitted, float64")
    ax.legend(fontsize=7)
    note(fig, "skipped points: over the memory budget by the model")
    return fig


# ----------------------------------------------------------------------------- the study



class ArticleJaxStudy(Study):
    """The article's claim in JAX: jacrev, jacfwd and co.jacobian timed, memory modelled."""

    slug = "12-article-in-jax"
    title = "The article's claim in JAX"
    question = ("How much slower is input-first (jax.jacfwd) than loss-first (jax.jacrev) on "
                "the article's network as |x| grows, and where does memory stop each mode?")
    references = ("desai2018",)

    @dataclass(frozen=True)
    class Settings(StudySettings):
        """What the page measures.

        Attributes
        ----------
        xs : tuple of int
            Input sizes ``|x|`` tried (those over the budget are skipped).
        depths : tuple of int
            Hidden ``100 -> sigmoid`` layers (1: the article's network).
        memory_budget : int
            Bytes a point may need by :func:`model_bytes`.
        rounds : int
            Interleaved rounds of steady calls.
        block_seconds : float
            A sample is the fastest call within this long.
        numpy_max_x : int
            The numpy chains are timed up to this ``|x|``.
        """

        # the full grid is finer below 300, where jacfwd's dl/dθ stops for memory
        xs: tuple[int, ...] = setting(quick=(10, 100, 1000),
                                      full=(10, 20, 30, 50, 100, 200, 300, 1000, 3000, 10_000,
                                            30_000, 100_000))
        depths: tuple[int, ...] = setting(quick=(1, 2), full=(1, 2, 4))
        memory_budget: int = setting(quick=2**28, full=2**32)
        rounds: int = setting(quick=3, full=7)
        block_seconds: float = setting(quick=0.005, full=0.02)
        numpy_max_x: int = setting(quick=1000, full=100_000)

    def collect(self, ctx: ReportContext) -> None:
        own: ArticleJaxStudy.Settings = ctx.settings.of(self)
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        plan = memory_plan(own.xs, own.depths, own.memory_budget)
        plan.to_csv(ctx.data_dir / "article_jax_memory.csv", index=False, lineterminator="\n")
        status: dict[str, Any] = {"jax": None, "jax_imported_before": "jax" in sys.modules}
        if "jax" not in sys.modules:  # XLA reads its flags once, when JAX is first imported
            os.environ.setdefault("XLA_FLAGS", XLA_ONE_THREAD)
        status["jax"] = _jax_version()
        with blas_threads(ctx.settings.threads):
            status["blas_threads"] = numpy_blas().get("num_threads")
            nump = [r for d in own.depths for x in own.xs if x <= own.numpy_max_x
                    for r in time_numpy_chains(d, x, own.rounds, own.block_seconds)]
            rows: list[dict[str, Any]] = []
            if status["jax"] is not None:
                status["xla_flags"] = os.environ.get("XLA_FLAGS", "")
                status["failed"] = _time_jax(plan, own, rows)
        pd.DataFrame(nump).to_csv(ctx.data_dir / "article_jax_numpy.csv", index=False,
                                  lineterminator="\n")
        pd.DataFrame(rows).to_csv(ctx.data_dir / "article_jax_timed.csv", index=False,
                                  lineterminator="\n")
        (ctx.data_dir / "article_jax.json").write_text(json.dumps(status, indent=1))

    def render(self, ctx: ReportContext) -> StudyPage:
        own: ArticleJaxStudy.Settings = ctx.settings.of(self)
        status = json.loads((ctx.data_dir / "article_jax.json").read_text())
        plan = pd.read_csv(ctx.data_dir / "article_jax_memory.csv")
        stops = memory_stops(own.depths, own.memory_budget)
        costs = counted_costs(own.xs, own.depths)
        nump = _read(ctx.data_dir / "article_jax_numpy.csv")
        findings = _memory_findings(plan, stops, pd.DataFrame(), own.memory_budget)[:-1]
        findings += _numpy_findings(nump)
        body = _intro(own, ctx) + [
            "## Memory, from the model, before anything runs", "",
            f"`stop_x`: the largest |x| whose run fits the budget of "
            f"{format_bytes(own.memory_budget)} by the model (empty: none).", "",
            ctx.table(stops, "article-jax-memory-stops", counted=True), "",
            ctx.table(costs, "article-jax-costs", counted=True,
                      formats={"ratio": "{:.4g}"}), "",
        ]
        if len(nump):
            shown = nump.assign(median=nump["median_s"].map(seconds_text),
                                fastest=nump["min_s"].map(seconds_text))[
                ["depth", "x", "convention", "order", "multiplications", "median", "fastest",
                 "rounds"]]
            body += ["## numpy chains of dl/dx, dense and in their kinds", "",
                     "Each chain planned outside the timed call, then multiplied "
                     "(`Chain.multiply`) dense or in its kinds.", "",
                     ctx.table(shown, "article-jax-numpy", counted=False), ""]
        if status["jax"] is None:
            findings.append(f"JAX is not installed, so nothing was timed in JAX; install it "
                            f"with `{JAX_INSTALL}` and run `chainorder report`.")
            body += [f"JAX is not installed here: nothing was timed in JAX. Install it with "
                     f"`{JAX_INSTALL}` and rerun `chainorder report --quick --out DIR`."]
            return StudyPage(findings, "\n".join(body))
        timed = _read(ctx.data_dir / "article_jax_timed.csv")
        if not len(timed):
            findings.append("No point fitted the memory budget with jacrev: nothing was timed.")
            return StudyPage(findings, "\n".join(body))
        fits = fit_table(timed)
        ratios = ratio_table(timed, costs, fits)
        findings = (_ratio_findings(ratios, fits)
                    + _memory_findings(plan, stops, timed, own.memory_budget)
                    + _call_findings(timed) + _numpy_findings(nump))
        if status.get("failed"):
            findings.append(f"{len(status['failed'])} point(s) failed in JAX and were skipped: "
                            + "; ".join(status["failed"]) + ".")
        body += _jax_body(ctx, status, timed, fits, ratios)
        return StudyPage(findings, "\n".join(body))



def _sig3(value: float) -> str:
    return "—" if not np.isfinite(value) else (f"{value:,.0f}" if abs(value) >= 1000
                                              else f"{value:.3g}")


def _time_jax(plan: pd.DataFrame, own: ArticleJaxStudy.Settings,
              rows: list[dict[str, Any]]) -> list[str]:
    """Time every point the memory plan lets through into ``rows``; the points that failed.

    A point XLA refuses at run time (out of memory where the model said it
    fits, say) is recorded and skipped, not allowed to end the report.
    """
    failed = []
    for (d, x, t), g in plan[plan["fits"]].groupby(["depth", "x", "target"]):
        modes = tuple(m for m in MODES if m in set(g["mode"]))
        if "jacrev" not in modes:  # the reference every result is checked against
            continue
        try:
            rows += time_jax_point(d, x, t, modes, own.rounds, own.block_seconds)
        except (RuntimeError, MemoryError) as exc:
            failed.append(f"depth {d}, |x| = {x:,}, {TARGETS[t]}: "
                          f"{type(exc).__name__}: {str(exc)[:160]}")
    return failed


def _read(path: Any) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame()


def _intro(own: ArticleJaxStudy.Settings, ctx: ReportContext) -> list[str]:
    return [
        "## What is timed", "",
        f"Networks `x -> {HIDDEN} -> sigmoid -> ... -> {OUT}`, MSE loss, depth = hidden "
        f"sigmoid layers ({ints_text(list(own.depths))}; depth 1 is the article's network), "
        f"|x| in {ints_text(list(own.xs))}. Targets: `dl/dx` (argnums 1) and every parameter "
        "gradient with it (`dl/dθ`, argnums (0, 1)). Modes: "
        + "; ".join(f"`{m}`: {v}" for m, v in MODES.items())
        + ". All jitted, float64. The first call (trace, compile, run) is timed once; steady "
        f"calls in {own.rounds} interleaved rounds (each going first, and after each other, "
        "as often), a sample the fastest "
        f"call within {own.block_seconds} s; {ctx.settings.threads_text()}.", "",
        "Memory model (`model_bytes`, float64): reverse mode keeps `8·(|θ| + |x| + Σ|z_k| + "
        "2n)`, forward mode `8·(|θ| + |x| + n + n² + n·Σ|z_k|)`, with `n` the inputs "
        f"differentiated (|x|, or |θ| + |x|). Points over {format_bytes(own.memory_budget)} "
        "are skipped, not tried.", "",
        "Counted costs: scalar multiplications (= multiply-adds; FLOPs are twice that), "
        f"{convention_label('dense')} and {convention_label('structured')}; `dl/dθ` "
        "loss-first is one cached sweep, input-first one chain per parameter.", "",
    ]


def _jax_body(ctx: ReportContext, status: dict[str, Any], timed: pd.DataFrame,
              fits: pd.DataFrame, ratios: pd.DataFrame) -> list[str]:
    shown = timed.assign(first_call=timed["first_call_s"].map(seconds_text),
                         steady=timed["median_s"].map(seconds_text),
                         measured_bytes=timed["measured_bytes"].map(format_bytes),
                         model_bytes=timed["model_bytes"].map(format_bytes))[
        ["depth", "x", "target", "mode", "chosen", "first_call", "steady", "measured_bytes",
         "model_bytes"]]
    ratio_cols = ("measured", "fitted", "counted_dense", "counted_structured",
                  "counted_matrix_free")
    ratios = ratios.assign(**{c: ratios[c].map(_sig3) for c in ratio_cols})
    if not fits.empty:  # seconds, as every timed column (a page of one |x| has no fits)
        fits = fits.assign(t_call_us=fits["t_call_us"] * 1e-6, ns_per_x=fits["ns_per_x"] * 1e-9)
    fits = fits.rename(columns={"t_call_us": "t_call", "ns_per_x": "per_x",
                                "max_residual": "worst_res"})
    return [
        "## In JAX", "",
        f"JAX {status['jax']}, `XLA_FLAGS={status.get('xla_flags', '')}`"
        + (" (JAX was imported before this page with other flags: these may not apply)"
           if status.get("jax_imported_before")
           and status.get("xla_flags") != XLA_ONE_THREAD else "")
        + f"; numpy BLAS threads {status.get('blas_threads')}.", "",
        "`steady`: median of the rounds' samples.", "",
        ctx.table(shown, "article-jax-timed", counted=False), "",
        "Input-first over loss-first: measured (jacfwd / jacrev medians), from the fitted "
        "lines, counted in the two chain conventions, and `counted_matrix_free`: the `n` "
        "tangent passes forward mode performs when no Jacobian is given (`n` x one forward "
        "pass, `tangent_passes` in the counted table) over the structured loss-first count. "
        "The chain conventions take each layer's Jacobian as given (`dz1/dx = W1` is "
        "free); forward mode starts from the `n x n` identity, so `W1` times it alone costs "
        "`|z1|·|x|·n`: matrix-free, input-first grows as |x|² on the article's network, "
        "which no line in |x| fits.", "",
        ctx.table(ratios, "article-jax-ratios", counted=False), "",
        f"Fits `t = t_call + b·|x|` (weighted by 1/t; fails above {FIT_TOLERANCE:.0%}): "
        "`t_call` and `per_x` (b) in seconds in the CSV; `worst_res` is the largest "
        "|fit − time| / time and `worst_x` the |x| where it is. A negative `t_call` is a "
        "line that fails.", "",
        ctx.table(fits, "article-jax-fits", counted=False,
                  formats={"t_call": seconds_text, "per_x": lambda v: seconds_text(v) + "/|x|",
                           "worst_res": "{:.2f}"}), "",
        ctx.figure(plot_times(timed), "article-jax-times",
                   "steady time per call vs |x|, per JAX mode and target"),
    ]


STUDY = ArticleJaxStudy()
register_study(STUDY)
