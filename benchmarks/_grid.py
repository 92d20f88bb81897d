"""Benchmark settings: the quick grid by default, the full grid with CHAINORDER_BENCH_FULL=1.

BLAS threads are pinned to ``CHAINORDER_BENCH_THREADS`` (default 1, as in
``chainorder sweep`` and ``chainorder report``; 0 keeps the BLAS default).
"""

from __future__ import annotations

import os

FULL = os.environ.get("CHAINORDER_BENCH_FULL", "") not in ("", "0")
THREADS = int(os.environ.get("CHAINORDER_BENCH_THREADS", "1"))
