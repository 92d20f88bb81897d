"""Seeded chains shared by the test modules."""

from __future__ import annotations

import numpy as np


def random_dims(rng: np.random.Generator, n: int, high: int = 30) -> list[int]:
    """Random chain dims p0..pn in 1..high."""
    return [int(d) for d in rng.integers(1, high + 1, size=n + 1)]


def random_chain(rng: np.random.Generator, dims: list[int]) -> list[np.ndarray]:
    """Matrices of the given dims, scaled so long products stay near unit size."""
    return [
        rng.standard_normal((p, q)) / np.sqrt(q) for p, q in zip(dims[:-1], dims[1:], strict=True)
    ]
