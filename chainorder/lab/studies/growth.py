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
    seconds_text,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# exact_affine and affine_text: the structured-article page writes its fits with them too
__all__ = ["GrowthStudy", "STUDY", "exact_affine", "affine_text"]

#: A fitted line "fits" a wall time when it is within this relative error of it.
TOLERANCE = 0.10

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
    """Least-squares ``y = intercept + slope * x`` on relative residuals ``(fit - y) / y``,
    with ``intercept, slope >= 0`` (a per-call term and a time per unit of |x|).

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
    from scipy.optimize import nnls

    # a time is never below its per-call term, nor falls with |x|: both are >= 0
    (intercept, slope), _ = nnls(np.column_stack([w, x * w]), np.ones_like(y))
    rel = (intercept + slope * x - y) * w
    mean = np.average(y, weights=w**2)
    total = float((((y - mean) * w) ** 2).sum())
    r2 = 1.0 - float((rel**2).sum()) / total if total > 0 else float("nan")
    return {"intercept": float(intercept), "slope": float(slope), "r2": r2,
            "max_rel_error": float(np.abs(rel).max()), "points": len(x)}


def time_fit(xs: list[float], ys: list[float], tol: float = TOLERANCE) -> dict[str, Any]:
    """Wall time as ``per-call term + slope·|x|`` over the sizes where that line fits.

    The line is fitted first to every point (:func:`least_squares_affine`);
    if it misses some point by more than ``tol`` (relative), again to the
    largest sizes only, dropping the smallest until it fits (at least three
    points stay): the sizes whose time grows in proportion to |x|. Below
    them a cache or a fixed cost of each call governs. Where no such range
    exists, the fit over every point is returned with ``fits`` False.

    Returns
    -------
    dict
        The fit (``intercept``, ``slope``, ``r2``, ``max_rel_error``, ``points``),
        ``x_from`` (the smallest size fitted), ``fits`` (``max_rel_error <= tol``)
        and ``residuals``: per point, ``(fit − time) / time`` of the fitted line,
        extrapolated below ``x_from``.

    Examples
    --------
    >>> fit = time_fit([10, 100, 1000, 10000], [1.0, 1.0, 10.0, 100.0])
    >>> fit["x_from"], round(fit["slope"], 6), fit["fits"]
    (100, 0.01, True)
    """
    pts = sorted(zip(xs, ys, strict=True))
    x, y = [p[0] for p in pts], [p[1] for p in pts]
    fits = [(start, least_squares_affine(x[start:], y[start:]))
            for start in range(max(len(x) - 2, 1))]
    good = [(start, f) for start, f in fits if f["max_rel_error"] <= tol]
    start, fit = good[0] if good else fits[0]
    res = [(fit["intercept"] + fit["slope"] * xi - yi) / yi for xi, yi in zip(x, y, strict=True)]
    return {**fit, "x_from": x[start], "fits": fit["max_rel_error"] <= tol, "residuals": res}


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
        ``order, quantity, intercept, slope, exact, r2, max_rel_error, points,
        x_min, x_max``; ``exact`` says whether every point lies on the line
        (counted costs), ``r2`` is the least-squares R² (times, fitted by
        :func:`time_fit` over ``x_min..x_max``, the sizes where a line fits).
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
        timed = time_fit(xs, s["seconds_median"].astype(float).tolist())
        out.append({"order": order, "quantity": "wall time (median s)",
                    **{k: timed[k] for k in ("intercept", "slope", "r2", "max_rel_error",
                                             "points")},
                    "exact": None, "x_min": timed["x_from"], "x_max": span["x_max"]})
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
            shown = (line > 0) & (grid >= float(fit["x_min"]))
            ax.plot(grid[shown], line[shown], "--", color=st["color"], lw=1, alpha=0.7)
    loglog(ax, "|x| (input size)", "wall time of the product, median of runs (s)",
           f"The article's network (|z1| = |z2| = {z1}, |z3| = {z3}): wall time, {threads}")
    ax.legend(fontsize=7.5, loc="upper left")
    bars = "first to third quartile" if low == "seconds_q1" else "fastest to slowest run"
    note(fig, f"bars: {bars} of the runs; dashed: per-call term + slope·|x| where it fits; "
              "times exclude "
              "planning and building the Jacobians")
    return fig


class GrowthStudy(Study):
    """Intercept and slope of cost and time in |x|, and the ratio they tend to."""

    slug = "04-growth-with-x"
    title = "How cost grows with |x|"
    question = "How do cost and time scale with the input size, against the article's formulas?"
    references = ("desai2018", "griewank2008")

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
        xs = sorted(int(x) for x in art["x"].unique())
        big = {o: int(art[(art["order"] == o) & (art["x"] == xs[-1])]["multiplications"].iloc[0])
               for o in _TWO}
        exact = all(bool(c[o]["exact"]) for o in _TWO)
        same = all(c[o]["intercept"] == a[o]["intercept"] and c[o]["slope"] == a[o]["slope"]
                   for o in _TWO)
        line = {o: affine_text(c[o]["intercept"], c[o]["slope"]) for o in _TWO}
        at_small = {o: c[o]["intercept"] + c[o]["slope"] * xs[0] for o in _TWO}
        slope_ratio = Fraction(c["input_first"]["slope"]) / Fraction(c["loss_first"]["slope"])
        check = (
            f"Counted multiplications are {'exactly ' if exact else 'not exactly '}affine in |x| "
            f"over |x| = {xs[0]:,}..{xs[-1]:,} ({len(xs)} sizes, |z1| = |z2| = {Z1}, "
            f"|z3| = {Z3}): loss-first = {line['loss_first']}, "
            f"input-first = {line['input_first']}"
            + (", the article's formulas term for term." if same else
               "; the article's formulas give loss-first = "
               f"{affine_text(a['loss_first']['intercept'], a['loss_first']['slope'])}."))
        # true by construction when they agree (a chain's cost is a sum of p·q·r over dims
        # affine in |x|): a check; a disagreement would be a finding
        findings = [] if exact and same else [check]
        findings += [
            f"The gap is bounded in |x|: input-first / loss-first grows towards the slope ratio "
            f"{c['input_first']['slope']:,} / {c['loss_first']['slope']:,} = "
            f"{ratio_text(float(slope_ratio))} (the formulas' (|z2||z1| + |z3||z2| + |z3|) / "
            f"|z1|); it is {ratio_text(big['input_first'] / big['loss_first'])} at "
            f"|x| = {xs[-1]:,} and {ratio_text(at_small['input_first'] / at_small['loss_first'])} "
            f"at |x| = {xs[0]:,}.",
        ]
        timed_fits = {o: time_fit(*_times(art, o)) for o in _TWO}
        findings += _time_findings(timed_fits, art, xs, float(slope_ratio),
                                   ctx.settings.threads_text())
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
            "## Wall time: per-call term and slope",
            "",
            "`per-call term + slope·|x|`, least squares on relative residuals (each point "
            "weighted by 1 / its time, so small |x| counts as much as large), over "
            f"`x_min`..`x_max`: every size if the line is within {TOLERANCE:.0%} of every "
            "point, else the largest sizes on which it is (at least three). `max_rel_error` is "
            "the worst |fit − time| / time over those sizes; the residual table below gives "
            "every size, the line extrapolated below `x_min`.",
            "",
            ctx.table(timed, "growth-fits", counted=False,
                      formats={"intercept": seconds_text,
                               "slope": lambda v: seconds_text(v) + "/|x|",
                               "r2": "{:.3f}", "max_rel_error": "{:.1%}"}),
            "Residuals per size: median wall time (`lf_time`: loss-first, `if_time`: "
            "input-first), the fitted line's relative error (`lf_off`, `if_off`: "
            "(fit − time) / time) and the measured time ratio input-first / loss-first.",
            "",
            ctx.table(_residuals(art, timed_fits), "growth-residuals", counted=False,
                      formats={"lf_time": seconds_text, "if_time": seconds_text,
                               "lf_off": "{:+.1%}", "if_off": "{:+.1%}"}),
            ctx.figure(plot_time_vs_x(art, fits, z1=Z1, z3=Z3,
                                      threads=ctx.settings.threads_text()),
                       "time-vs-x", "wall time vs |x| per order"),
            "## Checks",
            "",
            f"- {check} (True by construction when it holds: each order's cost is a sum of "
            "`p·q·r` over dims affine in |x|.)",
        ]
        return StudyPage(findings, "\n".join(body))


def _times(art: pd.DataFrame, order: str) -> tuple[list[float], list[float]]:
    s = art[art["order"] == order].sort_values("x")
    return s["x"].astype(float).tolist(), s["seconds_median"].astype(float).tolist()


def _residuals(art: pd.DataFrame, fits: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Per size: both orders' median times, their fitted lines' relative errors, the ratio."""
    (xs, lf), (_, inf) = _times(art, "loss_first"), _times(art, "input_first")
    return pd.DataFrame({"x": [int(x) for x in xs], "lf_time": lf,
                         "lf_off": fits["loss_first"]["residuals"], "if_time": inf,
                         "if_off": fits["input_first"]["residuals"],
                         "time_ratio": np.asarray(inf) / np.asarray(lf)})


def _time_text(fit: dict[str, Any]) -> str:
    if fit["intercept"] <= 0:
        return f"{seconds_text(fit['slope'])}·|x| (no per-call term)"
    return f"{seconds_text(fit['intercept'])} + {seconds_text(fit['slope'])}·|x|"


def _order_fit_text(name: str, fit: dict[str, Any], x: list[float], ys: list[float]) -> str:
    """One order's wall-time line, its range, and where it fails."""
    xs = [int(v) for v in x]
    if fit["fits"]:
        return (f"{name} ≈ {_time_text(fit)} for |x| ≥ {fit['x_from']:,.0f} (within "
                f"{fit['max_rel_error']:.0%}); extended to every size it {_failures(fit, xs)}")
    per = [y / x for x, y in zip(xs, ys, strict=True)]
    least = min(range(len(per)), key=per.__getitem__)
    return (f"{name} follows no such line within {TOLERANCE:.0%} over its largest sizes (the "
            f"best line over every size, {_time_text(fit)}, {_failures(fit, xs)}): its time "
            f"per unit of |x| goes from {seconds_text(per[0])} at |x| = {xs[0]:,} to "
            f"{seconds_text(per[least])} at its least (|x| = {xs[least]:,}) and "
            f"{seconds_text(per[-1])} at "
            f"|x| = {xs[-1]:,}")


def _failures(fit: dict[str, Any], xs: list[int]) -> str:
    """Where a time fit misses by more than the tolerance, as words."""
    bad = [(x, r) for x, r in zip(xs, fit["residuals"], strict=True) if abs(r) > TOLERANCE]
    if not bad:
        return "fits every size"
    worst = max(bad, key=lambda b: abs(b[1]))
    return (f"misses {len(bad)} of {len(xs)} sizes by more than {TOLERANCE:.0%}, worst "
            f"{worst[1]:+.0%} at |x| = {worst[0]:,}")


def _time_findings(fits: dict[str, dict[str, Any]], art: pd.DataFrame, xs: list[int],
                   counted_ratio: float, threads: str) -> list[str]:
    """The wall-time findings: each order's line, where it fails, and the measured ratio."""
    lf, inf = fits["loss_first"], fits["input_first"]
    ratio = _times(art, "input_first")[1][-1] / _times(art, "loss_first")[1][-1]
    out = [f"Wall time ({threads}), fitted as per-call term + slope·|x|: "
           + "; ".join(_order_fit_text(name, fits[o], *_times(art, o))
                       for name, o in (("loss-first", "loss_first"),
                                       ("input-first", "input_first"))) + "."]
    text = (f"The measured time ratio input-first / loss-first at |x| = {xs[-1]:,} is "
            f"{ratio_text(ratio)}, against {ratio_text(counted_ratio)} in multiplications")
    if lf["fits"] and inf["fits"] and lf["x_from"] == inf["x_from"] == xs[0] and lf["slope"] > 0:
        text += (f"; both lines fit every size, and their slopes' ratio is "
                 f"{ratio_text(inf['slope'] / lf['slope'])}")
    return [*out, text + "."]


STUDY = GrowthStudy()
register_study(STUDY)
