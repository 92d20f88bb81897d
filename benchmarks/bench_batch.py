"""Mini-batch gradients of the article's network: chainorder beside numpy by hand and JAX.

For each batch size ``B`` (1 to 256) and case, the loss-first gradients of
the mean loss of ``X`` (``B x |x|``) run three ways, ours interleaved call by call
with each peer in turn, in one process (:func:`chainorder.timing.interleave`, which
goes first alternates), BLAS pinned to one thread (and XLA to one, unless ``XLA_FLAGS``
says otherwise): chainorder's batched sweep, a hand-written batched numpy
sweep and ``jit(jax.grad)`` of the mean loss (float64). One ratio per repeat,
each side's time the median of its calls; ``extra_info`` carries the median
ratios to the hand sweep and to JAX, their spreads (quartiles, min, max), the
counted multiplications (structured and dense), the BLAS threads and the
load. Run::

    python -m pytest benchmarks/bench_batch.py --benchmark-only -p no:cacheprovider
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable

from chainorder.hardware import XLA_ONE_THREAD  # noqa: E402  (imports no JAX)

os.environ.setdefault("XLA_FLAGS", XLA_ONE_THREAD)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from _grid import FULL  # noqa: E402

import chainorder as co  # noqa: E402
from chainorder.hardware import blas_threads, thread_pools  # noqa: E402
from chainorder.timing import fastest_call, interleave, wall  # noqa: E402

#: Append-only table of cases: id -> (|x|, |z1|, |z3|).
CASES = {"article-1000": (1000, 100, 10), "article-100": (100, 100, 10)}
#: Append-only table of batch sizes.
BATCHES = [1, 4, 16, 64, 256]
if FULL:
    BATCHES += [2, 8, 32, 128]
#: The goal: chainorder's batched sweep within this factor of the hand-written one.
GOAL = 1.5
REPEATS = 21


def numpy_sweep(net: co.Network, X: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
    """The mean loss's gradients by hand: a batched forward pass, then one reverse sweep."""
    (W1, b1), (W2, b2) = (net.layers[0].W, net.layers[0].b), (net.layers[2].W, net.layers[2].b)
    Z1 = X @ W1.T + b1
    Z2 = 1.0 / (1.0 + np.exp(-Z1))
    Z3 = Z2 @ W2.T + b2
    G3 = (2.0 / (Z3.shape[1] * X.shape[0])) * (Z3 - Y)
    G1 = (G3 @ W2) * (Z2 * (1.0 - Z2))
    return {"W2": G3.T @ Z2, "b2": G3.sum(axis=0), "W1": G1.T @ X, "b1": G1.sum(axis=0),
            "dx": G1 @ W1}


def jax_grad(net: co.Network) -> Callable[..., object]:
    """``jit(jax.grad)`` of the mean loss in the four parameters (call under x64)."""
    import jax
    import jax.numpy as jnp

    def mean_loss(params: tuple, X: object, Y: object) -> object:
        W1, b1, W2, b2 = params
        Z3 = jax.nn.sigmoid(X @ W1.T + b1) @ W2.T + b2
        return jnp.mean((Z3 - Y) ** 2)

    return jax.jit(jax.grad(mean_loss))


def _setup(case: str, B: int) -> tuple[co.Network, np.ndarray, np.ndarray]:
    x, z1, z3 = CASES[case]
    rng = np.random.default_rng(B)
    X, Y = rng.standard_normal((B, x)), rng.standard_normal((B, z3))
    return co.article_network(x, z1, z3, seed=0), X, Y


def test_hand_sweep_and_jax_are_the_same_gradient() -> None:
    jax = pytest.importorskip("jax")
    net, X, Y = _setup("article-100", 16)
    want = co.loss_first_gradients(net, X, Y).by_label()
    for name, g in numpy_sweep(net, X, Y).items():
        np.testing.assert_allclose(g, want[name] if name != "dx" else
                                   co.loss_first_gradients(net, X, Y).dx, rtol=1e-10)
    with jax.enable_x64(True):
        params = tuple(a for _, _, a in net.parameters())
        got = jax_grad(net)(params, X, Y)
        for name, g in zip(("W1", "b1", "W2", "b2"), got, strict=True):
            np.testing.assert_allclose(np.asarray(g), want[name], rtol=1e-10)


def _ratios(sides: dict[str, Callable[[], object]], repeats: int, number: int
            ) -> dict[str, list[float]]:
    """Per repeat, ``time(ours) / time(side)`` for every other side, interleaved in pairs.

    Each pair alternates call by call, so each ratio is of two sides timed side by side,
    neither one sharing its rounds with the third side's caches.
    """
    out: dict[str, list[float]] = {k: [] for k in sides if k != "ours"}
    for _ in range(repeats):
        for k in out:
            spent = interleave({"ours": wall(sides["ours"]), k: wall(sides[k])},
                               rounds=number)
            out[k].append(statistics.median(spent["ours"]) / statistics.median(spent[k]))
    return out


def _spread(name: str, ratios: list[float]) -> dict[str, float]:
    q1, median, q3 = statistics.quantiles(ratios, n=4)
    return {f"ratio_to_{name}_median": median, f"ratio_to_{name}_q1": q1,
            f"ratio_to_{name}_q3": q3, f"ratio_to_{name}_min": min(ratios),
            f"ratio_to_{name}_max": max(ratios)}


@pytest.mark.parametrize("B", BATCHES)
@pytest.mark.parametrize("case", list(CASES))
def test_batch_gradients_vs_hand_sweep_and_jax(benchmark, case: str, B: int) -> None:
    jax = pytest.importorskip("jax")
    net, X, Y = _setup(case, B)
    benchmark.group = f"batch gradients {case}"
    with jax.enable_x64(True), blas_threads(1):
        grad = jax_grad(net)
        params = tuple(jax.numpy.asarray(a) for _, _, a in net.parameters())
        Xj, Yj = jax.numpy.asarray(X), jax.numpy.asarray(Y)
        sides: dict[str, Callable[[], object]] = {
            "ours": lambda: co.loss_first_gradients(net, X, Y),
            "numpy": lambda: numpy_sweep(net, X, Y),
            "jax": lambda: jax.block_until_ready(grad(params, Xj, Yj)),
        }
        sides["jax"]()  # compile outside the timing
        blas = [(i["internal_api"], i["num_threads"]) for i in thread_pools()
                if i["user_api"] == "blas"]
        once = fastest_call(sides["ours"], min_calls=3)
        number = max(5, int(0.03 / max(once, 1e-7)))  # about 30 ms of our calls per repeat
        ratios = _ratios(sides, REPEATS, number)
        g = benchmark.pedantic(sides["ours"], rounds=5, iterations=number)
    median = statistics.median(ratios["numpy"])
    benchmark.extra_info.update(
        case=case, dims=list(CASES[case]), batch=B, order="loss_first",
        **_spread("numpy", ratios["numpy"]), **_spread("jax", ratios["jax"]),
        repeats=REPEATS, calls_per_timing=number, goal=GOAL, goal_met=bool(median <= GOAL),
        multiplications=g.multiplications,
        dense_multiplications=co.loss_first_gradients(net, X, Y, cost="dense").multiplications,
        blas_threads=blas, xla_flags=os.environ.get("XLA_FLAGS", ""),
        loadavg=list(os.getloadavg()), cpus=os.cpu_count(),
        unit="multiplications: scalar multiplications (p*q*r per dense product); flops = 2x",
    )
