"""Wall time of ``co.multiply`` beside ``numpy.linalg.multi_dot`` and the bare ``@`` steps.

Two kinds of benchmark over one append-only table of chains (:data:`CASES`):

- ``test_interleaved_ratio``: the three peers timed in turns, round after
  round, in one process, BLAS pinned to one thread (threadpoolctl;
  ``CHAINORDER_BENCH_THREADS`` changes it). Its
  ``extra_info`` carries the median and min/max over rounds of
  ``multiply / multi_dot`` and ``multiply / bare steps``, the per-call
  overhead over the bare steps in microseconds, the load average before and
  after, and the BLAS libraries with their thread counts. The ratios are the
  numbers to quote; the timing pytest-benchmark records for this test is the
  whole interleaved measurement.
- ``test_peer``: each peer alone under pytest-benchmark's own calibration,
  one group per chain, for the usual side-by-side table.

Peers: ``chainorder.multiply`` (order ``'optimal'``, plan cached after the
first call, as in a training loop), ``numpy.multi_dot`` (plans on every call)
and ``bare np.dot steps``: the same bracketing as plain ``np.dot(left, right)``
in a Python loop, with no checks and no plan lookup: the floor a drop-in can
reach (``np.dot`` costs less per call than ``@`` on small arrays).

Run::

    python -m pytest benchmarks/bench_multiply.py --benchmark-only \\
        --benchmark-json=multiply.json -p no:cacheprovider
    PYTHONPATH=. python benchmarks/bench_multiply.py multiply.json   # the ratio table
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pytest

import chainorder as co
from chainorder import timing
from chainorder.hardware import blas_threads, thread_pools

try:
    from _grid import FULL, THREADS
except ImportError:  # run as a script from elsewhere
    FULL, THREADS = False, 1


@dataclass(frozen=True)
class MultiplyCase:
    """A chain to multiply: id, what it is, dims, and whether the quick grid runs it."""

    id: str
    label: str
    dims: tuple[int, ...]
    quick: bool = True

    @property
    def n(self) -> int:
        return len(self.dims) - 1


def _dims(n: int, low: int, high: int, seed: int) -> tuple[int, ...]:
    rng = np.random.default_rng(seed)
    return tuple(int(d) for d in rng.integers(low, high + 1, size=n + 1))


#: Append-only: ids are what saved results are joined on.
CASES = (
    MultiplyCase("tiny-n3", "tiny 1x1, 3 matrices", (1,) * 4),
    MultiplyCase("tiny-n10", "tiny 1x1, 10 matrices", (1,) * 11),
    MultiplyCase("small-n3", "small 2..10, 3 matrices", _dims(3, 2, 10, seed=3)),
    MultiplyCase("small-n5", "small 2..10, 5 matrices", _dims(5, 2, 10, seed=5)),
    MultiplyCase("small-n10", "small 2..10, 10 matrices", _dims(10, 2, 10, seed=10)),
    MultiplyCase("medium-n3", "medium 50..150, 3 matrices", _dims(3, 50, 150, seed=3)),
    MultiplyCase("medium-n5", "medium 50..150, 5 matrices", _dims(5, 50, 150, seed=5)),
    MultiplyCase("medium-n10", "medium 50..150, 10 matrices", _dims(10, 50, 150, seed=10)),
    MultiplyCase("large-n3", "large 500..1000, 3 matrices", _dims(3, 500, 1000, seed=3)),
    MultiplyCase("large-n5", "large 500..1000, 5 matrices", _dims(5, 500, 1000, seed=5)),
    MultiplyCase(
        "large-n10", "large 500..1000, 10 matrices", _dims(10, 500, 1000, seed=10), quick=False
    ),
    MultiplyCase("article", "article dense chain", (1, 10, 100, 100, 1000)),
    MultiplyCase("small-n20", "small 2..10, 20 matrices", _dims(20, 2, 10, seed=20)),
    MultiplyCase("small-n50", "small 2..10, 50 matrices", _dims(50, 2, 10, seed=50)),
    MultiplyCase("small-n200", "small 2..10, 200 matrices", _dims(200, 2, 10, seed=200)),
    MultiplyCase("medium-n20", "medium 50..150, 20 matrices", _dims(20, 50, 150, seed=20)),
)
SELECTED = [c for c in CASES if FULL or c.quick]
PEERS = ("chainorder.multiply", "numpy.multi_dot", "bare np.dot steps")
#: Interleaved rounds per case, turns per peer in a round, and about how long a turn takes.
ROUNDS, TURNS, TURN_S = 21, 5, 0.002


@cache
def _arrays(case: MultiplyCase) -> list[np.ndarray]:
    rng = np.random.default_rng(sum(case.dims) + case.n)
    d = case.dims
    return [rng.standard_normal((d[m], d[m + 1])) / np.sqrt(d[m + 1]) for m in range(case.n)]


def _bare_steps(arrays: list[np.ndarray], dims: tuple[int, ...]) -> Callable[[], np.ndarray]:
    """The optimal bracketing as plain ``np.dot`` calls in a loop: no checks, no plan lookup.

    ``np.dot`` is what both multi_dot and multiply execute with (lighter than
    ``@`` on small arrays), so this is the floor either can reach.
    """
    dot = np.dot
    pairs = [(i, k) for i, k, _ in co.optimize(dims).step_array.tolist()]

    def run() -> np.ndarray:
        mats = list(arrays)
        for i, k in pairs:
            mats[i] = dot(mats[i], mats[k])
        return mats[0]

    return run


def _peers(case: MultiplyCase) -> dict[str, Callable[[], Any]]:
    arrays = _arrays(case)
    return {
        "chainorder.multiply": lambda: co.multiply(arrays),
        "numpy.multi_dot": lambda: np.linalg.multi_dot(arrays),
        "bare np.dot steps": _bare_steps(arrays, case.dims),
    }


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """Pin BLAS to ``_grid.THREADS`` threads (default 1) for the module; yield what
    threadpoolctl saw."""
    pytest.importorskip("threadpoolctl")
    with blas_threads(THREADS):
        yield [
            {k: lib.get(k) for k in ("internal_api", "version", "num_threads")}
            for lib in thread_pools() if lib.get("user_api") == "blas"
        ]


def _calls_per_turn(fn: Callable[[], Any]) -> int:
    """Calls that take about :data:`TURN_S` seconds (at least one)."""
    fn()  # warm: the plan cache, BLAS buffers
    n = 1
    while True:
        elapsed = timing.per_call(fn, number=n) * n
        if elapsed >= TURN_S / 4:
            return max(1, round(n * TURN_S / elapsed))
        n *= 4


def interleave(peers: dict[str, Callable[[], Any]], rounds: int = ROUNDS) -> dict[str, list[float]]:
    """Seconds per call of each peer in each round; peers take turns, the first turn rotating.

    A round gives each peer :data:`TURNS` short turns, interleaved, and keeps
    each peer's fastest: on a shared machine a turn that another process
    preempted is dropped, not averaged in. Chains whose one call outlasts a
    turn get one turn (one call) per peer and round.
    """
    calls = {name: _calls_per_turn(fn) for name, fn in peers.items()}
    turns = 1 if max(calls.values()) == 1 else TURNS
    samplers = {name: timing.wall(fn, number=calls[name]) for name, fn in peers.items()}
    samples = timing.interleave(samplers, rounds=rounds * turns)
    # a round is `turns` consecutive turns of every peer; keep each peer's fastest turn
    return {name: [min(t[r * turns:(r + 1) * turns]) for r in range(rounds)]
            for name, t in samples.items()}


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


@pytest.mark.parametrize("case", SELECTED, ids=[c.id for c in SELECTED])
def test_interleaved_ratio(benchmark, one_blas_thread, case: MultiplyCase) -> None:
    peers = _peers(case)
    reference = np.linalg.multi_dot(_arrays(case))
    for fn in peers.values():
        np.testing.assert_allclose(fn(), reference, rtol=1e-8, atol=1e-12)
    benchmark.group = f"multiply, interleaved ratios: {case.label}"
    load_before = os.getloadavg()
    times = benchmark.pedantic(interleave, args=(peers,), rounds=1, iterations=1)
    load_after = os.getloadavg()
    co_t, md_t, bare_t = (times[p] for p in PEERS)
    plan = co.optimize(case.dims)
    benchmark.extra_info.update(
        case=case.id,
        label=case.label,
        dims=list(case.dims) if case.n <= 20 else None,
        n_matrices=case.n,
        rounds=len(co_t),
        turns_per_round=f"{TURNS} of about {TURN_S * 1e3:g} ms, fastest kept (1 if longer)",
        seconds_per_call={p: _spread(times[p]) for p in PEERS},
        ratio_multiply_to_multi_dot=_spread([a / b for a, b in zip(co_t, md_t, strict=True)]),
        ratio_multiply_to_bare=_spread([a / b for a, b in zip(co_t, bare_t, strict=True)]),
        overhead_us=_spread([(a - b) * 1e6 for a, b in zip(co_t, bare_t, strict=True)]),
        multiplications=plan.cost,
        flops=plan.flops,
        unit="multiplications: scalar multiplications (p*q*r per product); flops = 2x",
        blas=one_blas_thread,
        load_average_1_5_15min={"before": list(load_before), "after": list(load_after)},
        cpu_count=os.cpu_count(),
    )


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("case", SELECTED, ids=[c.id for c in SELECTED])
def test_peer(benchmark, one_blas_thread, case: MultiplyCase, peer: str) -> None:
    run = _peers(case)[peer]
    run()  # the plan cache is warm, as in a loop that multiplies the same shapes again
    benchmark.group = f"multiply, one peer at a time: {case.label}"
    result = benchmark(run)
    assert np.shape(result) == (case.dims[0], case.dims[-1])
    benchmark.extra_info.update(
        case=case.id, peer=peer, n_matrices=case.n, blas=one_blas_thread,
        load_average_1_5_15min=list(os.getloadavg()),
    )


def ratio_table(saved: dict[str, Any]) -> str:
    """The interleaved ratios of a saved pytest-benchmark JSON, one line per chain."""
    head = ("chain", "multiply/multi_dot", "multiply/bare steps", "overhead us", "load")
    lines = [
        f"{head[0]:<12} {head[1]:>22} {head[2]:>22} {head[3]:>22}  {head[4]}",
        f"{'':<12} {'median [min, max]':>22} {'median [min, max]':>22} "
        f"{'median [min, max]':>22}  (1 min)",
    ]
    for b in saved["benchmarks"]:
        info = b["extra_info"]
        if "ratio_multiply_to_multi_dot" not in info:
            continue
        r, b = info["ratio_multiply_to_multi_dot"], info["ratio_multiply_to_bare"]
        o, load = info["overhead_us"], info["load_average_1_5_15min"]["before"][0]
        lines.append(
            f"{info['case']:<12} {_cell(r, '.3g')} {_cell(b, '.2f')} {_cell(o, '.1f')}  {load:.2f}"
        )
    return "\n".join(lines)


def _cell(s: dict[str, float], fmt: str) -> str:
    return f"{s['median']:{fmt}} [{s['min']:{fmt}}, {s['max']:{fmt}}]".rjust(22)


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        print(ratio_table(json.load(fh)))
