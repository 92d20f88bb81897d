"""Study 5: what caching dl/dz saves when every parameter gradient is needed, in two conventions."""

from __future__ import annotations

import math
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
    ints_text,
    loglog,
    markdown_table,
    new_figure,
    note,
    ratio_text,
    register_study,
)
from .conventions import CONVENTION_TEXT, CONVENTIONS, convention_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["CachingStudy", "STUDY", "caching_row", "caching_fits", "caching_savings",
           "plot_caching_vs_depth"]

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
    cached = loss_first_gradients(net, x, y, structure=structure)
    uncached = input_first_gradients(net, x, y, structure=structure)
    chains = [net.param_chain(x, y, k, nm, structure=structure) for k, nm, _ in net.parameters()]
    chains.append(net.input_chain(x, y, structure=structure))
    per_chain = sum(c.multiply("loss_first", trace=True, structure=structure)[1].multiplications
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
            out[f"{what}, {convention_label(st)}"] = out["depth"].map(ratio)
    return out


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

    def collect(self, ctx: ReportContext) -> None:
        rows = [caching_row(d, ctx.settings.caching_width, ctx.settings.seed, st)
                for st in CONVENTIONS for d in ctx.settings.caching_depths]
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
        findings.append(_growth_finding(caching, fits))
        findings.append(f"Both ways give the same gradients in both conventions: largest "
                        f"absolute difference {caching['max_abs_difference'].max():.1e}.")
        width = int(caching["width"].iloc[0])
        savings = caching_savings(caching)
        table = caching.drop(columns=["max_abs_difference"]).assign(
            structure=caching["structure"].map(convention_label)).rename(
            columns={"structure": "convention"})
        fit_table = caching_fits(caching).assign(
            structure=lambda d: d["structure"].map(convention_label)).rename(
            columns={"structure": "convention"})
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
            CONVENTION_TEXT,
            "",
            "## What caching saves",
            "",
            "Cost over the cached loss-first sweep's, per depth and convention.",
            "",
            markdown_table(savings.assign(**{c: savings[c].map(ratio_text)
                                             for c in savings.columns[1:]})),
            "",
            ctx.table(savings, "caching-savings", counted=True, embed=False),
            "",
            "## Counts",
            "",
            ctx.table(table, "caching", counted=True),
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
