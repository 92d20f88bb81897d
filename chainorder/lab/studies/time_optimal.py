"""Study 9: time-optimal against FLOP-optimal plans, timed side by side where they differ."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...algebra.timemodel import TIME_DP_MAX_MATRICES
from ..calibrate import differing_chains, time_vs_flops
from ..verdicts import SlowerGoal, tally
from .base import (
    ReportContext,
    Study,
    StudyPage,
    StudySettings,
    calibrated_model,
    code_list,
    loglog,
    markdown_table,
    new_figure,
    note,
    range_text,
    ratio_text,
    register_study,
    setting,
    time_formats,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["TimeOptimalStudy", "STUDY"]

#: Where the timed pairs are saved, under ``OUT/data``.
DATA_FILE = "time-optimal.json"
#: A predicted speed-up this large should show in any measurement.
BIG = 1.5
#: The page's goal, fixed before anything is measured: over the pairs not picked for their
#: predicted gain (the grid's and the seeded random sample's), the time-optimal plan is
#: never measurably slower (a share of 0: "met" never sits beside a slower pair).
GOAL = SlowerGoal(0.0)
#: Where a timed pair comes from, and how the page names that population.
SOURCES = {
    "grid": "grid cases",
    "sampled": "differing random chains sampled by a seeded rule",
    "picked": "random chains picked for their largest predicted gain",
}


def verdict_counts(table: pd.DataFrame) -> dict[str, int]:
    """How often the time-optimal plan was measurably faster, a tie, or measurably slower.

    Examples
    --------
    >>> verdict_counts(pd.DataFrame({"verdict": ["faster", "tie", "faster"]}))
    {'faster': 2, 'tie': 1, 'slower': 0}
    """
    return tally(table["verdict"].tolist())


def sample_differing(found: list[tuple[int, ...]], picked: int, count: int,
                     seed: int) -> list[tuple[int, ...]]:
    """``count`` of the differing chains ``found`` beyond the first ``picked``, drawn seeded.

    ``found`` is every differing chain, largest predicted gain first
    (:func:`~chainorder.lab.calibrate.differing_chains` with a count as large as its
    trials); the draw ignores the gain, so the sample stands for all differing chains
    that were not picked for it.

    Examples
    --------
    >>> sample_differing([(1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 6)], 1, 2, seed=0)
    [(2, 3, 4), (3, 4, 5)]
    """
    rest = found[picked:]
    rng = np.random.default_rng([seed, 9])
    take = sorted(rng.choice(len(rest), size=min(count, len(rest)), replace=False).tolist())
    return [rest[i] for i in take]


def _by_source(table: pd.DataFrame) -> str:
    """The verdicts per population, measured against predicted, each population named."""
    parts = []
    for source, label in SOURCES.items():
        g = table[table["source"] == source]
        if not len(g):
            continue
        c = verdict_counts(g)
        measured = g["flop_plan_median"] / g["time_plan_median"]
        below = int((measured < g["predicted_speedup"]).sum())
        parts.append(
            f"{label}: {c['faster']} faster, {c['tie']} tie{'' if c['tie'] == 1 else 's'}, "
            f"{c['slower']} slower of {len(g)}"
            f"; measured speed-up median {ratio_text(float(measured.median()))} against "
            f"{ratio_text(float(g['predicted_speedup'].median()))} predicted, below "
            f"prediction in {below} of {len(g)}")
    return "By population, " + "; ".join(parts) + "."


def _goal_text(table: pd.DataFrame) -> str:
    """The goal judged over the pairs not picked for their predicted gain."""
    unbiased = table[table["source"].isin(("grid", "sampled"))]
    if not len(unbiased):
        return ("No pair outside the ones picked for their predicted gain was timed, so the "
                "goal (never measurably slower on such pairs) is not judged.")
    text = GOAL.text(unbiased["verdict"].tolist(),
                     "pairs not picked for their predicted gain, the grid's and the seeded "
                     "sample's")
    return text[0].upper() + text[1:] + "."


def plot_speedups(table: pd.DataFrame) -> Figure:
    """Measured against predicted speed-up of the time plan, with the measured spread as bars.

    Colour is the verdict; the marker is the pair's population (``source``: square grid,
    circle seeded sample, triangle picked for its predicted gain).

    The bar of a case runs from the FLOP plan's interval low over the time
    plan's high to its high over the time plan's low.
    """
    fig, ax = new_figure(6.5, 5.0)
    colors = {"faster": "#2ca02c", "tie": "#7f7f7f", "slower": "#d62728"}
    markers = {"grid": "s", "sampled": "o", "picked": "^"}
    for (source, v), g in table.groupby(["source", "verdict"], sort=False):
        mid = g["flop_plan_median"] / g["time_plan_median"]
        lo = g["flop_plan_low"] / g["time_plan_high"]
        hi = g["flop_plan_high"] / g["time_plan_low"]
        ax.errorbar(g["predicted_speedup"], mid, yerr=[mid - lo, hi - mid],
                    fmt=markers.get(str(source), "o"), ms=5, color=colors[str(v)], alpha=0.8,
                    label=f"{source}: time plan {v} ({len(g)})")
    vals = np.concatenate([table["predicted_speedup"], table["flop_plan_median"]
                           / table["time_plan_median"]]).astype(float)
    lo, hi = min(vals.min(), 1) / 1.3, max(vals.max(), 1) * 1.3
    ax.plot([lo, hi], [lo, hi], "--", color="0.5", lw=1, label="measured = predicted")
    ax.axhline(1, color="0.75", lw=0.8)
    loglog(ax, "predicted speed-up of the time-optimal plan (FLOP plan / time plan)",
           "measured speed-up (medians; bars: intervals)",
           "Time-optimal against FLOP-optimal plans, where they differ")
    from matplotlib.ticker import FuncFormatter

    times = FuncFormatter(lambda v, _: f"{v:g}x")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(times)
        axis.set_minor_formatter(times)
    ax.tick_params(which="minor", labelsize=7)
    fig.subplots_adjust(left=0.13)
    ax.legend(fontsize=7.5, loc="upper left")
    note(fig)
    return fig


class TimeOptimalStudy(Study):
    """Where the time model picks another bracketing than the FLOP optimum: is it faster?"""

    slug = "09-time-optimal"
    title = "Time-optimal against FLOP-optimal plans"
    question = "Where the two optima differ, is the time-optimal plan measurably faster?"
    references = ("cormen2009",)

    @dataclass(frozen=True)
    class Settings(StudySettings):
        """What the page times.

        Attributes
        ----------
        threads : int
            BLAS threads of the time model and of the timings.
        chains : int
            Random chains, chosen where the time-optimal and FLOP-optimal plans
            differ most, timed beside the grid.
        sampled : int
            Further differing random chains, drawn by a seeded rule among all the
            differing ones not chosen (:func:`sample_differing`), whatever their gain.
        trials_per_chain : int
            Random chains tried for each one chosen.
        repeats : int
            Interleaved rounds of each timed pair.
        quick_calibration : bool
            A quick calibration when no model is cached.
        """

        threads: int = 1
        chains: int = setting(quick=6, full=12)
        sampled: int = setting(quick=6, full=12)
        trials_per_chain: int = setting(quick=150, full=250)
        repeats: int = setting(quick=14, full=30)
        quick_calibration: bool = setting(quick=True, full=False)

    def collect(self, ctx: ReportContext) -> None:
        s = ctx.settings
        own: TimeOptimalStudy.Settings = s.of(self)
        threads = own.threads
        model = calibrated_model(threads, own.quick_calibration)
        trials = own.trials_per_chain * own.chains
        found = differing_chains(model, count=trials, seed=s.seed, trials=trials)
        chains = found[:own.chains]
        sampled = sample_differing(found, own.chains, own.sampled, s.seed)
        repeats = own.repeats
        # each grid chain is built once and timed at the model's margin and without it (the
        # model's exact optimum); the time DP is O(n^3) in Python-level steps, so chains
        # longer than its limit are left out, and named
        grid: list[Any] = []
        too_long: list[Any] = []
        records: list[dict[str, Any]] = []
        exact: list[dict[str, Any]] = []
        for case in s.grid():
            chain = case.build()
            if len(chain) > TIME_DP_MAX_MATRICES:
                too_long.append(case)
                continue
            grid.append(case)
            for margin, into in ((None, records), (0.0, exact)):
                into += time_vs_flops([(case.id, chain)], model=model, threads=threads,
                                      repeats=repeats, warmup=1, margin=margin)
            del chain
        for r in records:
            r["source"] = "grid"
        for source, dims in (("picked", chains), ("sampled", sampled)):
            for r in time_vs_flops(dims, model=model, threads=threads, repeats=repeats,
                                   warmup=1):
                records.append({**r, "source": source})
        doc = {"threads": threads, "margin": model.margin,
               "plan_ratio_error": model.summary.get("plan_ratio_error", {}),
               "grid_cases": [c.id for c in grid],
               "too_long": [c.id for c in too_long],
               "random_chains": [list(c) for c in chains],
               "sampled_chains": [list(c) for c in sampled], "trials": trials,
               "differing_found": len(found), "model_meta": model.meta,
               "records": records, "exact_records": exact}
        (ctx.data_dir / DATA_FILE).write_text(json.dumps(doc, indent=1, default=str) + "\n",
                                              encoding="utf-8")

    def render(self, ctx: ReportContext) -> StudyPage:
        path = ctx.data_dir / DATA_FILE
        if not path.exists():
            return StudyPage([], "Time-optimal plans were not timed in this report.")
        doc = json.loads(path.read_text(encoding="utf-8"))
        table = pd.DataFrame(doc["records"])
        exact = pd.DataFrame(doc.get("exact_records", []))
        threads = doc["threads"]
        tt = f"{threads} BLAS thread{'s' if threads > 1 else ''}"
        grid = set(doc["grid_cases"])
        too_long = doc.get("too_long", [])
        left_out = (f" Left out: {code_list(too_long)}, longer than the time-optimal order's "
                    f"{TIME_DP_MAX_MATRICES} matrices." if too_long else "")
        margin = doc.get("margin", 0.0)
        findings: list[str] = []
        body: list[str] = []
        if table.empty:
            findings.append(
                f"At the time model's margin of {margin:.1%} the time-optimal and FLOP-optimal "
                f"plans agree on every one of the {len(grid)} grid cases and random chains "
                f"({tt}), so none is slower." + left_out)
        else:
            if "source" not in table:  # saved before the sources were recorded
                table["source"] = ["grid" if c in grid else "picked" for c in table["case"]]
            findings += _verdict_findings(table, doc, tt, left_out, margin)
            figure = ctx.figure(plot_speedups(table), "time-optimal-speedups",
                                "measured vs predicted speed-up of time-optimal over "
                                "FLOP-optimal plans, at the model's margin")
            body += _pairs_section(ctx, table, "time-optimal",
                                   "Measured side by side, at the model's margin", tt, figure)
        findings.append(_margin_text(margin, doc.get("plan_ratio_error", {})))
        if not exact.empty:
            exact["source"] = "grid"
            c = verdict_counts(exact)
            slower = exact.loc[exact["verdict"] == "slower", "case"].tolist()
            gains = exact["predicted_speedup"].astype(float)
            below = (" All are below the margin: gains inside the model's error, which the "
                     "margin keeps the planner from chasing." if gains.max() <= 1 + margin
                     else "")
            findings.append(
                f"Without the margin (`margin=0`, the model's exact optimum) the plans differ "
                f"on {len(exact)} of {len(grid)} grid cases, with predicted speed-ups of "
                f"{ratio_text(float(gains.min()))} to {ratio_text(float(gains.max()))}: "
                f"{c['faster']} faster, {c['tie']} ties, {c['slower']} slower"
                + (f" ({code_list(slower)})" if slower else "") + "." + below)
            body += _pairs_section(ctx, exact, "time-optimal-exact",
                                   "The model's exact optimum on the grid (margin 0)", tt)
        elif "exact_records" in doc:
            findings.append(f"Without the margin (the model's exact optimum) the plans agree on "
                            f"all {len(grid)} grid cases too.")
        return StudyPage(findings, "\n".join(body))


_COLUMNS = ["case", "source", "n", "cost_ratio", "predicted_speedup", "time_plan_low",
            "time_plan_median", "time_plan_high", "flop_plan_low", "flop_plan_median",
            "flop_plan_high", "ratio", "verdict", "loaded"]
_TABLE_TEXT = (
    "Each case's two plans ran interleaved ({tt}); `time_plan` and `flop_plan` are their "
    "median seconds, `ratio` the measured speed-up of the time plan (the FLOP plan's median "
    "over its), `range` the lowest to the highest speed-up the medians' 95% bootstrap "
    "intervals allow (`chainorder.lab.studies.base.range_text`; the CSV holds the intervals). "
    "`verdict` is the time plan's: `faster` or `slower` only when the intervals separate "
    "(the range excludes 1), else `tie`. `cost_ratio` is the time plan's multiplications "
    "over the FLOP optimum's.")


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    """The timed pairs as the page shows them: medians, the speed-up and its range."""
    return pd.DataFrame({
        "case": table["case"], "n": table["n"], "cost_ratio": table["cost_ratio"],
        "time_plan": table["time_plan_median"], "flop_plan": table["flop_plan_median"],
        "ratio": table["ratio"],
        "range": [range_text(*r) for r in zip(
            table["flop_plan_low"], table["flop_plan_high"], table["time_plan_low"],
            table["time_plan_high"], strict=True)],
        "verdict": table["verdict"]})


def _pairs_section(ctx: ReportContext, table: pd.DataFrame, name: str, heading: str, tt: str,
                   figure: str | None = None) -> list[str]:
    """A section of timed pairs: what the columns say, the figure, the table, the bracketings."""
    plans = table[["case", "time_plan", "flop_plan", "time_plan_multiplications",
                   "flop_plan_multiplications"]]
    return [f"## {heading}", "", _TABLE_TEXT.format(tt=tt), "",
            *([figure] if figure else []),
            ctx.table(table[_COLUMNS], name, counted=False, embed=False),
            markdown_table(_shown(table), time_formats(["time_plan", "flop_plan"])), "",
            "The bracketings of each pair:", "",
            ctx.table(plans, f"{name}-plans", counted=False, embed=False)]


def _margin_text(margin: float, ratio: dict) -> str:
    """The margin the time-optimal plans were chosen at, and where it comes from."""
    if not ratio:
        return (f"The time model has no measured margin (margin {margin:.1%}): the time-optimal "
                "plan is the model's exact optimum.")
    if not ratio.get("pairs"):
        return (f"The time model's margin is {margin:.1%}: {ratio['method']} (its calibration "
                f"timed {ratio['chains']} chains, too few to measure predicted ratios of plan "
                f"times on held-out ones). `cost='time'` keeps the FLOP optimum unless a "
                f"plan is predicted more than {ratio_text(1 + margin)} as fast.")
    return (f"The time model's margin is {margin:.1%}: the median error of its predicted ratio "
            f"of two plans' times, measured at calibration on held-out chains ({ratio['pairs']} "
            f"pairs of plans; 90th percentile {ratio['p90']:.1%}). `cost='time'` (the "
            f"`time_optimal` order) keeps the FLOP optimum unless a plan is predicted more than "
            f"{ratio_text(1 + margin)} as fast.")


def _verdict_findings(table: pd.DataFrame, doc: dict[str, Any], tt: str, left_out: str,
                      margin: float) -> list[str]:
    """The findings on the pairs timed at the model's margin: populations, goal, gains."""
    counts = verdict_counts(table)
    slower = table.loc[table["verdict"] == "slower", "case"].tolist()
    grid_cases = len(doc["grid_cases"])
    on_grid = int((table["source"] == "grid").sum())
    loaded = int(table["loaded"].sum())
    found = doc.get("differing_found")
    drawn = (f"; of {doc['trials']} seeded random chains the plans differ on {found}, of "
             f"which {len(doc.get('random_chains', []))} were picked for their largest "
             f"predicted gain and {len(doc.get('sampled_chains', []))} drawn at random from "
             "the rest" if found is not None else "")
    out = [
        f"Timed side by side (interleaved, 95% bootstrap intervals of the medians), the "
        f"time-optimal plan (at the time model's margin of {margin:.1%}) is measurably faster "
        f"in {counts['faster']}, a tie in {counts['tie']} and measurably slower in "
        f"{counts['slower']} of all {len(table)} timed pairs"
        + (f" ({code_list(slower)})" if slower else "") + ". " + _by_source(table),
        _goal_text(table),
        f"At that margin the plans differ on {on_grid} of {grid_cases} grid cases ({tt})"
        + drawn + "; where the plans are the same they cannot differ in time." + left_out,
        f"The time plans do {ratio_text(float(table['cost_ratio'].median()))} the "
        f"multiplications of the FLOP optimum (median over the {len(table)} pairs); "
        f"{loaded} of {len(table)} pairs were timed under load.",
    ]
    big = table[table["predicted_speedup"] >= BIG]
    if len(big):
        missed = big.loc[big["verdict"] != "faster", "case"].tolist()
        out.append(
            f"Where the model predicted the time plan at least {ratio_text(BIG)} as fast "
            f"({len(big)} of the {len(table)} pairs), it was measurably faster in "
            f"{len(big) - len(missed)}"
            + (f"; not in {code_list(missed)}, where the predicted gain did not show "
               "(see the time-model page for the model's error and its limits)"
               if missed else "") + ".")
    return out


STUDY = TimeOptimalStudy()
register_study(STUDY)
