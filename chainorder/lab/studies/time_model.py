"""Study 8: the calibrated time model, predicted against measured seconds over the grid."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...algebra import timemodel
from ...algebra.timemodel import SHAPE_CLASSES
from ..calibrate import predicted_vs_measured, prediction_errors
from .base import (
    ReportContext,
    Study,
    StudyPage,
    StudySettings,
    calibrated_model,
    loglog,
    new_figure,
    note,
    register_study,
    setting,
)
from .flops_vs_time import report_roof

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["TimeModelStudy", "STUDY"]

#: The goal: median absolute relative error of a plan's predicted time, at the first thread count.
GOAL = 0.20
#: Where the collected checks are saved, under ``OUT/data``.
DATA_FILE = "time-model.json"
#: Orders of the benchmark grid whose plans are predicted and timed.
ORDERS = ("loss_first", "input_first", "optimal")
_CLASS_COLORS = dict(zip(SHAPE_CLASSES, ("#7f7f7f", "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b",
                                         "#2ca02c"), strict=True))


def model_limits() -> list[str]:
    """What the time model does not capture: the bullets of its module docstring, their one home.

    Examples
    --------
    >>> model_limits()[0].startswith("threading:")
    True
    """
    doc = timemodel.__doc__ or ""
    part = doc.split("What the model does not capture:", 1)[-1].split("\n\nModels are", 1)[0]
    items = [" ".join(b.split()) for b in part.split("\n- ")]
    return [i.lstrip("- ").rstrip(";.") for i in items if i.strip()]


def goal_text(median: float, goal: float = GOAL) -> str:
    """Whether a median absolute relative error meets the goal, as words.

    Examples
    --------
    >>> goal_text(0.12), goal_text(0.31)
    ('met', 'not met')
    """
    return "met" if median <= goal else "not met"


def error_table(runs: list[dict[str, Any]]) -> pd.DataFrame:
    """Error distribution per thread count, level (plan, step) and shape class.

    Returns
    -------
    DataFrame
        ``threads, level, shape_class, points, median_abs_rel_error,
        p90_abs_rel_error, median_rel_error`` (fractions; a plan's class is
        that of its step with the largest predicted time; ``all`` pools the classes).
    """
    rows = [{"threads": run["threads"], **e} for run in runs
            for e in prediction_errors(run["records"])]
    return pd.DataFrame(rows)


def plot_residuals(records: pd.DataFrame, threads: int) -> Figure:
    """Predicted against measured seconds, log-log, per shape class, steps and plans, with y = x."""
    fig, axes = new_figure(10.0, 5.0, ncols=2)
    for ax, level, what in ((axes[0], "step", "product steps"), (axes[1], "plan", "whole plans")):
        sub = records[records["level"] == level]
        for cls in SHAPE_CLASSES:
            pts = sub[sub["shape_class"] == cls]
            if len(pts):
                ax.scatter(pts["measured_median"], pts["predicted"], s=12, alpha=0.6,
                           color=_CLASS_COLORS[cls], label=f"{cls} ({len(pts)})")
        both = np.concatenate([sub["measured_median"], sub["predicted"]]).astype(float)
        both = both[both > 0]
        if len(both):
            lo, hi = both.min() / 2, both.max() * 2
            ax.plot([lo, hi], [lo, hi], "--", color="0.4", lw=1, label="predicted = measured")
        loglog(ax, "measured seconds (median of interleaved runs)", "predicted seconds",
               f"{what}, {threads} BLAS thread{'s' if threads > 1 else ''}")
        ax.legend(fontsize=7, loc="upper left")
    axes[1].set_ylabel("")
    note(fig, "float64; class of a plan: its step with the largest predicted time")
    return fig


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


class TimeModelStudy(Study):
    """How well the calibrated time model predicts the grid's plans and steps, per shape class."""

    slug = "08-time-model"
    title = "The calibrated time model, predicted against measured"
    question = "How close are the time model's predicted seconds to the measured ones?"
    references = ("numpy",)

    @dataclass(frozen=True)
    class Settings(StudySettings):
        """What the page calibrates and times.

        Attributes
        ----------
        threads : tuple of int
            BLAS thread counts the time model is calibrated and checked at (the
            goal is stated for the first).
        repeats : int
            Interleaved rounds of each timed check.
        quick_calibration : bool
            A quick calibration (a cached full one serves too).
        fresh_calibration : bool
            Calibrate afresh even when a model is cached, so the model and its
            checks see the machine in one state (the new model replaces the cached one).
        """

        threads: tuple[int, ...] = (1, 2)
        repeats: int = setting(quick=7, full=15)
        quick_calibration: bool = setting(quick=True, full=False)
        fresh_calibration: bool = setting(quick=False, full=True)

    def collect(self, ctx: ReportContext) -> None:
        s = ctx.settings
        own: TimeModelStudy.Settings = s.of(self)
        runs = []
        for threads in own.threads:
            asked = datetime.now(timezone.utc).isoformat(timespec="seconds")
            model = calibrated_model(threads, own.quick_calibration, fresh=own.fresh_calibration)
            records = predicted_vs_measured(s.grid(), ORDERS, model=model, threads=threads,
                                            repeats=own.repeats, warmup=1)
            runs.append({"threads": threads, "model": model.to_dict(), "records": records,
                         "asked": asked})
        doc = {"goal": GOAL, "orders": list(ORDERS), "runs": runs}
        (ctx.data_dir / DATA_FILE).write_text(json.dumps(doc, indent=1, default=str) + "\n",
                                              encoding="utf-8")

    def render(self, ctx: ReportContext) -> StudyPage:
        path = ctx.data_dir / DATA_FILE
        if not path.exists():
            return StudyPage([], "The time model was not checked in this report.")
        runs = json.loads(path.read_text(encoding="utf-8"))["runs"]
        errors = error_table(runs)
        findings, body = [], []
        for n, run in enumerate(runs):
            f, b = self._run(ctx, run, errors[errors["threads"] == run["threads"]], n == 0)
            findings += f
            body += b
        body += ["## Error distribution", "",
                 "Absolute relative error |predicted / measured − 1| (fractions; measured: the "
                 "median of interleaved runs). `plan` rows judge whole plans, classed by their "
                 "step with the largest predicted time; `step` rows judge every product step.",
                 "",
                 ctx.table(errors, "time-model-errors", counted=False,
                           formats={c: "{:.3f}" for c in ("median_abs_rel_error",
                                                          "p90_abs_rel_error",
                                                          "median_rel_error")}),
                 "## What the model does not capture", "",
                 "From the time model's documentation (`chainorder.algebra.timemodel`):", "",
                 *(f"- {item}." for item in model_limits()), ""]
        return StudyPage(findings, "\n".join(body))

    def _run(self, ctx: ReportContext, run: dict[str, Any], err: pd.DataFrame,
             goal_run: bool) -> tuple[list[str], list[str]]:
        threads = run["threads"]
        recs = pd.DataFrame(run["records"])
        meta = run["model"].get("meta", {})
        tt = f"{threads} BLAS thread{'s' if threads > 1 else ''}"
        plan = err[err["level"] == "plan"].set_index("shape_class")
        step = err[err["level"] == "step"].set_index("shape_class")
        if "all" not in plan.index:
            return [f"At {tt} no plan was timed."], []
        overall = plan.loc["all"]
        classes = ", ".join(f"{c} {_pct(r['median_abs_rel_error'])} ({int(r['points'])})"
                            for c, r in plan.drop(index="all").iterrows())
        plans = recs[recs["level"] == "plan"]
        loaded = int(plans["loaded"].sum())
        goal = (f"the goal (median ≤ {_pct(GOAL)} at {tt}) is "
                f"{goal_text(overall['median_abs_rel_error'])}" if goal_run
                else f"stated for comparison with the goal of {_pct(GOAL)}")
        findings = [
            f"At {tt}, over {int(overall['points'])} plans of the grid ({plans['case'].nunique()}"
            f" cases × {', '.join(ORDERS)}), the predicted time of a plan is off by "
            f"{_pct(overall['median_abs_rel_error'])} at the median (90th percentile "
            f"{_pct(overall['p90_abs_rel_error'])}): {goal}. By the shape class of the plan's "
            f"largest predicted step (median, plans): {classes}.",
            f"At {tt}, per product step ({int(step.loc['all', 'points'])} steps) the median "
            f"error is {_pct(step.loc['all', 'median_abs_rel_error'])} (90th percentile "
            f"{_pct(step.loc['all', 'p90_abs_rel_error'])}); {loaded} of {len(plans)} plans "
            "were timed while other work loaded the machine.",
        ]
        summary = run["model"].get("summary", {})
        roof = (summary.get("peak_gflops") or {}).get("best")
        shared = report_roof(ctx)
        cached = str(meta.get("created", "")) < str(run.get("asked", ""))
        source = (f"From the cache: calibrated before this report (`chainorder calibrate "
                  f"--threads {threads} --force` measures it again; do so after chainorder "
                  "changed how it multiplies, which the cache key does not see). "
                  if cached else "Calibrated during this report. ")
        body = [f"## {tt}", "",
                source + f"Model calibrated {meta.get('created', '?')} in "
                f"{meta.get('seconds', '?')} s "
                f"({'quick' if meta.get('quick') else 'full'} calibration, "
                f"{meta.get('points', '?')} measured points, load average "
                f"{meta.get('loadavg_start')} → {meta.get('loadavg_end')})"
                + (f"; the best rate a matrix-matrix product achieved while calibrating: "
                   f"{roof:.1f} GFLOP/s" if roof else "") + "."
                + (f" The report's roof is {shared['gflops']:.1f} GFLOP/s, the best rate of the "
                   f"sweep run at {ctx.settings.threads_text()} ([page 3](03-flops-vs-time.md)); "
                   "the calibration ran at another time"
                   + ("" if threads == ctx.settings.threads else " and thread count")
                   + ", so its rate is the model's, not a second peak." if shared else ""), "",
                ctx.figure(plot_residuals(recs, threads), f"time-model-residuals-{threads}t",
                           f"predicted vs measured seconds per shape class, {tt}"),
                ctx.table(recs, f"time-model-{threads}t", counted=False, embed=False)]
        return findings, body


STUDY = TimeModelStudy()
register_study(STUDY)
