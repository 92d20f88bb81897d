"""Study 4: how cost and time grow with |x|: affine fits, as the article's formulas are."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...networks.article import article_costs
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

# exact_affine and affine_text: the structured-article page writes its fits with them too
__all__ = ["GrowthStudy", "STUDY", "exact_affine", "affine_text"]

#: Hidden sizes |z1| = |z2| and |z3| of the article network whose |x| the sweep varies.
Z1, Z3 = 100, 10
_TWO = ("loss_first", "input_first")


def exact_affine(xs: list[int], ys: list[int]) -> dict[str, Any]:
    """The line through the first and last point, in exact fractions, and whether all lie on it.

    Returns
    -------
    dict
        ``intercept`` and ``slope`` (ints when whole, else Fractions), ``exact``
        (every point on the line) and ``points``.

    Examples
    --------
    >>> exact_affine([10, 100, 1000], [12000, 21000, 111000])
    {'intercept': 11000, 'slope': 100, 'exact': True, 'points': 3}
    """
    pts = sorted(zip((int(x) for x in xs), (int(y) for y in ys), strict=True))
    (x0, y0), (x1, y1) = pts[0], pts[-1]
    slope = Fraction(y1 - y0, x1 - x0) if x1 != x0 else Fraction(0)
    intercept = y0 - slope * x0
    exact = all(y == intercept + slope * x for x, y in pts)

    def whole(v: Fraction) -> int | Fraction:
        return int(v) if v.denominator == 1 else v

    return {"intercept": whole(intercept), "slope": whole(slope), "exact": exact,
            "points": len(pts)}


def least_squares_affine(xs: list[float], ys: list[float]) -> dict[str, float]:
    """Least-squares ``y = intercept + slope * x`` on relative residuals ``(fit - y) / y``.

    Times over several decades of ``|x|`` would otherwise be fitted to the
    largest points only. Returns ``intercept``, ``slope``, ``r2`` (weighted
    the same way), ``max_rel_error`` (the worst ``|fit - y| / y``) and ``points``.

    Examples
    --------
    >>> fit = least_squares_affine([1, 10, 100], [3, 21, 201])
    >>> round(fit["intercept"], 9), round(fit["slope"], 9), round(fit["max_rel_error"], 9)
    (1.0, 2.0, 0.0)
    """
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    w = 1.0 / y
    (intercept, slope), *_ = np.linalg.lstsq(np.column_stack([w, x * w]), np.ones_like(y),
                                             rcond=None)
    rel = (intercept + slope * x - y) * w
    mean = np.average(y, weights=w**2)
    total = float((((y - mean) * w) ** 2).sum())
    r2 = 1.0 - float((rel**2).sum()) / total if total > 0 else float("nan")
    return {"intercept": float(intercept), "slope": float(slope), "r2": r2,
            "max_rel_error": float(np.abs(rel).max()), "points": len(x)}


def affine_text(intercept: Any, slope: Any, unit: str = "") -> str:
    """``'11,000 + 100·|x|'``: an affine function of |x| as text.

    Examples
    --------
    >>> affine_text(11000, 100), affine_text(0, 11010)
    ('11,000 + 100·|x|', '11,010·|x|')
    """
    def num(v: Any) -> str:
        return f"{v:,}" if isinstance(v, int) else number_text(float(v))

    if isinstance(intercept, int) and intercept == 0:
        return f"{num(slope)}·|x|{unit}"
    sign = "-" if slope < 0 else "+"
    return f"{num(intercept)} {sign} {num(abs(slope))}·|x|{unit}"


def _article(df: pd.DataFrame, z1: int, z3: int) -> pd.DataFrame:
    if not {"z1", "z3", "x"} <= set(df.columns):
        return df.iloc[0:0].assign(x=[], z1=[], z3=[])
    return df[(df["kind"] == "article") & (df["z1"] == z1) & (df["z3"] == z3)]


def growth_fits(df: pd.DataFrame, *, z1: int = Z1, z3: int = Z3) -> pd.DataFrame:
    """Affine fits of cost and time against ``|x|`` for the article's network.

    Uses the ``kind == 'article'`` sweep rows with these hidden sizes. For each
    of loss-first and input-first: the counted multiplications (exact line
    through the measured points, in integers), the article's formula (its
    exact intercept and slope) and the median wall time (least squares).

    Returns
    -------
    DataFrame
        ``order, quantity, intercept, slope, exact, r2, points, x_min, x_max``;
        ``exact`` says whether every point lies on the line (counted costs),
        ``r2`` is the least-squares R² (times).
    """
    art = _article(df, z1, z3)
    out = []
    for order in _TWO:
        s = art[art["order"] == order].sort_values("x")
        if s["x"].nunique() < 2:
            continue
        xs = s["x"].astype(int).tolist()
        span = {"x_min": min(xs), "x_max": max(xs)}
        counted = exact_affine(xs, [int(v) for v in s["multiplications"]])
        formula = exact_affine([1, 2], [article_costs(x, z1, z3)[order] for x in (1, 2)])
        out.append({"order": order, "quantity": "counted multiplications", **counted,
                    "r2": None, "max_rel_error": None, **span})
        out.append({"order": order, "quantity": "article formula", **formula, "r2": None,
                    "max_rel_error": None, "points": None, **span})
        timed = least_squares_affine(xs, s["seconds_median"].astype(float).tolist())
        out.append({"order": order, "quantity": "wall time (median s)", **timed,
                    "exact": None, **span})
    cols = ["order", "quantity", "intercept", "slope", "exact", "r2", "max_rel_error", "points",
            "x_min", "x_max"]
    # object columns: counted intercepts and slopes stay exact Python ints beside float times
    df = pd.DataFrame(out, columns=cols)
    for c in ("intercept", "slope"):
        df[c] = pd.Series([r[c] for r in out], dtype=object)
    df["points"] = df["points"].astype("Int64")
    return df


def plot_counted_vs_x(art: pd.DataFrame, fits: pd.DataFrame, *, z1: int, z3: int) -> Figure:
    """Counted multiplications vs ``|x|`` per order with the exact affine lines through them."""
    fig, ax = new_figure()
    grid = np.logspace(np.log10(art["x"].min()), np.log10(art["x"].max()), 60)
    f = fits.set_index(["order", "quantity"])
    for order in _TWO:
        st, pts = order_style(order), art[art["order"] == order].sort_values("x")
        fit = f.loc[(order, "counted multiplications")]
        a, b = float(fit["intercept"]), float(fit["slope"])
        ax.plot(grid, a + b * grid, "-", color=st["color"], lw=1.2, alpha=0.7,
                label=f"{affine_text(fit['intercept'], fit['slope'])}")
        ax.plot(pts["x"], pts["multiplications"], st["marker"], color=st["color"], ms=7,
                mfc="none", mew=1.5, label=f"counted, {st['label']}")
    loglog(ax, "|x| (input size)", "scalar multiplications",
           f"The article's network, |z1| = |z2| = {z1}, |z3| = {z3}: cost is affine in |x|")
    ax.legend(fontsize=7.5, loc="upper left")
    note(fig)
    return fig


def plot_time_vs_x(art: pd.DataFrame, fits: pd.DataFrame, *, z1: int, z3: int,
                   threads: str) -> Figure:
    """Median wall time vs ``|x|`` per order (bars: middle half of the runs), fitted lines."""
    fig, ax = new_figure()
    low, high = (("seconds_q1", "seconds_q3") if "seconds_q1" in art
                 else ("seconds_min", "seconds_max"))
    f = fits.set_index(["order", "quantity"])
    grid = np.logspace(np.log10(art["x"].min()), np.log10(art["x"].max()), 60)
    for order in ("loss_first", "input_first", "optimal"):
        pts = art[art["order"] == order].sort_values("x")
        if pts.empty:
            continue
        st = order_style(order)
        med = pts["seconds_median"].to_numpy(float)
        err = [med - pts[low].to_numpy(float), pts[high].to_numpy(float) - med]
        ax.errorbar(pts["x"], med, yerr=err, fmt=st["marker"], color=st["color"], ms=5,
                    capsize=2, lw=1, label=st["label"], alpha=0.85 if order != "optimal" else 0.5)
        if (order, "wall time (median s)") in f.index:
            fit = f.loc[(order, "wall time (median s)")]
            line = float(fit["intercept"]) + float(fit["slope"]) * grid
            ax.plot(grid[line > 0], line[line > 0], "--", color=st["color"], lw=1, alpha=0.7)
    loglog(ax, "|x| (input size)", "wall time of the product, median of runs (s)",
           f"The article's network (|z1| = |z2| = {z1}, |z3| = {z3}): wall time, {threads}")
    ax.legend(fontsize=7.5, loc="upper left")
    bars = "first to third quartile" if low == "seconds_q1" else "fastest to slowest run"
    note(fig, f"bars: {bars} of the runs; dashed: least-squares a + b·|x|; times exclude "
              "planning and building the Jacobians")
    return fig


class GrowthStudy(Study):
    """Intercept and slope of cost and time in |x|, and the ratio they tend to."""

    slug = "04-growth-with-x"
    title = "How cost grows with |x|"
    question = "How do cost and time scale with the input size, against the article's formulas?"
    references = ("desai2018",)

    def render(self, ctx: ReportContext) -> StudyPage:
        df = ctx.require_sweep()
        fits = growth_fits(df)
        if fits.empty:
            return StudyPage([], "The grid has fewer than two sizes of |x| for the article's "
                                 "network.")
        art = _article(df, Z1, Z3)
        f = fits.set_index(["order", "quantity"])
        c = {o: f.loc[(o, "counted multiplications")] for o in _TWO}
        a = {o: f.loc[(o, "article formula")] for o in _TWO}
        t = {o: f.loc[(o, "wall time (median s)")] for o in _TWO}
        xs = sorted(int(x) for x in art["x"].unique())
        big = {o: int(art[(art["order"] == o) & (art["x"] == xs[-1])]["multiplications"].iloc[0])
               for o in _TWO}
        exact = all(bool(c[o]["exact"]) for o in _TWO)
        same = all(c[o]["intercept"] == a[o]["intercept"] and c[o]["slope"] == a[o]["slope"]
                   for o in _TWO)
        line = {o: affine_text(c[o]["intercept"], c[o]["slope"]) for o in _TWO}
        at_small = {o: c[o]["intercept"] + c[o]["slope"] * xs[0] for o in _TWO}
        slope_ratio = Fraction(c["input_first"]["slope"]) / Fraction(c["loss_first"]["slope"])
        findings = [
            f"Counted multiplications are {'exactly ' if exact else 'not exactly '}affine in |x| "
            f"over |x| = {xs[0]:,}..{xs[-1]:,} ({len(xs)} sizes, |z1| = |z2| = {Z1}, "
            f"|z3| = {Z3}): loss-first = {line['loss_first']}, "
            f"input-first = {line['input_first']}"
            + (", the article's formulas term for term." if same else
               "; the article's formulas give loss-first = "
               f"{affine_text(a['loss_first']['intercept'], a['loss_first']['slope'])}."),
            f"The gap does not widen with |x|: input-first / loss-first tends to the slope ratio "
            f"{c['input_first']['slope']:,} / {c['loss_first']['slope']:,} = "
            f"{ratio_text(float(slope_ratio))} (the formulas' (|z2||z1| + |z3||z2| + |z3|) / "
            f"|z1|); it is {ratio_text(big['input_first'] / big['loss_first'])} at "
            f"|x| = {xs[-1]:,} and {ratio_text(at_small['input_first'] / at_small['loss_first'])} "
            f"at |x| = {xs[0]:,}.",
            f"Wall time, least squares on relative residuals over the same sizes "
            f"({ctx.settings.threads_text()}): "
            f"loss-first ≈ {_time_text(t['loss_first'])} (worst point off by "
            f"{t['loss_first']['max_rel_error']:.0%}), input-first ≈ "
            f"{_time_text(t['input_first'])} ({t['input_first']['max_rel_error']:.0%}); "
            f"the time slope ratio is "
            f"{ratio_text(t['input_first']['slope'] / t['loss_first']['slope'])}, "
            f"against {ratio_text(float(slope_ratio))} in multiplications.",
        ]
        off = max(float(t[o]["max_rel_error"]) for o in _TWO)
        if off > 0.25:
            findings.append(
                f"Wall time is not affine in |x| on this machine (a line misses some point by "
                f"{off:.0%}): the time per unit of |x| changes with size (caches, BLAS "
                "kernels), so the time slope ratio is indicative only; the counted costs above "
                "are exact.")
        counted = fits[fits["quantity"] != "wall time (median s)"].drop(
            columns=["r2", "max_rel_error"])
        timed = fits[fits["quantity"] == "wall time (median s)"].drop(columns=["exact"])
        timed = timed.astype({"intercept": float, "slope": float})
        body = [
            "## The model",
            "",
            "For the article's chain `(1, |z3|, |z2|, |z1|, |x|)` both costs are affine in |x|: "
            "loss-first = `|z3||z2| + |z2||z1| + |z1|·|x|`, input-first = "
            "`(|z2||z1| + |z3||z2| + |z3|)·|x|`. So the fits below are lines `a + b·|x|`, not "
            "power laws: exact integers for the counted costs (the line through the smallest "
            "and largest |x|, and `exact` says whether every measured point lies on it), least "
            "squares for the median wall times. The asymptotic ratio of two orders is the ratio "
            "of their slopes.",
            "",
            "## Counted multiplications: intercept and slope",
            "",
            ctx.table(counted, "growth-fits", counted=True),
            ctx.figure(plot_counted_vs_x(art, fits, z1=Z1, z3=Z3), "growth-counted",
                       "counted multiplications vs |x| with the exact affine lines"),
            "## Wall time: least-squares intercept and slope",
            "",
            "Intercept in seconds, slope in seconds per unit of |x|; least squares on relative "
            "residuals (each point weighted by 1 / its time, so small |x| counts as much as "
            "large); `max_rel_error` is the worst |fit − time| / time. Wall time need not be "
            "affine: caches and BLAS kernels change with size.",
            "",
            ctx.table(timed, "growth-fits", counted=False,
                      formats={"intercept": "{:.4g}", "slope": "{:.4g}"}),
            ctx.figure(plot_time_vs_x(art, fits, z1=Z1, z3=Z3,
                                      threads=ctx.settings.threads_text()),
                       "time-vs-x", "wall time vs |x| per order"),
        ]
        return StudyPage(findings, "\n".join(body))


def _time_text(fit: pd.Series) -> str:
    return (f"{float(fit['intercept']) * 1e6:.3g} µs + "
            f"{float(fit['slope']) * 1e9:.3g} ns·|x|")


STUDY = GrowthStudy()
register_study(STUDY)
