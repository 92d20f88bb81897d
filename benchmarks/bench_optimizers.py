"""Planning time of chain-order optimizers: chainorder's beside numpy, opt_einsum and cotengra.

Two tables, one benchmark group per chain length:

- ``test_optimize_vs_numpy``: ``chainorder.optimize`` against numpy's
  ``_multi_dot_matrix_chain_order`` (the DP inside ``multi_dot``) on random
  chains of 100, 200 and 400 matrices, asserting the same optimal cost.
- ``test_optimizer``: every method of :data:`chainorder.lab.optimizer_study.METHODS`
  on chains of 10 to 100,000 matrices (10**6 too with
  ``CHAINORDER_BENCH_FULL=1``); a method past its size limit is skipped with
  the reason. By default the peers' smaller quick limits apply.

Chains (dims uniform in 1..1000, seeded) and each method's input are built
outside the timed call. A method that stays slower than half a second over
two untimed runs (the first may compile numba kernels) is timed for one
round; faster ones are calibrated by pytest-benchmark. ``extra_info`` carries n, the method, its
cost (scalar multiplications, exact) and its ratio to the optimum.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pytest
from _grid import FULL

import chainorder as co
from chainorder.lab.optimizer_study import METHODS, Method, study_dims

NUMPY_NS = (100, 200, 400)
NS = (10, 100, 1000, 10_000, 100_000) + ((1_000_000,) if FULL else ())
#: Runs slower than this get one timed round instead of pytest-benchmark's calibration.
SLOW_S = 0.5


@cache
def _dims(n: int) -> tuple[int, ...]:
    return study_dims(n, seed=0)


@cache
def _optimum(n: int) -> int:
    return co.optimize(_dims(n)).cost


def _numpy_order() -> Callable[..., Any]:
    try:
        from numpy.linalg._linalg import _multi_dot_matrix_chain_order
    except ImportError:  # numpy < 2
        from numpy.linalg.linalg import _multi_dot_matrix_chain_order
    return _multi_dot_matrix_chain_order


class _Shape:
    """What numpy's chain-order DP reads of an array: its ``shape``."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape


def _timed(benchmark, fn: Callable[..., Any], *args: Any) -> Any:
    """Benchmark ``fn(*args)``: calibrated if it is fast, one round if two untimed runs are slow."""
    for _ in range(2):  # the first run may compile a numba kernel or fill a cache
        t0 = time.perf_counter()
        fn(*args)
        if time.perf_counter() - t0 <= SLOW_S:
            return benchmark(fn, *args)
    return benchmark.pedantic(fn, args=args, rounds=1, iterations=1)


NUMPY_SIDE = ("chainorder.optimize", "numpy._multi_dot_matrix_chain_order")


@pytest.mark.parametrize("optimizer", NUMPY_SIDE)
@pytest.mark.parametrize("n", NUMPY_NS)
def test_optimize_vs_numpy(benchmark, n: int, optimizer: str) -> None:
    dims = _dims(n)
    benchmark.group = f"issue 2: optimal order, {n} matrices"
    if optimizer == "chainorder.optimize":
        plan = benchmark(co.optimize, dims)
        cost = plan.cost
    else:
        shapes = [_Shape((dims[m], dims[m + 1])) for m in range(n)]
        rounds = 3 if n <= 100 else 1  # tens of seconds at 400 matrices
        split = benchmark.pedantic(_numpy_order(), args=(shapes,), rounds=rounds, iterations=1)
        cost = METHODS["numpy.multi_dot"].cost(dims, split)[0]
    assert cost == _optimum(n)
    benchmark.extra_info.update(n=n, method=optimizer, cost=cost, optimum=_optimum(n), ratio=1.0,
                                unit="cost: scalar multiplications (p*q*r per product)")


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
    benchmark.group = f"issue 4: optimizers, {n:,} matrices"
    raw = _timed(benchmark, method.solve, *args)
    cost = method.cost(dims, raw)[0]
    optimum = _optimum(n)
    assert cost >= optimum
    benchmark.extra_info.update(n=n, method=name, library=method.library, cost=cost,
                                optimum=optimum, ratio=cost / optimum,
                                unit="cost: scalar multiplications (p*q*r per product)")


def test_chains_are_seeded() -> None:
    assert _dims(10) == study_dims(10, seed=0)
    assert np.all(np.array(_dims(100)) >= 1)


@pytest.mark.parametrize("n", (100_000, 1_000_000))
def test_optimize_at_scale(benchmark, n: int) -> None:
    """Issue 4's goal: ``co.optimize`` (exact, with its bracketing) on 10^5 and 10^6 matrices."""
    dims = list(_dims(n))  # a plain list of ints, as a user passes it
    benchmark.group = f"issue 4: co.optimize at scale, {n:,} matrices"
    plan = _timed(benchmark, co.optimize, dims)
    assert plan.cost == _optimum(n) and len(plan.step_array) == n - 1
    benchmark.extra_info.update(n=n, method="chainorder.optimize", cost=plan.cost,
                                largest_intermediate=plan.largest_intermediate,
                                unit="cost: scalar multiplications (p*q*r per product)")
