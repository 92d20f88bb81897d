"""Benchmark settings: the quick grid by default, the full grid with CHAINORDER_BENCH_FULL=1."""

from __future__ import annotations

import os

FULL = os.environ.get("CHAINORDER_BENCH_FULL", "") not in ("", "0")
