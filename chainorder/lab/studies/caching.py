"""Study 5: what caching dl/dz saves when every parameter gradient is needed, in two conventions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...networks.gradients import input_first_gradients, loss_first_gradients
from ...networks.network import Network
from ..results import fit_loglog
from .base import (
    ORDER_STYLE,
    ReportContext,
    Study,
    StudyPage,
    StudySettings,
    ints_text,
    loglog,
    markdown_table,
    new_figure,
    note,
    number_text,
    ratio_text,
    register_study,
    setting,
)
from .conventions import CONVENTION_TEXT, CONVENTIONS, convention_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["CachingStudy", "STUDY"]

_COLS = ("loss_first_cached_multiplications", "loss_first_uncached_multiplications",
         "input_first_multiplications")


def caching_row(depth: int, width: int, seed: int, structure: str = "dense") -> dict[str, Any]:
    """Multiplications for every parameter gradient of one MLP, three ways, counted.

    ``structure`` is the cost convention: ``'dense'`` (the article's: every
    Jacobian a dense matrix) or ``'structured'`` (``diag(σ')`` as a diagonal,
    ``dz/dW = I ⊗ xᵀ`` as the Kronecker form it is). Every count comes from
    multiplying: the cached loss-first sweep, each parameter's chain
    multiplied loss-first on its own, and each multiplied input-first.

    Examples
    --------
    >>> row = caching_row(3, 3, 0, "structured")
    >>> [row[c] for c in ("loss_first_cached_multiplications",
    ...                   "loss_first_uncached_multiplications", "input_first_multiplications")]
    [66, 150, 303]
    """
    net = Network.from_widths([width] * depth + [4], activation="tanh", seed=seed)
    rng = np.random.default_rng([seed, depth])
    x, y = rng.standard_normal(width), 0.5 * rng.standard_normal(4)
    cached = loss_first_gradients(net, x, y, cost=structure)
    uncached = input_first_gradients(net, x, y, cost=structure)
    chains = [net.param_chain(x, y, k, nm, cost=structure) for k, nm, _ in net.parameters()]
    chains.append(net.input_chain(x, y, cost=structure))
    per_chain = sum(c.multiply("loss_first", trace=True, cost=structure)[1].multiplications
                    for c in chains)
    diff = max(float(np.max(np.abs(cached[k] - uncached[k]))) for k in cached)
    return {"depth": depth, "width": width, "structure": structure,
            "parameters": sum(a.size for *_, a in net.parameters()),
            "loss_first_cached_multiplications": cached.multiplications,
            "loss_first_uncached_multiplications": per_chain,
            "input_first_multiplications": uncached.multiplications,
            "max_abs_difference": diff}


def caching_fits(caching: pd.DataFrame) -> pd.DataFrame:
    """Growth of the cost of all parameter gradients with depth, per way of computing them.

    Parameters
    ----------
    caching : DataFrame
        Columns ``depth`` and one column of multiplications per method (every
        column whose name ends in ``_multiplications``); with a ``structure``
        column, each convention is fitted on its own.

    Returns
    -------
    DataFrame
        ``method, slope, intercept, r2, stderr, points`` of log cost on log
        depth; ``last_slope``, the slope between the two deepest networks
        (the growth exponent the fit tends to); and ``ratio_at_max_depth``:
        the method's cost over the cached loss-first cost (of the same
        convention). With a ``structure`` column in ``caching``, a first
        column ``structure``.
    """
    if "structure" in caching:
        parts = [caching_fits(g.drop(columns="structure")).assign(structure=st)
                 for st, g in caching.groupby("structure", sort=False)]
        out = pd.concat(parts, ignore_index=True)
        return out[["structure", *[c for c in out.columns if c != "structure"]]]
    methods = [c for c in caching.columns if c.endswith("_multiplications")]
    caching = caching.sort_values("depth")
    deepest = caching.iloc[-1]
    base = float(deepest.get("loss_first_cached_multiplications", math.nan))
    out = []
    for m in methods:
        fit = fit_loglog(caching["depth"], caching[m])
        last = fit_loglog(caching["depth"].iloc[-2:], caching[m].iloc[-2:])["slope"]
        out.append({"method": m.removesuffix("_multiplications"), **fit, "last_slope": last,
                    "ratio_at_max_depth": float(deepest[m]) / base})
    return pd.DataFrame(out)


def exact_polynomial(xs: list[int], ys: list[int], max_degree: int = 2) -> dict[str, Any]:
    """The lowest-degree polynomial through every point, in exact fractions, if one fits.

    The polynomial of degree ``k`` through the ``k + 1`` smallest ``xs``
    (Lagrange), for ``k = 0, 1, ...`` up to ``max_degree`` (and below the
    number of points), until every point lies on it.

    Returns
    -------
    dict
        ``coefficients`` (constant term first; ints when whole), ``degree``,
        ``exact`` (every point on it; False: the ``max_degree`` fit is returned),
        ``points`` and ``checked`` (points beyond the ``degree + 1`` it was fitted to).

    Examples
    --------
    >>> exact_polynomial([2, 4, 8, 16], [12, 40, 144, 544])   # 2·x² + 2·x
    {'coefficients': [0, 2, 2], 'degree': 2, 'exact': True, 'points': 4, 'checked': 1}
    """
    pts = sorted(zip((int(x) for x in xs), (int(y) for y in ys), strict=True))
    top = min(max_degree, len(pts) - 1)
    for degree in range(top + 1):
        coef = _through(pts[:degree + 1])
        exact = all(sum(c * x**k for k, c in enumerate(coef)) == y for x, y in pts)
        if exact or degree == top:
            return {"coefficients": [int(c) if c.denominator == 1 else c for c in coef],
                    "degree": degree, "exact": exact, "points": len(pts),
                    "checked": len(pts) - degree - 1}
    raise ValueError("exact_polynomial needs at least one point")


def _through(pts: list[tuple[int, int]]) -> list[Fraction]:
    """Coefficients (constant first) of the polynomial through ``pts`` (Lagrange form)."""
    coef = [Fraction(0)] * len(pts)
    for i, (xi, yi) in enumerate(pts):
        basis, denom = [Fraction(1)], Fraction(1)  # prod_(j != i) (x - xj) / (xi - xj)
        for j, (xj, _) in enumerate(pts):
            if j != i:
                basis = [(basis[k - 1] if k else Fraction(0))
                         - xj * (basis[k] if k < len(basis) else Fraction(0))
                         for k in range(len(basis) + 1)]
                denom *= xi - xj
        for k, b in enumerate(basis):
            coef[k] += yi * b / denom
    return coef


def polynomial_text(coefficients: list[Any], var: str = "depth") -> str:
    """``'1,152·depth² + 10,176·depth - 1,424'``: a polynomial as text, highest power first.

    Examples
    --------
    >>> polynomial_text([-1424, 10176, 1152]), polynomial_text([0, Fraction(3, 2)])
    ('1,152·depth² + 10,176·depth - 1,424', '3/2·depth')
    """
    powers = {0: "", 1: f"·{var}", 2: f"·{var}²", 3: f"·{var}³"}
    terms = [(c, k) for k, c in enumerate(coefficients) if c != 0][::-1]
    if not terms:
        return "0"
    out = ""
    for n, (c, k) in enumerate(terms):
        mag = abs(c)
        num = f"{mag:,}" if isinstance(mag, int) else str(mag)
        sign = ("-" if c < 0 else "") if n == 0 else (" - " if c < 0 else " + ")
        out += sign + num + powers.get(k, f"·{var}^{k}")
    return out


def caching_laws(caching: pd.DataFrame) -> pd.DataFrame:
    """Each way's count as an exact polynomial in depth, per convention (from the counts).

    Returns
    -------
    DataFrame
        ``convention, method, law, degree, exact, points, checked`` and
        ``per_layer``: for a way quadratic in depth over the cached sweep's
        affine count, the ratio of its depth² coefficient to the cached
        depth coefficient (its cost over the cached sweep's grows about
        ``per_layer × depth``); empty otherwise.
    """
    rows = []
    for st in [s for s in CONVENTIONS if s in set(caching["structure"])]:
        g = caching[caching["structure"] == st]
        laws = {c: exact_polynomial(g["depth"].tolist(), g[c].tolist()) for c in _COLS}
        base = laws["loss_first_cached_multiplications"]
        for col, law in laws.items():
            grows = (law["exact"] and base["exact"] and law["degree"] == 2
                     and base["degree"] == 1)
            rows.append({"convention": st,
                         "method": col.removesuffix("_multiplications"),
                         "law": polynomial_text(law["coefficients"]),
                         "degree": law["degree"], "exact": law["exact"],
                         "points": law["points"], "checked": law["checked"],
                         "per_layer": float(Fraction(law["coefficients"][2])
                                            / Fraction(base["coefficients"][1]))
                         if grows else None})
    return pd.DataFrame(rows)


def caching_savings(caching: pd.DataFrame) -> pd.DataFrame:
    """What caching saves at each depth, a column per convention.

    Returns
    -------
    DataFrame
        ``depth``, then for each convention present the uncached loss-first
        and the input-first cost over the cached loss-first cost, the column
        names saying the convention.

    Examples
    --------
    >>> rows = [caching_row(3, 3, 0, st) for st in ("dense", "structured")]
    >>> caching_savings(pd.DataFrame(rows)).iloc[0, 1:].round(4).tolist()
    [1.6522, 2.2727, 5.4837, 4.5909]
    """
    out = pd.DataFrame({"depth": sorted(caching["depth"].unique())})
    present = [st for st in CONVENTIONS if st in set(caching["structure"])]
    for what, col in (("loss-first uncached / cached", "loss_first_uncached_multiplications"),
                      ("input-first / cached loss-first", "input_first_multiplications")):
        for st in present:
            g = caching[caching["structure"] == st].set_index("depth")
            ratio = g[col] / g["loss_first_cached_multiplications"]
            out[f"{what}, {st}"] = out["depth"].map(ratio)
    return out


def _savings_shown(savings: pd.DataFrame) -> pd.DataFrame:
    """:func:`caching_savings` as the page shows it: a row per convention and depth.

    Examples
    --------
    >>> rows = [caching_row(3, 3, 0, st) for st in ("dense", "structured")]
    >>> _savings_shown(caching_savings(pd.DataFrame(rows))).iloc[1, [0, 2, 3]].tolist()
    ['structured', '2.273x', '4.591x']
    """
    parts = []
    for st in CONVENTIONS:
        cols = [f"loss-first uncached / cached, {st}", f"input-first / cached loss-first, {st}"]
        if cols[0] in savings:
            parts.append(pd.DataFrame({
                "convention": st, "depth": savings["depth"],
                "lf uncached / cached": savings[cols[0]].map(ratio_text),
                "if / cached lf": savings[cols[1]].map(ratio_text)}))
    return pd.concat(parts, ignore_index=True)


_STYLES = {
    "loss_first_cached_multiplications": ("loss-first, caching dl/dz (one sweep)", "o",
                                          ORDER_STYLE["loss_first"]["color"]),
    "loss_first_uncached_multiplications": ("loss-first, one chain per parameter (no cache)",
                                            "D", "#9467bd"),
    "input_first_multiplications": ("input-first, one chain per parameter",
                                    "s", ORDER_STYLE["input_first"]["color"]),
}


def plot_caching_vs_depth(caching: pd.DataFrame) -> Figure:
    """Multiplications for all parameter gradients vs depth, one panel per convention."""
    from matplotlib.ticker import NullFormatter

    present = ([st for st in CONVENTIONS if st in set(caching["structure"])]
               if "structure" in caching else [None])
    fig, axes = new_figure(width=5.2 * len(present), ncols=len(present))
    axes = np.atleast_1d(axes)
    width = int(caching["width"].iloc[0]) if "width" in caching else None
    for ax, st in zip(axes, present, strict=True):
        g = caching if st is None else caching[caching["structure"] == st]
        g = g.sort_values("depth")
        for col, (label, marker, color) in _STYLES.items():
            if col in g:
                ax.plot(g["depth"], g[col], marker + "-", color=color, label=label)
        saves = (g["loss_first_uncached_multiplications"] / g["loss_first_cached_multiplications"])
        title = (f"{convention_label(st) if st else 'dense'}\ncaching saves "
                 f"{ratio_text(saves.iloc[-1])} at depth {int(g['depth'].iloc[-1])}")
        loglog(ax, "depth (affine layers)", "scalar multiplications, all gradients"
               if ax is axes[0] else "", title)
        depths = [int(d) for d in g["depth"]]
        ax.set_xticks(depths, [str(d) for d in depths])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.legend(fontsize=7, loc="upper left")
    fig.subplots_adjust(top=0.86, left=0.08 if len(present) > 1 else 0.11)
    fig.suptitle(f"Every parameter gradient of an MLP of width {width}", fontsize=10)
    note(fig)
    return fig


class CachingStudy(Study):
    """All parameter gradients of MLPs of growing depth: cached loss-first against the rest."""

    slug = "05-caching"
    title = "Caching: all parameter gradients vs depth"
    question = ("What does caching dl/dz save when every parameter's gradient is needed, "
                "counted densely and structurally?")
    references = ("desai2018",)

    @dataclass(frozen=True)
    class Settings(StudySettings):
        """What the page counts.

        Attributes
        ----------
        depths : tuple of int
            Depths (affine layers) of the MLPs.
        width : int
            Width of those MLPs.
        """

        depths: tuple[int, ...] = setting(quick=(2, 4, 8, 16, 32), full=(2, 4, 8, 16, 32, 64))
        width: int = setting(quick=16, full=24)

    def collect(self, ctx: ReportContext) -> None:
        own: CachingStudy.Settings = ctx.settings.of(self)
        rows = [caching_row(d, own.width, ctx.settings.seed, st)
                for st in CONVENTIONS for d in own.depths]
        pd.DataFrame(rows).to_csv(ctx.data_dir / "caching.csv", index=False, lineterminator="\n",
                                  float_format="%.3e")

    def render(self, ctx: ReportContext) -> StudyPage:
        caching = pd.read_csv(ctx.data_dir / "caching.csv")
        if "structure" not in caching:  # data saved before both conventions were counted
            caching = caching.assign(structure="dense")
        fits = caching_fits(caching).set_index(["structure", "method"])
        findings = [_dense_finding(caching, fits)]
        if "structured" in set(caching["structure"]):
            findings = [_headline(caching, fits), *findings,
                        _structured_finding(caching, fits)]
        laws = caching_laws(caching)
        findings.append(_growth_finding(caching, fits))
        if laws["exact"].all() and laws["checked"].min() >= 1:
            findings.append(_law_finding(laws, int(caching["width"].iloc[0])))
        findings.append(f"Both ways give the same gradients in both conventions: largest "
                        f"absolute difference {caching['max_abs_difference'].max():.1e}.")
        width = int(caching["width"].iloc[0])
        savings = caching_savings(caching)
        table = caching.drop(columns=["max_abs_difference"]).rename(
            columns={"structure": "convention"})
        fit_table = caching_fits(caching).rename(columns={"structure": "convention"})
        body = [
            "## Setup",
            "",
            f"MLPs with `depth` affine layers of width {width} and tanh between them, "
            "4 outputs, MSE loss. *Cached* is `chainorder.loss_first_gradients`: one "
            "loss-first sweep reusing `dl/dz_k` for each layer's `W` and `b`. *Input-first* is "
            "`input_first_gradients`: each parameter's chain multiplied from its own Jacobian "
            "`dz/dW` towards the loss, as the article's backwards computation must. "
            "*Loss-first, uncached* multiplies each parameter's chain loss-first but "
            "separately, to isolate the effect of caching from that of the order. Every "
            "count comes from multiplying, in each convention:",
            "",
            CONVENTION_TEXT + " Tables name them *dense* and *structured*.",
            "",
            "## What caching saves",
            "",
            "Cost over the cached loss-first sweep's, per convention and depth: "
            "`lf uncached / cached` is loss-first without the cache over loss-first with it, "
            "`if / cached lf` input-first over cached loss-first.",
            "",
            markdown_table(_savings_shown(savings)),
            "",
            ctx.table(savings, "caching-savings", counted=True, embed=False),
            "",
            "## Counts",
            "",
            ctx.table(table, "caching", counted=True),
            "",
            "## Exact laws in depth",
            "",
            "Each count as the lowest-degree polynomial in depth through the smallest depths, "
            "exact fractions; `checked` counts the further depths that lie on it. `per_layer`: "
            "the depth² coefficient over the cached sweep's depth coefficient, so its cost over "
            "the cached sweep's grows about `per_layer × depth`.",
            "",
            ctx.table(laws, "caching-laws", counted=True),
            "",
            "Log-log fits of the same counts (the slope tends to the degree as depth grows):",
            "",
            ctx.table(fit_table, "caching-fits", counted=True),
            "",
            ctx.figure(plot_caching_vs_depth(caching), "caching-vs-depth",
                       "multiplications for all parameter gradients vs depth, dense (the "
                       "article's convention) and structured: diagonal activations, "
                       "I ⊗ xᵀ weights"),
        ]
        return StudyPage(findings, "\n".join(body))


def _upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _deepest(caching: pd.DataFrame, structure: str) -> pd.Series:
    g = caching[caching["structure"] == structure]
    return g.loc[g["depth"].idxmax()]


def _headline(caching: pd.DataFrame, fits: pd.DataFrame) -> str:
    deep = _deepest(caching, "dense")
    save = {st: ratio_text(fits.loc[(st, "loss_first_uncached"), "ratio_at_max_depth"])
            for st in CONVENTIONS}
    inf = {st: ratio_text(fits.loc[(st, "input_first"), "ratio_at_max_depth"])
           for st in CONVENTIONS}
    return (f"At depth {int(deep['depth'])} (width {int(deep['width'])}) caching dl/dz saves "
            f"{save['dense']} counted {convention_label('dense')} and {save['structured']} "
            f"counted {convention_label('structured')} (loss-first one chain per parameter over "
            f"the cached sweep); input-first costs {inf['dense']} and {inf['structured']} the "
            "cached sweep.")


def _dense_finding(caching: pd.DataFrame, fits: pd.DataFrame) -> str:
    deep, f = _deepest(caching, "dense"), fits.loc["dense"]
    return (
        f"{_upper(convention_label('dense'))}: computing every parameter gradient "
        f"loss-first with the cached dl/dz costs "
        f"{int(deep['loss_first_cached_multiplications']):,} scalar multiplications at depth "
        f"{int(deep['depth'])} (width {int(deep['width'])}); without caching, input-first "
        f"costs {int(deep['input_first_multiplications']):,} "
        f"({ratio_text(f.loc['input_first', 'ratio_at_max_depth'])}) and loss-first one chain "
        f"per parameter {int(deep['loss_first_uncached_multiplications']):,} "
        f"({ratio_text(f.loc['loss_first_uncached', 'ratio_at_max_depth'])}).")


def _structured_finding(caching: pd.DataFrame, fits: pd.DataFrame) -> str:
    deep, f = _deepest(caching, "structured"), fits.loc["structured"]
    dense = fits.loc["dense"]
    save, dsave = (f.loc["loss_first_uncached", "ratio_at_max_depth"],
                   dense.loc["loss_first_uncached", "ratio_at_max_depth"])
    return (
        f"{_upper(convention_label('structured'))}: the cached sweep costs "
        f"{int(deep['loss_first_cached_multiplications']):,}, loss-first one chain per "
        f"parameter {int(deep['loss_first_uncached_multiplications']):,} and input-first "
        f"{int(deep['input_first_multiplications']):,} at depth {int(deep['depth'])}: caching "
        f"saves {ratio_text(save)}, against {ratio_text(dsave)} dense. Every way pays each "
        "weight's own product once: dense, a row times the "
        "|z| x |z||z_prev| matrix dz/dW (width³), which dwarfs a step through a layer "
        "(width²); structured, the outer product row ⊗ xᵀ (width²), as cheap as one step, so "
        "the steps the uncached chains repeat weigh more. Input-first costs "
        f"{ratio_text(f.loc['input_first', 'ratio_at_max_depth'])} the cached sweep "
        f"({ratio_text(dense.loc['input_first', 'ratio_at_max_depth'])} dense).")


def _law_finding(laws: pd.DataFrame, width: int) -> str:
    law = laws.set_index(["convention", "method"])
    d, st = "dense", "structured"  # the laws table names the conventions short
    parts, per = [], {}
    for c in (d, st):
        if (c, "loss_first_cached") not in law.index:
            continue
        per[c] = law.loc[(c, "loss_first_uncached"), "per_layer"]
        parts.append(f"{convention_label(c)}: cached {law.loc[(c, 'loss_first_cached'), 'law']}"
                     f", one chain per parameter {law.loc[(c, 'loss_first_uncached'), 'law']}")
    # the per-layer rates these laws give for an MLP of this width, if they hold
    known = {d: Fraction(2, width + 3), st: Fraction(width + 1, 2 * width + 1)}
    why = [f"{'2/(width + 3)' if c == d else '(width + 1)/(2·width + 1)'}"
           for c in per if per[c] is not None and not math.isnan(per[c])
           and per[c] == float(known[c])]
    checked = int(laws["checked"].min())
    text = (f"Exact in depth (fitted through the smallest depths, and {checked} or more "
            f"further depths on each): " + "; ".join(parts) + ".")
    if len(per) == 2 and all(v is not None and not math.isnan(v) for v in per.values()):
        text += (f" What caching saves grows without bound, about "
                 f"{number_text(per[d])}·depth dense and {number_text(per[st])}·depth "
                 "structured")
        text += (f" (= {why[0]} and {why[1]} at width {width})." if len(why) == 2 else ".")
    return text


def _growth_finding(caching: pd.DataFrame, fits: pd.DataFrame) -> str:
    parts = []
    for st in [s for s in CONVENTIONS if s in set(caching["structure"])]:
        f = fits.loc[st]
        parts.append(
            f"{convention_label(st)}: as depth^{f.loc['loss_first_cached', 'last_slope']:.2f} "
            f"with caching, depth^{f.loc['loss_first_uncached', 'last_slope']:.2f} for "
            f"loss-first without it and depth^{f.loc['input_first', 'last_slope']:.2f} for "
            f"input-first (log-log fits over depths {ints_text(sorted(caching['depth'].unique()))}"
            f": {f.loc['loss_first_cached', 'slope']:.2f}, "
            f"{f.loc['loss_first_uncached', 'slope']:.2f} and "
            f"{f.loc['input_first', 'slope']:.2f})")
    return ("Between the two deepest networks cost grows, " + "; ".join(parts) + ": without "
            "caching, each of the ~depth parameters pays for its own chain, up to ~depth long.")


STUDY = CachingStudy()
register_study(STUDY)
