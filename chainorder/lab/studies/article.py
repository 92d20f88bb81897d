"""Study 1: the article's cost formulas against the multiplications actually counted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ...networks.article import article_costs, article_table
from .base import (
    ReportContext,
    Study,
    StudyPage,
    StudySettings,
    ints_text,
    loglog,
    new_figure,
    note,
    order_style,
    ratio_text,
    register_study,
    setting,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["ArticleStudy", "STUDY"]

#: |x|, |z1| = |z2|, |z3| of the article's worked example.
WORKED = (1000, 100, 10)


def article_predicted(x: int, z1: int, z3: int, z2: int | None = None) -> dict[str, int]:
    """The article's two cost formulas (:func:`~chainorder.networks.article.article_costs`), exact.

    Examples
    --------
    >>> article_predicted(1000, 100, 10)
    {'loss_first': 111000, 'input_first': 11010000}
    """
    return article_costs(int(x), int(z1), int(z3), None if z2 is None else int(z2))


def article_agreement(df: pd.DataFrame) -> pd.DataFrame:
    """Counted multiplications of the article's network beside its formulas.

    Parameters
    ----------
    df : DataFrame
        Rows with columns ``x``, ``z1``, ``z3``, ``order`` and
        ``multiplications`` (e.g. :func:`~chainorder.lab.results.load_sweep`
        rows of kind ``'article'``); other kinds and orders are ignored.

    Returns
    -------
    DataFrame
        ``x, z1, z2, z3, order, counted, predicted, ratio`` sorted by sizes and
        order; ``ratio`` is ``counted / predicted`` (1.0 means exact agreement).
    """
    rows = df[df["order"].isin(["loss_first", "input_first"])]
    if "kind" in rows:
        rows = rows[rows["kind"] == "article"]
    if not {"x", "z1", "z3"} <= set(rows.columns):
        rows = rows.iloc[0:0]
    out = []
    for r in rows.itertuples(index=False):
        pred = article_predicted(r.x, r.z1, r.z3)[r.order]
        out.append({"x": int(r.x), "z1": int(r.z1), "z2": int(r.z1), "z3": int(r.z3),
                    "order": r.order, "counted": int(r.multiplications), "predicted": pred,
                    "ratio": int(r.multiplications) / pred})
    cols = ["x", "z1", "z2", "z3", "order", "counted", "predicted", "ratio"]
    table = pd.DataFrame(out, columns=cols)
    return table.sort_values(["z1", "z3", "x", "order"], ignore_index=True)


def article_optimality(sizes: pd.DataFrame) -> str:
    """Whether loss-first is the optimal bracketing of the article's chain at every size tried."""
    cost = sizes.pivot(index="sample", columns="order", values="counted")
    worse = cost[cost["loss_first"] > cost["optimal"]]
    text = (f"Loss-first is the optimal bracketing of the article's chain in "
            f"{len(cost) - len(worse)} of {len(cost)} sizes")
    if worse.empty:
        return text + "."
    shapes = sizes.drop_duplicates("sample").set_index("sample").loc[worse.index]
    cases = "; ".join(
        f"|x| = {r.x:,}, |z1| = |z2| = {r.z1}, |z3| = {r.z3}: {int(c.loss_first):,} vs "
        f"{int(c.optimal):,}" for r, c in zip(shapes.head(3).itertuples(),
                                             worse.head(3).itertuples(), strict=True))
    return (text + f"; where it is not, a cheaper bracketing exists ({cases} multiplications"
            f"{'; ...' if len(worse) > 3 else ''}).")


def plot_multiplications_vs_x(art: pd.DataFrame, *, z1: int, z3: int) -> Figure:
    """Counted multiplications vs ``|x|`` per order, the article's formulas drawn over them.

    ``art`` holds sweep rows of the article's network with these hidden sizes
    (columns ``x``, ``order``, ``multiplications``).
    """
    fig, ax = new_figure()
    xs = np.unique(np.logspace(np.log10(art["x"].min()), np.log10(art["x"].max()), 60).round())
    for order in ("loss_first", "input_first"):
        st = order_style(order)
        pts = art[art["order"] == order].sort_values("x")
        ax.plot(xs, [article_predicted(int(x), z1, z3)[order] for x in xs], "-",
                color=st["color"], lw=1.2, alpha=0.7,
                label=f"article's formula, {order.replace('_', '-')}")
        ax.plot(pts["x"], pts["multiplications"], st["marker"], color=st["color"], ms=7,
                mfc="none", mew=1.5, label=f"counted, {st['label']}")
    loglog(ax, "|x| (input size)", "scalar multiplications",
           f"The article's network, |z1| = |z2| = {z1}, |z3| = {z3}: counted vs predicted")
    ax.legend(fontsize=7.5, loc="upper left")
    note(fig)
    return fig


def _ratio_range(ratio: pd.Series) -> str:
    lo, hi = float(ratio.min()), float(ratio.max())
    if lo == hi == 1.0:
        return "exactly 1 for every one"
    return f"{ratio_text(lo)} to {ratio_text(hi)}"


class ArticleStudy(Study):
    """Counts both orders on the article's worked example and on random sizes of its network."""

    slug = "01-article"
    title = "The article's analysis: predicted vs counted"
    question = "Do the article's cost formulas match the multiplications actually performed?"
    references = ("desai2018", "cormen2009")

    @dataclass(frozen=True)
    class Settings(StudySettings):
        """What the page counts.

        Attributes
        ----------
        random_sizes : int
            Random sizes of the article's network counted beside its worked example.
        """

        random_sizes: int = setting(quick=24, full=100)

    def collect(self, ctx: ReportContext) -> None:
        own: ArticleStudy.Settings = ctx.settings.of(self)
        rng = np.random.default_rng([ctx.settings.seed, 1])
        sizes = [WORKED] + [
            (int(rng.integers(1, 2001)), int(rng.integers(1, 301)), int(rng.integers(1, 51)))
            for _ in range(own.random_sizes)
        ]
        rows = []
        for which, (x, z1, z3) in enumerate(sizes):
            t = article_table(x, z1, z3, seed=ctx.settings.seed)
            for r in t.itertuples(index=False):
                rows.append({"sample": which, "x": x, "z1": z1, "z2": z1, "z3": z3,
                             "order": r.order, "article_name": r.article_name,
                             "predicted": int(r.predicted), "counted": int(r.counted)})
        pd.DataFrame(rows).to_csv(ctx.data_dir / "article_sizes.csv", index=False,
                                  lineterminator="\n")

    def render(self, ctx: ReportContext) -> StudyPage:
        sizes = pd.read_csv(ctx.data_dir / "article_sizes.csv")
        two = sizes[sizes["order"].isin(["loss_first", "input_first"])]
        worked = sizes[sizes["sample"] == 0].copy()
        lf = int(worked.loc[worked["order"] == "loss_first", "counted"].iloc[0])
        inf = int(worked.loc[worked["order"] == "input_first", "counted"].iloc[0])
        worked["FLOPs"] = 2 * worked["counted"]
        worked = worked[["order", "article_name", "predicted", "counted", "FLOPs"]]
        agree = article_agreement(ctx.require_sweep())
        checks = [
            "- Counted multiplications against the article's formulas: both sum `p·q·r` over "
            "the same products, so they agree by construction and a disagreement would be a "
            "bug in building or multiplying the Jacobians, not evidence about the article. On "
            f"all {two['sample'].nunique()} sizes of its network tried (the worked example "
            f"and {two['sample'].nunique() - 1} random sizes with |x| ≤ 2,000, |z1| = |z2| ≤ "
            f"300, |z3| ≤ 50), in both orders, counted / predicted is "
            f"{_ratio_range(two['counted'] / two['predicted'])}."]
        findings = [
            f"Worked example (|x| = {WORKED[0]:,}, |z1| = |z2| = {WORKED[1]}, "
            f"|z3| = {WORKED[2]}): loss-first {lf:,} and input-first {inf:,} scalar "
            f"multiplications ({2 * lf:,} and {2 * inf:,} FLOPs); input-first costs "
            f"{ratio_text(inf / lf)} as much.",
        ]
        if len(agree):
            checks.append(
                f"- The same on the sweep's {agree['x'].nunique()} sizes of |x| "
                f"({ints_text(sorted(agree['x'].unique()))}): counted / predicted is "
                f"{_ratio_range(agree['ratio'])} of {len(agree)} (size, order) pairs.")
        findings.append(article_optimality(sizes))
        body = [
            "## The chain",
            "",
            "The article's network is `z1 = W1 x + b1`, `z2 = sigma(z1)`, `z3 = W2 z2 + b2`, "
            "`loss = l(z3)`; the gradient `dl/dx = dl/dz3 · dz3/dz2 · dz2/dz1 · dz1/dx` is a "
            "chain with dims `(1, |z3|, |z2|, |z1|, |x|)`. Its formulas: loss-first "
            "(\"forwards\") costs `|z3||z2| + |z2||z1| + |z1||x|`, input-first (\"backwards\") "
            "costs `|z2||z1||x| + |z3||z2||x| + |z3||x|`, in the cost unit of Cormen et al. "
            "§15.2. chainorder builds the explicit Jacobians of a seeded network, multiplies "
            "them in each order and counts the multiplications from the operands' shapes.",
            "",
            "## Checks",
            "",
            *checks,
            "",
            "## Worked example",
            "",
            ctx.table(worked, "article-worked-example", counted=True),
            "## Random sizes",
            "",
            ctx.table(sizes.drop(columns=["article_name"]), "article-sizes", counted=True),
        ]
        if len(agree):
            art = ctx.require_sweep()
            art = art[(art["kind"] == "article") & (art["z1"] == 100) & (art["z3"] == 10)]
            body += ["## The sweep's sizes", "", ctx.table(agree, "article-sweep", counted=True)]
            if art["x"].nunique() >= 2:
                body.append(ctx.figure(plot_multiplications_vs_x(art, z1=100, z3=10),
                                       "multiplications-vs-x",
                                       "counted multiplications vs |x|, the article's formulas "
                                       "drawn over them"))
        return StudyPage(findings, "\n".join(body))


STUDY = ArticleStudy()
register_study(STUDY)
