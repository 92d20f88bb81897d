"""Tidy tables from saved results (sweep files, pytest-benchmark JSON) that several studies read.

Everything here is a function of saved data: it returns numbers or
DataFrames and never measures anything; each study's own findings live in
its module under :mod:`chainorder.lab.studies`. Costs are exact integer scalar
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
    "order_comparison",
    "geomean",
    "fit_loglog",
    "separated",
    "time_interval",
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


#: ``extra_info`` fields of the benchmarks that are exact counts.
_COUNTED = ("multiplications", "flops", "cost", "optimum", "n", "n_matrices",
            "largest_intermediate")


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
    for c in _COUNTED:  # exact Python ints (None where a benchmark has none), never float64
        if c in df:
            df[c] = pd.Series([rec.get(c) for rec in records], dtype=object)
    if "flops" in df and "median" in df:
        df["gflops"] = df["flops"].astype(float) / df["median"].astype(float) / 1e9
    df.attrs.update({k: doc.get(k) for k in ("machine_info", "commit_info", "datetime", "version")})
    return df


# ----------------------------------------------------------------------------- orders compared


def order_comparison(df: pd.DataFrame) -> pd.DataFrame:
    """One row per case: each order's counted cost and median time, and their ratios.

    Returns
    -------
    DataFrame
        ``case, kind, dims_text, rows, n_matrices``; ``mult_<order>`` (exact
        ints) and ``seconds_<order>`` for each of :data:`ORDERS`;
        ``<order>_low`` / ``<order>_high`` (the interval of its median time,
        see :func:`time_interval`), ``flop_ratio`` (input-first / loss-first
        multiplications), ``time_ratio`` (input-first / loss-first median
        seconds), ``lf_over_opt`` and ``if_over_opt`` (cost over the optimal
        cost), ``loss_first_optimal`` (bool), ``cheaper`` (which of loss-first
        and input-first needs fewer multiplications, or ``'tie'``), ``faster``
        (which one's interval lies wholly below the other's, else ``'tie'``)
        and ``loaded`` (a point of the case was measured under load). Sorted
        by case id.
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
    low, high = time_interval(keep)
    for o in ORDERS:
        out[f"{o}_low"] = keep.assign(v=low).pivot(index="case", columns="order", values="v")[o]
        out[f"{o}_high"] = keep.assign(v=high).pivot(index="case", columns="order",
                                                     values="v")[o]
    lf, inf, opt = (out[f"mult_{o}"] for o in ORDERS)
    out["flop_ratio"] = [a / b for a, b in zip(inf, lf, strict=True)]
    out["time_ratio"] = out["seconds_input_first"] / out["seconds_loss_first"]
    out["lf_over_opt"] = [a / b for a, b in zip(lf, opt, strict=True)]
    out["if_over_opt"] = [a / b for a, b in zip(inf, opt, strict=True)]
    out["loss_first_optimal"] = lf == opt
    out["cheaper"] = [_winner(a, b) for a, b in zip(lf, inf, strict=True)]
    out["faster"] = [separated(a, b, c, d) for a, b, c, d in
                     zip(out["loss_first_low"], out["loss_first_high"], out["input_first_low"],
                         out["input_first_high"], strict=True)]
    loaded = (keep["loaded"].fillna(False).astype(bool) if "loaded" in keep
              else pd.Series(False, index=keep.index))
    out["loaded"] = keep.assign(v=loaded).groupby("case")["v"].any()
    return out.sort_index().reset_index()


def _winner(lf: float, inf: float) -> str:
    """``'loss_first'``, ``'input_first'`` or ``'tie'`` (equal)."""
    if lf == inf:
        return "tie"
    return "loss_first" if lf < inf else "input_first"


def separated(lf_low: float, lf_high: float, if_low: float, if_high: float) -> str:
    """Which of two intervals lies wholly below the other: ``'loss_first'``,
    ``'input_first'``, or ``'tie'`` when they overlap.

    Examples
    --------
    >>> separated(1.0, 1.1, 1.2, 1.3), separated(1.0, 1.25, 1.2, 1.3)
    ('loss_first', 'tie')
    """
    if lf_high < if_low:
        return "loss_first"
    return "input_first" if if_high < lf_low else "tie"


def time_interval(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per sweep row, the interval of its median time: low and high seconds.

    The 95% bootstrap interval of the median (``seconds_low`` ..
    ``seconds_high``) where the row has it; rows of sweeps written before
    it was recorded fall back to their quartiles (``seconds_q1`` ..
    ``seconds_q3``), then to the median itself.
    """
    med = df["seconds_median"].astype(float)
    low, high = med.copy(), med.copy()
    for lo, hi in (("seconds_q1", "seconds_q3"), ("seconds_low", "seconds_high")):
        if lo in df and hi in df:
            have = df[lo].notna() & df[hi].notna()
            low[have], high[have] = df.loc[have, lo].astype(float), df.loc[have, hi].astype(float)
    return low, high


def geomean(values: pd.Series) -> float:
    """Geometric mean of the positive values (NaN when there is none).

    Examples
    --------
    >>> round(geomean(pd.Series([1.0, 100.0])), 12)
    10.0
    """
    v = values.astype(float)
    v = v[v > 0]
    return float(np.exp(np.log(v).mean())) if len(v) else math.nan


# ----------------------------------------------------------------------------- fits


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
