"""Study 5: what caching dl/dz saves when every parameter's gradient is needed."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...algebra.orders import plan
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
    new_figure,
    note,
    ratio_text,
    register_study,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["CachingStudy", "STUDY", "caching_row", "caching_fits", "plot_caching_vs_depth"]


def caching_row(depth: int, width: int, seed: int) -> dict[str, Any]:
    """Multiplications for every parameter gradient of one MLP, three ways, and their gap."""
    net = Network.from_widths([width] * depth + [4], activation="tanh", seed=seed)
    rng = np.random.default_rng([seed, depth])
    x, y = rng.standard_normal(width), 0.5 * rng.standard_normal(4)
    # the article's convention: every Jacobian a dense matrix
    cached = loss_first_gradients(net, x, y, structure="dense")
    uncached = input_first_gradients(net, x, y, structure="dense")
    per_chain = sum(plan(net.param_chain(x, y, k, nm).dims, "loss_first").cost
                    for k, nm, _ in net.parameters())
    per_chain += plan(net.input_chain(x, y).dims, "loss_first").cost
    diff = max(float(np.max(np.abs(cached[k] - uncached[k]))) for k in cached)
    return {"depth": depth, "width": width, "parameters": sum(a.size for *_, a in
                                                              net.parameters()),
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
        column whose name ends in ``_multiplications``).

    Returns
    -------
    DataFrame
        ``method, slope, intercept, r2, stderr, points`` of log cost on log
        depth; ``last_slope``, the slope between the two deepest networks
        (the growth exponent the fit tends to); and ``ratio_at_max_depth``:
        the method's cost over the cached loss-first cost.
    """
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


def plot_caching_vs_depth(caching: pd.DataFrame) -> Figure:
    """Multiplications for all parameter gradients vs depth, with caching and without."""
    fig, ax = new_figure()
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
    loglog(ax, "depth (affine layers)", "scalar multiplications, all gradients",
            f"Caching: every parameter gradient of an MLP of width {width}")
    ax.legend(fontsize=8, loc="upper left")
    note(fig)
    return fig


class CachingStudy(Study):
    """All parameter gradients of MLPs of growing depth: cached loss-first against the rest."""

    slug = "05-caching"
    title = "Caching: all parameter gradients vs depth"
    question = "What does caching dl/dz save when every parameter's gradient is needed?"
    references = ("desai2018",)

    def collect(self, ctx: ReportContext) -> None:
        rows = [caching_row(d, ctx.settings.caching_width, ctx.settings.seed)
                for d in ctx.settings.caching_depths]
        pd.DataFrame(rows).to_csv(ctx.data_dir / "caching.csv", index=False, lineterminator="\n",
                                  float_format="%.3e")

    def render(self, ctx: ReportContext) -> StudyPage:
        caching = pd.read_csv(ctx.data_dir / "caching.csv")
        fits = caching_fits(caching).set_index("method")
        deep = caching.loc[caching["depth"].idxmax()]
        findings = [
            f"Computing every parameter gradient loss-first with the cached dl/dz costs "
            f"{int(deep['loss_first_cached_multiplications']):,} scalar multiplications at depth "
            f"{int(deep['depth'])} (width {int(deep['width'])}); without caching, input-first "
            f"costs {int(deep['input_first_multiplications']):,} "
            f"({ratio_text(fits.loc['input_first', 'ratio_at_max_depth'])}) and loss-first one "
            "chain per "
            f"parameter {int(deep['loss_first_uncached_multiplications']):,} "
            f"({ratio_text(fits.loc['loss_first_uncached', 'ratio_at_max_depth'])}).",
            f"Between the two deepest networks cost grows as "
            f"depth^{fits.loc['loss_first_cached', 'last_slope']:.2f} with caching, "
            f"depth^{fits.loc['loss_first_uncached', 'last_slope']:.2f} for loss-first without it "
            f"and depth^{fits.loc['input_first', 'last_slope']:.2f} for input-first (over depths "
            f"{ints_text(caching['depth'])} the log-log fits give "
            f"{fits.loc['loss_first_cached', 'slope']:.2f}, "
            f"{fits.loc['loss_first_uncached', 'slope']:.2f} and "
            f"{fits.loc['input_first', 'slope']:.2f}): without caching, each of the ~depth "
            "parameters pays for its own chain, up to ~depth long.",
            f"Both ways give the same gradients: largest absolute difference "
            f"{caching['max_abs_difference'].max():.1e}.",
        ]
        body = [
            "## Setup",
            "",
            f"MLPs with `depth` affine layers of width {int(deep['width'])} and tanh between them, "
            "4 outputs, MSE loss. *Cached* is `chainorder.loss_first_gradients`: one "
            "loss-first sweep reusing `dl/dz_k` for each layer's `W` and `b`. *Input-first* is "
            "`input_first_gradients`: each parameter's chain multiplied from its own Jacobian "
            "`dz/dW` (dense, `|z| x |z||z_prev|`) towards the loss, as the article's backwards "
            "computation must. *Loss-first, uncached* multiplies each parameter's chain loss-first "
            "but separately, to isolate the effect of caching from that of the order.",
            "",
            ctx.table(caching.drop(columns=["max_abs_difference"]), "caching", counted=True),
            ctx.table(caching_fits(caching), "caching-fits", counted=True),
            ctx.figure(plot_caching_vs_depth(caching), "caching-vs-depth",
                       "multiplications for all parameter gradients vs depth"),
        ]
        return StudyPage(findings, "\n".join(body))


STUDY = CachingStudy()
register_study(STUDY)
