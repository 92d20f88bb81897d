"""Every benchmark runs with BLAS threads pinned as in sweeps, and the JSON records the pinning."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _grid import FULL, THREADS

from chainorder.hardware import blas_threads
from chainorder.lab.machine import blas_libraries


@pytest.fixture(autouse=True, scope="session")
def pinned_blas_threads() -> Iterator[int]:
    """BLAS limited to :data:`_grid.THREADS` threads for the whole benchmark session."""
    with blas_threads(THREADS):
        yield THREADS


def pytest_benchmark_update_machine_info(config: Any, machine_info: dict[str, Any]) -> None:
    """Add the BLAS libraries (threadpoolctl) and the pinned thread count to ``machine_info``."""
    with blas_threads(THREADS):
        machine_info["threadpoolctl"] = blas_libraries()
    machine_info["chainorder_blas_threads"] = THREADS or "BLAS default"
    machine_info["chainorder_grid"] = "full" if FULL else "quick"
