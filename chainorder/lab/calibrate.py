"""Calibration of the time model: measure product steps by shape class, fit, cache; check it.

``calibrate()`` times float64 products of seeded random shapes in every
shape class of :mod:`chainorder.algebra.timemodel` (matrix-matrix, small,
vector-matrix, matrix-vector, outer, dot) with BLAS pinned to a thread count
through threadpoolctl, fits the model's per-class coefficients to relative
error (non-negative least squares), measures on held-out calibration chains
how far its predicted ratios of two plans' times miss (the model's margin,
:func:`plan_ratio_error`), and caches the model on disk under the
machine's fingerprint. The full calibration takes 15 to 45 seconds on two
cores (the random chains stop at about 40 s on a loaded machine),
``quick=True`` a few seconds.

The rest of the module checks the model against real chains and returns
tidy records a study renders: :func:`predicted_vs_measured` (every plan and
step of the benchmark grid, predicted beside measured min/median/max),
:func:`prediction_errors` (median absolute relative error by shape class),
and :func:`time_vs_flops` (cases where the time-optimal and FLOP-optimal
bracketings differ, timed side by side with a noise-respecting verdict).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..algebra.chain import Chain
from ..algebra.execute import execute, step_kernel
from ..algebra.orders import optimize
from ..algebra.orders import plan as make_plan
from ..algebra.plan import Plan
from ..algebra.timemodel import (
    COLD_CHAIN_BYTES,
    FEATURES,
    SHAPE_CLASSES,
    TimeModel,
    cache_path,
    cached_model,
    chain_bytes,
    check_cache_dir,
    machine_fingerprint,
    shape_class,
    shape_classes,
    step_features,
    use_machine,
    write_atomic,
)
from ..hardware import blas_threads
from ..timing import Stopwatch, time_calls
from ..validation import check_dims
from .cases import Case, select_cases
from .verdicts import loadavg, time_interleaved, under_load

__all__ = [
    "calibrate",
    "measure_model",
    "calibration_records",
    "calibration_shapes",
    "calibration_chains",
    "measure_steps",
    "measure_chain_steps",
    "time_plans",
    "fit_model",
    "roofline_summary",
    "predicted_vs_measured",
    "prediction_errors",
    "time_vs_flops",
    "differing_chains",
    "plan_ratio_errors",
    "plan_ratio_error",
    "DEFAULT_ORDERS",
    "MARGIN_QUANTILE",
]

#: Points of a class that must exercise a feature before it gets a coefficient.
MIN_SUPPORT = 4
#: Features of memory traffic: the bytes read past the cache (cold operands, the working set
#: past each knot) and the bytes written (the result, and past each result knot). Every shape
#: class shares one coefficient for each, fitted jointly: a byte streamed from memory or
#: written to it costs what the memory gives, whichever kernel moves it. Fitted apart, a few
#: noisy points per class made a vector-matrix and a matrix-vector product reading the same
#: 68 MB matrix differ by a factor, and an outer product and a thin matrix product writing
#: the same 10 MB result differ by 30%, and the time-optimal plan chased those differences.
SHARED_FEATURES: tuple[str, ...] = tuple(
    f for f in FEATURES if f in ("bytes_cold", "bytes_out") or f.startswith("bytes_in_over")
    or f.startswith("bytes_out_over"))
#: Orders :func:`predicted_vs_measured` checks by default (the benchmark grid's).
DEFAULT_ORDERS: tuple[str, ...] = ("loss_first", "input_first", "optimal")

#: Per class: shapes drawn, and how each dim is drawn -- log-uniform between
#: bounds, or fixed at 1 -- for (p, q, r). ``'small'`` draws dims 2..16.
_DRAWS: dict[str, tuple[int, tuple[Any, Any, Any]]] = {
    "matmat": (70, ((2, 131072), (2, 131072), (2, 131072))),
    "small": (24, ((2, 16), (2, 16), (2, 16))),
    "vecmat": (45, (1, (2, 32768), (2, 32768))),
    "matvec": (30, ((2, 32768), (2, 32768), 1)),
    "outer": (20, ((2, 8192), 1, (2, 8192))),
    "dot": (12, (1, (1, 2**21), 1)),
}
#: Largest operands (bytes in) and work (FLOPs) of a calibration shape.
_MAX_BYTES, _MAX_FLOPS = 160e6, 2.5e9
#: quick mode: fewer shapes, smaller operands, shorter timing.
_QUICK_SCALE, _QUICK_MAX_BYTES, _QUICK_MAX_FLOPS = 0.25, 24e6, 2e8


def calibration_shapes(quick: bool = False, seed: int = 0) -> list[tuple[int, int, int]]:
    """Seeded product shapes ``(p, q, r)`` covering every shape class, plus fixed anchors.

    Anchors: ``1 x 1 @ 1 x 1`` (the bare per-call overhead), square
    products up to 1024 (the roof) and, in full mode, vector products
    streaming 80..134 MB (main memory). Random draws are log-uniform and capped
    in bytes and FLOPs so the full calibration stays under a minute.

    Examples
    --------
    >>> shapes = calibration_shapes(quick=True)
    >>> shapes[0], sorted({shape_class(*s) for s in shapes}) == sorted(SHAPE_CLASSES)
    ((1, 1, 1), True)
    """
    rng = np.random.default_rng(seed)
    max_bytes = _QUICK_MAX_BYTES if quick else _MAX_BYTES
    max_flops = _QUICK_MAX_FLOPS if quick else _MAX_FLOPS
    shapes = _anchor_shapes(quick)
    for cls, (count, bounds) in _DRAWS.items():
        want = max(3, int(count * (_QUICK_SCALE if quick else 1)))
        got = 0
        while got < want:
            p, q, r = (b if isinstance(b, int) else
                       int(np.rint(np.exp(rng.uniform(np.log(b[0]), np.log(b[1])))))
                       for b in bounds)
            if (shape_class(p, q, r) != cls or 8 * (p * q + q * r) > max_bytes
                    or 2 * p * q * r > max_flops):
                continue
            shapes.append((p, q, r))
            got += 1
    return shapes


def _anchor_shapes(quick: bool) -> list[tuple[int, int, int]]:
    squares = (16, 64, 256) if quick else (16, 32, 64, 128, 256, 512, 1024)
    shapes = [(1, 1, 1), *((n, n, n) for n in squares)]
    if not quick:  # vector products streaming 80..134 MB: main memory's bandwidth
        for a, b in ((4096, 4096), (100, 100000), (1024, 10240), (16384, 1024)):
            shapes += [(1, a, b), (b, a, 1)]
    return shapes


#: The old name of :func:`chainorder.hardware.blas_threads`, the one way BLAS threads are pinned.
pinned_threads = blas_threads


def _time_product(a: np.ndarray, b: np.ndarray, runs: int, budget: float) -> list[float]:
    """Seconds of ``a`` times ``b``, back to back, after one untimed run: at least ``runs``, up to
    ``budget`` seconds (and 200 runs).

    Timed as :func:`~chainorder.algebra.execute.execute` times a step: the
    call of :data:`~chainorder.algebra.execute.step_kernel` alone, so the
    per-call overhead and the BLAS call are those a plan pays (counting and
    bookkeeping around the call, about 0.2 us, are not). Each result is dropped before the
    next call (:func:`chainorder.timing.time_calls` does), as a plan run again and again
    drops its product, so the next result may land in the memory (and the cache lines) just
    freed. Holding it instead alternates two buffers: a 217 x 994 result (1.7 MB) then took
    1.4x as long on a 2 MiB level-2 cache, where plans never paid that.
    """
    return time_calls(step_kernel, a, b, warmup=1, min_calls=runs, max_calls=max(runs, 200),
                      seconds=budget).seconds


def _spread(times: Sequence[float]) -> float:
    """Run-to-run spread: interquartile range over median (0 for one run)."""
    if len(times) < 2:
        return 0.0
    q1, med, q3 = statistics.quantiles(times, n=4)
    return (q3 - q1) / med if med > 0 else 0.0


def measure_steps(shapes: Iterable[tuple[int, int, int]], *, quick: bool = False,
                  budget: float | None = None,
                  progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Time float64 products of the given shapes; one tidy record per shape.

    Runs with whatever BLAS threads are in force (see :func:`chainorder.hardware.blas_threads`).
    Operands are filled with 0.5 (values do not change BLAS speed; no
    denormals) and freshly allocated per shape. Products past 1e8 FLOPs get
    three timed runs, others at least five (three in ``quick`` mode). With
    ``budget`` (seconds), shapes after it is spent are left out.

    Returns
    -------
    list of dict
        ``shape_class``, ``p``, ``q``, ``r``, ``flops``, ``bytes_in``,
        ``bytes_out``, ``seconds_min``, ``seconds_median``, ``seconds_max``,
        ``spread`` (IQR / median of the runs), ``runs``, ``gflops_best``,
        ``gbs_best`` (bytes in + out per second at the best run), ``loadavg``.
    """
    runs, per_shape = (3, 0.01) if quick else (5, 0.03)
    shapes = list(shapes)
    out: list[dict[str, Any]] = []
    with Stopwatch() as spent:
        for n, (p, q, r) in enumerate(shapes):
            if budget is not None and out and spent.elapsed() > budget:
                break
            a, b = np.full((p, q), 0.5), np.full((q, r), 0.5)
            times = _time_product(a, b, 3 if 2 * p * q * r > 1e8 else runs, per_shape)
            out.append(_step_record(p, q, r, times, loadavg()))
            if progress is not None:
                progress(n + 1, len(shapes))
    return out


def _step_record(p: int, q: int, r: int, times: Sequence[float], load: float | None,
                 cold_left: bool = False, cold_right: bool = False,
                 chain: str | None = None, plan: str | None = None) -> dict[str, Any]:
    best = min(times)
    b_in, b_out = 8 * (p * q + q * r), 8 * p * r
    return {
        "shape_class": shape_class(p, q, r), "p": p, "q": q, "r": r, "chain": chain,
        "plan": plan,
        "cold_left": bool(cold_left), "cold_right": bool(cold_right),
        "flops": 2 * p * q * r, "bytes_in": b_in, "bytes_out": b_out,
        "seconds_min": best, "seconds_median": statistics.median(times),
        "seconds_max": max(times), "spread": _spread(times), "runs": len(times),
        "gflops_best": 2 * p * q * r / best / 1e9 if best > 0 else None,
        "gbs_best": (b_in + b_out) / best / 1e9 if best > 0 else None, "loadavg": load,
    }


def calibration_chains(quick: bool = False, seed: int = 0) -> list[tuple[int, ...]]:
    """Seeded random chains whose plans put steps of every class in a chain's context.

    Half start with ``p0 = 1`` (a scalar loss: vector steps). Lengths 3..10,
    dims log-uniform in 1..1500; chains past 48 MB of matrices or whose
    input-first or loss-first plan passes 4e8 multiplications are redrawn,
    so one run stays within milliseconds. About half pass
    :data:`~chainorder.algebra.timemodel.COLD_CHAIN_BYTES` (cold matrices).
    """
    rng = np.random.default_rng([seed, 7])
    out: list[tuple[int, ...]] = []
    want = 12 if quick else 48
    while len(out) < want:
        n = int(rng.integers(3, 11))
        dims = np.maximum(1, np.rint(np.exp(rng.uniform(0, np.log(1500), n + 1)))).astype(int)
        if len(out) % 2 == 0:
            dims[0] = 1
        d = tuple(int(x) for x in dims)
        worst = max(make_plan(d, o).cost for o in ("loss_first", "input_first"))
        if chain_bytes(d) > (8e6 if quick else 48e6) or worst > (5e7 if quick else 4e8):
            continue
        out.append(d)
    return out


def _random_bracketing(n: int, rng: np.random.Generator) -> np.ndarray:
    """Steps of a bracketing with uniformly drawn split points (post-order)."""
    steps: list[tuple[int, int, int]] = []

    def build(i: int, j: int) -> None:
        if j - i < 2:
            return
        k = int(rng.integers(i + 1, j))
        build(i, k)
        build(k, j)
        steps.append((i, k, j))

    build(0, n)
    return np.array(steps, dtype=np.int64).reshape(-1, 3)


def measure_chain_steps(chains: Iterable[Sequence[int]], *, repeats: int = 5, warmup: int = 1,
                        seed: int = 0, budget: float | None = None) -> list[dict[str, Any]]:
    """Time every step of a few plans per chain, as a plan runs: one record per step.

    Plans: loss-first, input-first, the FLOP optimum and a random bracketing,
    interleaved run by run. Matrices are filled with 0.5. Records carry the
    fields of :func:`measure_steps` plus ``cold_left`` / ``cold_right`` (the
    operand is one of the chain's matrices and the chain passes
    :data:`~chainorder.algebra.timemodel.COLD_CHAIN_BYTES`), ``chain`` and
    ``plan`` (the order, or ``'random'``).
    With ``budget`` (seconds), no chain after the first starts once it is
    spent (a loaded machine then measures fewer chains rather than taking longer).
    """
    rng = np.random.default_rng([seed, 11])
    out: list[dict[str, Any]] = []
    with Stopwatch() as spent:
        for dims in chains:
            if budget is not None and out and spent.elapsed() > budget:
                break
            out += _chain_step_records(tuple(int(x) for x in dims), rng, repeats, warmup)
    return out


def _chain_step_records(d: tuple[int, ...], rng: np.random.Generator, repeats: int,
                        warmup: int) -> list[dict[str, Any]]:
    """The step records of :func:`measure_chain_steps` for one chain of dims ``d``."""
    mats = [np.full((a, b), 0.5) for a, b in zip(d[:-1], d[1:], strict=True)]
    plans = {o: make_plan(d, o) for o in ("loss_first", "input_first", "optimal")}
    plans["random"] = Plan(d, _random_bracketing(len(mats), rng), "random")
    times, load = time_plans(mats, plans, repeats, warmup)
    cold = chain_bytes(d) > COLD_CHAIN_BYTES
    out = []
    for order, pl in plans.items():
        t = times[order]
        for s, (i, k, j) in enumerate(pl.step_array.tolist()):
            out.append(_step_record(d[i], d[k], d[j], t[:, s].tolist(), load["loadavg_max"],
                                    cold and k - i == 1, cold and j - k == 1,
                                    chain="x".join(map(str, d)), plan=order))
    return out


def fit_model(records: Sequence[dict[str, Any]], *, fingerprint: dict[str, Any] | None = None,
              meta: dict[str, Any] | None = None, target: str = "seconds_min") -> TimeModel:
    """Fit the model's coefficients per shape class to measured times, by relative error.

    Non-negative least squares on rows divided by the measured time, so a
    1 us product counts as much as a 10 ms one. The ``target`` is each
    point's fastest run by default: the run least disturbed by other
    processes. (On a machine loaded by other work, models fitted to the
    fastest runs predicted the *median* time of the benchmark grid's plans
    better than models fitted to medians, whose points a stall can move
    tenfold; on a quiet machine the two differ by a few percent.) A feature that fewer than
    :data:`MIN_SUPPORT` points of a class exercise (a cache knot no shape
    passed) keeps coefficient 0 rather than extrapolate from one point. A
    class without measurements borrows the coefficients of ``matmat``. All
    classes are fitted together, with one coefficient each for
    :data:`SHARED_FEATURES` (memory traffic: bytes read past the cache, bytes written).
    """
    blocks = _blocks(records, target)
    if not blocks:
        raise ValueError("records hold no measurements; nothing to fit")
    coefficients = _fit_coefficients(blocks)
    errors = {cls: np.abs(X @ np.array(coefficients[cls]) / y - 1) for cls, X, y in blocks}
    fit = {cls: {"points": len(e), "median_rel_error": float(np.median(e)),
                 "max_rel_error": float(e.max())} for cls, e in errors.items()}
    summary = roofline_summary(records)
    ratio = plan_ratio_error(records, target)
    if not ratio["pairs"]:  # too few chains for held-out ratios: the fit's own typical error
        ratio.update(median=None, p90=None, quantile=MARGIN_QUANTILE,
                     margin=float(np.median(np.concatenate(list(errors.values())))),
                     method="fewer than 4 calibration chains: the median relative error of "
                            "the fitted points")
    summary["plan_ratio_error"] = ratio
    return TimeModel(coefficients, dict(fingerprint or {}), summary, fit, dict(meta or {}))


def _blocks(records: Sequence[dict[str, Any]],
            target: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Per shape class with measurements: ``(class, features, measured seconds)``."""
    blocks = []
    for cls in SHAPE_CLASSES:
        rows = [r for r in records if r["shape_class"] == cls]
        if rows:
            X = step_features(*([r.get(k, False) for r in rows]
                                for k in ("p", "q", "r", "cold_left", "cold_right")))
            blocks.append((cls, X, np.array([r[target] for r in rows])))
    return blocks


def _fit_coefficients(blocks: Sequence[tuple[str, np.ndarray, np.ndarray]]
                      ) -> dict[str, list[float]]:
    """Every class's coefficients; a class without measurements borrows ``matmat``'s."""
    shared = [FEATURES.index(f) for f in SHARED_FEATURES]
    coefficients = _fit_group(blocks, shared if len(blocks) > 1 else [])
    fallback = coefficients.get("matmat") or next(iter(coefficients.values()))
    for cls in SHAPE_CLASSES:
        coefficients.setdefault(cls, list(fallback))
    return coefficients


#: Quantile of the held-out errors of predicted plan-time ratios that sets a model's margin:
#: the median, the model's typical error on the ratio of two plans' times. (The 90th
#: percentile, about 55% on a two-core Xeon, is larger than any gain the model predicts
#: between a FLOP-optimal and a time-optimal plan, so it would never leave the former.)
MARGIN_QUANTILE = 0.5


def plan_ratio_errors(model: TimeModel, records: Sequence[dict[str, Any]],
                      target: str = "seconds_min") -> np.ndarray:
    """``|ln(predicted ratio) - ln(measured ratio)|`` of every pair of different plans
    timed on the same chain (records of :func:`measure_chain_steps`).

    A plan's time is the sum of its steps' ``target`` seconds. Pairs of plans
    with the same steps (say loss-first that is also the FLOP optimum) are
    left out: their measured ratio is noise, not a prediction.
    """
    plans: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        if r.get("chain") and r.get("plan"):
            plans.setdefault((r["chain"], r["plan"]), []).append(r)
    keys = ("p", "q", "r", "cold_left", "cold_right")
    chains: dict[str, list[tuple[tuple[Any, ...], float, float]]] = {}
    for (chain, _), steps in plans.items():
        predicted = np.sum(model.step_seconds(*([st[k] for st in steps] for k in keys)))
        ident = tuple(tuple(st[k] for k in keys) for st in steps)
        chains.setdefault(chain, []).append(
            (ident, float(predicted), float(sum(st[target] for st in steps))))
    errs = [abs(np.log(pa / pb) - np.log(ma / mb))
            for items in chains.values()
            for n, (ia, pa, ma) in enumerate(items) for ib, pb, mb in items[n + 1:]
            if ia != ib and min(pa, pb, ma, mb) > 0]
    return np.array(errs, dtype=np.float64)


def plan_ratio_error(records: Sequence[dict[str, Any]],
                     target: str = "seconds_min") -> dict[str, Any]:
    """How far predicted ratios of two plans' times miss measured ones, out of sample.

    The calibration chains are split in two folds; a model fitted to the
    single shapes and one fold predicts the plans of the other, and the
    errors of both folds are pooled (:func:`plan_ratio_errors`). Returns
    ``pairs`` (0 with fewer than four chains, and nothing else then), ``chains``, the
    ``median`` and ``p90`` relative error of a predicted ratio (``e^err - 1``)
    and ``margin``: its :data:`MARGIN_QUANTILE` quantile. A predicted speed-up
    smaller than ``1 + margin`` is one the model cannot tell from its error
    (:attr:`~chainorder.algebra.timemodel.TimeModel.margin`).
    """
    chains = sorted({r["chain"] for r in records if r.get("chain") and r.get("plan")})
    if len(chains) < 4:
        return {"pairs": 0, "chains": len(chains)}
    errs: list[np.ndarray] = []
    for held in (set(chains[0::2]), set(chains[1::2])):
        train = [r for r in records if r.get("chain") not in held]
        model = TimeModel(_fit_coefficients(_blocks(train, target)))
        errs.append(plan_ratio_errors(model, [r for r in records if r.get("chain") in held],
                                      target))
    e = np.concatenate(errs)
    if len(e) == 0:
        return {"pairs": 0, "chains": len(chains)}
    rel = np.expm1(e)
    return {"pairs": int(len(e)), "chains": len(chains), "median": float(np.median(rel)),
            "p90": float(np.quantile(rel, 0.9)),
            "margin": float(np.quantile(rel, MARGIN_QUANTILE)),
            "quantile": MARGIN_QUANTILE, "method": "2-fold over calibration chains"}


def _fit_group(blocks: Sequence[tuple[str, np.ndarray, np.ndarray]],
               shared: Sequence[int]) -> dict[str, list[float]]:
    """One NNLS fit of classes ``(cls, X, y)`` whose ``shared`` feature columns have one
    coefficient for them all, by relative error; the other columns are fitted per class."""
    from scipy.optimize import nnls

    n_feat = blocks[0][1].shape[1]
    own = [j for j in range(n_feat) if j not in shared]
    cols: list[tuple[str | None, int]] = []  # (class, or None if shared; feature)
    for cls, X, _ in blocks:
        support = (X > 0).sum(axis=0) >= min(MIN_SUPPORT, len(X))
        cols += [(cls, j) for j in own if support[j]]
    stacked = np.concatenate([X for _, X, _ in blocks])
    support = (stacked > 0).sum(axis=0) >= min(MIN_SUPPORT, len(stacked))
    cols += [(None, j) for j in shared if support[j]]
    A = np.zeros((len(stacked), len(cols)))
    start = 0
    for cls, X, y in blocks:
        for c, (owner, j) in enumerate(cols):
            if owner in (cls, None):
                A[start:start + len(X), c] = X[:, j] / y
        start += len(X)
    # columns scaled to unit size so NNLS is well conditioned, then scaled back
    scale = np.maximum(np.abs(A).max(axis=0), 1e-300)
    sol, _ = nnls(A / scale, np.ones(len(A)))
    sol = sol / scale
    out = {}
    for cls, _, _ in blocks:
        coef = np.zeros(n_feat)
        for c, (owner, j) in enumerate(cols):
            if owner in (cls, None):
                coef[j] = sol[c]
        out[cls] = [float(x) for x in coef]
    return out


def _distribution(values: Sequence[float], best: Callable[..., float] = max) -> dict[str, float]:
    vals = [float(v) for v in values]
    if not vals:
        return {}
    med = statistics.median(vals)
    q = statistics.quantiles(vals, n=4) if len(vals) > 1 else [med, med, med]
    return {"best": best(vals), "median": med, "spread": (q[2] - q[0]) / med if med else 0.0,
            "points": len(vals)}


def roofline_summary(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The roofline's measured facts, each as best / median / spread (+ points).

    ``peak_gflops``: rates of matrix-matrix products with at least 1e8 FLOPs
    (the roof is the best rate actually achieved, no vendor figure);
    ``bandwidth_gbs``: bytes in + out per second of the vector classes whose
    operands pass 64 MiB (main memory); ``cache_bandwidth_gbs`` the same below
    2 MiB; ``overhead_seconds``: the ``1 x 1 @ 1 x 1`` product's runs
    (best: its fastest run; spread: IQR / median); ``rates``: per class,
    GFLOP/s and GB/s at each point's best run.
    """
    def pick(cond: Callable[[dict[str, Any]], bool], key: str) -> list[float]:
        return [r[key] for r in records if cond(r)]

    def _of_class(cls: str) -> Callable[[dict[str, Any]], bool]:
        return lambda r: r["shape_class"] == cls

    vec = ("vecmat", "matvec", "dot")
    tiny = [r for r in records if (r["p"], r["q"], r["r"]) == (1, 1, 1)]
    out: dict[str, Any] = {
        "peak_gflops": _distribution(pick(
            lambda r: r["shape_class"] == "matmat" and r["flops"] >= 1e8, "gflops_best")),
        "bandwidth_gbs": _distribution(pick(
            lambda r: r["shape_class"] in vec and r["bytes_in"] > 2**26, "gbs_best")),
        "cache_bandwidth_gbs": _distribution(pick(
            lambda r: r["shape_class"] in vec and 2**16 < r["bytes_in"] < 2**21, "gbs_best")),
        "overhead_seconds": {} if not tiny else {
            "best": tiny[0]["seconds_min"], "median": tiny[0]["seconds_median"],
            "spread": tiny[0]["spread"], "points": tiny[0]["runs"]},
        "rates": {cls: {"gflops": _distribution(pick(_of_class(cls), "gflops_best")),
                        "gbs": _distribution(pick(_of_class(cls), "gbs_best"))}
                  for cls in SHAPE_CLASSES},
    }
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def calibrate(*, threads: int | None = None, quick: bool = False, force: bool = False,
              directory: str | Path | None = None, seed: int = 0,
              progress: Callable[[int, int], None] | None = None) -> TimeModel:
    """This machine's time model at ``threads`` BLAS threads: from the cache, or measured.

    A cached file that cannot be used (unreadable, malformed, made by another
    version) is named in a :class:`~chainorder.algebra.timemodel.CacheWarning`
    and measured again; an empty directory in its place is replaced too.

    Parameters
    ----------
    threads : int, optional
        BLAS threads to pin while measuring (and the model's key); default:
        the BLAS's current thread count.
    quick : bool
        About a second of measurement instead of 15 to 45 seconds (noisier;
        a cached quick model does not satisfy a later full request).
    force : bool
        Measure again even if a model is cached.
    directory : path, optional
        Cache directory (default :func:`~chainorder.algebra.timemodel.cache_dir`).

    Returns
    -------
    TimeModel
        Also written to ``cache_path(fingerprint, directory)``; the
        measurements it was fitted to go beside it (:func:`calibration_records`).
        Both are written atomically: of two calibrations at once, one whole model stays.

    Raises
    ------
    ValueError
        Before measuring, if ``directory`` is a file, lies under one or cannot be
        written, or the cache file's place is taken by a directory holding files.
    """
    with blas_threads(threads):
        fp = machine_fingerprint()
    path = cache_path(fp, check_cache_dir(directory))
    _check_place(path)
    cached = None if force else cached_model(path, fp)
    if cached is not None and (quick or not cached.meta.get("quick")):
        return cached
    model, records = measure_model(threads=threads, quick=quick, seed=seed, progress=progress)
    for target in (path, _records_path(path)):
        if target.is_dir() and not target.is_symlink():
            target.rmdir()  # empty (checked above): the file goes in its place
    model.save(path)
    write_atomic(_records_path(path), "".join(json.dumps(r) + "\n" for r in records))
    return model


def _check_place(path: Path) -> None:
    """Refuse a cache file (or its records) whose place a directory holding files takes."""
    for target in (path, _records_path(path)):
        if target.is_dir() and not target.is_symlink() and any(target.iterdir()):
            raise ValueError(f"the time model's cache file {target} is a directory holding "
                             "files; move it away, then calibrate again")


def measure_model(*, threads: int | None = None, quick: bool = False, seed: int = 0,
                  progress: Callable[[int, int], None] | None = None
                  ) -> tuple[TimeModel, list[dict[str, Any]]]:
    """Measure and fit this machine's time model at ``threads`` BLAS threads, caching nothing.

    What :func:`calibrate` runs when no usable model is cached: the shapes of
    :func:`calibration_shapes`, then the chains of :func:`calibration_chains`
    in what is left of the time budget (4 s quick, 45 s full).

    Returns
    -------
    model : TimeModel
        The fitted model (:func:`fit_model`).
    records : list of dict
        The measurements it was fitted to.
    """
    with blas_threads(threads), Stopwatch() as spent:
        fp = machine_fingerprint()
        load0 = loadavg()
        shapes = calibration_shapes(quick, seed)
        # the anchors first, the draws shuffled: a budget cut leaves every class measured
        anchors = len(_anchor_shapes(quick))
        drawn = shapes[anchors:]
        np.random.default_rng([seed, 5]).shuffle(drawn)
        total, share = (4.0, 2.0) if quick else (45.0, 25.0)
        records = measure_steps(shapes[:anchors] + drawn, quick=quick, budget=share,
                                progress=progress)
        chains = calibration_chains(quick, seed)
        # the chains get what is left of the total, and at least a fifth of it
        left = max(total - spent.elapsed(), total / 5)
        records += measure_chain_steps(chains, seed=seed, repeats=3 if quick else 5, budget=left)
        in_chains = {r["chain"] for r in records if r["chain"]}
        alone = sum(1 for r in records if not r["chain"])
        meta = {"created": _now(), "seconds": round(spent.elapsed(), 2), "quick": quick,
                "seed": seed, "shapes": f"{alone}/{len(shapes)}", "points": len(records),
                "chains": f"{len(in_chains)}/{len(chains)}",
                "loadavg_start": load0, "loadavg_end": loadavg(),
                "method": "chainorder.lab.calibrate.calibrate"}
        return fit_model(records, fingerprint=fp, meta=meta), records


def _records_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.stem + ".records.jsonl")


def calibration_records(*, threads: int | None = None,
                        directory: str | Path | None = None) -> list[dict[str, Any]]:
    """The measurements behind this machine's cached model at ``threads`` BLAS threads.

    One record per isolated shape (``chain`` None) and per step timed in a
    chain (:func:`measure_steps`, :func:`measure_chain_steps`): tidy rows
    for a roofline figure of achieved GFLOP/s and GB/s by shape class.
    """
    with blas_threads(threads):
        path = _records_path(cache_path(directory=directory))
    fix = f"run 'chainorder calibrate{f' --threads {threads}' if threads else ''} --force'"
    if not path.exists():
        raise FileNotFoundError(f"no calibration records at {path}; {fix}")
    try:
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise ValueError(f"calibration records at {path} cannot be read ({exc}); {fix}") from None
    if not all(isinstance(r, dict) for r in records):
        raise ValueError(f"calibration records at {path} are not all JSON objects; {fix}")
    return records


# ----------------------------------------------------------------------------- checking the model


def time_plans(mats: Sequence[np.ndarray], plans: dict[str, Plan], repeats: int,
               warmup: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Run the plans on ``mats`` interleaved; per plan ``seconds[run, step]``, and the load:
    ``loadavg_max``, ``other_work`` (cores' worth of CPU other work took) and ``loaded``
    (:func:`~chainorder.lab.verdicts.under_load`).

    A step's seconds are those :func:`~chainorder.algebra.execute.execute`
    measures around its product.
    """
    steps: dict[str, list[list[float]]] = {o: [] for o in plans}

    def runner(order: str) -> Callable[[], float]:
        def run() -> float:
            _, tr = execute(mats, plans[order], timed=True)
            steps[order].append([s.seconds for s in tr.steps])
            return tr.seconds
        return run

    got = time_interleaved({o: runner(o) for o in plans}, repeats=repeats, warmup=warmup)
    top = max((x for x in got.loadavgs if x is not None), default=None)
    load = {"loadavg_max": top, "other_work": got.other_work,
            "loaded": under_load(top, others=got.other_work)}
    # the warm-up runs were recorded too: keep the timed ones
    return {o: np.array(runs[-repeats:]).reshape(repeats, -1) for o, runs in steps.items()}, load


def predicted_vs_measured(cases: Iterable[CaseLike] | None = None,
                          orders: Sequence[str] = DEFAULT_ORDERS, *,
                          model: TimeModel | None = None, threads: int | None = 1,
                          repeats: int = 7, warmup: int = 1) -> list[dict[str, Any]]:
    """Predicted beside measured seconds for every plan and step of a grid of cases.

    Each case's orders are timed interleaved (one run of each per round),
    BLAS pinned to ``threads``; a plan's time is the sum of its products'
    wall times, as in ``chainorder sweep``.

    Parameters
    ----------
    cases : iterable of Case, case id, chain dims or (id, Chain), optional
        Default: the quick cases of :data:`chainorder.lab.cases.CASES`;
        dims get seeded random matrices.
    model : TimeModel, optional
        Default: this machine's cached model at ``threads`` threads.

    Returns
    -------
    list of dict
        One record per plan (``level='plan'``) and per step (``level='step'``):
        ``case``, ``order``, ``step`` (None for a plan), ``shape_class`` (a
        plan's: the class of the step with the largest predicted time),
        ``p``, ``q``, ``r`` (steps), ``multiplications``, ``predicted``,
        ``measured_min``, ``measured_median``, ``measured_max`` (seconds),
        ``rel_error`` (predicted / median - 1), ``threads``, ``loadavg_max``,
        ``other_work`` (cores' worth of CPU other work took), ``loaded``.
    """
    chosen = _chains_of(cases)
    out: list[dict[str, Any]] = []
    with blas_threads(threads):
        m = model if model is not None else _cached_or_raise()
        for case_id, chain in chosen:
            with use_machine(m):  # an order that reads the time model reads this one
                plans = {o: make_plan(chain.dims, o) for o in orders}
            step_times, load = time_plans(chain.matrices, plans, repeats, warmup)
            common = {"case": case_id, "threads": threads, **load}
            for order, pl in plans.items():
                out += _records(pl, step_times[order], m, {**common, "order": order})
    return out


#: What the checking functions accept as a case: a Case, a case id, chain dims, or a chain
#: built already with its id, ``(id, chain)``.
CaseLike = Case | str | Sequence[int] | tuple[str, Chain]


def _chains_of(cases: Iterable[CaseLike] | None) -> Iterator[tuple[str, Chain]]:
    """``(id, chain)`` per case, built lazily (one chain in memory at a time); dims get seeded
    matrices of N(0, 1/q) entries and the id ``'dims-p0x..xpn'``."""
    from .cases import get_case

    for c in select_cases(quick=True) if cases is None else cases:
        if isinstance(c, tuple) and len(c) == 2 and isinstance(c[1], Chain):
            yield str(c[0]), c[1]
        elif isinstance(c, Case | str):
            case = c if isinstance(c, Case) else get_case(c)
            yield case.id, case.build()
        else:
            d = check_dims(c, "case dims")
            rng = np.random.default_rng(list(d))
            mats = [rng.standard_normal((a, b)) / np.sqrt(b) for a, b in zip(d[:-1], d[1:],
                                                                              strict=True)]
            yield "dims-" + "x".join(map(str, d)), Chain(mats)


def differing_chains(model: TimeModel, *, count: int = 8, trials: int = 3000, seed: int = 0,
                     max_multiplications: int = 2 * 10**8,
                     margin: float | None = None) -> list[tuple[int, ...]]:
    """Random chains whose time-optimal and FLOP-optimal plans differ most in predicted time.

    Draws ``trials`` seeded chains (:func:`~chainorder.lab.cases.random_dims`:
    3..11 matrices, dims log-uniform up to 64..4096, half with a scalar
    loss), keeps those whose plans differ and whose dearer plan stays under
    ``max_multiplications``, and returns the ``count`` with the largest
    predicted speed-up of the time plan, largest first -- chains to time
    with :func:`time_vs_flops`. The time plan is the one at ``margin``
    (default: the model's own; see :func:`~chainorder.algebra.orders.optimize`).
    """
    from .cases import random_dims

    rng = np.random.default_rng([seed, 3])
    found = []
    for s in range(trials):
        n, high = int(rng.integers(3, 12)), int(rng.choice([64, 256, 1024, 4096]))
        d = tuple(random_dims(n, high, seed=seed * 10**6 + s, scalar_loss=bool(s % 2)))
        flop = optimize(d)
        fast = optimize(d, cost=model.with_margin(margin))
        if np.array_equal(flop.step_array, fast.step_array) or fast.cost > max_multiplications:
            continue
        found.append((model.plan_seconds(d, flop.step_array) / fast.predicted_seconds, d))
    found.sort(key=lambda x: -x[0])
    return [d for _, d in found[:count]]


def _cached_or_raise() -> TimeModel:
    from ..algebra.timemodel import load_model

    return load_model()


def _records(pl: Any, times: np.ndarray, model: TimeModel,
             common: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan's record and its steps' records; ``times[run, step]`` in seconds."""
    st = pl.step_array
    p = np.asarray(pl.dims, dtype=np.float64)
    if len(st) == 0:
        return []
    a, b, c = p[st[:, 0]], p[st[:, 1]], p[st[:, 2]]
    pred = np.atleast_1d(model.steps_seconds(pl.dims, st[:, 0], st[:, 1], st[:, 2]))
    classes = [SHAPE_CLASSES[i] for i in np.atleast_1d(shape_classes(a, b, c))]
    totals = times.sum(axis=1)

    def row(step: int | None, cls: str, predicted: float, t: np.ndarray,
            extra: dict[str, Any]) -> dict[str, Any]:
        med = float(np.median(t))
        return {"level": "plan" if step is None else "step", **common, "step": step,
                "shape_class": cls, **extra, "predicted": float(predicted),
                "measured_min": float(t.min()), "measured_median": med,
                "measured_max": float(t.max()),
                "rel_error": float(predicted) / med - 1 if med > 0 else None}

    out = [row(None, classes[int(np.argmax(pred))], pred.sum(), totals,
               {"p": None, "q": None, "r": None, "multiplications": pl.cost,
                "steps": len(st), "parenthesization": pl.parenthesization})]
    for s in range(len(st)):
        dims = {"p": int(a[s]), "q": int(b[s]), "r": int(c[s])}
        out.append(row(s + 1, classes[s], pred[s], times[:, s],
                       {**dims, "multiplications": int(a[s] * b[s] * c[s]), "steps": 1,
                        "parenthesization": None}))
    return out


def prediction_errors(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Median (and 90th-percentile) absolute relative error by level and shape class.

    Examples
    --------
    >>> recs = [{"level": "plan", "shape_class": "vecmat", "rel_error": e} for e in (.1, -.3, .2)]
    >>> [(r["shape_class"], r["points"], round(r["median_abs_rel_error"], 2))
    ...  for r in prediction_errors(recs)]
    [('vecmat', 3, 0.2), ('all', 3, 0.2)]
    """
    out = []
    for level in ("plan", "step"):
        rows = [r for r in records if r["level"] == level and r["rel_error"] is not None]
        groups = [(c, [r for r in rows if r["shape_class"] == c]) for c in SHAPE_CLASSES]
        for cls, group in [*groups, ("all", rows)]:
            if not group:
                continue
            err = np.abs([r["rel_error"] for r in group])
            out.append({"level": level, "shape_class": cls, "points": len(group),
                        "median_abs_rel_error": float(np.median(err)),
                        "p90_abs_rel_error": float(np.quantile(err, 0.9)),
                        "median_rel_error": float(np.median([r["rel_error"] for r in group]))})
    return out


def time_vs_flops(cases: Iterable[CaseLike] | None = None, *, model: TimeModel | None = None,
                  threads: int | None = 1, repeats: int = 15, warmup: int = 2,
                  method: str = "bootstrap", margin: float | None = None) -> list[dict[str, Any]]:
    """Cases whose time-optimal bracketing differs from the FLOP-optimal one, timed side by side.

    The time-optimal plan is ``optimize(dims, cost=model.with_margin(margin))``:
    by default at the model's own margin (the plan chainorder gives),
    ``margin=0`` for the model's exact optimum. For each case the two plans run
    interleaved ``repeats`` times (BLAS
    pinned to ``threads``); the verdict says how the time-optimal plan
    compares: ``'faster'`` only when its interval lies wholly below the
    FLOP optimum's (:func:`~chainorder.lab.verdicts.compare`).

    Returns
    -------
    list of dict
        Per differing case: ``case``, ``n``, ``margin`` (the one used), costs and
        bracketings of both
        plans, ``cost_ratio`` (time plan's multiplications over the
        optimum's), ``predicted_flop_plan`` / ``predicted_time_plan`` (s),
        ``predicted_speedup``, the measured intervals ``time_plan_*`` and
        ``flop_plan_*`` (low, median, high, min, max, runs), ``verdict``,
        ``ratio`` (measured speed-up at the median), ``loaded``.
    """
    chosen = _chains_of(cases)
    out = []
    with blas_threads(threads):
        m = model if model is not None else _cached_or_raise()
        used = m.margin if margin is None else margin
        for case_id, chain in chosen:
            flop = optimize(chain.dims)
            fast = optimize(chain.dims, cost=m.with_margin(margin))
            if np.array_equal(flop.step_array, fast.step_array):
                continue
            runs = time_interleaved({"time_plan": _plan_runner(chain.matrices, fast),
                                     "flop_plan": _plan_runner(chain.matrices, flop)},
                                    repeats=repeats, warmup=warmup)
            verdict = runs.compare("time_plan", "flop_plan", method=method)
            pf, pt = m.plan_seconds(flop.dims, flop.step_array), fast.predicted_seconds
            out.append({
                "case": case_id, "n": len(chain), "threads": threads, "margin": used,
                "flop_plan": flop.parenthesization, "time_plan": fast.parenthesization,
                "flop_plan_multiplications": flop.cost, "time_plan_multiplications": fast.cost,
                "cost_ratio": fast.cost / flop.cost if flop.cost else None,
                "predicted_flop_plan": pf, "predicted_time_plan": pt,
                "predicted_speedup": pf / pt if pt > 0 else None,
                **verdict.to_record("time_plan", "flop_plan"),
            })
    return out


def _plan_runner(mats: Sequence[np.ndarray], pl: Any) -> Callable[[], float]:
    """A function running ``pl`` on ``mats`` and returning its products' seconds."""
    return lambda: execute(mats, pl, timed=True)[1].seconds


# ----------------------------------------------------------------------------- command line
