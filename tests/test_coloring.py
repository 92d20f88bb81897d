"""Column and row colorings: valid on random patterns, exact decompression, known counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainorder.algebra.coloring import Coloring, column_coloring, row_coloring
from chainorder.algebra.kinds.sparse import SparsityPattern


def _random_mask(seed: int, m: int, n: int, density: float) -> np.ndarray:
    return (np.random.default_rng(seed).random((m, n)) < density).astype(int)


def _valid(c: Coloring) -> bool:
    """No two columns (rows) of one color share a row (column)."""
    mask = c.pattern.to_mask() if c.mode == "column" else c.pattern.to_mask().T
    for color in range(c.count):
        if np.any(mask[:, c.colors == color].sum(axis=1) > 1):
            return False
    return True


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.integers(1, 30),
       st.floats(0.0, 0.6))
def test_colorings_are_valid_and_decompress_exactly(seed: int, m: int, n: int, d: float) -> None:
    mask = _random_mask(seed, m, n, d)
    p = SparsityPattern.from_mask(mask)
    values = np.random.default_rng(seed + 1).standard_normal((m, n)) * mask
    for c in (column_coloring(p), row_coloring(p)):
        assert _valid(c)
        assert isinstance(c.count, int) and 0 <= c.count <= (n if c.mode == "column" else m)
        assert set(c.colors.tolist()) == set(range(c.count))
        seed_matrix = c.seed()
        compressed = values @ seed_matrix if c.mode == "column" else seed_matrix.T @ values
        np.testing.assert_array_equal(c.to_dense(compressed), values)


@pytest.mark.parametrize("w", [1, 2, 3, 5, 8])
def test_banded_pattern_of_bandwidth_w_needs_w_colors(w: int) -> None:
    n = 40
    mask = np.zeros((n, n + w - 1), dtype=int)
    for i in range(n):
        mask[i, i : i + w] = 1
    p = SparsityPattern.from_mask(mask)
    assert column_coloring(p).count == w
    assert row_coloring(SparsityPattern.from_mask(mask.T)).count == w


def test_dense_row_and_column_counts() -> None:
    # a diagonal plus a dense first row: columns all meet in row 0; rows meet only via column j
    n = 10
    mask = np.eye(n, dtype=int)
    mask[0] = 1
    p = SparsityPattern.from_mask(mask)
    assert column_coloring(p).count == n
    assert row_coloring(p).count == 2


def test_deterministic_and_empty() -> None:
    p = SparsityPattern.from_mask(_random_mask(7, 50, 60, 0.1))
    assert column_coloring(p).colors.tolist() == column_coloring(p).colors.tolist()
    empty = SparsityPattern.from_mask(np.zeros((3, 4)))
    # one color: nothing clashes
    assert column_coloring(empty).count == 1 and row_coloring(empty).count == 1


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="pattern must be a SparsityPattern"):
        column_coloring(np.eye(3))  # type: ignore[arg-type]
    c = column_coloring(SparsityPattern.from_mask(np.eye(3)))
    with pytest.raises(ValueError, match="compressed has shape"):
        c.decompress(np.zeros((2, 2)))


@pytest.mark.parametrize("n, half", [(1000, 8), (40, 3), (12, 1)])
def test_periodic_band_takes_a_modular_coloring(n: int, half: int) -> None:
    # rows i hold columns i-half..i+half mod n; greedy wastes colors at the wrap, j mod k not
    mask = np.zeros((n, n), dtype=int)
    for i in range(n):
        mask[i, (i + np.arange(-half, half + 1)) % n] = 1
    p = SparsityPattern.from_mask(mask)
    w = 2 * half + 1
    best = next(k for k in range(w, n + 1) if n % k == 0 or n % k >= w)  # fewest j mod k
    for c in (column_coloring(p), row_coloring(p)):
        assert _valid(c) and c.count <= best
