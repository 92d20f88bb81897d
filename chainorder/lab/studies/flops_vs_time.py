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
    order_style,
    ratio_text,
    register_study,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["TimeStudy", "STUDY", "roofline_table", "order_efficiency", "ratio_gap",
           "cache_bytes", "plot_time_ratio_vs_flop_ratio", "plot_roofline"]


def roofline_table(df: pd.DataFrame, peak_gflops: float, bandwidth_gbs: float) -> pd.DataFrame:
    """Each point against the roofline ``min(peak, bandwidth x intensity)``.

    Parameters
    ----------
    df : DataFrame
        :func:`~chainorder.lab.results.load_sweep` rows.
    peak_gflops, bandwidth_gbs : float
        The machine's measured peak (GFLOP/s) and memory bandwidth (GB/s).

    Returns
    -------
    DataFrame
        ``case, kind, order, flops, bytes_moved, arithmetic_intensity`` (FLOP
        per byte), ``gflops`` (achieved), ``roof_gflops``, ``bound``
        (``'memory'`` or ``'compute'``), ``of_roof`` and ``of_peak``
        (fractions), ``achieved_gbs``, ``vector_share`` (share of steps that
        are vector-matrix or matrix-vector products), ``jacobian_bytes`` and
        ``above_roof`` (faster than the memory roof allows: the operands
        stayed in cache, which streams faster than the measured DRAM bandwidth).
    """
    r = df[["case", "kind", "order", "flops", "bytes_moved", "arithmetic_intensity", "gflops",
            "achieved_gbs", "steps", "vector_steps", "jacobian_bytes"]].copy()
    memory_roof = bandwidth_gbs * r["arithmetic_intensity"]
    r["roof_gflops"] = np.minimum(peak_gflops, memory_roof)
    r["bound"] = np.where(memory_roof < peak_gflops, "memory", "compute")
    r["of_roof"] = r["gflops"] / r["roof_gflops"]
    r["of_peak"] = r["gflops"] / peak_gflops
    r["vector_share"] = r["vector_steps"] / r["steps"].replace(0, np.nan)
    r["above_roof"] = r["gflops"] > 1.05 * r["roof_gflops"]
    return r.drop(columns=["steps", "vector_steps"]).sort_values(["case", "order"],
                                                                  ignore_index=True)


def order_efficiency(roof: pd.DataFrame) -> pd.DataFrame:
    """Per order: median achieved GFLOP/s and GB/s, and their share of the machine's peaks.

    Returns
    -------
    DataFrame
        Indexed by order: ``points``, ``median_gflops``, ``median_of_peak``,
        ``median_of_roof``, ``median_gbs``, ``median_intensity`` (FLOP/byte),
        ``memory_bound`` (share of points left of the ridge), ``vector_share``.
    """
    g = roof.groupby("order")
    out = pd.DataFrame({
        "points": g.size(),
        "median_gflops": g["gflops"].median(),
        "median_of_peak": g["of_peak"].median(),
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
        ``table`` (per case: ``flop_ratio``, ``time_ratio``, ``gap`` =
        flop ratio / time ratio), ``median_gap``, ``geomean_gap`` and ``fit``,
        the log-log fit of time ratio on FLOP ratio (a slope below 1 means time
        grows more slowly than FLOPs between the two orders).
    """
    t = cmp[["case", "kind", "flop_ratio", "time_ratio"]].copy()
    t["gap"] = t["flop_ratio"] / t["time_ratio"]
    return {
        "table": t,
        "median_gap": float(t["gap"].median()),
        "geomean_gap": geomean(t["gap"]),
        "fit": fit_loglog(t["flop_ratio"], t["time_ratio"]),
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
    """Input-first / loss-first: wall-time ratio against FLOP ratio, one point per case."""
    fig, ax = new_figure(7.0, 5.4)
    for k, (kind, g) in enumerate(sorted(cmp.groupby("kind"), key=lambda t: t[0])):
        ax.scatter(g["flop_ratio"], g["time_ratio"], s=30, label=kind, color=f"C{k % 10}",
                   marker="osD^v<>ph*"[k % 10], alpha=0.85)
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


def plot_roofline(roof: pd.DataFrame, peak_gflops: float, bandwidth_gbs: float,
                  threads: str) -> Figure:
    """Achieved GFLOP/s against arithmetic intensity, under the machine's measured roofline."""
    fig, ax = new_figure(7.0, 5.2)
    ai = roof["arithmetic_intensity"].astype(float)
    lo, hi = max(ai.min() / 3, 1e-3), max(ai.max() * 3, 2 * peak_gflops / bandwidth_gbs)
    grid = np.logspace(np.log10(lo), np.log10(hi), 200)
    ax.plot(grid, np.minimum(peak_gflops, bandwidth_gbs * grid), "-", color="k", lw=1.5,
            label=f"roofline: {peak_gflops:.1f} GFLOP/s peak, {bandwidth_gbs:.1f} GB/s")
    for order in ("loss_first", "input_first", "optimal"):
        pts = roof[roof["order"] == order]
        st = order_style(order)
        ax.scatter(pts["arithmetic_intensity"], pts["gflops"], s=26, marker=st["marker"],
                   color=st["color"], alpha=0.75, label=st["label"])
    loglog(ax, "arithmetic intensity (FLOP per byte moved: operands read + product written)",
            "achieved GFLOP/s (1e9 FLOP/s at the median time)",
            f"Achieved rate against the measured roofline, float64, {threads}")
    ax.legend(fontsize=7.5, loc="lower right")
    note(fig)
    return fig


def _compared(median_gap: float) -> str:
    """'smaller than', 'larger than' or 'the same as', from FLOP ratio / time ratio."""
    if median_gap > 1:
        return "smaller than"
    return "larger than" if median_gap < 1 else "the same as"


class TimeStudy(Study):
    """Time ratio against FLOP ratio, and each point against the measured roofline."""

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
        fit = gap["fit"]
        findings = [
            f"The wall-time ratio is {_compared(gap['median_gap'])} the FLOP ratio "
            "(input-first over loss-first): FLOP ratio / time ratio has median "
            f"{ratio_text(gap['median_gap'])}; fitted on log-log axes, time ratio ∝ FLOP "
            f"ratio^{fit['slope']:.2f} (R² = {fit['r2']:.2f}, {fit['points']} cases).",
        ]
        body = ["## Time ratio against FLOP ratio", "",
                ctx.figure(plot_time_ratio_vs_flop_ratio(cmp), "time-ratio-vs-flop-ratio",
                           "wall-time ratio vs FLOP ratio, input-first over loss-first"),
                ctx.table(gap["table"], "ratio-gap", counted=False)]
        if peak:
            roof = roofline_table(df, peak["peak_gflops"], peak["bandwidth_gbs"])
            eff = order_efficiency(roof).reset_index()
            get = eff.set_index("order")
            lf, inf = get.loc["loss_first"], get.loc["input_first"]
            findings += [
                f"Measured machine: peak {peak['peak_gflops']:.1f} GFLOP/s (float64 matmul, "
                f"{ctx.settings.threads_text()}), memory bandwidth "
                f"{peak['bandwidth_gbs']:.1f} GB/s.",
                f"Loss-first steps are vector-matrix products ({lf['vector_share']:.0%} of its "
                f"steps; median intensity {lf['median_intensity']:.2f} FLOP/byte): median "
                f"{lf['median_gflops']:.2f} GFLOP/s = {lf['median_of_peak']:.1%} of peak, moving "
                f"{lf['median_gbs']:.1f} GB/s; {lf['memory_bound']:.0%} of its points are "
                "memory-bound on the roofline.",
                f"Input-first steps are matrix-matrix products (median intensity "
                f"{inf['median_intensity']:.1f} FLOP/byte): median {inf['median_gflops']:.1f} "
                f"GFLOP/s = {inf['median_of_peak']:.0%} of peak, "
                f"{ratio_text(inf['median_gflops'] / lf['median_gflops'])} the rate of "
                "loss-first" + ("; that is why its extra FLOPs cost less extra time."
                                if inf["median_gflops"] > lf["median_gflops"] else "."),
            ]
            above = roof[roof["above_roof"]]
            if len(above):
                l3 = cache_bytes(ctx.meta["machine"], "L3")
                where = ""
                if l3:
                    small = int((above["jacobian_bytes"] < l3).sum())
                    where = (f"; {small} of them have Jacobians smaller than the {l3 / 2**20:.0f} "
                             "MiB L3 cache, which streams faster than memory")
                findings.append(f"{len(above)} of {len(roof)} points run faster than the memory "
                                f"roof allows{where}.")
            body += ["## Achieved rate against the roofline", "",
                     ctx.figure(plot_roofline(roof, peak["peak_gflops"], peak["bandwidth_gbs"],
                                              ctx.settings.threads_text()), "roofline",
                                "achieved GFLOP/s vs arithmetic intensity under the "
                                "measured roofline"),
                     "Per order (medians over cases; `of_peak` and `of_roof` are fractions of the "
                     "measured peak and of the roofline at the point's intensity):", "",
                     ctx.table(eff, "efficiency", counted=False),
                     "Every point, with its roof and whether it is memory- or compute-bound:", "",
                     ctx.table(roof, "roofline", counted=False, embed=False)]
        else:
            body.append("The peak was not measured (`peak_seconds = 0`), so there is no roofline.")
        if ctx.benchmark is not None and {"case", "order", "median"} <= set(ctx.benchmark.columns):
            b = ctx.benchmark.dropna(subset=["case", "order"])
            merged = b.merge(df[["case", "order", "seconds_median"]], on=["case", "order"])
            cols = [c for c in ("case", "order", "multiplications", "median", "gflops", "rounds")
                    if c in b.columns]
            if len(merged):
                agree = (merged["median"] / merged["seconds_median"]).median()
                findings.append(f"pytest-benchmark medians ({len(b)} benchmarks) are "
                                f"{ratio_text(agree)} the sweep's medians for the same "
                                "(case, order), "
                                f"median over {len(merged)} pairs.")
            shown = (b[cols].sort_values(["case", "order"])
                     .rename(columns={"median": "median_seconds"}))
            body += ["## pytest-benchmark timings", "",
                     "From the `--benchmark-json` file given to the report (its own machine and "
                     "thread settings).", "",
                     ctx.table(shown, "benchmark", counted=False)]
        return StudyPage(findings, "\n".join(body))


STUDY = TimeStudy()
register_study(STUDY)
