"""Planning time of chain-order optimizers: chainorder's beside numpy, opt_einsum and cotengra.

Three tables, one benchmark group per chain length:

- ``test_optimize_vs_numpy``: ``chainorder.optimize`` against numpy's
  ``_multi_dot_matrix_chain_order`` (the DP inside ``multi_dot``) on random
  chains of 100 and 200 matrices (400 too with ``CHAINORDER_BENCH_FULL=1``),
  asserting the same optimal cost.
- ``test_optimizer``: every method of
  :data:`chainorder.lab.studies.optimizer_speed.METHODS` on chains of 10 to
  10,000 matrices (up to 10**6 with ``CHAINORDER_BENCH_FULL=1``); a method past
  its size limit is skipped with the reason. By default the peers' smaller
  quick limits apply.
- ``test_optimize_at_scale``: ``chainorder.optimize`` on 10**5 matrices
  (10**6 too with ``CHAINORDER_BENCH_FULL=1``).

Chains (dims uniform in 1..1000, seeded) and each method's input are built
outside the timed call. A method that stays slower than half a second over
two untimed runs (the first may compile numba kernels) is timed for one
round; faster ones are calibrated by pytest-benchmark. ``extra_info``
carries n, the method, its cost (scalar multiplications, exact) and its
ratio to the optimum.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pytest
from _grid import FULL

import chainorder as co
from chainorder.lab.studies.optimizer_speed import METHODS, Method, study_dims
from chainorder.timing import per_call

NUMPY_NS = (100, 200) + ((400,) if FULL else ())
NS = (10, 100, 1000, 10_000) + ((100_000, 1_000_000) if FULL else ())
SCALE_NS = (100_000,) + ((1_000_000,) if FULL else ())
#: Runs slower than this get one timed round instead of pytest-benchmark's calibration.
SLOW_S = 0.5
UNIT = "cost: scalar multiplications (p*q*r per product)"


@cache
def _dims(n: int) -> tuple[int, ...]:
    return study_dims(n, seed=0)


@cache
def _optimum(n: int) -> int:
    return co.optimize(_dims(n)).cost


def _timed(benchmark, fn: Callable[..., Any], *args: Any) -> Any:
    """Benchmark ``fn(*args)``: calibrated if it is fast, one round if two untimed runs are slow."""
    for _ in range(2):  # the first run may compile a numba kernel or fill a cache
        if per_call(fn, *args) <= SLOW_S:
            return benchmark(fn, *args)
    return benchmark.pedantic(fn, args=args, rounds=1, iterations=1)


NUMPY_SIDE = ("chainorder.optimize", "numpy._multi_dot_matrix_chain_order")


@pytest.mark.parametrize("optimizer", NUMPY_SIDE)
@pytest.mark.parametrize("n", NUMPY_NS)
def test_optimize_vs_numpy(benchmark, n: int, optimizer: str) -> None:
    dims = _dims(n)
    benchmark.group = f"exact order: chainorder vs numpy DP, {n} matrices"
    if optimizer == "chainorder.optimize":
        cost = benchmark(co.optimize, dims).cost
    else:
        numpy = METHODS["numpy.multi_dot"]
        order, shapes = numpy.setup(dims)
        rounds = 3 if n <= 100 else 1  # tens of seconds at 400 matrices
        split = benchmark.pedantic(order, args=(shapes,), rounds=rounds, iterations=1)
        cost = numpy.cost(dims, split)[0]
    assert cost == _optimum(n)
    benchmark.extra_info.update(n=n, method=optimizer, cost=cost, optimum=_optimum(n), ratio=1.0,
                                unit=UNIT)


@pytest.mark.parametrize("name", list(METHODS))
@pytest.mark.parametrize("n", NS)
def test_optimizer(benchmark, n: int, name: str) -> None:
    method: Method = METHODS[name]
    limit = method.max_n if FULL else method.quick_max_n
    if n > limit:
        pytest.skip(f"{name}: n > {limit:,} ({method.why_limited or 'time'})")
    if method.library != "chainorder":
        pytest.importorskip(method.library)
    dims = _dims(n)
    args = method.setup(dims)
    benchmark.group = f"planning time, every optimizer, {n:,} matrices"
    raw = _timed(benchmark, method.solve, *args)
    cost = method.cost(dims, raw)[0]
    optimum = _optimum(n)
    assert cost >= optimum
    benchmark.extra_info.update(n=n, method=name, library=method.library, cost=cost,
                                optimum=optimum, ratio=cost / optimum, unit=UNIT)


def test_chains_are_seeded() -> None:
    assert _dims(10) == study_dims(10, seed=0)
    assert np.all(np.array(_dims(100)) >= 1)


@pytest.mark.parametrize("n", SCALE_NS)
def test_optimize_at_scale(benchmark, n: int) -> None:
    """``co.optimize`` (exact, with its bracketing) on a plain list of 10^5 (10^6) dims."""
    dims = list(_dims(n))  # a plain list of ints, as a user passes it
    benchmark.group = f"co.optimize at scale, {n:,} matrices"
    plan = _timed(benchmark, co.optimize, dims)
    assert plan.cost == _optimum(n) and len(plan.step_array) == n - 1
    benchmark.extra_info.update(n=n, method="chainorder.optimize", cost=plan.cost,
                                largest_intermediate=plan.largest_intermediate, unit=UNIT)
