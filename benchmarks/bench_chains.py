"""Wall time of multiplying real Jacobian chains in each order, beside numpy's multi_dot.

One benchmark group per chain, so ``pytest --benchmark-only`` prints the
orders of one chain side by side; BLAS threads are pinned (``conftest.py``).
Building the Jacobians and planning stay outside the timed call;
``extra_info`` carries dims, order, counted multiplications and FLOPs into
the saved JSON. The quick grid runs by
default; ``CHAINORDER_BENCH_FULL=1`` runs every case of
:data:`chainorder.lab.cases.CASES`.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from _grid import FULL

import chainorder as co
from chainorder.algebra.execute import execute
from chainorder.lab.cases import CASES, Case

ORDERS = ("loss_first", "input_first", "optimal", "numpy.multi_dot")
SELECTED = [c for c in CASES if FULL or c.quick]
#: numpy's multi_dot recurses and runs an O(n^3) Python DP: past this it is not a fair peer.
NUMPY_MAX_MATRICES = 300


@cache
def _chain(case: Case) -> co.Chain:
    return case.build()


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("case", SELECTED, ids=[c.id for c in SELECTED])
def test_product(benchmark, case: Case, order: str) -> None:
    chain = _chain(case)
    mats, dims = chain.matrices, chain.dims
    benchmark.group = f"chain product time, {case.id}"
    if order == "numpy.multi_dot":
        if len(mats) > NUMPY_MAX_MATRICES:
            pytest.skip(f"multi_dot on {len(mats)} matrices: recursion and O(n^3) planning")
        plan = co.optimize(dims)  # numpy's DP finds the same optimal cost
        run = (np.linalg.multi_dot, mats) if len(mats) > 1 else (np.asarray, mats[0])
        result = benchmark(*run)
    else:
        plan = co.plan(dims, order)
        result, _ = benchmark(execute, mats, plan)
    assert np.shape(result) == (dims[0], dims[-1])
    benchmark.extra_info.update(
        case=case.id,
        kind=case.kind,
        dims=list(dims),
        n_matrices=len(mats),
        order=order,
        multiplications=plan.cost,
        flops=plan.flops,
        parenthesization=plan.parenthesization if len(mats) <= 64 else None,
        unit="multiplications: scalar multiplications (p*q*r per product); flops = 2x",
    )
