"""The report's figures (matplotlib, Agg backend), saved as PNG and SVG, labelled with units.

Every function takes tidy DataFrames from :mod:`chainorder.lab.results` and
returns a :class:`matplotlib.figure.Figure`; :func:`save_figure` writes it.
Costs are scalar multiplications (a ``p x q`` times ``q x r`` product costs
``p*q*r``; FLOPs are twice that); times are seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..algebra.costs import COST_UNIT  # noqa: E402

__all__ = [
    "COST_CONVENTION",
    "ORDER_STYLE",
    "save_figure",
    "plot_multiplications_vs_x",
    "plot_time_vs_x",
    "plot_time_ratio_vs_flop_ratio",
    "plot_roofline",
    "plot_random_chain_ratios",
    "plot_caching_vs_depth",
    "plot_batch_costs",
]

#: Printed under every cost axis.
COST_CONVENTION = f"cost convention: {COST_UNIT}"

#: Colour, marker and legend label of each order.
ORDER_STYLE: dict[str, dict[str, str]] = {
    "loss_first": {"color": "#1f77b4", "marker": "o",
                   "label": "loss-first (article: forwards; AD reverse mode)"},
    "input_first": {"color": "#d62728", "marker": "s",
                    "label": "input-first (article: backwards; AD forward mode)"},
    "optimal": {"color": "#2ca02c", "marker": "^", "label": "optimal bracketing"},
}

def _style(order: str) -> dict[str, str]:
    return ORDER_STYLE.get(order, {"color": "0.4", "marker": "x", "label": order})


def _figure(width: float = 7.0, height: float = 4.8, ncols: int = 1) -> tuple[Figure, Any]:
    # fixed margins: a layout engine would double the drawing time of every figure
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(1, ncols, sharey=ncols > 1)
    fig.subplots_adjust(left=0.11, right=0.98, bottom=0.16, top=0.92, wspace=0.08)
    return fig, axes


def _note(fig: Figure, text: str = COST_CONVENTION) -> None:
    fig.text(0.99, 0.012, text, fontsize=7, color="0.35", ha="right", va="bottom")


def save_figure(fig: Figure, out_dir: str | Path, stem: str) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` (130 dpi) and ``<stem>.svg``; return both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.svg"]
    # a fixed salt and no date keep the SVG of the same data byte-identical
    with matplotlib.rc_context({"svg.hashsalt": "chainorder"}):
        fig.savefig(paths[0], dpi=130, metadata={"Software": None})
        fig.savefig(paths[1], metadata={"Date": None, "Creator": None})
    return paths


def _loglog(ax: Axes, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)


def plot_multiplications_vs_x(
    art: pd.DataFrame, formula: Callable[[int, str], int], *, z1: int, z3: int
) -> Figure:
    """Counted multiplications vs ``|x|`` per order, the article's formulas drawn over them.

    Parameters
    ----------
    art : DataFrame
        Sweep rows of the article's network with these hidden sizes (columns
        ``x``, ``order``, ``multiplications``).
    formula : callable
        ``formula(x, order) -> int``, the article's prediction.
    z1, z3 : int
        The hidden sizes, for the title.
    """
    fig, ax = _figure()
    xs = np.unique(np.logspace(np.log10(art["x"].min()), np.log10(art["x"].max()), 60).round())
    for order in ("loss_first", "input_first"):
        st = _style(order)
        pts = art[art["order"] == order].sort_values("x")
        ax.plot(xs, [formula(int(x), order) for x in xs], "-", color=st["color"], lw=1.2,
                alpha=0.7, label=f"article's formula, {order.replace('_', '-')}")
        ax.plot(pts["x"], pts["multiplications"], st["marker"], color=st["color"], ms=7,
                mfc="none", mew=1.5, label=f"counted, {st['label']}")
    _loglog(ax, "|x| (input size)", "scalar multiplications",
            f"The article's network, |z1| = |z2| = {z1}, |z3| = {z3}: counted vs predicted")
    ax.legend(fontsize=7.5, loc="upper left")
    _note(fig)
    return fig


def plot_time_vs_x(art: pd.DataFrame, *, z1: int, z3: int, threads: str) -> Figure:
    """Median wall time vs ``|x|`` per order, bars over the middle half of the runs."""
    fig, ax = _figure()
    low, high = (("seconds_q1", "seconds_q3") if "seconds_q1" in art
                 else ("seconds_min", "seconds_max"))
    for order in ("loss_first", "input_first", "optimal"):
        pts = art[art["order"] == order].sort_values("x")
        if pts.empty:
            continue
        st = _style(order)
        med = pts["seconds_median"].to_numpy(float)
        err = [med - pts[low].to_numpy(float), pts[high].to_numpy(float) - med]
        ax.errorbar(pts["x"], med, yerr=err, fmt=st["marker"] + "-", color=st["color"], ms=5,
                    capsize=2, lw=1, label=st["label"], alpha=0.85 if order != "optimal" else 0.5)
    _loglog(ax, "|x| (input size)", "wall time of the product, median of runs (s)",
            f"The article's network (|z1| = |z2| = {z1}, |z3| = {z3}): wall time, {threads}")
    ax.legend(fontsize=7.5, loc="upper left")
    bars = "first to third quartile" if low == "seconds_q1" else "fastest to slowest run"
    _note(fig, f"bars: {bars} of the runs; times exclude planning and building the Jacobians")
    return fig


def plot_time_ratio_vs_flop_ratio(cmp: pd.DataFrame) -> Figure:
    """Input-first / loss-first: wall-time ratio against FLOP ratio, one point per case."""
    fig, ax = _figure(7.0, 5.4)
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
    _loglog(ax, "FLOP ratio, input-first / loss-first",
            "wall-time ratio, input-first / loss-first (medians)",
            "Does input-first take as much longer as its FLOPs say?")
    ax.legend(fontsize=7, loc="upper left", ncols=2)
    _note(fig)
    return fig


def plot_roofline(roof: pd.DataFrame, peak_gflops: float, bandwidth_gbs: float,
                  threads: str) -> Figure:
    """Achieved GFLOP/s against arithmetic intensity, under the machine's measured roofline."""
    fig, ax = _figure(7.0, 5.2)
    ai = roof["arithmetic_intensity"].astype(float)
    lo, hi = max(ai.min() / 3, 1e-3), max(ai.max() * 3, 2 * peak_gflops / bandwidth_gbs)
    grid = np.logspace(np.log10(lo), np.log10(hi), 200)
    ax.plot(grid, np.minimum(peak_gflops, bandwidth_gbs * grid), "-", color="k", lw=1.5,
            label=f"roofline: {peak_gflops:.1f} GFLOP/s peak, {bandwidth_gbs:.1f} GB/s")
    for order in ("loss_first", "input_first", "optimal"):
        pts = roof[roof["order"] == order]
        st = _style(order)
        ax.scatter(pts["arithmetic_intensity"], pts["gflops"], s=26, marker=st["marker"],
                   color=st["color"], alpha=0.75, label=st["label"])
    _loglog(ax, "arithmetic intensity (FLOP per byte moved: operands read + product written)",
            "achieved GFLOP/s (1e9 FLOP/s at the median time)",
            f"Achieved rate against the measured roofline, float64, {threads}")
    ax.legend(fontsize=7.5, loc="lower right")
    _note(fig)
    return fig


def plot_random_chain_ratios(rc: pd.DataFrame, orders: list[str]) -> Figure:
    """Distribution of each order's cost over the optimal cost, across random chains."""
    fig, axes = _figure(9.5, 4.6, ncols=2)
    for ax, scalar in zip(axes, (True, False), strict=True):
        sub = rc[rc["scalar_loss"] == scalar]
        worst = max(float((sub[o] / sub["optimal"]).max()) for o in orders) if len(sub) else 2.0
        bins = np.logspace(0, np.log10(max(worst, 1.01)) + 0.01, 40)
        for k, order in enumerate(orders):
            ratio = (sub[order] / sub["optimal"]).to_numpy(float)
            st = _style(order) if order in ORDER_STYLE else {"color": f"C{k + 4}", "label": order}
            ax.hist(ratio, bins=bins, histtype="step", lw=1.6, color=st["color"],
                    label=st["label"], weights=np.full(len(ratio), 100.0 / max(len(ratio), 1)))
        ax.set_xscale("log")
        ax.set_xlabel("cost / optimal cost (1 = optimal)")
        title = "scalar loss (p0 = 1)" if scalar else "any p0 (matrix-valued output)"
        ax.set_title(f"{len(sub):,} random chains, {title}", fontsize=10)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("share of chains (%)")
    axes[0].legend(fontsize=7.5)
    _note(fig)
    return fig


def plot_caching_vs_depth(caching: pd.DataFrame) -> Figure:
    """Multiplications for all parameter gradients vs depth, with caching and without."""
    fig, ax = _figure()
    styles = {
        "loss_first_cached_multiplications": ("loss-first, caching dl/dz (one sweep)", "o",
                                              ORDER_STYLE["loss_first"]["color"]),
        "loss_first_uncached_multiplications": ("loss-first, one chain per parameter (no cache)",
                                                "D", "#9467bd"),
        "input_first_multiplications": ("input-first, one chain per parameter",
                                        "s", ORDER_STYLE["input_first"]["color"]),
    }
    for col, (label, marker, color) in styles.items():
        if col in caching:
            ax.plot(caching["depth"], caching[col], marker + "-", color=color, label=label)
    width = int(caching["width"].iloc[0]) if "width" in caching else None
    _loglog(ax, "depth (affine layers)", "scalar multiplications, all gradients",
            f"Caching: every parameter gradient of an MLP of width {width}")
    ax.legend(fontsize=8, loc="upper left")
    _note(fig)
    return fig


def plot_batch_costs(batch: pd.DataFrame) -> Figure:
    """Counted multiplications vs mini-batch size ``B`` (a ``B x |z_L|`` first block) per order."""
    fig, ax = _figure()
    for k, (x, sub) in enumerate(batch.groupby("x")):
        for order in ("loss_first", "input_first", "optimal"):
            pts = sub[sub["order"] == order].sort_values("batch")
            st = _style(order)
            ax.plot(pts["batch"], pts["multiplications"], st["marker"] + "-:"[k % 2],
                    color=st["color"], label=f"{st['label']}, |x| = {int(x):,}", alpha=0.85)
    _loglog(ax, "B, rows of the first block (mini-batch size)", "scalar multiplications",
            "Mini-batches sharing one Jacobian chain (linear article network)")
    ax.legend(fontsize=7.5, loc="upper left")
    _note(fig)
    return fig
