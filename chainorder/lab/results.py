"""Tidy tables from saved results (sweep files, pytest-benchmark JSON) and the findings they give.

Every finding here is a function of saved data: it returns numbers or
DataFrames and never measures anything. Costs are exact integer scalar
multiplications (a ``p x q`` times ``q x r`` product costs ``p*q*r``; FLOPs
are twice that); times are seconds; rates are GFLOP/s (1e9 FLOP/s) and GB/s
(1e9 bytes/s).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .sweep import read_sweep

__all__ = [
    "ORDERS",
    "load_sweep",
    "load_benchmark_json",
    "article_predicted",
    "article_agreement",
    "order_comparison",
    "claim_summary",
    "roofline_table",
    "order_efficiency",
    "ratio_gap",
    "growth_fits",
    "fit_loglog",
    "caching_fits",
    "random_chain_summary",
]

#: The three orders every comparison reads, in table order.
ORDERS: tuple[str, ...] = ("loss_first", "input_first", "optimal")


# ----------------------------------------------------------------------------- loading


def _dims_text(dims: Sequence[int]) -> str:
    return "x".join(str(int(d)) for d in dims)


def load_sweep(path: str | Path, *, latest: bool = True) -> pd.DataFrame:
    """One row per measured point of a sweep file, with parameters as columns.

    Parameters
    ----------
    path : str or Path
        A ``chainorder sweep`` JSON Lines file (a torn last line is ignored).
    latest : bool
        Keep only the last row of each (case, order) when a file holds
        several timing settings of the same point.

    Returns
    -------
    pandas.DataFrame
        The row fields (``case``, ``kind``, ``order``, ``multiplications``,
        ``flops``, byte counts, ``seconds_median`` ...), each case parameter
        as its own column (``x``, ``z1``, ``batch`` ...), and derived columns:
        ``dims_text``, ``input_size`` (``pn``), ``rows`` (``p0``),
        ``arithmetic_intensity`` (FLOP per byte moved) and ``achieved_gbs``.
        ``attrs`` holds ``runs`` (the run records), ``peak`` and ``machine``
        (of the latest run that has them).
    """
    runs, rows = read_sweep(path)
    df = pd.DataFrame([_flatten(r) for r in rows])
    if df.empty:
        df = pd.DataFrame(columns=["case", "kind", "order", "multiplications"])
    else:
        if latest:
            df = df.drop_duplicates(["case", "order"], keep="last").reset_index(drop=True)
        df = _derive(df)
    peaks = [r["peak"] for r in runs if r.get("peak")]
    df.attrs.update(
        runs=runs,
        peak=peaks[-1] if peaks else None,
        machine=runs[-1]["machine"] if runs else None,
        source=str(path),
    )
    return df


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("record", "params")}
    for k, v in row.get("params", {}).items():
        key = k if k not in out else f"param_{k}"
        out[key] = tuple(v) if isinstance(v, list) else v
    out["dims"] = tuple(row["dims"])
    return out


def _derive(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["dims_text"] = df["dims"].map(_dims_text)
    df["input_size"] = df["dims"].map(lambda d: int(d[-1]))
    df["rows"] = df["dims"].map(lambda d: int(d[0]))
    moved = df["bytes_moved"].astype(float).replace(0.0, np.nan)
    df["arithmetic_intensity"] = df["flops"].astype(float) / moved
    secs = df["seconds_median"].astype(float).replace(0.0, np.nan)
    df["achieved_gbs"] = df["bytes_moved"].astype(float) / secs / 1e9
    return df


def load_benchmark_json(path: str | Path) -> pd.DataFrame:
    """One row per benchmark of a pytest-benchmark JSON file (``--benchmark-json``).

    Columns: ``name``, ``group``, the ``extra_info`` fields (``case``,
    ``order``, ``multiplications``, ``flops``, ``dims`` ... when the
    benchmark set them), the timing statistics in seconds (``min``, ``max``,
    ``mean``, ``median``, ``stddev``, ``iqr``, ``rounds``, ``iterations``)
    and ``gflops`` (FLOPs at the median time, when ``flops`` is known).
    ``attrs`` holds the file's ``machine_info``, ``commit_info`` and ``datetime``.
    """
    doc = json.loads(Path(path).read_text())
    records = []
    for bench in doc.get("benchmarks", []):
        rec: dict[str, Any] = {"name": bench.get("name"), "group": bench.get("group")}
        for k, v in (bench.get("params") or {}).items():
            rec[f"param_{k}"] = v if isinstance(v, (int, float, str, bool)) else str(v)
        rec.update({k: (tuple(v) if isinstance(v, list) else v)
                    for k, v in (bench.get("extra_info") or {}).items()})
        stats = bench.get("stats") or {}
        for k in ("min", "max", "mean", "median", "stddev", "iqr", "rounds", "iterations"):
            rec[k] = stats.get(k)
        records.append(rec)
    df = pd.DataFrame(records)
    if "flops" in df and "median" in df:
        df["gflops"] = df["flops"].astype(float) / df["median"].astype(float) / 1e9
    df.attrs.update({k: doc.get(k) for k in ("machine_info", "commit_info", "datetime", "version")})
    return df


# ----------------------------------------------------------------------------- the article


def article_predicted(x: int, z1: int, z3: int, z2: int | None = None) -> dict[str, int]:
    """The article's two cost formulas (:func:`~chainorder.networks.article.article_costs`), exact.

    Examples
    --------
    >>> article_predicted(1000, 100, 10)
    {'loss_first': 111000, 'input_first': 11010000}
    """
    from ..networks.article import article_costs

    return article_costs(int(x), int(z1), int(z3), None if z2 is None else int(z2))


def article_agreement(df: pd.DataFrame) -> pd.DataFrame:
    """Counted multiplications of the article's network beside its formulas.

    Parameters
    ----------
    df : DataFrame
        Rows with columns ``x``, ``z1``, ``z3``, ``order`` and
        ``multiplications`` (e.g. :func:`load_sweep` rows of kind
        ``'article'``); other kinds and orders are ignored.

    Returns
    -------
    DataFrame
        ``x, z1, z2, z3, order, counted, predicted, ratio`` sorted by sizes and
        order; ``ratio`` is ``counted / predicted`` (1.0 means exact agreement).
    """
    rows = df[df["order"].isin(["loss_first", "input_first"])]
    if "kind" in rows:
        rows = rows[rows["kind"] == "article"]
    out = []
    for r in rows.itertuples(index=False):
        pred = article_predicted(r.x, r.z1, r.z3)[r.order]
        out.append({"x": int(r.x), "z1": int(r.z1), "z2": int(r.z1), "z3": int(r.z3),
                    "order": r.order, "counted": int(r.multiplications), "predicted": pred,
                    "ratio": int(r.multiplications) / pred})
    cols = ["x", "z1", "z2", "z3", "order", "counted", "predicted", "ratio"]
    table = pd.DataFrame(out, columns=cols)
    return table.sort_values(["z1", "z3", "x", "order"], ignore_index=True)


# ----------------------------------------------------------------------------- orders compared


def order_comparison(df: pd.DataFrame) -> pd.DataFrame:
    """One row per case: each order's counted cost and median time, and their ratios.

    Returns
    -------
    DataFrame
        ``case, kind, dims_text, rows, n_matrices``; ``mult_<order>`` (exact
        ints) and ``seconds_<order>`` for each of :data:`ORDERS`;
        ``flop_ratio`` (input-first / loss-first multiplications),
        ``time_ratio`` (input-first / loss-first median seconds),
        ``lf_over_opt`` and ``if_over_opt`` (cost over the optimal cost),
        ``loss_first_optimal`` (bool), ``cheaper`` and ``faster`` (which of
        loss-first and input-first wins, or ``'tie'``). Sorted by case id.
    """
    keep = df[df["order"].isin(ORDERS)]
    have = keep.groupby("case")["order"].nunique()
    keep = keep[keep["case"].isin(have[have == len(ORDERS)].index)]
    first = keep.drop_duplicates("case").set_index("case")
    mult = keep.pivot(index="case", columns="order", values="multiplications")
    secs = keep.pivot(index="case", columns="order", values="seconds_median")
    out = first[["kind", "dims_text", "rows", "n_matrices"]].copy()
    for o in ORDERS:
        out[f"mult_{o}"] = mult[o].map(int)
    for o in ORDERS:
        out[f"seconds_{o}"] = secs[o].astype(float)
    lf, inf, opt = (out[f"mult_{o}"] for o in ORDERS)
    out["flop_ratio"] = [a / b for a, b in zip(inf, lf, strict=True)]
    out["time_ratio"] = out["seconds_input_first"] / out["seconds_loss_first"]
    out["lf_over_opt"] = [a / b for a, b in zip(lf, opt, strict=True)]
    out["if_over_opt"] = [a / b for a, b in zip(inf, opt, strict=True)]
    out["loss_first_optimal"] = lf == opt
    out["cheaper"] = [_winner(a, b) for a, b in zip(lf, inf, strict=True)]
    out["faster"] = [_winner(a, b, rel=0.02) for a, b in
                     zip(out["seconds_loss_first"], out["seconds_input_first"], strict=True)]
    return out.sort_index().reset_index()


def _winner(lf: float, inf: float, rel: float = 0.0) -> str:
    """``'loss_first'``, ``'input_first'`` or ``'tie'`` (within a relative ``rel``)."""
    if abs(lf - inf) <= rel * max(abs(lf), abs(inf)):
        return "tie"
    return "loss_first" if lf < inf else "input_first"


def _geomean(values: pd.Series) -> float:
    v = values.astype(float)
    v = v[v > 0]
    return float(np.exp(np.log(v).mean())) if len(v) else math.nan


def claim_summary(cmp: pd.DataFrame) -> dict[str, Any]:
    """Where "the forwards computation is far more efficient" holds, in FLOPs and in time.

    Parameters
    ----------
    cmp : DataFrame
        :func:`order_comparison` output.

    Returns
    -------
    dict
        ``cases``; ``lf_cheaper`` / ``if_cheaper`` / ``cost_ties`` (counts,
        FLOPs); ``lf_faster`` / ``if_faster`` / ``time_ties`` (counts, median
        wall time, ties within 2%); ``lf_optimal`` (loss-first has the optimal
        cost); geometric means and extremes of ``flop_ratio`` and
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
            "lf_optimal": int(c["loss_first_optimal"].sum()),
            "max_lf_over_opt": float(c["lf_over_opt"].max()) if len(c) else math.nan,
        }

    out = counts(cmp)
    out.update(
        flop_ratio_geomean=_geomean(cmp["flop_ratio"]),
        flop_ratio_min=float(cmp["flop_ratio"].min()),
        flop_ratio_max=float(cmp["flop_ratio"].max()),
        time_ratio_geomean=_geomean(cmp["time_ratio"]),
        time_ratio_min=float(cmp["time_ratio"].min()),
        time_ratio_max=float(cmp["time_ratio"].max()),
        not_cheaper=cmp.loc[cmp["cheaper"] != "loss_first", "case"].tolist(),
        not_faster=cmp.loc[cmp["faster"] != "loss_first", "case"].tolist(),
        not_optimal=cmp.loc[~cmp["loss_first_optimal"], "case"].tolist(),
        scalar_loss=counts(cmp[cmp["rows"] == 1]),
    )
    return out


# ----------------------------------------------------------------------------- FLOPs vs time


def roofline_table(df: pd.DataFrame, peak_gflops: float, bandwidth_gbs: float) -> pd.DataFrame:
    """Each point against the roofline ``min(peak, bandwidth x intensity)``.

    Parameters
    ----------
    df : DataFrame
        :func:`load_sweep` rows.
    peak_gflops, bandwidth_gbs : float
        The machine's measured peak (GFLOP/s) and memory bandwidth (GB/s).

    Returns
    -------
    DataFrame
        ``case, kind, order, flops, bytes_moved, arithmetic_intensity`` (FLOP
        per byte), ``gflops`` (achieved), ``roof_gflops``, ``bound``
        (``'memory'`` or ``'compute'``), ``of_roof`` and ``of_peak``
        (fractions), ``achieved_gbs``, ``vector_share`` (share of steps that
        are vector-matrix or matrix-vector products), ``jacobian_bytes`` and
        ``above_roof`` (faster than the memory roof allows: the operands
        stayed in cache, which streams faster than the measured DRAM bandwidth).
    """
    r = df[["case", "kind", "order", "flops", "bytes_moved", "arithmetic_intensity", "gflops",
            "achieved_gbs", "steps", "vector_steps", "jacobian_bytes"]].copy()
    memory_roof = bandwidth_gbs * r["arithmetic_intensity"]
    r["roof_gflops"] = np.minimum(peak_gflops, memory_roof)
    r["bound"] = np.where(memory_roof < peak_gflops, "memory", "compute")
    r["of_roof"] = r["gflops"] / r["roof_gflops"]
    r["of_peak"] = r["gflops"] / peak_gflops
    r["vector_share"] = r["vector_steps"] / r["steps"].replace(0, np.nan)
    r["above_roof"] = r["gflops"] > 1.05 * r["roof_gflops"]
    return r.drop(columns=["steps", "vector_steps"]).sort_values(["case", "order"],
                                                                  ignore_index=True)


def order_efficiency(roof: pd.DataFrame) -> pd.DataFrame:
    """Per order: median achieved GFLOP/s and GB/s, and their share of the machine's peaks.

    Returns
    -------
    DataFrame
        Indexed by order: ``points``, ``median_gflops``, ``median_of_peak``,
        ``median_of_roof``, ``median_gbs``, ``median_intensity`` (FLOP/byte),
        ``memory_bound`` (share of points left of the ridge), ``vector_share``.
    """
    g = roof.groupby("order")
    out = pd.DataFrame({
        "points": g.size(),
        "median_gflops": g["gflops"].median(),
        "median_of_peak": g["of_peak"].median(),
        "median_of_roof": g["of_roof"].median(),
        "median_gbs": g["achieved_gbs"].median(),
        "median_intensity": g["arithmetic_intensity"].median(),
        "memory_bound": g["bound"].apply(lambda b: float((b == "memory").mean())),
        "vector_share": g["vector_share"].mean(),
    })
    return out.reindex([o for o in ORDERS if o in out.index])


def fit_loglog(x: Sequence[float], y: Sequence[float]) -> dict[str, float]:
    """Least-squares line through ``(log10 x, log10 y)`` (:func:`scipy.stats.linregress`).

    Returns
    -------
    dict
        ``slope`` (the growth exponent), ``intercept``, ``r2``, ``stderr`` and ``points``.

    Examples
    --------
    >>> fit = fit_loglog([1, 10, 100], [3, 30, 300])
    >>> round(fit["slope"], 6), round(fit["r2"], 6)
    (1.0, 1.0)
    """
    from scipy import stats

    lx = np.log10(np.asarray(x, dtype=float))
    ly = np.log10(np.asarray(y, dtype=float))
    if len(lx) < 2 or np.ptp(lx) == 0:
        return {"slope": math.nan, "intercept": math.nan, "r2": math.nan, "stderr": math.nan,
                "points": len(lx)}
    res = stats.linregress(lx, ly)
    return {"slope": float(res.slope), "intercept": float(res.intercept),
            "r2": float(res.rvalue**2), "stderr": float(res.stderr), "points": len(lx)}


def ratio_gap(cmp: pd.DataFrame) -> dict[str, Any]:
    """How far the wall-time ratio falls from the FLOP ratio (input-first over loss-first).

    Returns
    -------
    dict
        ``table`` (per case: ``flop_ratio``, ``time_ratio``, ``gap`` =
        flop ratio / time ratio), ``median_gap``, ``geomean_gap`` and ``fit``,
        the log-log fit of time ratio on FLOP ratio (a slope below 1 means time
        grows more slowly than FLOPs between the two orders).
    """
    t = cmp[["case", "kind", "flop_ratio", "time_ratio"]].copy()
    t["gap"] = t["flop_ratio"] / t["time_ratio"]
    return {
        "table": t,
        "median_gap": float(t["gap"].median()),
        "geomean_gap": _geomean(t["gap"]),
        "fit": fit_loglog(t["flop_ratio"], t["time_ratio"]),
    }


# ----------------------------------------------------------------------------- growth with |x|


def growth_fits(df: pd.DataFrame, *, z1: int = 100, z3: int = 10) -> pd.DataFrame:
    """Fitted log-log slopes of cost and time against ``|x|`` for the article's network.

    Uses the ``kind == 'article'`` rows with the given hidden sizes. For each
    of loss-first and input-first it fits counted multiplications, the
    article's formula at the same ``|x|`` (the two must agree), and the median
    wall time; and the formula's local slope at the largest ``|x|``.

    Returns
    -------
    DataFrame
        ``order, quantity, slope, intercept, r2, stderr, points, x_min, x_max``.
    """
    art = df[(df["kind"] == "article") & (df["z1"] == z1) & (df["z3"] == z3)]
    out = []
    for order in ("loss_first", "input_first"):
        s = art[art["order"] == order].sort_values("x")
        if len(s) < 2:
            continue
        xs = s["x"].astype(int).tolist()
        formula = [article_predicted(x, z1, z3)[order] for x in xs]
        for quantity, ys in (("counted multiplications", s["multiplications"].tolist()),
                             ("article formula", formula),
                             ("wall time (median s)", s["seconds_median"].tolist())):
            out.append({"order": order, "quantity": quantity, **fit_loglog(xs, ys),
                        "x_min": min(xs), "x_max": max(xs)})
        big = max(xs)
        local = fit_loglog([big, 2 * big], [article_predicted(x, z1, z3)[order]
                                            for x in (big, 2 * big)])
        out.append({"order": order, "quantity": f"formula, local slope at |x|={big:,}",
                    **local, "x_min": big, "x_max": 2 * big})
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------- caching


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


# ----------------------------------------------------------------------------- random chains


def random_chain_summary(rc: pd.DataFrame) -> pd.DataFrame:
    """Cost ratios of loss-first and input-first to the optimum over random chains.

    Parameters
    ----------
    rc : DataFrame
        One row per chain: ``n``, ``scalar_loss`` and the multiplications
        ``loss_first``, ``input_first``, ``optimal``.

    Returns
    -------
    DataFrame
        Per ``(scalar_loss, n)``: ``chains``, ``lf_optimal`` (share of chains
        where loss-first is optimal), ``if_optimal``, ``if_cheaper`` (share
        where input-first beats loss-first), the median and maximum of
        ``loss_first / optimal`` and of ``input_first / optimal``.
    """
    r = rc.assign(lf=rc["loss_first"] / rc["optimal"], inf=rc["input_first"] / rc["optimal"])
    g = r.groupby(["scalar_loss", "n"])
    out = pd.DataFrame({
        "chains": g.size(),
        "lf_optimal": g.apply(lambda d: float((d["loss_first"] == d["optimal"]).mean())),
        "if_optimal": g.apply(lambda d: float((d["input_first"] == d["optimal"]).mean())),
        "if_cheaper": g.apply(lambda d: float((d["input_first"] < d["loss_first"]).mean())),
        "lf_median": g["lf"].median(),
        "lf_max": g["lf"].max(),
        "if_median": g["inf"].median(),
        "if_max": g["inf"].max(),
    })
    return out.reset_index().sort_values(["scalar_loss", "n"], ascending=[False, True],
                                         ignore_index=True)
