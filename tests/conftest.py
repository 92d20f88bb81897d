"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(scope="session")
def calibration_dir(tmp_path_factory) -> Path:
    """Where the reports tests build calibrate the time model: a cache of their own, shared by
    them (each thread count is calibrated once), never this machine's."""
    return tmp_path_factory.mktemp("calibration")


@pytest.fixture(scope="session")
def built_report(tmp_path_factory, calibration_dir) -> Path:
    """One real report on :data:`report_helpers.TINY`, with a page appended by a test
    (:data:`report_helpers.EXTRA`); every module that only reads a report reads this one."""
    from report_helpers import EXTRA, TINY

    from chainorder.lab.report import generate_report
    from chainorder.lab.studies import base, load_studies

    out = tmp_path_factory.mktemp("report") / "reports"
    load_studies()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHAINORDER_CACHE_DIR", str(calibration_dir))
        mp.setattr(base, "STUDIES", list(base.STUDIES))
        base.register_study(EXTRA)
        generate_report(out, settings=TINY, progress=False)
    return out
