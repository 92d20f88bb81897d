"""Study 3: why the wall-time ratio differs from the FLOP ratio, and the roofline."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..results import ORDERS, fit_loglog, geomean, order_comparison
from .base import (
    ReportContext,
    Study,
    StudyPage,
    loglog,
    new_figure,
    note,
    number_text,
    order_style,
    ratio_text,
    register_study,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["TimeStudy", "STUDY"]


def best_rate(df: pd.DataFrame, measured_gflops: float | None) -> dict[str, Any]:
    """The roof: the best rate actually achieved, by the peak benchmark or by any point.

    Returns
    -------
    dict
        ``gflops`` (the roof), ``source`` (text naming where it was
        achieved), ``benchmark_gflops`` (the large-matmul benchmark's best,
        or None) and ``best_point`` (the point's ``case``/``order``, or None).

    Examples
    --------
    >>> d = pd.DataFrame({"case": ["a"], "order": ["optimal"], "gflops": [90.0]})
    >>> best_rate(d, 80.0)["gflops"], best_rate(d, 95.0)["gflops"]
    (90.0, 95.0)
    """
    rates = df["gflops"].astype(float)
    i = rates.idxmax() if rates.notna().any() else None
    point = None if i is None else (str(df.at[i, "case"]), str(df.at[i, "order"]))
    top = -np.inf if i is None else float(rates[i])
    if measured_gflops is not None and measured_gflops >= top:
        return {"gflops": float(measured_gflops), "benchmark_gflops": measured_gflops,
                "best_point": point, "source": "the large-matmul benchmark's best run"}
    source = ("no point of this page has a rate" if point is None else
              f"the fastest point of this page (`{point[0]}`, {point[1]})")
    return {"gflops": top, "benchmark_gflops": measured_gflops, "best_point": point,
            "source": source}


def roofline_table(df: pd.DataFrame, roof_gflops: float, bandwidth_gbs: float,
                   machine: dict[str, Any] | None = None) -> pd.DataFrame:
    """Each point against the roofline ``min(roof, bandwidth x intensity)``.

    Parameters
    ----------
    df : DataFrame
        :func:`~chainorder.lab.results.load_sweep` rows.
    roof_gflops : float
        The best rate achieved (:func:`best_rate`), GFLOP/s: no point lies above it.
    bandwidth_gbs : float
        The measured memory bandwidth (GB/s, streaming arrays larger than the caches).
    machine : dict, optional
        :func:`~chainorder.lab.machine.machine_info`, for the cache sizes that
        explain points above the memory roof.

    Returns
    -------
    DataFrame
        ``case, kind, order, flops, bytes_moved, arithmetic_intensity`` (FLOP
        per byte), ``gflops`` (achieved), ``roof_gflops``, ``bound``
        (``'memory'`` or ``'compute'``), ``of_roof`` (fraction of the roof at
        the point's intensity), ``achieved_gbs``, ``vector_share`` (share of
        steps that are vector-matrix or matrix-vector products),
        ``jacobian_bytes``, ``working_set_bytes`` (Jacobians and the largest
        product), ``above_roof`` (faster than the memory roof allows) and
        ``why_above`` (the reason, for those points); ``loaded`` where the
        sweep recorded it (measured while other work loaded the machine).
    """
    r = df[["case", "kind", "order", "flops", "bytes_moved", "arithmetic_intensity", "gflops",
            "achieved_gbs", "steps", "vector_steps", "jacobian_bytes",
            "intermediate_bytes_largest", *(["loaded"] if "loaded" in df else [])]].copy()
    memory_roof = bandwidth_gbs * r["arithmetic_intensity"]
    r["roof_gflops"] = np.minimum(roof_gflops, memory_roof)
    r["bound"] = np.where(memory_roof < roof_gflops, "memory", "compute")
    r["of_roof"] = r["gflops"] / r["roof_gflops"]
    r["vector_share"] = r["vector_steps"] / r["steps"].replace(0, np.nan)
    r["working_set_bytes"] = r["jacobian_bytes"] + r["intermediate_bytes_largest"]
    r["above_roof"] = r["gflops"] > 1.05 * r["roof_gflops"]
    r["why_above"] = [why_above(int(w), machine or {}) if up else ""
                      for w, up in zip(r["working_set_bytes"], r["above_roof"], strict=True)]
    return r.drop(columns=["steps", "vector_steps", "intermediate_bytes_largest"]).sort_values(
        ["case", "order"], ignore_index=True)


def why_above(working_set: int, machine: dict[str, Any]) -> str:
    """Why a point beats the memory roof, from its working set and the machine's caches.

    Examples
    --------
    >>> why_above(2**20, {"caches": {"L2": "2M", "L3": "32M"}})
    'working set 1 MiB fits in the 2 MiB L2 cache, which streams faster than memory'
    """
    ws = f"working set {number_text(working_set / 2**20)} MiB"
    for level in ("L1d", "L2", "L3"):
        size = cache_bytes(machine, level)
        if size and working_set <= size:
            return (f"{ws} fits in the {number_text(size / 2**20)} MiB {level} cache, which "
                    "streams faster than memory")
    l3 = cache_bytes(machine, "L3")
    if l3 is None:
        return f"{ws}; cache sizes unknown, so not explained by this page"
    return (f"{ws} exceeds the {number_text(l3 / 2**20)} MiB L3 cache: not explained by the "
            "caches (the bandwidth benchmark streams slower than this product did)")


def order_efficiency(roof: pd.DataFrame) -> pd.DataFrame:
    """Per order: median achieved GFLOP/s and GB/s, and their share of the roofline.

    Returns
    -------
    DataFrame
        Indexed by order: ``points``, ``median_gflops``, ``median_of_roof``,
        ``median_gbs``, ``median_intensity`` (FLOP/byte), ``memory_bound``
        (share of points left of the ridge), ``vector_share``.
    """
    g = roof.groupby("order")
    out = pd.DataFrame({
        "points": g.size(),
        "median_gflops": g["gflops"].median(),
        "median_of_roof": g["of_roof"].median(),
        "median_gbs": g["achieved_gbs"].median(),
        "median_intensity": g["arithmetic_intensity"].median(),
        "memory_bound": g["bound"].apply(lambda b: float((b == "memory").mean())),
        "vector_share": g["vector_share"].mean(),
    })
    return out.reindex([o for o in ORDERS if o in out.index])


def ratio_gap(cmp: pd.DataFrame) -> dict[str, Any]:
    """How far the wall-time ratio falls from the FLOP ratio (input-first over loss-first).

    Returns
    -------
    dict
        ``table`` (per case: ``flop_ratio``, ``time_ratio`` and its range
        ``time_ratio_low`` .. ``time_ratio_high`` from the two medians'
        intervals, ``gap`` = flop ratio / time ratio), ``median_gap``, ``geomean_gap`` and
        ``by_kind``: per kind of case, the log-log fit of time ratio on FLOP
        ratio (``slope``, ``r2``; NaN for fewer than three cases or one FLOP
        ratio) and the median gap. One pooled fit would mix kinds whose steps
        run on different kernels (see the time-model page), so there is none.
    """
    t = cmp[["case", "kind", "flop_ratio", "time_ratio"]].copy()
    if {"loss_first_low", "input_first_high"} <= set(cmp.columns):
        t["time_ratio_low"] = cmp["input_first_low"] / cmp["loss_first_high"]
        t["time_ratio_high"] = cmp["input_first_high"] / cmp["loss_first_low"]
    t["gap"] = t["flop_ratio"] / t["time_ratio"]
    rows = []
    for kind, g in t.groupby("kind"):
        fit = (fit_loglog(g["flop_ratio"], g["time_ratio"]) if len(g) >= 3
               else {"slope": np.nan, "r2": np.nan})
        rows.append({"kind": kind, "cases": len(g), "slope": fit["slope"], "r2": fit["r2"],
                     "median_gap": float(g["gap"].median()),
                     "flop_ratio_min": float(g["flop_ratio"].min()),
                     "flop_ratio_max": float(g["flop_ratio"].max())})
    return {
        "table": t,
        "median_gap": float(t["gap"].median()),
        "geomean_gap": geomean(t["gap"]),
        "by_kind": pd.DataFrame(rows),
    }


def cache_bytes(machine: dict[str, Any], level: str) -> int | None:
    """Size of a cache level in bytes from :func:`~chainorder.lab.machine.machine_info`.

    Examples
    --------
    >>> cache_bytes({"caches": {"L3": "32M"}}, "L3"), cache_bytes({}, "L3")
    (33554432, None)
    """
    text = (machine.get("caches") or {}).get(level)
    m = re.fullmatch(r"(\d+)([KMG]?)", str(text or "").strip())
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2)]


def plot_time_ratio_vs_flop_ratio(cmp: pd.DataFrame) -> Figure:
    """Input-first / loss-first: wall-time ratio against FLOP ratio, one point per case
    (bars: the ratio's range over the two medians' intervals)."""
    fig, ax = new_figure(7.0, 5.4)
    for k, (kind, g) in enumerate(sorted(cmp.groupby("kind"), key=lambda t: t[0])):
        ax.scatter(g["flop_ratio"], g["time_ratio"], s=30, label=kind, color=f"C{k % 10}",
                   marker="osD^v<>ph*"[k % 10], alpha=0.85)
        if {"loss_first_low", "input_first_high"} <= set(g.columns):
            low = g["input_first_low"] / g["loss_first_high"]
            high = g["input_first_high"] / g["loss_first_low"]
            ax.vlines(g["flop_ratio"], low, high, color=f"C{k % 10}", lw=1, alpha=0.6)
    lo = min(cmp["flop_ratio"].min(), cmp["time_ratio"].min()) / 1.5
    hi = max(cmp["flop_ratio"].max(), cmp["time_ratio"].max()) * 1.5
    ax.plot([lo, hi], [lo, hi], "--", color="0.5", lw=1, label="time ratio = FLOP ratio")
    ax.axhline(1, color="0.75", lw=0.8)
    ax.axvline(1, color="0.75", lw=0.8)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    loglog(ax, "FLOP ratio, input-first / loss-first",
            "wall-time ratio, input-first / loss-first (medians)",
            "Does input-first take as much longer as its FLOPs say?")
    ax.legend(fontsize=7, loc="upper left", ncols=2)
    note(fig)
    return fig


def plot_roofline(roof: pd.DataFrame, roof_gflops: float, bandwidth_gbs: float,
                  threads: str) -> Figure:
    """Achieved GFLOP/s against arithmetic intensity, under the roof of the best rates achieved.

    Points above the memory roof are ringed; the page lists each with the reason.
    """
    fig, ax = new_figure(7.0, 5.2)
    ai = roof["arithmetic_intensity"].astype(float)
    lo, hi = max(ai.min() / 3, 1e-3), max(ai.max() * 3, 2 * roof_gflops / bandwidth_gbs)
    grid = np.logspace(np.log10(lo), np.log10(hi), 200)
    ax.plot(grid, np.minimum(roof_gflops, bandwidth_gbs * grid), "-", color="k", lw=1.5,
            label=f"roof: best rate achieved {roof_gflops:.1f} GFLOP/s; memory "
                  f"{bandwidth_gbs:.1f} GB/s")
    for order in ("loss_first", "input_first", "optimal"):
        pts = roof[roof["order"] == order]
        st = order_style(order)
        ax.scatter(pts["arithmetic_intensity"], pts["gflops"], s=26, marker=st["marker"],
                   color=st["color"], alpha=0.75, label=st["label"])
    up = roof[roof["above_roof"]]
    if len(up):
        ax.scatter(up["arithmetic_intensity"], up["gflops"], s=70, facecolors="none",
                   edgecolors="0.2", lw=0.8, label="above the memory roof (listed, with why)")
    loglog(ax, "arithmetic intensity (FLOP per byte moved: operands read + product written)",
            "achieved GFLOP/s (1e9 FLOP/s at the median time)",
            f"Achieved rate against the roofline of best achieved rates, float64, {threads}")
    ax.legend(fontsize=7, loc="lower right")
    note(fig)
    return fig


def _compared(median_gap: float) -> str:
    """'smaller than', 'larger than' or 'the same as', from FLOP ratio / time ratio."""
    if median_gap > 1:
        return "smaller than"
    return "larger than" if median_gap < 1 else "the same as"


class TimeStudy(Study):
    """Time ratio against FLOP ratio per kind of case, and each point against the roofline."""

    slug = "03-flops-vs-time"
    title = "FLOPs vs wall time, and the roofline"
    question = "Why does the time ratio differ from the FLOP ratio?"
    references = ("numpy",)

    def render(self, ctx: ReportContext) -> StudyPage:
        df, peak = ctx.require_sweep(), ctx.meta.get("peak")
        cmp = order_comparison(df)
        if cmp.empty:
            return StudyPage([], "No case was measured in all three orders.")
        gap = ratio_gap(cmp)
        kinds = gap["by_kind"]
        fitted = kinds.dropna(subset=["slope"]).sort_values("slope")
        findings = [
            "The wall-time ratio is "
            f"{_compared(gap['median_gap'])} the FLOP ratio (input-first over loss-first): "
            f"FLOP ratio / time ratio has median {ratio_text(gap['median_gap'])} over "
            f"{len(cmp)} cases.",
        ]
        if len(fitted):
            lo, hi = fitted.iloc[0], fitted.iloc[-1]
            findings.append(
                "No single exponent links the two: fitted per kind of case on log-log axes, "
                f"time ratio ∝ FLOP ratio^s with s from {lo['slope']:.2f} (`{lo['kind']}`) to "
                f"{hi['slope']:.2f} (`{hi['kind']}`) over {len(fitted)} kinds with three or "
                "more cases; the steps of each kind run on different kernels, whose rates the "
                "time-model page gives by shape class.")
        body = ["## Time ratio against FLOP ratio", "",
                ctx.figure(plot_time_ratio_vs_flop_ratio(cmp), "time-ratio-vs-flop-ratio",
                           "wall-time ratio vs FLOP ratio, input-first over loss-first"),
                "Per kind of case: `slope` and `r2` of the log-log fit of time ratio on FLOP "
                "ratio (— below three cases), `median_gap` = FLOP ratio / time ratio.", "",
                ctx.table(kinds, "ratio-gap-by-kind", counted=False),
                "Per case: `time_ratio_low` .. `time_ratio_high` is the time ratio's range over "
                "the 95% intervals of the two medians (the figure's bars).", "",
                ctx.table(gap["table"], "ratio-gap", counted=False)]
        if peak:
            findings_roof, body_roof = self._roofline(ctx, df, peak)
            findings += findings_roof
            body += body_roof
        else:
            body.append("The peak was not measured (`peak_seconds = 0`), so there is no roofline.")
        if ctx.benchmark is not None and {"case", "order", "median"} <= set(ctx.benchmark.columns):
            findings_b, body_b = self._benchmark(ctx, df)
            findings += findings_b
            body += body_b
        return StudyPage(findings, "\n".join(body))

    def _roofline(self, ctx: ReportContext, df: pd.DataFrame,
                  peak: dict[str, Any]) -> tuple[list[str], list[str]]:
        best = best_rate(df, peak.get("peak_gflops"))
        top, bw = best["gflops"], peak["bandwidth_gbs"]
        roof = roofline_table(df, top, bw, ctx.meta.get("machine"))
        eff = order_efficiency(roof).reset_index()
        get = eff.set_index("order")
        lf, inf = get.loc["loss_first"], get.loc["input_first"]
        findings = [
            f"The roof is the best rate actually achieved: {top:.1f} GFLOP/s, by "
            f"{best['source']} (float64, {ctx.settings.threads_text()}); memory bandwidth "
            f"{bw:.1f} GB/s (streaming 128 MB arrays). No point lies above the roof.",
            f"Loss-first steps are vector-matrix products ({lf['vector_share']:.0%} of its "
            f"steps; median intensity {lf['median_intensity']:.2f} FLOP/byte): median "
            f"{lf['median_gflops']:.2f} GFLOP/s, moving {lf['median_gbs']:.1f} GB/s; "
            f"{lf['memory_bound']:.0%} of its points are memory-bound on the roofline.",
            f"Input-first steps are matrix-matrix products (median intensity "
            f"{inf['median_intensity']:.1f} FLOP/byte): median {inf['median_gflops']:.1f} "
            f"GFLOP/s, {ratio_text(inf['median_gflops'] / lf['median_gflops'])} the rate of "
            "loss-first" + ("; that is why its extra FLOPs cost less extra time."
                            if inf["median_gflops"] > lf["median_gflops"] else "."),
        ]
        above = roof[roof["above_roof"]]
        if len(above):
            cached = int(above["why_above"].str.contains("fits in").sum())
            findings.append(f"{len(above)} of {len(roof)} points run faster than the memory "
                            f"roof allows; {cached} of them have a working set that fits in a "
                            "cache, which streams faster than memory (each is listed below "
                            "with its reason).")
        body = ["## Achieved rate against the roofline", "",
                ctx.figure(plot_roofline(roof, top, bw, ctx.settings.threads_text()),
                           "roofline", "achieved GFLOP/s vs arithmetic intensity under the "
                           "roofline of best achieved rates"),
                "Per order (medians over cases; `of_roof` is the fraction of the roofline at "
                "the point's intensity, whose flat part is the best rate achieved):", "",
                ctx.table(eff, "efficiency", counted=False)]
        if len(above):
            body += ["Points above the memory roof, and why:", "",
                     ctx.table(above[["case", "order", "arithmetic_intensity", "gflops",
                                      "roof_gflops", "why_above"]], "above-roof",
                               counted=False)]
        body += ["Every point, with its roof and whether it is memory- or compute-bound:", "",
                 ctx.table(roof, "roofline", counted=False, embed=False)]
        return findings, body

    def _benchmark(self, ctx: ReportContext, df: pd.DataFrame) -> tuple[list[str], list[str]]:
        assert ctx.benchmark is not None  # the page calls this only when a benchmark was given
        b = ctx.benchmark.dropna(subset=["case", "order"])
        merged = b.merge(df[["case", "order", "seconds_median"]], on=["case", "order"])
        cols = [c for c in ("case", "order", "multiplications", "median", "gflops", "rounds")
                if c in b.columns]
        findings = []
        if len(merged):
            agree = (merged["median"] / merged["seconds_median"]).median()
            findings.append(f"pytest-benchmark medians ({len(b)} benchmarks) are "
                            f"{ratio_text(agree)} the sweep's medians for the same "
                            f"(case, order), median over {len(merged)} pairs.")
        shown = b[cols].sort_values(["case", "order"]).rename(columns={"median": "median_seconds"})
        return findings, ["## pytest-benchmark timings", "",
                          "From the `--benchmark-json` file given to the report (its own "
                          "machine and thread settings).", "",
                          ctx.table(shown, "benchmark", counted=False)]


STUDY = TimeStudy()
register_study(STUDY)
