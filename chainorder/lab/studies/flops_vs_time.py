"""Study 3: why the wall-time ratio differs from the FLOP ratio, and the roofline."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..machine import last_level_cache, size_bytes
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

# report_roof: the time-model page states the same roof
__all__ = ["TimeStudy", "STUDY", "report_roof"]


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


def report_roof(ctx: ReportContext) -> dict[str, Any] | None:
    """The report's one compute roof and memory bandwidth, from the sweep run's measurements.

    Both the FLOPs-vs-time and the time-model pages state this roof, so a
    report has one peak: :func:`best_rate` over the sweep's points and the
    peak benchmark of its run, and that run's bandwidth. None when the run
    measured no peak.
    """
    peak = ctx.meta.get("peak")
    if not peak:
        return None
    empty = pd.DataFrame({"case": [], "order": [], "gflops": []})
    df = ctx.require_sweep() if ctx.sweep is not None else empty
    return {**best_rate(df, peak.get("peak_gflops")), "bandwidth_gbs": peak["bandwidth_gbs"]}


def roofline_table(df: pd.DataFrame, roof_gflops: float, bandwidth_gbs: float,
                   machine: dict[str, Any] | None = None,
                   curve: list[list[float]] | None = None) -> pd.DataFrame:
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
        :func:`~chainorder.lab.machine.machine_info`, for the cache sizes the OS
        reports (the reasons when no ``curve`` is given).
    curve : list of [bytes, GB/s], optional
        The measured read rate by array size (``read_curve`` of
        :func:`~chainorder.lab.machine.measure_peak`), which explains points
        above the memory roof by how fast their working set streamed.

    Returns
    -------
    DataFrame
        ``case, kind, order, flops, bytes_moved, arithmetic_intensity`` (FLOP
        per byte), ``gflops`` (achieved), ``roof_gflops``, ``bound``
        (``'memory'`` or ``'compute'``), ``of_roof`` (fraction of the roof at
        the point's intensity), ``achieved_gbs``, ``vector_share`` (share of
        steps that are vector-matrix or matrix-vector products),
        ``jacobian_bytes``, ``working_set_bytes`` (Jacobians and the largest
        product), ``above_roof`` (strictly faster than the roofline allows at its
        intensity, no tolerance) and ``why_above`` (the reason, for those
        points); ``loaded`` where the sweep recorded it.
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
    r["above_roof"] = r["gflops"] > r["roof_gflops"]
    beside = (df["read_gbs"] if "read_gbs" in df else pd.Series(np.nan, index=df.index))
    beside = beside.reindex(r.index)
    r["read_gbs"] = pd.to_numeric(beside, errors="coerce")
    r["why_above"] = [
        (_why_beside(int(w), float(g), float(rb)) if up and rb == rb and g <= rb else
         why_above(int(w), machine or {}, achieved_gbs=float(g), curve=curve) if up else "")
        for w, g, rb, up in zip(r["working_set_bytes"], r["achieved_gbs"], r["read_gbs"],
                                r["above_roof"], strict=True)]
    return r.drop(columns=["steps", "vector_steps", "intermediate_bytes_largest"]).sort_values(
        ["case", "order"], ignore_index=True)


def _mib(nbytes: float) -> str:
    return f"{float(f'{nbytes / 2**20:.4g}'):g} MiB"


#: The long reasons of :func:`why_above` and their short forms for the page's table (whose
#: columns give the working set and the rate the point moved).
_SHORT = ((r"^working set [\d.]+ MiB(: |, | )", ""),
          (r"a vector-matrix read of an array of its size, timed in the same rounds, streamed "
           r"at ([\d.]+) GB/s, and this point moved [\d.]+ GB/s \(its data stay in a "
           r"cache\)", r"read at \1 GB/s"),
          (r"fits in the ([\d.]+ MiB) (\w+) cache the OS reports, which streams faster than "
           r"memory", r"fits the \2 (\1)"),
          (r"arrays of ([\d.]+ MiB) streamed at ([\d.]+) GB/s here, and this point moved "
           r"[\d.]+ GB/s \(its data stay in a cache\)", r"\1 read \2 GB/s"),
          (r"moved [\d.]+ GB/s, faster than the ([\d.]+) GB/s measured on arrays of "
           r"([\d.]+ MiB): not explained by the measured rates",
           r"not explained (\2 read \1 GB/s)"),
          (r"between arrays of ([\d.]+ MiB) \(([\d.]+) GB/s\) and [\d.]+ MiB \([\d.]+ "
           r"GB/s\), and it moved [\d.]+ GB/s, within their rates \(its data partly stay "
           r"in a cache\)", r"\1 read \2 GB/s"),
          (r"smaller than every array streamed here \([\d.]+ MiB the smallest\) and within "
           r"the ([\d.]+ MiB) (\w+) cache the OS reports, so no measured rate bounds it; it "
           r"moved [\d.]+ GB/s", r"in the \2 (\1)"))


def short_why(text: str) -> str:
    """A reason of :func:`why_above`, short enough for a table cell.

    Examples
    --------
    >>> short_why(why_above(2**20, {"caches": {"L2": "2M"}}))
    'fits the L2 (2 MiB)'
    >>> short_why(why_above(2**20, {}, achieved_gbs=30.0, curve=[[2**21, 60.0], [2**30, 10.0]]))
    '2 MiB read 60.0 GB/s'
    """
    for pattern, repl in _SHORT:
        text = re.sub(pattern, repl, text)
    return text


def _why_beside(working_set: int, achieved_gbs: float, read_gbs: float) -> str:
    """The reason from the read timed beside the point (``read_gbs`` of the sweep row).

    Examples
    --------
    >>> _why_beside(2**20, 90.0, 120.0)
    'working set 1 MiB: a vector-matrix read of an array of its size, timed in the same rounds, streamed at 120.0 GB/s, and this point moved 90.0 GB/s (its data stay in a cache)'
    """  # noqa: E501
    return (f"working set {_mib(working_set)}: a vector-matrix read of an array of its size, "
            f"timed in the same rounds, streamed at {read_gbs:.1f} GB/s, and this point moved "
            f"{achieved_gbs:.1f} GB/s (its data stay in a cache)")


def _why_from_curve(working_set: int, achieved_gbs: float, curve: list[list[float]],
                    machine: dict[str, Any] | None = None) -> str:
    """The reason from the measured read rates by array size, the first that holds.

    The fastest array at least as large as the set streamed as fast (the set fits
    wherever that array did); or the arrays just smaller and just larger than the set
    bracket its rate; or the set is smaller than every array streamed and fits the L1d or
    L2 cache the OS reports (no measured rate bounds it). Else it is not explained."""
    ws = f"working set {_mib(working_set)}"
    points = sorted((int(b), float(g)) for b, g in curve)
    holding = [(b, g) for b, g in points if b >= working_set]
    smaller = [(b, g) for b, g in points if b < working_set]
    if holding:
        size, rate = max(holding, key=lambda bg: bg[1])
        if achieved_gbs <= rate:
            return (f"{ws}: arrays of {_mib(size)} streamed at {rate:.1f} GB/s here, and this "
                    f"point moved {achieved_gbs:.1f} GB/s (its data stay in a cache)")
    if smaller and holding:
        (lo, lo_rate), (hi, hi_rate) = smaller[-1], holding[0]
        if achieved_gbs <= lo_rate:
            return (f"{ws}: between arrays of {_mib(lo)} ({lo_rate:.1f} GB/s) and {_mib(hi)} "
                    f"({hi_rate:.1f} GB/s), and it moved {achieved_gbs:.1f} GB/s, within "
                    "their rates (its data partly stay in a cache)")
    if not smaller and points:
        for level in ("L1d", "L2"):
            cache = cache_bytes(machine or {}, level)
            if cache and working_set <= cache:
                return (f"{ws}: smaller than every array streamed here ({_mib(points[0][0])} "
                        f"the smallest) and within the {_mib(cache)} {level} cache the OS "
                        f"reports, so no measured rate bounds it; it moved "
                        f"{achieved_gbs:.1f} GB/s")
    if not holding:
        return f"{ws}, larger than every array streamed here: not explained by this page"
    size, rate = max(holding, key=lambda bg: bg[1])
    return (f"{ws}: moved {achieved_gbs:.1f} GB/s, faster than the {rate:.1f} GB/s measured "
            f"on arrays of {_mib(size)}: not explained by the measured rates")


def why_above(working_set: int, machine: dict[str, Any], *, achieved_gbs: float | None = None,
              curve: list[list[float]] | None = None) -> str:
    """Why a point beats the memory roof: from the measured read rates by array size if given
    (``curve`` and the point's ``achieved_gbs``), else from the cache sizes the OS reports.

    Examples
    --------
    >>> why_above(2**20, {"caches": {"L2": "2M", "L3": "32M"}})
    'working set 1 MiB fits in the 2 MiB L2 cache the OS reports, which streams faster than memory'
    >>> why_above(2**20, {}, achieved_gbs=30.0, curve=[[2**21, 60.0], [2**30, 10.0]])
    'working set 1 MiB: arrays of 2 MiB streamed at 60.0 GB/s here, and this point moved 30.0 GB/s (its data stay in a cache)'
    """  # noqa: E501
    if curve and achieved_gbs is not None:
        return _why_from_curve(working_set, achieved_gbs, curve, machine)
    ws = f"working set {_mib(working_set)}"
    for level in ("L1d", "L2", "L3"):
        size = cache_bytes(machine, level)
        if size and working_set <= size:
            return (f"{ws} fits in the {_mib(size)} {level} cache the OS reports, which "
                    "streams faster than memory")
    l3 = cache_bytes(machine, "L3")
    if l3 is None:
        return f"{ws}; cache sizes unknown, so not explained by this page"
    return (f"{ws} exceeds the {_mib(l3)} L3 cache: not explained by the "
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
        ratio) and the median gap; ``slopes``: :func:`equal_slopes`, whether
        one exponent serves every kind.
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
        "slopes": equal_slopes(t),
    }


def equal_slopes(t: pd.DataFrame) -> dict[str, Any]:
    """Do the kinds share one exponent? An F-test of per-kind lines against one common slope.

    On log-log axes, ``log time_ratio = a_kind + b_kind · log flop_ratio`` per
    kind (kinds with three or more cases and two or more FLOP ratios) against
    the same with one ``b`` for all kinds.

    Returns
    -------
    dict
        ``kinds``, ``cases``, ``common_slope``, ``f``, ``p`` (NaN where the test
        has no degrees of freedom) and, of the common-slope model,
        ``max_rel_error`` (the worst |fitted / measured time ratio − 1|) with
        the ``worst_case`` it belongs to.

    Examples
    --------
    >>> d = pd.DataFrame({"case": list("abcdef"), "kind": list("pppqqq"),
    ...                   "flop_ratio": [1, 10, 100] * 2, "time_ratio": [1, 5, 25, 2, 10, 50]})
    >>> r = equal_slopes(d)
    >>> round(r["common_slope"], 4), r["kinds"], round(r["max_rel_error"], 6)
    (0.699, 2, 0.0)
    """
    from scipy import stats

    use = t.groupby("kind").filter(lambda g: len(g) >= 3 and g["flop_ratio"].nunique() >= 2)
    kinds = sorted(use["kind"].unique())
    n, k = len(use), len(kinds)
    nan = {"kinds": k, "cases": n, "common_slope": np.nan, "f": np.nan, "p": np.nan,
           "max_rel_error": np.nan, "worst_case": None}
    if k == 0:
        return nan
    lx, ly = np.log(use["flop_ratio"].to_numpy(float)), np.log(use["time_ratio"].to_numpy(float))
    dummies = np.column_stack([(use["kind"] == kd).to_numpy(float) for kd in kinds])
    common = np.column_stack([dummies, lx])
    separate = np.column_stack([dummies, dummies * lx[:, None]])
    coef, *_ = np.linalg.lstsq(common, ly, rcond=None)
    rss_c = float(((common @ coef - ly) ** 2).sum())
    rss_s = float(((separate @ np.linalg.lstsq(separate, ly, rcond=None)[0] - ly) ** 2).sum())
    rel = np.abs(np.exp(common @ coef - ly) - 1)
    dfn, dfd = k - 1, n - 2 * k
    f = ((rss_c - rss_s) / dfn) / (rss_s / dfd) if dfn > 0 and dfd > 0 and rss_s > 0 else np.nan
    p = float(stats.f.sf(f, dfn, dfd)) if np.isfinite(f) else np.nan
    worst = str(use["case"].iloc[int(rel.argmax())])
    return {**nan, "common_slope": float(coef[-1]), "f": float(f), "p": p,
            "max_rel_error": float(rel.max()), "worst_case": worst}


def cache_bytes(machine: dict[str, Any], level: str) -> int | None:
    """Size of a cache level in bytes from :func:`~chainorder.lab.machine.machine_info`.

    Examples
    --------
    >>> cache_bytes({"caches": {"L3": "32M"}}, "L3"), cache_bytes({}, "L3")
    (33554432, None)
    """
    return size_bytes((machine.get("caches") or {}).get(level))


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


def _slopes_finding(sl: dict[str, Any]) -> str | None:
    """The equal-slopes test as a finding (None with fewer than two kinds to compare)."""
    if sl["kinds"] < 2 or not np.isfinite(sl["p"]):
        return None
    fit = (f"the common-slope fit misses `{sl['worst_case']}` by {sl['max_rel_error']:.0%}, "
           "its worst case")
    if sl["p"] >= 0.05:
        return (f"One exponent serves every kind: time ratio ∝ FLOP ratio^s with a per-kind "
                f"factor and common s = {sl['common_slope']:.2f}; per-kind slopes are not "
                f"significantly different (F-test, p = {sl['p']:.2f}, {sl['kinds']} kinds with "
                f"three or more cases, {sl['cases']} cases); {fit}.")
    return (f"The exponent differs by kind: per-kind slopes of log time ratio on log FLOP "
            f"ratio differ significantly (F-test against a common s = "
            f"{sl['common_slope']:.2f}, p = {sl['p']:.2g}, {sl['kinds']} kinds, "
            f"{sl['cases']} cases); {fit}.")


def _llc_text(machine: dict[str, Any]) -> str:
    llc = last_level_cache(machine.get("caches") or {})
    return "" if llc is None else f"the OS reports a {llc[1] / 2**20:.0f} MiB {llc[0]} cache"


def _roof_finding(best: dict[str, Any], peak: dict[str, Any], threads: str, above: int,
                  points: int, llc: str) -> str:
    """The roof, the bandwidth and where they were measured, as one finding."""
    size = peak.get("stream_bytes")
    streamed = (f"streaming {size / 2**20:.0f} MiB arrays" if size else "streaming")
    if peak.get("stream_why"):
        streamed += f", {peak['stream_why']}"
    elif llc:
        streamed += f"; {llc}, which such arrays may fit"
    below = ("No point lies above either roof." if not above else
             f"No point lies above the compute roof (it is the best rate of this run); "
             f"{above} lie above the memory roof, listed below with their reasons.")
    return (f"The roof is the best rate actually achieved in this run: {best['gflops']:.1f} "
            f"GFLOP/s, by {best['source']} (float64, {threads}); memory bandwidth "
            f"{peak['bandwidth_gbs']:.1f} GB/s ({streamed}). {below}")


def _bandwidth_text(peak: dict[str, Any]) -> str:
    """The measured read rates by array size, one sentence."""
    curve = peak.get("read_curve") or []
    if not curve:
        return f"How the rates were measured: {peak.get('method', 'by the sweep run')}."
    rates = ", ".join(f"{_mib(b)} {g:.1f} GB/s" for b, g in curve)
    return (f"Read rate of a vector-matrix product by array size, measured with the peak: "
            f"{rates}. A point whose working set fits a smaller array can beat the memory roof.")


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
        findings = [
            "The wall-time ratio is "
            f"{_compared(gap['median_gap'])} the FLOP ratio (input-first over loss-first) at "
            f"the median: FLOP ratio / time ratio has median {ratio_text(gap['median_gap'])} "
            f"over {len(cmp)} cases, and is above 1 in {int((gap['table']['gap'] > 1).sum())} "
            "of them.",
        ]
        slopes = _slopes_finding(gap["slopes"])
        if slopes:
            findings.append(slopes)
        body = ["## Time ratio against FLOP ratio", "",
                ctx.figure(plot_time_ratio_vs_flop_ratio(cmp), "time-ratio-vs-flop-ratio",
                           "wall-time ratio vs FLOP ratio, input-first over loss-first"),
                "Per kind of case: `slope` and `r2` of the log-log fit of time ratio on FLOP "
                "ratio (— below three cases), `median_gap` = FLOP ratio / time ratio.", "",
                ctx.table(kinds, "ratio-gap-by-kind", counted=False,
                          formats={"slope": "{:.3f}", "r2": "{:.3f}", "median_gap": "{:.3g}",
                                   "flop_ratio_min": "{:.3g}", "flop_ratio_max": "{:.3g}"}),
                "Per case: `time_ratio_low` .. `time_ratio_high` is the time ratio's range over "
                "the 95% intervals of the two medians (the figure's bars).", "",
                ctx.table(gap["table"], "ratio-gap", counted=False,
                          formats={c: "{:.3g}" for c in ("flop_ratio", "time_ratio",
                                                         "time_ratio_low", "time_ratio_high",
                                                         "gap")})]
        if peak:
            findings_roof, body_roof = self._roofline(ctx, df, peak, report_roof(ctx))
            findings += findings_roof
            body += body_roof
        else:
            body.append("The peak was not measured (`peak_seconds = 0`), so there is no roofline.")
        if ctx.benchmark is not None and {"case", "order", "median"} <= set(ctx.benchmark.columns):
            findings_b, body_b = self._benchmark(ctx, df)
            findings += findings_b
            body += body_b
        return StudyPage(findings, "\n".join(body))

    def _roofline(self, ctx: ReportContext, df: pd.DataFrame, peak: dict[str, Any],
                  best: dict[str, Any] | None = None) -> tuple[list[str], list[str]]:
        best = best or best_rate(df, peak.get("peak_gflops"))
        top, bw = best["gflops"], peak["bandwidth_gbs"]
        roof = roofline_table(df, top, bw, ctx.meta.get("machine"), peak.get("read_curve"))
        eff = order_efficiency(roof).reset_index()
        get = eff.set_index("order")
        lf, inf = get.loc["loss_first"], get.loc["input_first"]
        above = roof[roof["above_roof"]]
        findings = [_roof_finding(best, peak, ctx.settings.threads_text(), len(above),
                                  len(roof), _llc_text(ctx.meta.get("machine") or {})),
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
        if len(above):
            explained = int((~above["why_above"].str.contains("not explained")).sum())
            by_order = ", ".join(f"{o} {n}" for o, n in above["order"].value_counts().items())
            findings.append(f"{len(above)} of {len(roof)} points run faster than the memory "
                            f"roof allows ({by_order}); {explained} of them have a reason "
                            "(a working set that streamed as fast in a read of its size, or "
                            f"fits a cache), {len(above) - explained} are not explained; each "
                            "is listed below.")
        body = ["## Achieved rate against the roofline", "",
                ctx.figure(plot_roofline(roof, top, bw, ctx.settings.threads_text()),
                           "roofline", "achieved GFLOP/s vs arithmetic intensity under the "
                           "roofline of best achieved rates"),
                _bandwidth_text(peak), "",
                "Per order (medians over cases; `of_roof` is the fraction of the roofline at "
                "the point's intensity, whose flat part is the best rate achieved):", "",
                ctx.table(eff, "efficiency", counted=False,
                          formats={"median_gflops": "{:.3g}", "median_of_roof": "{:.2f}",
                                   "median_gbs": "{:.3g}", "median_intensity": "{:.3g}",
                                   "memory_bound": "{:.0%}", "vector_share": "{:.0%}"})]
        if len(above):
            shown = pd.DataFrame({
                "case": above["case"], "order": above["order"],
                "of_roof": above["gflops"] / above["roof_gflops"],
                "MiB": above["working_set_bytes"] / 2**20, "GB/s": above["achieved_gbs"],
                "why": above["why_above"].map(short_why)})
            body += ["Points above the memory roof (strictly, no tolerance), and why. `of_roof` "
                     "is the achieved rate over the roof at the point's arithmetic intensity; "
                     "`MiB` the working set (the Jacobians and the largest product); `GB/s` the "
                     "rate its data moved. A set that streamed as fast in a vector-matrix read "
                     "of an array of its size timed in the same rounds (`read at`), or else (where "
                     "that read was slower, or the sweep has none) as arrays of a size that "
                     "holds it did when the bandwidth was measured (`... read ...`), or that "
                     "fits a cache the OS reports, explains the point: the first of these that "
                     "holds. `timed-roofline.csv` holds the full sentences.", "",
                     ctx.table(shown, "above-roof", counted=False, keys=2,
                               formats={"of_roof": "{:.2f}", "MiB": "{:.3g}",
                                        "GB/s": "{:.3g}"})]
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
