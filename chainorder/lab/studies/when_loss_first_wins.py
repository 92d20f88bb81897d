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
    markdown_table,
    new_figure,
    note,
    order_style,
    range_text,
    ratio_text,
    register_study,
    time_formats,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["WinnersStudy", "STUDY"]


#: The article's own premise, as the page names its population.
PREMISE = "a scalar loss and |x| > 1"


def _timed_shown(cmp: pd.DataFrame) -> pd.DataFrame:
    """The wall-time table as the page shows it: medians, their ratio and its range.

    Examples
    --------
    >>> cmp = pd.DataFrame({"case": ["a"], "seconds_loss_first": [1e-6],
    ...     "loss_first_low": [0.9e-6], "loss_first_high": [1.1e-6],
    ...     "seconds_input_first": [3e-6], "input_first_low": [2.8e-6],
    ...     "input_first_high": [3.3e-6], "time_ratio": [3.0], "faster": ["loss_first"]})
    >>> _timed_shown(cmp).iloc[0, 3:].tolist()
    ['3x', '2.545..3.667', 'loss_first']
    """
    return pd.DataFrame({
        "case": cmp["case"], "lf": cmp["seconds_loss_first"], "if": cmp["seconds_input_first"],
        "if/lf": cmp["time_ratio"].map(ratio_text),
        "range": [range_text(*r) for r in zip(
            cmp["input_first_low"], cmp["input_first_high"], cmp["loss_first_low"],
            cmp["loss_first_high"], strict=True)],
        "faster": cmp["faster"]})


def input_width(cmp: pd.DataFrame) -> pd.Series:
    """``|x|``, the last dim of each case's chain (read from ``dims_text``)."""
    return cmp["dims_text"].str.rsplit("x", n=1).str[-1].astype(int)


def on_premise(cmp: pd.DataFrame) -> pd.Series:
    """Whether a case meets the article's premise: a scalar loss (``rows == 1``) and ``|x| > 1``.

    Examples
    --------
    >>> on_premise(pd.DataFrame({"rows": [1, 1, 8], "dims_text": ["1x3x10", "1x3x1", "8x3x10"]}))
    [True, False, False]
    """
    return ((cmp["rows"] == 1) & (input_width(cmp) > 1)).tolist()


def _counts(c: pd.DataFrame) -> dict[str, Any]:
    """The verdict counts, ratios and extremes over the cases ``c``."""
    empty = not len(c)
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
        "max_lf_over_opt": math.nan if empty else float(c["lf_over_opt"].max()),
        "flop_ratio_geomean": geomean(c["flop_ratio"]),
        "flop_ratio_min": math.nan if empty else float(c["flop_ratio"].min()),
        "flop_ratio_max": math.nan if empty else float(c["flop_ratio"].max()),
        "time_ratio_geomean": geomean(c["time_ratio"]),
        "time_ratio_min": math.nan if empty else float(c["time_ratio"].min()),
        "time_ratio_max": math.nan if empty else float(c["time_ratio"].max()),
    }


def claim_summary(cmp: pd.DataFrame) -> dict[str, Any]:
    """Where "the forwards computation is far more efficient" holds, in FLOPs and in time.

    Parameters
    ----------
    cmp : DataFrame
        :func:`~chainorder.lab.results.order_comparison` output.

    Returns
    -------
    dict
        Over all cases: ``cases``; ``lf_cheaper`` / ``if_cheaper`` / ``cost_ties``
        (counts, FLOPs); ``lf_faster`` / ``if_faster`` / ``time_ties`` (counts, wall
        time: faster only when the intervals of the medians separate, else a tie);
        ``loaded`` (cases measured under load); ``lf_optimal`` (loss-first has the
        optimal cost); geometric means and extremes of ``flop_ratio`` and
        ``time_ratio``; the case lists ``not_cheaper``, ``not_faster`` and
        ``not_optimal``. The same counts for the scalar-loss cases (``rows == 1``)
        under ``scalar_loss``, for the article's premise (:func:`on_premise`) under
        ``premise`` and for the cases outside it under ``off_premise``; per case kind
        in ``by_kind`` (a DataFrame, :func:`kind_table`).
    """
    premise = on_premise(cmp)
    out = _counts(cmp)
    out.update(
        not_cheaper=cmp.loc[cmp["cheaper"] != "loss_first", "case"].tolist(),
        not_faster=cmp.loc[cmp["faster"] != "loss_first", "case"].tolist(),
        not_optimal=cmp.loc[~cmp["loss_first_optimal"], "case"].tolist(),
        scalar_loss=_counts(cmp[cmp["rows"] == 1]),
        premise=_counts(cmp[premise]),
        off_premise=_counts(cmp[[not p for p in premise]]),
        by_kind=kind_table(cmp),
    )
    return out


def kind_table(cmp: pd.DataFrame) -> pd.DataFrame:
    """The claim per case kind: cases, how many meet the premise, verdict counts, ratios.

    One row per ``kind``, sorted by the geometric mean of ``flop_ratio``: the pooled
    rates over all cases depend on how many cases of each kind the grid holds, these do
    not.
    """
    rows = []
    for kind, g in cmp.groupby("kind", sort=False):
        c = _counts(g)
        rows.append({"kind": kind, "cases": c["cases"], "on_premise": sum(on_premise(g)),
                     "lf_cheaper": c["lf_cheaper"], "lf_faster": c["lf_faster"],
                     "if_faster": c["if_faster"], "time_ties": c["time_ties"],
                     "flop_ratio_geomean": c["flop_ratio_geomean"],
                     "flop_ratio_min": c["flop_ratio_min"], "flop_ratio_max": c["flop_ratio_max"],
                     "time_ratio_geomean": c["time_ratio_geomean"]})
    out = pd.DataFrame(rows)
    return out.sort_values("flop_ratio_geomean", kind="stable").reset_index(drop=True)


def _premise_finding(s: dict[str, Any], threads: str) -> str:
    """The claim on the article's own premise, its population named, and outside it."""
    p, off = s["premise"], s["off_premise"]
    text = (f"On the article's own premise ({PREMISE}: {p['cases']} of the {s['cases']} cases) "
            f"loss-first is the cheaper in {p['lf_cheaper']} of {p['cases']} and measurably "
            f"the faster in {p['lf_faster']} of {p['cases']} ({p['time_ties']} ties, "
            f"{p['if_faster']} input-first faster; {threads}); over those {p['cases']}, "
            f"input-first needs {ratio_text(p['flop_ratio_geomean'])} the multiplications "
            f"(geometric mean, {ratio_text(p['flop_ratio_min'])} to "
            f"{ratio_text(p['flop_ratio_max'])}) and takes "
            f"{ratio_text(p['time_ratio_geomean'])} the time (geometric mean, "
            f"{ratio_text(p['time_ratio_min'])} to {ratio_text(p['time_ratio_max'])}).")
    if off["cases"]:
        text += (f" Outside it (a mini-batch, or |x| = 1: {off['cases']} cases) loss-first is "
                 f"the cheaper in {off['lf_cheaper']} of {off['cases']} and measurably the "
                 f"faster in {off['lf_faster']} of {off['cases']}.")
    return text


def _kind_finding(s: dict[str, Any]) -> str:
    """The claim per case kind, in one sentence, with the pooled rate it breaks down."""
    k = s["by_kind"]
    parts = [f"{r.kind} {r.lf_cheaper} of {r.cases} ({ratio_text(r.flop_ratio_geomean)})"
             for r in k.itertuples(index=False)]
    return (f"By case kind, loss-first is the cheaper in: {'; '.join(parts)} (in brackets the "
            "geometric mean of input-first over loss-first multiplications, per kind). Pooled "
            f"over all {s['cases']} cases it is the cheaper in {s['lf_cheaper']} "
            f"({ratio_text(s['flop_ratio_geomean'])} geometric mean), a rate set by how many "
            "cases of each kind the grid holds, not a property of the claim.")


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
            _premise_finding(s, threads),
            _kind_finding(s),
            f"Loss-first is not the cheaper of the two in {len(s['not_cheaper'])} of the "
            f"{s['cases']} cases ({code_list(s['not_cheaper'])}) and not measurably the faster "
            f"in {len(s['not_faster'])} of {s['cases']} ({code_list(s['not_faster'])}); "
            f"{s['loaded']} of the {s['cases']} cases were measured while other work loaded "
            "the machine.",
            ("A scalar loss does not make loss-first optimal: " if sc["lf_optimal"] < sc["cases"]
             else "With a scalar loss, loss-first was optimal every time here: ")
            + f"of the {sc['cases']} scalar-loss cases it is optimal in {sc['lf_optimal']}; the "
            f"worst costs {ratio_text(sc['max_lf_over_opt'])} the optimum. Over all "
            f"{s['cases']} cases it is optimal in {s['lf_optimal']} (worst "
            f"{ratio_text(s['max_lf_over_opt'])}).",
        ]
        batch = ctx.require_sweep()
        batch = batch[batch["kind"] == "minibatch"]
        body = [
            "## By case kind",
            "",
            f"`on_premise`: cases with {PREMISE} (the article's premise). `lf_cheaper` / "
            "`lf_faster`: cases where loss-first needs fewer multiplications / is measurably "
            "faster; `if_faster`, `time_ties`: the other verdicts. Ratios are input-first over "
            "loss-first; `_geomean` is the geometric mean over the kind's cases.",
            "",
            ctx.table(s["by_kind"], "orders-by-kind", counted=False,
                      formats={c: "{:.4g}" for c in s["by_kind"].columns if "ratio" in c},
                      show=[c for c in s["by_kind"].columns
                            if not c.endswith(("_min", "_max"))]),
            "## Counted cost of each order",
            "",
            "`flop_ratio` is input-first over loss-first multiplications; `dims_text` is "
            "`p0x...xpn`, whose `p0` is 1 for a scalar loss and `B` for a mini-batch. The "
            "optimum's cost is in the CSV, and beside loss-first's where they differ below.",
            "",
            ctx.table(cmp[["case", "kind", "dims_text", "rows", "mult_loss_first",
                           "mult_input_first", "mult_optimal", "flop_ratio", "lf_over_opt",
                           "cheaper"]], "orders", counted=True,
                      show=["case", "dims_text", "mult_loss_first", "mult_input_first",
                            "flop_ratio", "cheaper"]),
            "## Wall time of each order",
            "",
            f"Median seconds of the product ({threads}), the orders of a case timed "
            "interleaved, loss-first (`lf`) and input-first (`if`). `if/lf` is the ratio of "
            "the medians; `range` runs from the lowest to the highest ratio their 95% "
            "bootstrap intervals allow (`chainorder.lab.studies.base.range_text`). `faster` "
            "names the order whose interval lies wholly below the other's, where the range "
            "excludes 1, and says `tie` when the intervals overlap, "
            "whatever the medians say. The CSV holds the intervals and `loaded`: "
            + LOADED_MEANS + ".",
            "",
            ctx.table(cmp[["case", "seconds_loss_first", "loss_first_low", "loss_first_high",
                           "seconds_input_first", "input_first_low", "input_first_high",
                           "seconds_optimal", "time_ratio", "faster", "loaded"]], "orders",
                      counted=False, embed=False),
            markdown_table(_timed_shown(cmp), time_formats(["lf", "if"])),
            "",
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
