"""Study 6: how far from optimal each registered order is, over seeded random chains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...algebra.orders import ORDERS, available_orders, plan
from ..cases import random_dims
from .base import (
    ReportContext,
    Study,
    StudyPage,
    StudySettings,
    ints_text,
    new_figure,
    note,
    order_style,
    ratio_text,
    register_study,
    setting,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["RandomChainsStudy", "STUDY"]

#: "Within 1% of optimal": cost / optimum at most this.
WITHIN = 1.01
_KEYS = ("scalar_loss", "n", "seed", "dims", "optimal")


def random_orders() -> list[str]:
    """Registered orders worth comparing: every one but ``dp`` (the same optimum as ``optimal``)."""
    return [o for o in available_orders() if o != "dp"]


def exact_orders(orders: list[str]) -> list[str]:
    """The orders the registry describes as exact: they equal the optimum by construction.

    Examples
    --------
    >>> exact_orders(["loss_first", "hu_shing", "greedy"])
    ['hu_shing']
    """
    return [o for o in orders if "(exact" in ORDERS[o].description]


def _checks(rc: pd.DataFrame, exact: list[str]) -> list[str]:
    """Exact orders against the optimum, each once: a check of the code, not a finding."""
    out = []
    for o in exact:
        have = rc[rc[o].notna()]
        off = int((have[o] != have["optimal"]).sum())
        out.append(f"- `{o}` is exact, so it must cost the optimum on every chain: "
                   + ("checked" if not off else f"FAILED on {off} chains (a bug)")
                   + f" ({len(have):,} chains).")
    return out


def _cost_or_none(dims: list[int], order: str) -> int | None:
    """An order's cost, or None where the order declines the chain (an empty cell)."""
    try:
        return int(plan(dims, order).cost)
    except (ValueError, NotImplementedError):
        return None


def random_chain_rows(lengths: tuple[int, ...], chains: int, high: int, seed: int,
                      orders: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per random chain: its length, seed, dims and every order's exact cost.

    For each length ``n`` and each kind (``p0 = 1``, a scalar loss, or a random
    ``p0``), ``chains`` chains are drawn by
    :func:`chainorder.lab.cases.random_dims`: every dim log-uniform in
    ``1..high`` (``round(exp(U(0, ln high)))``), each chain its own seed.
    ``orders`` defaults to :func:`random_orders`.

    Examples
    --------
    >>> row = random_chain_rows((3,), 1, 1024, seed=0, orders=["loss_first", "optimal"])[0]
    >>> row["dims"], row["loss_first"], row["optimal"]
    ('1x71x2x15', 172, 172)
    """
    orders, rows = orders or random_orders(), []
    for scalar in (True, False):
        for n in lengths:
            for i in range(chains):
                s = seed * 10**7 + n * 10**4 + i + (0 if scalar else 5000)
                dims = random_dims(n, high, s, scalar_loss=scalar)
                rows.append({"scalar_loss": scalar, "n": n, "seed": s,
                             "dims": "x".join(map(str, dims)),
                             **{o: _cost_or_none(dims, o) for o in orders}})
    return rows


def read_random_chains(path: str) -> pd.DataFrame:
    """The saved random chains, every cost column as exact integers (pandas ``Int64``)."""
    head = pd.read_csv(path, nrows=0).columns
    costs = {c: "Int64" for c in head if c not in ("scalar_loss", "n", "seed", "dims")}
    return pd.read_csv(path, dtype=costs)


def _ratios(rc: pd.DataFrame, order: str) -> pd.Series:
    return rc[order].astype(float) / rc["optimal"].astype(float)


def random_chain_summary(rc: pd.DataFrame, orders: list[str] | None = None) -> pd.DataFrame:
    """Per kind, chain length and order: how often the order is optimal or within 1%, and how far.

    Parameters
    ----------
    rc : DataFrame
        One row per chain: ``scalar_loss``, ``n``, ``optimal`` and a cost column per order.
    orders : list of str, optional
        Orders to summarize (default: ``loss_first`` and ``input_first``).

    Returns
    -------
    DataFrame
        ``scalar_loss, n, order, chains`` (with a cost), ``optimal`` (share
        costing exactly the optimum), ``within_1pct`` (share at most 1% above
        it), ``median_ratio`` and ``max_ratio`` of cost / optimum, and
        ``cheaper_than_loss_first`` (share of chains where the order beats loss-first).
    """
    orders = orders or ["loss_first", "input_first"]
    out = []
    for (scalar, n), g in rc.groupby(["scalar_loss", "n"], sort=False):
        for order in orders:
            have = g[g[order].notna()]
            r = _ratios(have, order)
            out.append({"scalar_loss": bool(scalar), "n": int(n), "order": order,
                        "chains": len(have),
                        "optimal": float((have[order] == have["optimal"]).mean()),
                        "within_1pct": float((r <= WITHIN).mean()),
                        "median_ratio": float(r.median()), "max_ratio": float(r.max()),
                        "cheaper_than_loss_first":
                            float((have[order] < have["loss_first"]).mean())})
    df = pd.DataFrame(out)
    return df.sort_values(["scalar_loss", "order", "n"], ascending=[False, True, True],
                          ignore_index=True)


def plot_random_chain_ratios(rc: pd.DataFrame, orders: list[str]) -> Figure:
    """ECDF of each order's excess cost over the optimum, scalar-loss and other chains side by side.

    The x axis is ``cost / optimum - 1`` on a symmetric log scale: linear
    below 1e-4, so exactly optimal chains sit at 0 (a marker shows their
    share) and 1.0003x is told apart from 1x; logarithmic above. Each legend
    entry gives the order's share of chains that are optimal and within 1%.
    """
    fig, axes = new_figure(11.0, 5.2, ncols=2)
    fig.subplots_adjust(left=0.07, bottom=0.14)
    markers = "os^vD<>ph*"
    for ax, scalar in zip(axes, (True, False), strict=True):
        sub = rc[rc["scalar_loss"] == scalar]
        worst = 1.0
        for k, order in enumerate(orders):
            excess = np.sort(_ratios(sub[sub[order].notna()], order).to_numpy(float) - 1.0)
            if not len(excess):
                continue
            worst = max(worst, float(excess[-1]))
            y = np.arange(1, len(excess) + 1) / len(excess) * 100
            st = order_style(order, k)
            exact = float((excess == 0).mean()) * 100
            within = float((excess <= WITHIN - 1).mean()) * 100
            ax.step(np.r_[0.0, excess], np.r_[0.0, y], where="post", lw=1.5, color=st["color"],
                    alpha=0.9, label=f"{st['label']}: {exact:.1f}% optimal, {within:.1f}% ≤ 1%")
            ax.plot([0.0], [exact], markers[k % len(markers)], color=st["color"], ms=6,
                    mfc="none", mew=1.4)
        ax.axvline(WITHIN - 1, color="0.5", lw=0.8, ls=":")
        ax.set_xscale("symlog", linthresh=1e-4, linscale=0.6)
        ax.set_xlim(-2e-5, worst * 1.5)
        ax.set_ylim(-2, 102)
        ax.set_xlabel("cost / optimal cost − 1 (0: optimal; dotted: 1% above; log above 1e-4)")
        title = "scalar loss (p0 = 1)" if scalar else "random p0 (matrix-valued output)"
        ax.set_title(f"{len(sub):,} random chains, {title}", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6.5, loc="lower right")
    axes[0].set_ylabel("share of chains at or below this excess (%)")
    note(fig)
    return fig


def _share(x: float) -> str:
    """A share as a percentage; never "100%" or "0%" unless it is exactly that."""
    if x in (0.0, 1.0):
        return f"{x:.0%}"
    text = f"{x:.1%}"
    return text if text not in ("100.0%", "0.0%") else f"{x:.3%}"


def _trend(shares: list[float]) -> str:
    """How a share moves with chain length, as a clause (empty when it does not move one way)."""
    steps = [b - a for a, b in zip(shares, shares[1:], strict=False)]
    if len(shares) < 2 or shares[-1] == shares[0]:
        return ""
    if all(d <= 0 for d in steps):
        return ": the longer the chain, the rarer (never more often)"
    if all(d >= 0 for d in steps):
        return ": the longer the chain, the more often (never less)"
    return (f": {'less' if shares[-1] < shares[0] else 'more'} often at the longest length "
            "than at the shortest, though not at every step")


class RandomChainsStudy(Study):
    """Every registered order planned on random chains, its exact cost against the optimum."""

    slug = "06-optimizer"
    title = "The chain optimizer over random chains"
    question = "How far from optimal are loss-first, input-first and the other registered orders?"
    references = ("cormen2009", "hushing1982", "hushing1984")

    @dataclass(frozen=True)
    class Settings(StudySettings):
        """What the page counts.

        Attributes
        ----------
        chains : int
            Random chains per length and kind (scalar loss or not).
        lengths : tuple of int
            Chain lengths (matrices) of those random chains.
        high : int
            Largest dim of a random chain (dims are log-uniform in ``1..high``).
        """

        chains: int = setting(quick=100, full=500)
        lengths: tuple[int, ...] = setting(quick=(2, 3, 4, 6, 8, 12, 16, 24, 32),
                                           full=(2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64))
        high: int = 1024

    def collect(self, ctx: ReportContext) -> None:
        own: RandomChainsStudy.Settings = ctx.settings.of(self)
        rows = random_chain_rows(own.lengths, own.chains, own.high, ctx.settings.seed)
        pd.DataFrame(rows).astype({o: "Int64" for o in random_orders()}).to_csv(
            ctx.data_dir / "random_chains.csv", index=False, lineterminator="\n")

    def render(self, ctx: ReportContext) -> StudyPage:
        own: RandomChainsStudy.Settings = ctx.settings.of(self)
        rc = read_random_chains(str(ctx.data_dir / "random_chains.csv"))
        orders = [o for o in rc.columns if o not in _KEYS]
        sc, free = rc[rc["scalar_loss"]], rc[~rc["scalar_loss"]]
        lf_sc, lf_free = _ratios(sc, "loss_first"), _ratios(free, "loss_first")
        by_n = random_chain_summary(rc)
        lf_by_n = by_n[(by_n["order"] == "loss_first") & by_n["scalar_loss"]]
        worst = sc.loc[lf_sc.idxmax()]
        findings = [
            f"With a scalar loss, loss-first is optimal in {_share((lf_sc == 1).mean())} and "
            f"within 1% of optimal in {_share((lf_sc <= WITHIN).mean())} of {len(sc):,} random "
            f"chains; it never costs more than {ratio_text(lf_sc.max())} the optimum (it cannot "
            "exceed 2x: each matrix A_m, m >= 2, enters a first product costing at least "
            "p(m-1)·p(m), one product is the first for at most two matrices, so optimal >= "
            f"loss-first / 2); the worst chain has dims {worst['dims']}.",
            "By length (scalar loss), loss-first is exactly optimal in "
            + ", ".join(f"{_share(r.optimal)} at n = {r.n}" for r in lf_by_n.itertuples())
            + " of the chains" + _trend(lf_by_n["optimal"].tolist()) + ".",
            f"With a random p0 (a matrix-valued output), loss-first is optimal in "
            f"{_share((lf_free == 1).mean())} and within 1% in "
            f"{_share((lf_free <= WITHIN).mean())} of {len(free):,} chains, and costs up to "
            f"{ratio_text(lf_free.max())} the optimum (median {ratio_text(lf_free.median())}).",
            f"Input-first is cheaper than loss-first in "
            f"{_share((sc['input_first'] < sc['loss_first']).mean())} of the scalar-loss chains "
            f"and {_share((free['input_first'] < free['loss_first']).mean())} of the others.",
        ]
        extra = [o for o in orders if o not in ("loss_first", "input_first")]
        exact = exact_orders(extra)
        overall = []
        for o in orders:
            have = rc[rc[o].notna()]
            r = _ratios(have, o)
            overall.append({"order": o, "chains": len(have),
                            "optimal": float((have[o] == have["optimal"]).mean()),
                            "within_1pct": float((r <= WITHIN).mean()),
                            "median_ratio": float(r.median()), "max_ratio": float(r.max())})
            if o in extra and o not in exact:
                findings.append(f"Order `{o}` is optimal in {_share(overall[-1]['optimal'])} "
                                f"and within 1% in {_share(overall[-1]['within_1pct'])} of "
                                f"all chains, at most {ratio_text(r.max())} the optimum.")
        top = sc.assign(lf_over_opt=lf_sc).sort_values(["lf_over_opt", "seed"],
                                                       ascending=[False, True])
        share = {c: "{:.2%}" for c in ("optimal", "within_1pct", "cheaper_than_loss_first")}
        body = [
            "## The random chains",
            "",
            f"Lengths n = {ints_text(sorted(rc['n'].unique()))} matrices, "
            f"{own.chains} chains per length and kind, seeded (each chain's seed "
            "is in the data). Every dim `p0..pn` is drawn log-uniform in "
            f"1..{own.high}: `round(exp(U(0, ln {own.high})))`, "
            "so small and large dims are equally likely on a log scale "
            "(`chainorder.lab.cases.random_dims`). Two kinds: `p0 = 1` (a scalar loss, the "
            "gradient case) and a random `p0` (a matrix-valued output). Each registered order is "
            "planned and its exact cost (scalar multiplications) compared with the optimum of "
            "the exact optimizer (Cormen et al. §15.2; Hu and Shing). Counted, not timed: "
            "every table here is byte-identical from run to run.",
            "",
            ctx.figure(plot_random_chain_ratios(rc, orders), "random-chain-ratios",
                       "ECDF of cost / optimal cost per order over random chains"),
            "## Every order over all chains",
            "",
            ctx.table(pd.DataFrame(overall), "random-chains-orders", counted=True,
                      formats={"optimal": "{:.2%}", "within_1pct": "{:.2%}"}),
            "## By chain length: loss-first and input-first",
            "",
            "`optimal`: share of chains where the order costs exactly the optimum; "
            "`within_1pct`: at most 1% above it; ratios are cost / optimum.",
            "",
            ctx.table(by_n, "random-chains-summary", counted=True, formats=share, keys=3),
            "## Scalar-loss chains where loss-first loses most",
            "",
            "Costs in multiplications per order; `lf_over_opt` is loss-first's over the "
            "optimum's.",
            "",
            ctx.table(top.head(10)[["n", "seed", "dims", "loss_first", "input_first", "optimal",
                                    "lf_over_opt"]], "random-chains-worst", counted=True,
                      formats={"seed": "{}"}),
            *(["## Checks", "", *_checks(rc, exact), ""] if exact else []),
        ]
        return StudyPage(findings, "\n".join(body))


STUDY = RandomChainsStudy()
register_study(STUDY)
