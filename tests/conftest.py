"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from chainorder.algebra.timemodel import TimeModel, use_machine


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator; every test that draws numbers takes it or seeds its own."""
    return np.random.default_rng(20261128)


@pytest.fixture(autouse=True)
def synthetic_time_model() -> Iterator[TimeModel]:
    """Unit tests never read this machine's calibration: a fixed roofline stands in for it."""
    model = TimeModel.from_rates(peak_gflops=50.0, bandwidth_gbs=20.0, overhead_seconds=1e-6)
    with use_machine(model):
        yield model
