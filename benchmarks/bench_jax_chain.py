"""Wall time of JAX Jacobians: the planned schedule beside jax.jacfwd and jax.jacrev, all jitted.

Cases come from :data:`chainorder.lab.jax_cases.JAX_CASES` (bottleneck chains, the
article's network's Jacobian and gradient, deep MLPs, random chains). Four methods per
case, two of ours and the two peers, each compiled ahead of time so compile time stays
out of the timed call (it is reported in ``extra_info['compile_seconds']``, the measuring
and planning time in ``extra_info['planning_seconds']``):

``planned``  :func:`chainorder.plan_jacobian` (mode ``'auto'``: the time model's choice),
             compiled
``tuned``    the same with ``tune=True``: the fastest, on this machine, of the schedules
             the model finds within 2x of the cheapest (timed while planning)
``jacfwd``   ``jax.jit(jax.jacfwd(f_(q-1) o ... o f_0))``
``jacrev``   ``jax.jit(jax.jacrev(f_(q-1) o ... o f_0))``

``test_jax_jacobian`` times each method on its own (one group per case);
``test_jax_speedup`` interleaves the four over repeats in one process and stores the
speed-ups ``time(peer) / time(ours)`` per repeat with their min/median/max in
``extra_info`` -- the headline numbers. Threads are pinned: XLA to one thread through
``XLA_FLAGS`` (set below before JAX is imported, unless already set) and BLAS to one
thread with threadpoolctl; both are recorded with the machine's load average. Run::

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
        python -m pytest benchmarks/bench_jax_chain.py --benchmark-only \\
        --benchmark-json=jax.json -p no:cacheprovider

``CHAINORDER_BENCH_REPEATS`` sets the interleaved repeats (default 15). Collecting this
module (also in a plain ``pytest`` run, where it is skipped) sets ``XLA_FLAGS`` when unset,
so JAX tests in the same session run on one thread too.

The goal recorded in ``extra_info['goal_met']``: at least 3x faster than the better peer
on the bottleneck cases, at most 10% slower on any case. ``bottleneck-800-10-800`` cannot
reach 3x by the cost model: its Jacobian is a rank-10 800 x 800 matrix, and the best
schedule's outer product (800 x 10 x 800) is half of either homogeneous mode's count (2.1x).
"""

from __future__ import annotations

import os

from chainorder.hardware import XLA_ONE_THREAD  # noqa: E402  (imports no JAX)

os.environ.setdefault("XLA_FLAGS", XLA_ONE_THREAD)

import time  # noqa: E402
from functools import cache, partial, reduce  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from _grid import jax_machine  # noqa: E402

from chainorder.hardware import blas_threads  # noqa: E402
from chainorder.timing import Stopwatch, fastest_call, interleave  # noqa: E402

jax = pytest.importorskip("jax")

from chainorder.ad import plan_jacobian  # noqa: E402
from chainorder.lab.jax_cases import JAX_CASES, JaxCase  # noqa: E402

METHODS = ("planned", "tuned", "jacfwd", "jacrev")
OURS = ("planned", "tuned")
REPEATS = int(os.environ.get("CHAINORDER_BENCH_REPEATS", "15"))
#: each timed block calls a method for this long (at least three calls) and keeps the fastest
BLOCK_SECONDS = 0.03


class Contest:
    """One case's four compiled methods, the input, and what the plans predicted."""

    def __init__(self, case: JaxCase) -> None:
        functions, x = case.build()
        self.case = case
        composed = lambda v: reduce(lambda z, f: f(z), functions, v)  # noqa: E731
        with jax.enable_x64(True):
            self.x = jax.numpy.asarray(x, dtype=jax.numpy.float64)
            start = time.perf_counter()
            self.plan = plan_jacobian(functions, self.x)
            self.planning_seconds = {"planned": time.perf_counter() - start}
            start = time.perf_counter()
            self.tuned = plan_jacobian(functions, self.x, tune=True)
            self.planning_seconds["tuned"] = time.perf_counter() - start
            self.calls, self.compile_seconds = {}, {}
            for name, plan in (("planned", self.plan), ("tuned", self.tuned)):
                compiled = plan.compile()
                self.calls[name] = compiled.compiled
                self.compile_seconds[name] = compiled.compile_seconds
            for name, transform in (("jacfwd", jax.jacfwd), ("jacrev", jax.jacrev)):
                with Stopwatch() as compiling:
                    self.calls[name] = jax.jit(transform(composed)).lower(self.x).compile()
                self.compile_seconds[name] = compiling.seconds
            results = {name: np.asarray(self.run(name)) for name in METHODS}
        for name in METHODS:  # every method must give jacfwd's Jacobian
            np.testing.assert_allclose(results[name], results["jacfwd"], rtol=0, atol=1e-10)

    def run(self, name: str) -> Any:
        return self.calls[name](self.x).block_until_ready()

    def predicted(self, name: str) -> int:
        """Predicted scalar multiplications of the method (jacfwd = tangent, jacrev = adjoint)."""
        mode = {"planned": self.plan.mode, "tuned": self.tuned.mode, "jacfwd": "tangent",
                "jacrev": "adjoint"}[name]
        return self.plan.costs[mode]

    def fastest_of_block(self, name: str, seconds: float = BLOCK_SECONDS) -> float:
        """The fastest of the calls made in ``seconds`` (at least three calls).

        A time budget rather than a call count gives methods of equal speed equally many
        samples, so the minimum is equally robust for each under a loaded machine.
        """
        return fastest_call(self.run, name, seconds=seconds, min_calls=3)


@cache
def _contest(case: JaxCase) -> Contest:
    return Contest(case)



def _common_info(contest: Contest) -> dict[str, Any]:
    plan = contest.plan
    return {
        "case": contest.case.id,
        "widths": plan.program.widths,
        "planned_mode": plan.mode,
        "tuned_mode": contest.tuned.mode,
        "tuning_seconds_per_call": {k: round(v, 7) for k, v in contest.tuned.measured.items()},
        "schedule": [op.label for op in plan.schedule.ops],
        "predicted": {name: contest.predicted(name) for name in METHODS},
        "compile_seconds": {k: round(v, 4) for k, v in contest.compile_seconds.items()},
        "planning_seconds": {k: round(v, 4) for k, v in contest.planning_seconds.items()},
        "unit": "predicted: multiply-adds read from the jaxpr; times: seconds",
    }


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", JAX_CASES, ids=[c.id for c in JAX_CASES])
def test_jax_jacobian(benchmark, case: JaxCase, method: str) -> None:
    contest = _contest(case)
    benchmark.group = f"jax jacobian {case.id}"
    with blas_threads(1), jax.enable_x64(True):
        benchmark(contest.run, method)
        benchmark.extra_info.update(_common_info(contest), method=method, **jax_machine())


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 4),
        "median": round(float(np.median(values)), 4),
        "max": round(max(values), 4),
    }


def _interleave(contest: Contest, repeats: int) -> dict[str, list[float]]:
    """Fastest call per block, the methods interleaved (rotating who goes first)."""
    return interleave({name: partial(contest.fastest_of_block, name) for name in METHODS},
                      rounds=repeats)


@pytest.mark.parametrize("case", JAX_CASES, ids=[c.id for c in JAX_CASES])
def test_jax_speedup(benchmark, case: JaxCase) -> None:
    contest = _contest(case)
    benchmark.group = "jax jacobian speed-up over jacfwd and jacrev (interleaved)"
    with blas_threads(1), jax.enable_x64(True):
        load_before = os.getloadavg()[0]
        times = benchmark.pedantic(_interleave, (contest, REPEATS), rounds=1, iterations=1)
    median = {name: float(np.median(times[name])) for name in METHODS}
    best_peer = min(("jacfwd", "jacrev"), key=median.__getitem__)
    speedups = {
        f"speedup_{ours}_over_{label}": _spread(
            [p / o for p, o in zip(times[peer], times[ours], strict=True)]
        )
        for ours in OURS
        for label, peer in (("jacfwd", "jacfwd"), ("jacrev", "jacrev"), ("best", best_peer))
    }
    floor = 3.0 if case.bottleneck else 1 / 1.1
    benchmark.extra_info.update(
        _common_info(contest),
        **jax_machine(),
        loadavg_before=round(load_before, 2),
        repeats=REPEATS,
        seconds_median={k: round(v, 7) for k, v in median.items()},
        best_peer=best_peer,
        **speedups,
        # the cost model's quality: a perfect model has one rate for every method and case
        multiplications_per_second={
            name: round(contest.predicted(name) / median[name]) for name in METHODS
        },
        predicted_speedup_over_best={
            ours: round(contest.predicted(best_peer) / contest.predicted(ours), 4) for ours in OURS
        },
        goal="bottleneck: >= 3x over the better peer; every case: >= 1/1.1 of the better peer",
        goal_met={
            ours: speedups[f"speedup_{ours}_over_best"]["median"] >= floor for ours in OURS
        },
    )
