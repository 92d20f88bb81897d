"""Sparse Jacobians: jit(co.jacobian(f, sparsity='detect')) beside its dense and sparse peers.

Cases (:data:`CASES`, append-only): a 1-D and a 2-D stencil time stepper (explicit steps
of ``u + dt (Laplacian(u) - u^3)``), a 1-D convolutional network's input Jacobian
(``jax.lax.conv_general_dilated``), and a chain mixing stencil steps with a dense
bottleneck (``stencil -> dense N->b -> dense b->N -> stencil``, ``b`` small).

Peers: ``jit(jax.jacfwd)``, ``jit(jax.jacrev)`` (dense results, beside ours dense), asdex
(its own detection and coloring, BCOO results) and sparsejac given the true pattern (BCOO),
both beside ours with ``sparse_output=True``. asdex and sparsejac are optional:
``pip install 'chainorder[sparse-peers]'``; a missing one is skipped with that message.

Per case, in one process, interleaved (``jax_engine.time_calls``, the
JAX engine's one timing loop): each jitted program's fastest call per block, ``REPEATS``
rounds; per peer the ratios ``time(peer) / time(ours)`` per round with min, median, max.
The first call (trace, detect, color, plan, compile, run) of fresh functions is timed
too, ``FIRST_REPEATS`` rounds: ``first(peer) / first(ours)``. Results are checked against
``jax.jacfwd`` in float64. XLA runs on one thread (``XLA_FLAGS``, set below before JAX is
imported unless already set), BLAS on one; both land in ``extra_info`` with the load.

Run::

    python -m pytest benchmarks/bench_sparse.py --benchmark-only \\
        --benchmark-json=sparse.json -p no:cacheprovider -s
    python benchmarks/bench_sparse.py --table        # the table only, no pytest

Goals (``extra_info['goal_met']``, medians of paired rounds): on the stencil steppers at
least 10x faster than the better of jit(jacfwd)/jit(jacrev) and never slower than asdex;
on the sparse-plus-bottleneck chain at least 3x faster than asdex.
"""

from __future__ import annotations

import os
import sys

from chainorder.hardware import XLA_ONE_THREAD  # noqa: E402  (imports no JAX)

os.environ.setdefault("XLA_FLAGS", XLA_ONE_THREAD)

from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _grid import jax_machine  # noqa: E402

REPEATS = int(os.environ.get("CHAINORDER_BENCH_REPEATS", "9"))
FIRST_REPEATS = 2
BLOCK_SECONDS = 0.05
PEERS_MISSING = "skipped: pip install 'chainorder[sparse-peers]'"
DENSE_PEERS = ("jacfwd", "jacrev")
SPARSE_PEERS = ("asdex", "sparsejac")


# ----------------------------------------------------------------------------- cases


def _lap1(u: Any) -> Any:
    import jax.numpy as jnp

    return jnp.roll(u, 1) - 2 * u + jnp.roll(u, -1)


def _lap2(u: Any) -> Any:
    import jax.numpy as jnp

    v = jnp.pad(u, 1)
    return v[:-2, 1:-1] + v[2:, 1:-1] + v[1:-1, :-2] + v[1:-1, 2:] - 4 * u


def stepper_1d(n: int, steps: int, dt: float = 0.1) -> Callable[[Any], Any]:
    """``steps`` explicit steps of ``u + dt (u'' - u^3)`` on a periodic 1-D grid of ``n``."""
    def f(u: Any) -> Any:
        for _ in range(steps):
            u = u + dt * (_lap1(u) - u**3)
        return u
    return f


def stepper_2d(side: int, steps: int, dt: float = 0.1) -> Callable[[Any], Any]:
    """``steps`` explicit steps of ``u + dt (Δu - u^3)`` on a ``side x side`` grid (zero
    boundary), flattened in and out."""
    def f(x: Any) -> Any:
        u = x.reshape(side, side)
        for _ in range(steps):
            u = u + dt * (_lap2(u) - u**3)
        return u.ravel()
    return f


def conv_net(n: int, channels: int = 8, width: int = 5) -> Callable[[Any], Any]:
    """A 1-D convolutional network (three convolutions, tanh between): signal in, out."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    k = [rng.standard_normal(s) / np.sqrt(np.prod(s[1:]))
         for s in ((channels, 1, width), (channels, channels, width), (1, channels, width))]

    def f(x: Any) -> Any:
        y = x.reshape(1, 1, n)
        for i, w in enumerate(k):
            y = jax.lax.conv_general_dilated(y, jnp.asarray(w, x.dtype), (1,), "SAME")
            y = jnp.tanh(y) if i < 2 else y
        return y.ravel()
    return f


def bottleneck(n: int, b: int, steps: int) -> Callable[[Any], Any]:
    """``steps`` stencil steps, dense ``n -> b``, tanh, dense ``b -> n``, ``steps`` steps."""
    import jax.numpy as jnp

    rng = np.random.default_rng(1)
    down, up = rng.standard_normal((b, n)) / np.sqrt(n), rng.standard_normal((n, b))
    stencil = stepper_1d(n, steps)

    def f(u: Any) -> Any:
        z = jnp.tanh(jnp.asarray(down, u.dtype) @ stencil(u))
        return stencil(jnp.asarray(up, u.dtype) @ z)
    return f


@dataclass(frozen=True)
class Case:
    """One benchmark case: a function of a flat state, its size and the goals it carries."""

    id: str
    build: Callable[[], Callable[[Any], Any]]
    n: int
    goal: str  # 'stencil', 'bottleneck' or '' (reported only)

    def x(self) -> np.ndarray:
        return 0.5 + 0.4 * np.sin(np.linspace(0, 6.0, self.n))


CASES = (
    Case("stencil-1d-n1000-8steps", lambda: stepper_1d(1000, 8), 1000, "stencil"),
    Case("stencil-2d-40x40-3steps", lambda: stepper_2d(40, 3), 1600, "stencil"),
    Case("conv1d-n1000-3layers", lambda: conv_net(1000), 1000, ""),
    Case("stencil-bottleneck-n1000-b4", lambda: bottleneck(1000, 4, 3), 1000, "bottleneck"),
)


# ----------------------------------------------------------------------------- peers


def _true_pattern(f: Any, x: Any) -> Any:
    import jax
    import jax.numpy as jnp

    return np.asarray(jnp.abs(jax.jit(jax.jacfwd(f))(x)) > 0)


def _sparse_peers(f: Any, x: Any, mask: np.ndarray) -> dict[str, Any]:
    """asdex (its own detection) and sparsejac (the true pattern), where installed."""
    import jax
    from jax.experimental import sparse

    out: dict[str, Any] = {}
    try:
        import asdex
    except ImportError:
        out["asdex"] = None
    else:
        out["asdex"] = jax.jit(asdex.jacobian(f, x))
    try:
        import sparsejac
    except ImportError:
        out["sparsejac"] = None
    else:
        from chainorder.algebra.coloring import column_coloring, row_coloring
        from chainorder.algebra.kinds.sparse import SparsityPattern

        p = SparsityPattern.from_mask(mask)
        forward = column_coloring(p).count <= row_coloring(p).count
        bcoo = sparse.BCOO.fromdense(jax.numpy.asarray(mask, jax.numpy.float32))
        make = sparsejac.jacfwd if forward else sparsejac.jacrev
        out["sparsejac"] = jax.jit(make(f, sparsity=bcoo))
    return out


def _programs(f: Any, x: Any, mask: np.ndarray) -> dict[str, Any]:
    """Fresh jitted programs (a new function object: no cache shared with earlier ones)."""
    import jax

    import chainorder as co

    def g(u: Any) -> Any:
        return f(u)

    dense = {"ours": jax.jit(co.jacobian(g, sparsity="detect")),
             "ours-sparse": jax.jit(co.jacobian(g, sparsity="detect", sparse_output=True)),
             "jacfwd": jax.jit(jax.jacfwd(g)), "jacrev": jax.jit(jax.jacrev(g))}
    return {**dense, **_sparse_peers(g, x, mask)}


def _dense(result: Any) -> np.ndarray:
    return np.asarray(result.todense() if hasattr(result, "todense") else result)


# ----------------------------------------------------------------------------- the contest


def _spread(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(float(np.median(values)), 3),
            "max": round(max(values), 3)}


def _first_calls(f: Any, x: Any, mask: np.ndarray) -> dict[str, list[float]]:
    import jax

    from chainorder.timing import per_call

    out: dict[str, list[float]] = {}
    for r in range(FIRST_REPEATS):
        programs = {k: p for k, p in _programs(f, x, mask).items() if p is not None}
        names = list(programs)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t = per_call(lambda p=programs[name]: jax.block_until_ready(p(x)))
            out.setdefault(name, []).append(t)
    return out


def _ratios(times: dict[str, list[float]], ours: str, peer: str) -> dict[str, float]:
    return _spread([p / o for p, o in zip(times[peer], times[ours], strict=True)])


def contest(case: Case) -> dict[str, Any]:
    """Time one case (see the module); every number of the table and the goals."""
    import jax

    import chainorder as co
    from chainorder.ad import jax_engine

    with jax.enable_x64(True):
        f, x = case.build(), jax.numpy.asarray(case.x())
        mask = _true_pattern(f, x)
        first = _first_calls(f, x, mask)
        programs = _programs(f, x, mask)
        live = {k: p for k, p in programs.items() if p is not None}
        want = np.asarray(jax.jacfwd(f)(x))
        errors = {k: float(np.abs(_dense(p(x)) - want).max()) for k, p in live.items()}
        times = jax_engine.time_calls({k: (lambda p=p: p(x)) for k, p in live.items()},
                                      REPEATS, BLOCK_SECONDS)
        plan = co.plan_jacobian(f, x, sparsity="detect")
    pairs = {peer: ("ours" if peer in DENSE_PEERS else "ours-sparse") for peer in live
             if not peer.startswith("ours")}
    ratio = {peer: _ratios(times, ours, peer) for peer, ours in pairs.items()}
    first_ratio = {peer: _spread([p / o for p, o in zip(first[peer], first[ours], strict=True)])
                   for peer, ours in pairs.items()}
    best_dense = min(DENSE_PEERS, key=lambda k: float(np.median(times[k])))
    return {
        "case": case.id, "n": case.n, "nnz": int(mask.sum()), "mode": plan.mode,
        "cut": plan.cut, "schedule": [op.label for op in plan.schedule.ops]
        if plan.schedule else [], "costs": plan.costs,
        "seconds_median": {k: round(float(np.median(v)), 7) for k, v in times.items()},
        "speedup": ratio, "first_call_speedup": first_ratio,
        "better_dense_peer": best_dense, "max_abs_error_vs_jacfwd": errors,
        "skipped": {k: PEERS_MISSING for k, p in programs.items() if p is None},
        "repeats": REPEATS, "goal_met": _goals(case, ratio, best_dense),
    }


def _goals(case: Case, ratio: dict[str, dict[str, float]], best: str) -> dict[str, bool]:
    out: dict[str, bool] = {}
    if case.goal == "stencil":
        out["10x_over_better_of_jacfwd_jacrev"] = ratio[best]["median"] >= 10
        if "asdex" in ratio:
            out["not_slower_than_asdex"] = ratio["asdex"]["median"] >= 1
    if case.goal == "bottleneck" and "asdex" in ratio:
        out["3x_over_asdex"] = ratio["asdex"]["median"] >= 3
    return out



def table_rows(info: dict[str, Any]) -> list[str]:
    """The case's table lines: case, peer, median ratio (min..max), steady and first call."""
    out = []
    for peer, s in info["speedup"].items():
        fc = info["first_call_speedup"][peer]
        ours = "ours" if peer in DENSE_PEERS else "ours-sparse"
        out.append(f"{info['case']:<30} {peer:<10} {ours:<12} {s['median']:>8.2f}x "
                   f"({s['min']:.2f}..{s['max']:.2f})   first call {fc['median']:.2f}x "
                   f"({fc['min']:.2f}..{fc['max']:.2f})")
    for peer, why in info["skipped"].items():
        out.append(f"{info['case']:<30} {peer:<10} {why}")
    return out


# ----------------------------------------------------------------------------- pytest


try:
    import pytest
except ImportError:  # pragma: no cover - the table mode needs no pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None and "--table" not in sys.argv:
    pytest.importorskip("jax")

    @pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
    def test_sparse_jacobian(benchmark: Any, case: Case) -> None:
        from chainorder.hardware import blas_threads

        benchmark.group = "jit(co.jacobian(f, sparsity='detect')) vs dense and sparse peers"
        with blas_threads(1):
            info = benchmark.pedantic(contest, (case,), rounds=1, iterations=1)
            machine = jax_machine()
        benchmark.extra_info.update(info, **machine)
        print("\n" + "\n".join(table_rows(info)) + f"\n  schedule {info['schedule']}; "
              f"goals {info['goal_met']}; max errors {info['max_abs_error_vs_jacfwd']}")
        for peer, why in info["skipped"].items():
            print(f"  {peer} {why}")
        assert max(info["max_abs_error_vs_jacfwd"].values()) <= 1e-10


def main(argv: list[str]) -> int:
    """``--table``: run every case (or those whose id contains an argument) and print."""
    from chainorder.hardware import blas_threads

    wanted = [a for a in argv if not a.startswith("--")]
    print(f"{'case':<30} {'peer':<10} {'ours':<12} {'peer/ours':>9} (min..max)   first call")
    with blas_threads(1):
        for case in CASES:
            if wanted and not any(w in case.id for w in wanted):
                continue
            info = contest(case)
            print("\n".join(table_rows(info)), flush=True)
            print(f"  schedule: {info['schedule']}  goals: {info['goal_met']}", flush=True)
        print(f"machine: {jax_machine()}")
    return 0


if __name__ == "__main__":
    if "--table" not in sys.argv:
        print("usage: python benchmarks/bench_sparse.py --table [case-id-substring ...]")
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
