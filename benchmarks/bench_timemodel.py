"""Wall time of the time-optimal plan beside the FLOP-optimal one, where the two differ.

One benchmark group per chain: ``optimal`` (fewest multiplications) and
``time_optimal`` (least predicted time under this machine's cached time model,
at the model's margin: it keeps the FLOP optimum unless the predicted gain
passes the model's measured error), with BLAS pinned to
``CHAINORDER_BENCH_THREADS`` threads (default 1) through threadpoolctl.
Chains: the quick grid's cases whose two plans differ, then the random chains
:func:`chainorder.lab.calibrate.differing_chains` ranks highest by predicted
speed-up. Skipped when no model is cached for this machine and thread count
(``chainorder calibrate --threads 1``). Building chains and planning stay
outside the timed call; ``extra_info`` carries multiplications, both predicted
times, the model's roof and the threads, so the saved JSON says what was
predicted beside what ran.

For a verdict that respects noise, compare the two rows' spreads, or run
:func:`chainorder.lab.calibrate.time_vs_flops`, which interleaves the two.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cache
from typing import Any

import numpy as np
import pytest

import chainorder as co
from chainorder.algebra.execute import execute
from chainorder.algebra.timemodel import NotCalibratedError, TimeModel, load_model, use_machine
from chainorder.hardware import blas_threads
from chainorder.lab.calibrate import differing_chains
from chainorder.lab.cases import select_cases

THREADS = int(os.environ.get("CHAINORDER_BENCH_THREADS", "1"))
ORDERS = ("optimal", "time_optimal")
#: Quick-grid cases, then random chains by rank (``rank-0`` predicted to gain most).
SLOTS = [c.id for c in select_cases(quick=True)] + [f"rank-{i}" for i in range(6)]


@pytest.fixture(autouse=True)
def _pinned() -> Iterator[None]:
    with blas_threads(THREADS):
        yield


@cache
def _model() -> TimeModel | None:
    with blas_threads(THREADS):
        try:
            return load_model()
        except NotCalibratedError:
            return None


@cache
def _ranked() -> list[tuple[int, ...]]:
    model = _model()
    return differing_chains(model, count=6) if model is not None else []


@cache
def _chain(slot: str) -> Any:
    if slot.startswith("rank-"):
        ranked = _ranked()
        rank = int(slot.split("-")[1])
        if rank >= len(ranked):
            return None
        d = ranked[rank]
        rng = np.random.default_rng(list(d))
        return co.Chain([rng.standard_normal((a, b)) for a, b in zip(d[:-1], d[1:], strict=True)])
    from chainorder.lab.cases import get_case

    return get_case(slot).build()


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("slot", SLOTS)
def test_time_vs_flop_optimum(benchmark, slot: str, order: str) -> None:
    model = _model()
    if model is None:
        pytest.skip(f"no time model cached for {THREADS} BLAS thread(s); "
                    f"run 'chainorder calibrate --threads {THREADS}'")
    chain = _chain(slot)
    if chain is None:
        pytest.skip(f"{slot}: fewer differing random chains found")
    with use_machine(model):
        plans = {o: co.plan(chain.dims, o) for o in ORDERS}
    for p in plans.values():
        p.machine = model  # predicted seconds under this model, after the block too
    if np.array_equal(plans["optimal"].step_array, plans["time_optimal"].step_array):
        pytest.skip(f"{slot}: the time-optimal plan is the FLOP-optimal one")
    plan = plans[order]
    benchmark.group = f"time vs flops {slot} ({'x'.join(map(str, chain.dims))})"
    result, _ = benchmark(execute, chain.matrices, plan)
    assert np.shape(result) == (chain.dims[0], chain.dims[-1])
    benchmark.extra_info.update(
        case=slot, dims=list(chain.dims), order=order, multiplications=plan.cost,
        flops=plan.flops, parenthesization=plan.parenthesization,
        predicted_seconds=plan.predicted_seconds,
        predicted_seconds_other={o: p.predicted_seconds for o, p in plans.items()},
        model_roof_gflops=model.summary.get("peak_gflops", {}).get("best"),
        model_created=model.meta.get("created"), blas_threads=THREADS,
        unit="multiplications: scalar multiplications (p*q*r per product); flops = 2x",
    )
