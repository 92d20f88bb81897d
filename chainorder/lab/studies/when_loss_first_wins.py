"""Study 2: when loss-first wins, and when it does not, in counted cost and in wall time."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..results import geomean, order_comparison
from ..verdicts import LOADED_MEANS
from .base import (
    ReportContext,
    Study,
    StudyPage,
    code_list,
    ints_text,
    loglog,
    new_figure,
    note,
    order_style,
    ratio_text,
    register_study,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["WinnersStudy", "STUDY"]


def claim_summary(cmp: pd.DataFrame) -> dict[str, Any]:
    """Where "the forwards computation is far more efficient" holds, in FLOPs and in time.

    Parameters
    ----------
    cmp : DataFrame
        :func:`~chainorder.lab.results.order_comparison` output.

    Returns
    -------
    dict
        ``cases``; ``lf_cheaper`` / ``if_cheaper`` / ``cost_ties`` (counts,
        FLOPs); ``lf_faster`` / ``if_faster`` / ``time_ties`` (counts, wall
        time: faster only when the intervals of the medians separate, else a
        tie); ``loaded`` (cases measured under load); ``lf_optimal``
        (loss-first has the optimal cost); geometric means and extremes of ``flop_ratio`` and
        ``time_ratio``; the case lists ``not_cheaper``, ``not_faster`` and
        ``not_optimal``; the same counts for the scalar-loss cases
        (``rows == 1``) under ``scalar_loss``.
    """
    def counts(c: pd.DataFrame) -> dict[str, Any]:
        return {
            "cases": int(len(c)),
            "lf_cheaper": int((c["cheaper"] == "loss_first").sum()),
            "if_cheaper": int((c["cheaper"] == "input_first").sum()),
            "cost_ties": int((c["cheaper"] == "tie").sum()),
            "lf_faster": int((c["faster"] == "loss_first").sum()),
            "if_faster": int((c["faster"] == "input_first").sum()),
            "time_ties": int((c["faster"] == "tie").sum()),
            "loaded": int(c["loaded"].sum()) if "loaded" in c else 0,
            "lf_optimal": int(c["loss_first_optimal"].sum()),
            "max_lf_over_opt": float(c["lf_over_opt"].max()) if len(c) else math.nan,
        }

    out = counts(cmp)
    out.update(
        flop_ratio_geomean=geomean(cmp["flop_ratio"]),
        flop_ratio_min=float(cmp["flop_ratio"].min()),
        flop_ratio_max=float(cmp["flop_ratio"].max()),
        time_ratio_geomean=geomean(cmp["time_ratio"]),
        time_ratio_min=float(cmp["time_ratio"].min()),
        time_ratio_max=float(cmp["time_ratio"].max()),
        not_cheaper=cmp.loc[cmp["cheaper"] != "loss_first", "case"].tolist(),
        not_faster=cmp.loc[cmp["faster"] != "loss_first", "case"].tolist(),
        not_optimal=cmp.loc[~cmp["loss_first_optimal"], "case"].tolist(),
        scalar_loss=counts(cmp[cmp["rows"] == 1]),
    )
    return out


def batch_crossover(x: int, z1: int, z3: int) -> float:
    """Batch size above which input-first is cheaper, from the article's formulas with B rows.

    Examples
    --------
    >>> round(batch_crossover(1000, 100, 10), 1)   # the worked example's sizes
    108.9
    """
    per_row_lf = z3 * z1 + z1 * z1 + z1 * x
    fixed_if = z1 * z1 * x + z3 * z1 * x
    per_row_if = z3 * x
    return fixed_if / (per_row_lf - per_row_if) if per_row_lf > per_row_if else math.inf


def plot_batch_costs(batch: pd.DataFrame) -> Figure:
    """Counted multiplications vs mini-batch size ``B`` (a ``B x |z_L|`` first block) per order."""
    fig, ax = new_figure()
    for k, (x, sub) in enumerate(batch.groupby("x")):
        for order in ("loss_first", "input_first", "optimal"):
            pts = sub[sub["order"] == order].sort_values("batch")
            st = order_style(order)
            ax.plot(pts["batch"], pts["multiplications"], st["marker"] + "-:"[k % 2],
                    color=st["color"], label=f"{st['label']}, |x| = {int(x):,}", alpha=0.85)
    loglog(ax, "B, rows of the first block (mini-batch size)", "scalar multiplications",
            "Mini-batches sharing one Jacobian chain (linear article network)")
    ax.legend(fontsize=7.5, loc="upper left")
    note(fig)
    return fig


class WinnersStudy(Study):
    """Which of loss-first and input-first is cheaper and which is faster, case by case."""

    slug = "02-when-loss-first-wins"
    title = "When loss-first wins, and when it does not"
    question = "Is \"the forwards computation far more efficient\", in FLOPs and in wall time?"
    references = ("desai2018",)

    def render(self, ctx: ReportContext) -> StudyPage:
        cmp = order_comparison(ctx.require_sweep())
        if cmp.empty:
            return StudyPage([], "No case was measured in all three orders.")
        s = claim_summary(cmp)
        sc = s["scalar_loss"]
        threads = ctx.settings.threads_text()
        findings = [
            f"In FLOPs the article's claim holds in {s['lf_cheaper']} of {s['cases']} cases: "
            f"input-first needs {ratio_text(s['flop_ratio_geomean'])} the multiplications of "
            f"loss-first (geometric mean; from {ratio_text(s['flop_ratio_min'])} to "
            f"{ratio_text(s['flop_ratio_max'])}).",
            f"In wall time it holds in {s['lf_faster']} of {s['cases']} cases"
            + (", by less" if s["time_ratio_geomean"] < s["flop_ratio_geomean"] else "") + ": "
            f"input-first takes {ratio_text(s['time_ratio_geomean'])} the time of loss-first "
            f"(geometric mean; from {ratio_text(s['time_ratio_min'])} to "
            f"{ratio_text(s['time_ratio_max'])}; {threads}). Verdicts respect the noise: "
            f"loss-first is faster in {s['lf_faster']}, input-first in {s['if_faster']} (its "
            "95% interval of the median wholly below the other's), and "
            f"{s['time_ties']} {'is a tie' if s['time_ties'] == 1 else 'are ties'} (the "
            f"intervals overlap); {s['loaded']} of the cases were measured while other work "
            "loaded the machine.",
            f"Loss-first is not the cheaper of the two in {len(s['not_cheaper'])} cases "
            f"({code_list(s['not_cheaper'])}) and not measurably the faster in "
            f"{len(s['not_faster'])} "
            f"({code_list(s['not_faster'])}).",
            ("A scalar loss does not make loss-first optimal: " if sc["lf_optimal"] < sc["cases"]
             else "With a scalar loss, loss-first was optimal every time here: ")
            + f"of the {sc['cases']} scalar-loss cases it is optimal in {sc['lf_optimal']}; the "
            f"worst costs {ratio_text(sc['max_lf_over_opt'])} the optimum. Over all cases it is "
            "optimal in "
            f"{s['lf_optimal']} of {s['cases']} (worst {ratio_text(s['max_lf_over_opt'])}).",
        ]
        batch = ctx.require_sweep()
        batch = batch[batch["kind"] == "minibatch"]
        body = [
            "## Counted cost of each order",
            "",
            "`flop_ratio` is input-first over loss-first multiplications, `lf_over_opt` "
            "loss-first over the optimal cost. `rows` is `p0`: 1 for a scalar loss, `B` for a "
            "mini-batch.",
            "",
            ctx.table(cmp[["case", "kind", "dims_text", "rows", "mult_loss_first",
                           "mult_input_first", "mult_optimal", "flop_ratio", "lf_over_opt",
                           "cheaper"]], "orders", counted=True),
            "## Wall time of each order",
            "",
            f"Median seconds of the product ({threads}), the orders of a case timed "
            "interleaved; `<order>_low` .. `<order>_high` is the 95% bootstrap interval of "
            "that median. `time_ratio` is input-first over loss-first medians; `faster` names "
            "the order whose interval lies wholly below the other's, and says `tie` when "
            "they overlap, whatever the medians say. `loaded`: " + LOADED_MEANS + ".",
            "",
            ctx.table(cmp[["case", "seconds_loss_first", "loss_first_low", "loss_first_high",
                           "seconds_input_first", "input_first_low", "input_first_high",
                           "seconds_optimal", "time_ratio", "faster", "loaded"]], "orders",
                      counted=False,
                      formats={c: "{:.3e}" for o in ("loss_first", "input_first", "optimal")
                               for c in (f"seconds_{o}", f"{o}_low", f"{o}_high")}),
            "## Where loss-first is not optimal",
            "",
            "With a scalar loss (`p0 = 1`) loss-first costs `sum_k p_k p_(k+1)`, the number of "
            "entries of every matrix after the first. Any bracketing multiplies each matrix "
            "once as an operand, at a cost at least its number of entries, and one step can "
            "consume at most two original matrices; so loss-first is never worse than twice "
            "the optimum with a scalar loss. It can still lose, e.g. where a narrow dim sits in "
            "the middle of the chain. A mini-batch (`p0 = B`) removes the bound.",
            "",
            ctx.table(cmp.loc[~cmp["loss_first_optimal"], ["case", "dims_text", "mult_loss_first",
                                                            "mult_optimal", "lf_over_opt"]],
                      "not-optimal", counted=True),
        ]
        if "batch" in batch and batch["batch"].nunique() >= 2:
            flips = set(cmp.loc[cmp["cheaper"] == "input_first", "case"])
            for x, g in batch.groupby("x"):
                z1, z3 = int(g["z1"].iloc[0]), int(g["z3"].iloc[0])
                bstar = batch_crossover(int(x), z1, z3)
                won = sorted(g.loc[g["case"].isin(flips), "batch"].unique())
                findings.append(
                    f"Mini-batches (B loss-gradient rows sharing one linear chain, "
                    f"|x| = {int(x):,}): loss-first costs B times more, input-first only adds "
                    f"B·|z3|·|x|, so "
                    f"input-first becomes cheaper above B = {bstar:.1f} (the article's formulas "
                    f"with B rows); measured: input-first is cheaper at "
                    f"B = {ints_text(won) or '—'} "
                    f"among B = {ints_text(sorted(g['batch'].unique()))}.")
            body += ["## Mini-batches", "",
                     "Modelled as `B` rows `dl_b/dz3` pushed through one shared Jacobian chain "
                     "(exact for a linear network, and the case most favourable to input-first; "
                     "with example-dependent Jacobians each example needs its own chain and the "
                     "ratio stays the `B = 1` ratio).", "",
                     ctx.figure(plot_batch_costs(batch), "batch-costs",
                                "counted multiplications vs mini-batch size B per order")]
        return StudyPage(findings, "\n".join(body))


STUDY = WinnersStudy()
register_study(STUDY)
