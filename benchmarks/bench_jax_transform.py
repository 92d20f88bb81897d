"""One function in: jit(chainorder.jacobian(f)) beside jit(jax.jacfwd(f)) and jit(jax.jacrev(f)).

Cases are :data:`chainorder.lab.jax_cases.JAX_FUNCTIONS`, each a single function the
transform cuts by itself. Per case, interleaved in one process (the order rotating):

* steady state: each jitted program's fastest call per block (``time_calls``, the JAX
  engine's one timing loop), ``REPEATS`` rounds; the ratios ``time(better peer) /
  time(ours)`` per round with their min, median and max;
* first call: trace, cut, measure, plan, compile and run, for fresh functions each round
  (``FIRST_REPEATS`` rounds): ``first(ours) / first(better peer's)``;
* the time model's error: its predicted seconds of tangent mode, adjoint mode and the
  chosen schedule beside the measured medians.

XLA runs on one thread (``XLA_FLAGS``, set below before JAX is imported unless already
set) and BLAS on one (``chainorder.hardware.blas_threads``); both land in ``extra_info``
with the load average.
The machine's JAX time model is calibrated first if none is cached. Run::

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
        python -m pytest benchmarks/bench_jax_transform.py --benchmark-only \\
        --benchmark-json=jax-transform.json -p no:cacheprovider -s

``-s`` shows one line per case. ``CHAINORDER_BENCH_REPEATS`` sets the steady-state rounds
(default 15), ``CHAINORDER_BENCH_X64=1`` runs in float64.

Goals (``extra_info['goal_met']``): narrow functions at least 3x faster than the better
peer, steady state; every other function at most 1.1x slower; the first call at most 3x
the better peer's.
"""

from __future__ import annotations

import os

from chainorder.hardware import XLA_ONE_THREAD  # noqa: E402  (imports no JAX)

os.environ.setdefault("XLA_FLAGS", XLA_ONE_THREAD)

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from _grid import jax_machine  # noqa: E402

from chainorder.hardware import blas_threads  # noqa: E402
from chainorder.timing import per_call  # noqa: E402

jax = pytest.importorskip("jax")

import chainorder as co  # noqa: E402
from chainorder.ad import jax_engine  # noqa: E402
from chainorder.lab.jax_cases import JAX_FUNCTIONS, JaxFunction  # noqa: E402

REPEATS = int(os.environ.get("CHAINORDER_BENCH_REPEATS", "15"))
FIRST_REPEATS = 3
X64 = os.environ.get("CHAINORDER_BENCH_X64", "") == "1"
PEERS = ("jacfwd", "jacrev")
BLOCK_SECONDS = 0.03


def _model() -> Any:
    model = jax_engine.load_model()
    if model is jax_engine.DEFAULT_MODEL:
        model = jax_engine.calibrate()
    return model


def _programs(f: Any) -> dict[str, Any]:
    """Fresh jitted programs (a new function object: no cache is shared with earlier ones)."""
    def g(x: Any) -> Any:
        return f(x)

    return {"ours": jax.jit(co.jacobian(g)), "jacfwd": jax.jit(jax.jacfwd(g)),
            "jacrev": jax.jit(jax.jacrev(g))}


def _first_calls(f: Any, x: Any) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in ("ours", *PEERS)}
    for r in range(FIRST_REPEATS):
        programs = _programs(f)
        names = list(programs)
        for name in names[r % 3 :] + names[: r % 3]:
            out[name].append(per_call(lambda p=programs[name]: jax.block_until_ready(p(x))))
    return out


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(float(np.median(values)), 3),
            "max": round(max(values), 3)}


def _contest(case: JaxFunction) -> dict[str, Any]:
    f, x0 = case.build()
    model = _model()
    with jax.enable_x64(X64):
        x = jax.numpy.asarray(x0)
        first = _first_calls(f, x)
        programs = _programs(f)
        results = {k: np.asarray(p(x)) for k, p in programs.items()}
        ref = results["jacfwd"]
        err = float(np.abs(results["ours"] - ref).max() / max(1e-30, np.abs(ref).max()))
        times = jax_engine.time_calls({k: (lambda p=p: p(x)) for k, p in programs.items()},
                                      REPEATS, BLOCK_SECONDS)
        plan = co.plan_jacobian(f, x, cost=model)
    median = {k: float(np.median(v)) for k, v in times.items()}
    best = min(PEERS, key=median.__getitem__)
    first_best = min(PEERS, key=lambda k: float(np.median(first[k])))
    ratio = [p / o for p, o in zip(times[best], times["ours"], strict=True)]
    first_ratio = [o / p for o, p in zip(first["ours"], first[first_best], strict=True)]
    measured = {"tangent": median["jacfwd"], "adjoint": median["jacrev"],
                plan.mode: median["ours"]}
    model_error = {k: round(plan.seconds[k] / t - 1, 3) for k, t in measured.items()
                   if k in plan.seconds}
    floor = 3.0 if case.narrow else 1 / 1.1
    return {
        "case": case.id, "narrow": case.narrow, "dtype": str(x.dtype), "mode": plan.mode,
        "cut": plan.cut, "factors": len(plan.factors),
        "schedule": [op.label for op in plan.schedule.ops] if plan.schedule else [],
        "seconds_median": {k: round(v, 7) for k, v in median.items()},
        "better_peer": best, "speedup_over_better_peer": _spread(ratio),
        "first_call_seconds": {k: _spread(v) for k, v in first.items()},
        "first_call_ratio_to_better_peer": _spread(first_ratio),
        "predicted_seconds": {k: round(v, 7) for k, v in plan.seconds.items()},
        "model_relative_error": model_error, "max_relative_error_vs_jacfwd": err,
        "model": repr(model), "repeats": REPEATS,
        "goal": "narrow: >= 3x over the better peer; others: >= 1/1.1; first call <= 3x",
        "goal_met": {"steady": float(np.median(ratio)) >= floor,
                     "first_call": float(np.median(first_ratio)) <= 3.0},
    }



@pytest.mark.parametrize("case", JAX_FUNCTIONS, ids=[c.id for c in JAX_FUNCTIONS])
def test_jax_transform(benchmark, case: JaxFunction) -> None:
    benchmark.group = "jax.jit(co.jacobian(f)) vs the better of jit(jacfwd), jit(jacrev)"
    with blas_threads(1):
        info = benchmark.pedantic(_contest, (case,), rounds=1, iterations=1)
    benchmark.extra_info.update(info, **jax_machine())
    s, fc = info["speedup_over_better_peer"], info["first_call_ratio_to_better_peer"]
    print(f"\n{case.id:<26} {info['mode']:<13} vs {info['better_peer']}: "
          f"{s['median']:.2f}x ({s['min']:.2f}..{s['max']:.2f}); first call "
          f"{fc['median']:.2f}x ({fc['min']:.2f}..{fc['max']:.2f}); "
          f"model error {info['model_relative_error']}; max rel err "
          f"{info['max_relative_error_vs_jacfwd']:.1e}")
