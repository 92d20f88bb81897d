"""Shared fixtures."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator; every test that draws numbers takes it or seeds its own."""
    return np.random.default_rng(20261128)
