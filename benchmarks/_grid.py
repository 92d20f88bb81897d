"""Benchmark settings: the quick grid by default, the full grid with CHAINORDER_BENCH_FULL=1;
and what a JAX benchmark records of the machine it ran on.

BLAS threads are pinned to ``CHAINORDER_BENCH_THREADS`` (default 1, as in
``chainorder sweep`` and ``chainorder report``; 0 keeps the BLAS default).
"""

from __future__ import annotations

import os

FULL = os.environ.get("CHAINORDER_BENCH_FULL", "") not in ("", "0")
THREADS = int(os.environ.get("CHAINORDER_BENCH_THREADS", "1"))


def jax_machine() -> dict[str, object]:
    """XLA flags, BLAS threads, load, cores and JAX's version: a JAX benchmark's extra_info."""
    import jax

    from chainorder.hardware import thread_pools

    blas = [{k: d.get(k) for k in ("internal_api", "num_threads")}
            for d in thread_pools() if d.get("user_api") == "blas"]
    return {"xla_flags": os.environ.get("XLA_FLAGS", ""), "blas_threads": blas,
            "loadavg": [round(v, 2) for v in os.getloadavg()], "cpu_count": os.cpu_count(),
            "jax": jax.__version__}
