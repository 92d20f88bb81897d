"""All parameter gradients of the article's network: chainorder beside a hand-written numpy sweep.

The hand-written reverse sweep uses the same weights, input and target; both
run in one process, interleaved call by call (which goes first alternates),
with BLAS pinned to one thread (threadpoolctl); one ratio per repeat. ``extra_info``
carries the median ratio chainorder / numpy and its spread (quartiles, min,
max), the counted multiplications (structured and dense), the BLAS thread
limit and the load average, so the saved JSON says what was measured and on
what. Run::

    python -m pytest benchmarks/bench_gradients.py --benchmark-only -p no:cacheprovider
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable

import numpy as np
import pytest
from _grid import FULL

import chainorder as co
from chainorder.hardware import blas_threads, thread_pools
from chainorder.timing import fastest_call, interleave, wall

#: Append-only table of cases: id -> (|x|, |z1|, |z3|).
CASES = {"article-1000": (1000, 100, 10), "article-100": (100, 100, 10)}
if FULL:
    CASES["article-10000"] = (10000, 100, 10)
#: The goal: chainorder's structured sweep within this factor of the numpy sweep.
GOAL = 2.0
REPEATS = 41


def numpy_sweep(net: co.Network, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """The article network's gradients by hand: forward pass, then one reverse sweep."""
    (W1, b1), (W2, b2) = (net.layers[0].W, net.layers[0].b), (net.layers[2].W, net.layers[2].b)
    z1 = W1 @ x + b1
    z2 = 1.0 / (1.0 + np.exp(-z1))
    z3 = W2 @ z2 + b2
    g3 = (2.0 / z3.size) * (z3 - y)
    g1 = (g3 @ W2) * (z2 * (1.0 - z2))
    return {"W2": np.outer(g3, z2), "b2": g3, "W1": np.outer(g1, x), "b1": g1, "dx": g1 @ W1}


def _setup(case: str) -> tuple[co.Network, np.ndarray, np.ndarray]:
    x, z1, z3 = CASES[case]
    rng = np.random.default_rng(0)
    return co.article_network(x, z1, z3, seed=0), rng.standard_normal(x), rng.standard_normal(z3)


def interleaved_ratios(
    ours: Callable[[], object], theirs: Callable[[], object], repeats: int, number: int
) -> list[float]:
    """One ratio ``time(ours) / time(theirs)`` per repeat of ``number`` call pairs.

    Within a repeat the two alternate call by call (which goes first
    alternates too: :func:`chainorder.timing.interleave`), so both see the same
    load; each side's time is the median of its calls, so a time slice lost to
    another process on a shared machine does not land on one side only.
    """
    ratios = []
    for _ in range(repeats):
        spent = interleave({"ours": wall(ours), "theirs": wall(theirs)}, rounds=number)
        ratios.append(statistics.median(spent["ours"]) / statistics.median(spent["theirs"]))
    return ratios


def test_numpy_sweep_is_the_same_gradient() -> None:
    net, x, y = _setup("article-100")
    want = numpy_sweep(net, x, y)
    for structure in ("structured", "dense"):
        g = co.loss_first_gradients(net, x, y, cost=structure).by_label()
        for name in ("W1", "b1", "W2", "b2"):
            np.testing.assert_allclose(g[name], want[name], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("structure", ["structured", "dense"])
@pytest.mark.parametrize("case", list(CASES))
def test_gradients_vs_numpy_sweep(benchmark, case: str, structure: str) -> None:
    net, x, y = _setup(case)
    benchmark.group = f"gradients {case}"

    def ours() -> co.Gradients:
        return co.loss_first_gradients(net, x, y, cost=structure)

    def theirs() -> dict[str, np.ndarray]:
        return numpy_sweep(net, x, y)

    with blas_threads(1):
        blas = [(i["internal_api"], i["num_threads"]) for i in thread_pools()
                if i["user_api"] == "blas"]
        once = fastest_call(ours, min_calls=3)
        number = max(5, int(0.05 / max(once, 1e-7)))  # about 50 ms of our calls per repeat
        repeats = REPEATS if structure == "structured" else 9
        ratios = interleaved_ratios(ours, theirs, repeats, number)
        g = benchmark.pedantic(ours, rounds=max(3, repeats // 4), iterations=number)
    q1, median, q3 = statistics.quantiles(ratios, n=4)
    dense = co.loss_first_gradients(net, x, y, cost="dense").multiplications
    benchmark.extra_info.update(
        case=case, dims=list(CASES[case]), structure=structure, order="loss_first",
        ratio_to_numpy_median=median, ratio_q1=q1, ratio_q3=q3,
        ratio_min=min(ratios), ratio_max=max(ratios), repeats=repeats, calls_per_timing=number,
        goal=GOAL, goal_met=bool(median <= GOAL),
        multiplications=g.multiplications, dense_multiplications=dense,
        blas_threads=blas, loadavg=list(os.getloadavg()), cpus=os.cpu_count(),
        unit="multiplications: scalar multiplications (p*q*r per dense product); flops = 2x",
    )
