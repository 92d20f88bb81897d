"""Study 10: the article's claims counted twice, densely (its convention) and structurally."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...algebra.chain import Chain
from ...algebra.costs import KindSig
from ...algebra.orders import plan
from ...networks.article import article_costs, article_signature, article_table
from ...networks.network import article_network
from .base import (
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
    order_style,
    ratio_text,
    register_study,
    setting,
)
from .conventions import CONVENTION_LINE, CONVENTION_TEXT, CONVENTIONS, convention_label
from .growth import affine_text, exact_affine

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["StructuredArticleStudy", "STUDY"]

#: |z1| = |z2| and |z3| of the article's network.
Z1, Z3 = 100, 10
#: |x| of the article's worked example.
WORKED_X = 1000
#: The input sizes of the page; the largest are predicted only (the study's ``count_limit``).
XS: tuple[int, ...] = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)
#: Rows B of the first block tried at |x| = 1000 (both sides of each crossover).
BATCHES: tuple[int, ...] = (1, 2, 10, 11, 12, 13, 108, 109)
#: Input sizes of the crossover table (cost model only: nothing is multiplied).
CROSSOVER_XS: tuple[int, ...] = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)
_TWO = ("loss_first", "input_first")
_ORDERS = ("loss_first", "input_first", "optimal")


def convention_costs(xs: tuple[int, ...], upto: int, *, seed: int = 0) -> pd.DataFrame:
    """Each order's cost of the article's chain per ``|x|`` and convention, counted where it fits.

    Returns
    -------
    DataFrame
        ``x, structure, order, predicted, counted, source``: ``predicted`` from
        :func:`~chainorder.networks.article.article_costs` (and the structured
        optimizer for ``optimal``), ``counted`` by multiplying the seeded
        network's chain (:func:`~chainorder.networks.article.article_table`)
        where ``|x| <= upto``, else empty.

    Examples
    --------
    >>> t = convention_costs((10,), 10)
    >>> t[["structure", "order", "predicted", "counted"]].to_numpy().tolist()[:2]
    [['dense', 'loss_first', 12000, 12000], ['dense', 'input_first', 110100, 110100]]
    """
    rows = []
    for x in xs:
        for structure in CONVENTIONS:
            counted: dict[str, Any] = {}
            if x <= upto:
                t = article_table(x, Z1, Z3, seed=seed, cost=structure).set_index("order")
                counted = {o: t.loc[o, "counted"] for o in _ORDERS}
            sigs = article_signature(x, Z1, Z3)
            predicted = {**article_costs(x, Z1, Z3, cost=structure),
                         "optimal": plan(sigs, "optimal", cost=structure).cost}
            for order in _ORDERS:
                got = counted.get(order)
                done = isinstance(got, (int, np.integer))  # else not counted (memory budget)
                rows.append({"x": x, "structure": structure, "order": order,
                             "predicted": predicted[order],
                             "counted": int(got) if done and got is not None else None,
                             "source": "counted by multiplying" if done else
                             f"formula (not multiplied above |x| = {upto:,})"})
    df = pd.DataFrame(rows)
    df["counted"] = df["counted"].astype("Int64")
    return df


def affine_in_x(costs: pd.DataFrame) -> pd.DataFrame:
    """Exact intercept and slope in ``|x|`` per convention and order, from the formulas.

    The line through the formula at ``|x| = 1, 2`` (the formulas are affine in
    ``|x|``), checked against every counted and predicted cost in ``costs``.

    Returns
    -------
    DataFrame
        ``structure, order, intercept, slope, cost, on_line, counted_on_line``:
        ``cost`` as text, ``on_line`` how many of the predicted points lie on
        the line (of how many), ``counted_on_line`` the same for the counted ones.

    Examples
    --------
    >>> fit = affine_in_x(convention_costs((1, 10), 10))
    >>> fit[["structure", "order", "intercept", "slope"]].to_numpy().tolist()
    [['dense', 'loss_first', 11000, 100], ['dense', 'input_first', 0, 11010], \
['structured', 'loss_first', 1100, 100], ['structured', 'input_first', 0, 1110]]
    """
    rows = []
    for structure in CONVENTIONS:
        for order in _TWO:
            line = exact_affine([1, 2], [article_costs(x, Z1, Z3, cost=structure)[order]
                                         for x in (1, 2)])
            a, b = line["intercept"], line["slope"]
            s = costs[(costs["structure"] == structure) & (costs["order"] == order)]
            c = s.dropna(subset=["counted"])
            rows.append({"structure": structure, "order": order, "intercept": a, "slope": b,
                         "cost": affine_text(a, b),
                         "on_line": _on_line(s["x"], s["predicted"], a, b),
                         "counted_on_line": _on_line(c["x"], c["counted"], a, b)})
    return pd.DataFrame(rows)


def _on_line(xs: pd.Series, ys: pd.Series, a: int, b: int) -> str:
    hits = sum(int(y) == a + b * int(x) for x, y in zip(xs, ys, strict=True))
    return f"{hits} of {len(xs)}"


def _batch_factors(batch: int, x: int, structure: str, seed: int) -> list[Any]:
    """The article network's Jacobians with ``batch`` random loss-gradient rows in front."""
    net = article_network(x, Z1, Z3, seed=seed)
    rng = np.random.default_rng([seed, batch])
    chain = net.input_chain(rng.standard_normal(x), rng.standard_normal(Z3), cost=structure)
    return [rng.standard_normal((batch, Z3)), *chain.factors[1:]]


def _batch_sigs(batch: int, x: int) -> list[KindSig]:
    return [KindSig.dense(batch, Z3), *article_signature(x, Z1, Z3)[1:]]


def batch_costs(batches: tuple[int, ...], x: int = WORKED_X, *, seed: int = 0) -> pd.DataFrame:
    """Each order's cost with ``B`` rows in the first block, per convention, counted.

    The chain is the article network's ``dz3/dz2 · dz2/dz1 · dz1/dx`` behind a
    ``B x |z3|`` block of loss-gradient rows (as the mini-batch cases share one
    chain). Each order is multiplied with a counted trace (``counted``) and
    planned by the cost model (``predicted``).

    Returns
    -------
    DataFrame
        ``batch, structure, order, predicted, counted, bracketing``.

    Examples
    --------
    >>> t = batch_costs((13,)).set_index(["structure", "order"])["counted"]
    >>> t["dense"].to_dict()
    {'loss_first': 1443000, 'input_first': 11130000, 'optimal': 1230000}
    >>> t["structured"].to_dict()
    {'loss_first': 1314300, 'input_first': 1230000, 'optimal': 1131000}
    """
    rows = []
    for batch in batches:
        for structure in CONVENTIONS:
            chain = Chain(_batch_factors(batch, x, structure, seed))
            for order in _ORDERS:
                pl = chain.plan(order, cost=structure)
                _, trace = chain.multiply(pl, trace=True, cost=structure)
                rows.append({"batch": batch, "structure": structure, "order": order,
                             "predicted": pl.cost, "counted": trace.multiplications,
                             "bracketing": pl.parenthesization})
    return pd.DataFrame(rows)


def bilinear_costs(structure: str, order: str) -> dict[str, int]:
    """``c0 + cB·B + cx·|x| + cBx·B·|x|``: an order's cost model with ``B`` rows, exactly.

    Read from the cost model (:func:`chainorder.plan`) at ``B, |x| in {1, 2}``
    and checked at ``(3, 5)`` and ``(7, 1000)``; a ValueError if not bilinear.

    Examples
    --------
    >>> bilinear_costs("dense", "input_first")
    {'c0': 0, 'cB': 0, 'cx': 11000, 'cBx': 10}
    >>> bilinear_costs("structured", "loss_first")
    {'c0': 0, 'cB': 1100, 'cx': 0, 'cBx': 100}
    """
    def cost(b: int, x: int) -> int:
        return plan(_batch_sigs(b, x), order, cost=structure).cost

    c11, c21, c12, c22 = cost(1, 1), cost(2, 1), cost(1, 2), cost(2, 2)
    cbx = c22 - c21 - c12 + c11
    cb, cx = c21 - c11 - cbx, c12 - c11 - cbx
    out = {"c0": c11 - cb - cx - cbx, "cB": cb, "cx": cx, "cBx": cbx}
    for b, x in ((3, 5), (7, 1000)):
        if cost(b, x) != out["c0"] + cb * b + cx * x + cbx * b * x:
            raise ValueError(f"{order} under {structure} is not bilinear in B and |x|")
    return out


def batch_crossover_exact(structure: str, x: int | None) -> Fraction | None:
    """``B`` where input-first and loss-first cost the same at this ``|x|`` (None: at no ``B``).

    ``x=None`` gives the limit as ``|x|`` grows. Input-first is the cheaper of
    the two above it.

    Examples
    --------
    >>> float(batch_crossover_exact("dense", 1000)), float(batch_crossover_exact("dense", None))
    (108.91089108910892, 122.22222222222223)
    >>> batch_crossover_exact("structured", None)
    Fraction(110, 9)
    """
    lf, inf = bilinear_costs(structure, "loss_first"), bilinear_costs(structure, "input_first")
    if x is None:  # ratio of the |x| terms
        num, den = inf["cx"] - lf["cx"], lf["cBx"] - inf["cBx"]
    else:
        num = inf["c0"] - lf["c0"] + (inf["cx"] - lf["cx"]) * x
        den = lf["cB"] - inf["cB"] + (lf["cBx"] - inf["cBx"]) * x
    return Fraction(num, den) if den > 0 else None


def _last_loss_first_optimal(structure: str, x: int, upto: int) -> int:
    """The largest ``B <= upto`` up to which loss-first is an optimal bracketing (cost model)."""
    for b in range(1, upto + 1):
        sigs = _batch_sigs(b, x)
        if plan(sigs, "loss_first", cost=structure).cost > plan(
                sigs, "optimal", cost=structure).cost:
            return b - 1
    return upto


def crossovers(xs: tuple[int, ...] = CROSSOVER_XS) -> pd.DataFrame:
    """The batch size where input-first overtakes loss-first, per ``|x|`` and convention.

    Returns
    -------
    DataFrame
        ``x`` (empty for the limit), ``structure``, ``crossover`` (exact, as a
        float) and ``smallest_b`` (the first whole ``B`` where input-first is cheaper).

    Examples
    --------
    >>> crossovers((1000,))[["structure", "crossover", "smallest_b"]].to_numpy().tolist()[:2]
    [['dense', 108.91089108910892, 109], ['structured', 12.074643249176729, 13]]
    """
    rows = []
    for x in (*xs, None):
        for structure in CONVENTIONS:
            b = batch_crossover_exact(structure, x)
            rows.append({"x": x, "structure": structure,
                         "crossover": float(b) if b is not None else None,
                         "smallest_b": (int(b) + 1) if b is not None else None})
    df = pd.DataFrame(rows)
    df["x"] = df["x"].astype("Int64")
    df["smallest_b"] = df["smallest_b"].astype("Int64")
    return df


def _cost(costs: pd.DataFrame, x: int, structure: str, order: str) -> int:
    s = costs[(costs["x"] == x) & (costs["structure"] == structure) & (costs["order"] == order)]
    row = s.iloc[0]
    return int(row["counted"]) if not pd.isna(row["counted"]) else int(row["predicted"])


def claims_table(costs: pd.DataFrame, fits: pd.DataFrame, cross: pd.DataFrame,
                 batch: pd.DataFrame) -> pd.DataFrame:
    """The article's claims, one row each, with a column per convention (every number computed).

    Examples
    --------
    >>> costs = convention_costs((1, 1000), 1000)
    >>> t = claims_table(costs, affine_in_x(costs), crossovers((1000,)), batch_costs((1,)))
    >>> t.iloc[2].tolist()
    ['input-first / loss-first at |x| = 1,000', '99.19x', '10.98x']
    """
    f = fits.set_index(["structure", "order"])
    lim = cross[cross["x"].isna()].set_index("structure")["crossover"]
    at = cross[cross["x"] == WORKED_X].set_index("structure")["crossover"]
    xs = sorted(int(x) for x in costs["x"].unique())
    rows: dict[str, dict[str, str]] = {}
    for st in CONVENTIONS:
        lf, inf = (_cost(costs, WORKED_X, st, o) for o in _TWO)
        slope = {o: f.loc[(st, o), "slope"] for o in _TWO}
        wins = [x for x in xs if _cost(costs, x, st, "input_first") <
                _cost(costs, x, st, "loss_first")]
        rows[st] = {
            f"loss-first at |x| = {WORKED_X:,}": f"{lf:,}",
            f"input-first at |x| = {WORKED_X:,}": f"{inf:,}",
            f"input-first / loss-first at |x| = {WORKED_X:,}": ratio_text(inf / lf),
            "loss-first, affine in |x|": f.loc[(st, "loss_first"), "cost"],
            "input-first, affine in |x|": f.loc[(st, "input_first"), "cost"],
            "slope ratio as |x| grows":
                f"{slope['input_first']:,} / {slope['loss_first']:,} = "
                f"{ratio_text(slope['input_first'] / slope['loss_first'])}",
            "|x| tried where input-first is cheaper": ints_text(wins) or "none",
            f"B from which input-first is cheaper, |x| = {WORKED_X:,}":
                f"B > {number_text(at[st])}",
            "the same as |x| grows": f"B > {number_text(lim[st])}",
            f"B up to which loss-first is optimal, |x| = {WORKED_X:,}":
                f"{_last_loss_first_optimal(st, WORKED_X, int(batch['batch'].max())):,}",
        }
    claims = list(rows["dense"])
    return pd.DataFrame({"claim": claims,
                         **{st: [rows[st][c] for c in claims]
                            for st in CONVENTIONS}})


def plot_costs_vs_x(costs: pd.DataFrame) -> Figure:
    """Multiplications vs ``|x|``: both orders in both conventions, formulas as lines."""
    fig, ax = new_figure()
    grid = np.unique(np.logspace(0, np.log10(costs["x"].max()), 60).round()).astype(int)
    for structure in CONVENTIONS:
        for order in _TWO:
            st = order_style(order)
            ax.plot(grid, [article_costs(int(x), Z1, Z3, cost=structure)[order]
                           for x in grid], CONVENTION_LINE[structure], color=st["color"],
                    lw=1.3, alpha=0.8,
                    label=f"{order.replace('_', '-')}, {convention_label(structure)}")
            pts = costs[(costs["structure"] == structure) & (costs["order"] == order)]
            pts = pts.dropna(subset=["counted"])
            ax.plot(pts["x"], pts["counted"].astype(float), st["marker"], color=st["color"],
                    ms=6, mfc="none" if structure == "dense" else st["color"], mew=1.3)
    loglog(ax, "|x| (input size)", "scalar multiplications",
           f"The article's network (|z1| = |z2| = {Z1}, |z3| = {Z3}) in both conventions")
    ax.legend(fontsize=7, loc="upper left", title="lines: formula; markers: counted "
              "(open dense, filled structured)", title_fontsize=7)
    note(fig)
    return fig


def plot_ratio_and_crossover(costs: pd.DataFrame, fits: pd.DataFrame,
                             cross: pd.DataFrame) -> Figure:
    """Left: input-first / loss-first vs ``|x|``; right: the crossover batch size vs ``|x|``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.0, 4.4))
    left, right = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.16, top=0.9, wspace=0.22)
    f = fits.set_index(["structure", "order"])
    for structure in CONVENTIONS:
        s = costs[costs["structure"] == structure]
        xs = sorted(int(x) for x in s["x"].unique())
        ratio = [_cost(s, x, structure, "input_first") / _cost(s, x, structure, "loss_first")
                 for x in xs]
        limit = f.loc[(structure, "input_first"), "slope"] / f.loc[(structure, "loss_first"),
                                                                   "slope"]
        style = CONVENTION_LINE[structure]
        left.plot(xs, ratio, "o" + style, color="0.2", mfc="none" if structure == "dense"
                  else "0.2", label=convention_label(structure))
        left.axhline(limit, color="0.5", lw=0.8, ls=":")
        left.annotate(f"→ {ratio_text(limit)}", (xs[-1], limit), fontsize=7,
                      va="bottom", ha="right")
        c = cross[(cross["structure"] == structure) & cross["x"].notna()]
        right.plot(c["x"].astype(float), c["crossover"], "s" + style, color="0.2",
                   mfc="none" if structure == "dense" else "0.2",
                   label=convention_label(structure))
        lim = float(cross[(cross["structure"] == structure) & cross["x"].isna()]["crossover"]
                    .iloc[0])
        right.axhline(lim, color="0.5", lw=0.8, ls=":")
    loglog(left, "|x| (input size)", "input-first / loss-first multiplications",
           "How much more input-first costs (B = 1)")
    loglog(right, "|x| (input size)", "B rows above which input-first beats loss-first",
           "Where each order wins with B rows in the first block")
    for ax in (left, right):
        ax.legend(fontsize=7, loc="lower right")
    note(fig, "dotted: the limit as |x| grows; scalar multiplications (FLOPs = 2 × "
              "multiplications)")
    return fig


class StructuredArticleStudy(Study):
    """The article's worked example, growth with |x| and crossovers under both conventions."""

    slug = "10-structured-article"
    title = "The article's claims under dense and structured counts"
    question = ("Do the article's claims hold when diag(σ') is counted as the diagonal it is, "
                "and by how much?")
    references = ("desai2018", "cormen2009")

    @dataclass(frozen=True)
    class Settings(StudySettings):
        """What the page counts.

        Attributes
        ----------
        count_limit : int
            Largest ``|x|`` whose chain is multiplied to count it. Past it the
            article's formulas (:func:`~chainorder.networks.article.article_costs`)
            give the cost and the ``source`` column says so; the dense input-first
            product at ``|x| = 10^5`` alone is 1.1e9 multiplications.
        """

        count_limit: int = setting(quick=10_000, full=100_000)

    def collect(self, ctx: ReportContext) -> None:
        own: StructuredArticleStudy.Settings = ctx.settings.of(self)
        convention_costs(XS, own.count_limit, seed=ctx.settings.seed).to_csv(
            ctx.data_dir / "structured_article_costs.csv", index=False, lineterminator="\n")
        batch_costs(BATCHES, seed=ctx.settings.seed).to_csv(
            ctx.data_dir / "structured_article_batch.csv", index=False, lineterminator="\n")
        crossovers().to_csv(ctx.data_dir / "structured_article_crossovers.csv", index=False,
                            lineterminator="\n", float_format="%.17g")

    def render(self, ctx: ReportContext) -> StudyPage:
        data = ctx.data_dir
        costs = pd.read_csv(data / "structured_article_costs.csv", dtype={"counted": "Int64"})
        batch = pd.read_csv(data / "structured_article_batch.csv")
        cross = pd.read_csv(data / "structured_article_crossovers.csv",
                            dtype={"x": "Int64", "smallest_b": "Int64"})
        fits = affine_in_x(costs)
        claims = claims_table(costs, fits, cross, batch)
        return StudyPage(_findings(costs, fits, cross, batch),
                         _body(ctx, costs, fits, cross, batch, claims) + "\n\n## Checks\n\n"
                         + "\n".join(_checks(costs, batch)) + "\n")


def _checks(costs: pd.DataFrame, batch: pd.DataFrame) -> list[str]:
    """Counted against the formulas: equal by construction (both sum the same products)."""
    counted = costs.dropna(subset=["counted"])
    off = int((counted["counted"] != counted["predicted"]).sum())
    off_batch = int((batch["counted"] != batch["predicted"]).sum())
    why = ("both sum each product's cost over the same products, so a difference would be a bug "
           "in the counted trace or the cost model, not a finding")
    return [
        f"- Counted by multiplying against the formulas, {why}: "
        + (f"equal in {len(counted)} of {len(counted)}" if not off else
           f"FAILED: they differ in {off} of {len(counted)}")
        + f" (size, convention, order) triples up to |x| = {int(counted['x'].max()):,}; "
        "larger sizes come from the formulas.",
        "- The same for the batch rows: "
        + (f"equal in all {len(batch)}." if not off_batch else
           f"FAILED: they differ in {off_batch} of {len(batch)}."),
    ]


def _findings(costs: pd.DataFrame, fits: pd.DataFrame, cross: pd.DataFrame,
              batch: pd.DataFrame) -> list[str]:
    f = fits.set_index(["structure", "order"])
    d, s = "dense", "structured"
    w = {(st, o): _cost(costs, WORKED_X, st, o) for st in CONVENTIONS for o in _TWO}
    slope = {k: f.loc[k, "slope"] for k in f.index}
    lim = cross[cross["x"].isna()].set_index("structure")["crossover"]
    at = cross[cross["x"] == WORKED_X].set_index("structure")["crossover"]
    top = int(batch["batch"].max())
    last = {st: _last_loss_first_optimal(st, WORKED_X, top) for st in CONVENTIONS}
    after = {st: plan(_batch_sigs(last[st] + 1, WORKED_X), "optimal", cost=st)
             .parenthesization for st in CONVENTIONS}
    then = " and ".join(sorted({_bracketing_text(b) for b in after.values()}))
    return [
        f"Worked example (|x| = {WORKED_X:,}, |z1| = |z2| = {Z1}, |z3| = {Z3}): "
        f"{convention_label(d)}, loss-first {w[d, 'loss_first']:,} and input-first "
        f"{w[d, 'input_first']:,} scalar multiplications, "
        f"{ratio_text(w[d, 'input_first'] / w[d, 'loss_first'])}; {convention_label(s)}, "
        f"{w[s, 'loss_first']:,} and {w[s, 'input_first']:,}, "
        f"{ratio_text(w[s, 'input_first'] / w[s, 'loss_first'])}. Counting diag(σ') as a "
        f"diagonal cuts input-first "
        f"{ratio_text(w[d, 'input_first'] / w[s, 'input_first'])} and loss-first only "
        f"{ratio_text(w[d, 'loss_first'] / w[s, 'loss_first'])}.",
        f"Both orders are affine in |x| in both conventions (exact integers): "
        f"{convention_label(d)}, loss-first = {f.loc[(d, 'loss_first'), 'cost']}, "
        f"input-first = {f.loc[(d, 'input_first'), 'cost']}; {convention_label(s)}, "
        f"loss-first = {f.loc[(s, 'loss_first'), 'cost']}, input-first = "
        f"{f.loc[(s, 'input_first'), 'cost']}. As |x| grows input-first / loss-first tends to "
        f"the slope ratio: {ratio_text(slope[d, 'input_first'] / slope[d, 'loss_first'])} "
        f"dense vs {ratio_text(slope[s, 'input_first'] / slope[s, 'loss_first'])} structured.",
        f"With B rows in the first block (|x| = {WORKED_X:,}) input-first beats loss-first "
        f"from B > {number_text(at[d])} dense but B > {number_text(at[s])} structured "
        f"(limits as |x| grows: {number_text(lim[d])} and {number_text(lim[s])}); loss-first "
        f"stays optimal up to B = {last[d]} dense and {last[s]} structured, after which "
        f"{then} is cheapest.",
    ]


def _bracketing_text(bracketing: str) -> str:
    """A bracketing of the batch chain ``A1 = rows, A2 = W2, A3 = diag(σ'), A4 = W1``, glossed."""
    gloss = {"(A1((A2A3)A4))": " (W2·diag(σ')·W1 first, then the rows)",
             "(A1(A2(A3A4)))": " (input-first)", "(((A1A2)A3)A4)": " (loss-first)"}
    return bracketing + gloss.get(bracketing, "")


def _body(ctx: ReportContext, costs: pd.DataFrame, fits: pd.DataFrame, cross: pd.DataFrame,
          batch: pd.DataFrame, claims: pd.DataFrame) -> str:
    table = costs.assign(convention=costs["structure"])
    table = table[["x", "convention", "order", "predicted", "counted", "source"]]
    fit_table = fits.assign(convention=fits["structure"])[
        ["convention", "order", "intercept", "slope", "cost", "on_line", "counted_on_line"]]
    wide = batch.pivot_table(index=["batch", "structure"], columns="order", values="counted",
                             aggfunc="first").reset_index()
    best = batch[batch["order"] == "optimal"].set_index(["batch", "structure"])["bracketing"]
    wide["optimal bracketing"] = [best[(b, st)] for b, st in
                                  zip(wide["batch"], wide["structure"], strict=True)]
    wide["cheaper of the two"] = np.where(wide["input_first"] < wide["loss_first"],
                                          "input_first", "loss_first")
    wide.insert(1, "convention", wide["structure"])
    wide = wide.sort_values(["structure", "batch"])[
        ["batch", "convention", "loss_first", "input_first", "optimal", "optimal bracketing",
         "cheaper of the two"]]
    cross_t = cross.assign(convention=cross["structure"])[
        ["x", "convention", "crossover", "smallest_b"]]
    return "\n".join([
        "## Two conventions",
        "",
        CONVENTION_TEXT + " Tables name them *dense* and *structured*.",
        "",
        "The chain is the article's `dl/dz3 · dz3/dz2 · dz2/dz1 · dz1/dx`, dims "
        f"`(1, |z3|, |z2|, |z1|, |x|)` with |z1| = |z2| = {Z1}, |z3| = {Z3}; its only "
        "structured factor is `dz2/dz1 = diag(σ'(z1))` (the weight Jacobians `I ⊗ xᵀ` enter "
        "the parameter chains, see [caching](05-caching.md)). Counts are exact scalar "
        "multiplications; every number below names its convention.",
        "",
        "## The claims side by side",
        "",
        f"`B` is the rows of the first block (a batch sharing one chain); the |x| tried are "
        f"{ints_text(sorted(int(x) for x in costs['x'].unique()))}.",
        "",
        markdown_table(claims),
        "",
        "## Cost against |x|",
        "",
        "`predicted` is the article's formula (dense) or its structured counterpart "
        "(`chainorder.article_costs(..., cost=...)`); `counted` comes from multiplying "
        "the seeded network's Jacobians with a counted trace; `source` says which the row is.",
        "",
        ctx.table(table, "structured-article-costs", counted=True),
        "",
        ctx.figure(plot_costs_vs_x(costs), "structured-article-costs",
                   "multiplications vs |x| per order, dense (the article's convention) and "
                   "structured: diagonal activations, I ⊗ xᵀ weights"),
        "## Intercept and slope",
        "",
        "Exact line through the formula at |x| = 1, 2; `on_line` counts the predicted "
        "points on it, `counted_on_line` the counted ones. Input-first / loss-first tends to "
        "the slope ratio; the structured convention cuts input-first's slope from "
        "`|z2||z1| + |z3||z2| + |z3|` to `|z1| + |z3||z2| + |z3|` and loss-first's intercept "
        "from `|z3||z2| + |z2||z1|` to `|z3||z2| + |z2|`.",
        "",
        ctx.table(fit_table, "structured-article-affine", counted=True),
        "",
        "## Where each order wins: B rows in the first block",
        "",
        f"The article's network's Jacobians behind a `B x |z3|` block of loss-gradient "
        f"rows (as the mini-batches of [when loss-first wins](02-when-loss-first-wins.md) "
        f"share one chain), |x| = {WORKED_X:,}, counted by "
        "multiplying in each order (every count equals the cost model's).",
        "",
        ctx.table(wide, "structured-article-batch", counted=True),
        "",
        "The crossover `B` of input-first and loss-first from the cost model, exact (both "
        "costs are bilinear in `B` and |x|, read off `chainorder.plan`); the last row "
        "(empty |x|) is the limit as |x| grows. `smallest_b` is the first whole `B` where "
        "input-first is the cheaper.",
        "",
        ctx.table(cross_t, "structured-article-crossovers", counted=True,
                  formats={"crossover": "{:.4f}"}),
        "",
        ctx.figure(plot_ratio_and_crossover(costs, fits, cross), "structured-article-ratio",
                   "input-first / loss-first vs |x|, and the crossover batch size, dense (the "
                   "article's convention) and structured: diagonal activations, I ⊗ xᵀ weights"),
    ])


STUDY = StructuredArticleStudy()
register_study(STUDY)
