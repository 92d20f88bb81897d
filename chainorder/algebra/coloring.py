"""Coloring of sparsity patterns: seed matrices and decompression of compressed Jacobians.

A **column coloring** of an ``m x n`` pattern gives every column a color so
that two columns sharing a row never share a color; the ``c`` compressed
tangents ``B = J S`` with the seed ``S`` (``n x c``, ``S[j, color[j]] = 1``)
then hold every stored entry of ``J`` exactly once: ``J[i, j] = B[i,
color[j]]``. A **row coloring** is the column coloring of ``Jᵀ``; the ``c``
compressed adjoints ``B = Sᵀ J`` give ``J[i, j] = B[color[i], j]``.

The algorithm: greedy distance-1 coloring of the column-intersection graph
(columns adjacent when they share a row; for rows, rows adjacent when they
share a column), which is the partial distance-2 coloring of the bipartite
graph that Curtis, Powell and Reid (1974) and Gebremedhin, Manne and Pothen
("What color is your Jacobian?", SIAM Review 2005) describe. Vertices are
taken **largest-first** (most neighbors first, ties by index; ColPack's and
asdex's default order), each given the smallest color none of its colored
neighbors has. The order makes the result deterministic; on a banded pattern
whose rows hold ``w`` consecutive columns it uses ``w`` colors, the least
possible. Greedy colorings of periodic bands (stencils with periodic boundaries)
waste up to ``w - 1`` colors at the wrap, so the modular colorings ``j mod k``
(optimal on bands) are tried too, for ``k`` from the lower bound (the most
entries of a row) up to :data:`MODULAR_TRIES` values below the greedy count; the
fewest colors win. A modular coloring that meets the lower bound is optimal, and is
taken without the greedy sweep. No library is used: networkx's ``greedy_color`` is pure Python
over dicts and slow from 10^4 vertices on, and asdex's coloring is an
optional peer of the benchmarks, not a dependency of the core; the graph is
built with :mod:`scipy.sparse` (imported inside the functions) and the greedy
sweep is one pass over numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .kinds.sparse import SparsityPattern

__all__ = ["Coloring", "column_coloring", "row_coloring", "COLORING_MODES", "MODULAR_TRIES"]

#: How many modular colorings ``j mod k`` are tried beside the greedy one.
MODULAR_TRIES = 64

#: What a coloring colors: the columns (compressed tangents) or the rows (adjoints).
COLORING_MODES = ("column", "row")


@dataclass(frozen=True, repr=False, eq=False)
class Coloring:
    """A column or row coloring of a pattern, with its seed and its decompression.

    Attributes
    ----------
    pattern : SparsityPattern
        The ``m x n`` pattern colored.
    mode : {'column', 'row'}
        ``'column'``: ``colors`` has one entry per column (compressed tangents
        ``J S``); ``'row'``: one per row (compressed adjoints ``Sᵀ J``).
    colors : numpy.ndarray
        ``int64`` color of each column (or row), ``0 .. count - 1``.
    count : int
        Number of colors: the compressed tangents (or adjoints) needed.

    Examples
    --------
    >>> p = SparsityPattern.from_mask([[1, 1, 0], [0, 1, 1], [0, 0, 1]])
    >>> c = column_coloring(p)
    >>> c, c.colors.tolist()
    (Coloring('column', 3x3, 2 colors), [0, 1, 0])
    >>> row_coloring(p).count
    2
    """

    pattern: SparsityPattern
    mode: str
    colors: np.ndarray
    count: int

    @property
    def seed_length(self) -> int:
        """Length of one seed vector: ``n`` for a column coloring, ``m`` for a row coloring."""
        return self.pattern.cols if self.mode == "column" else self.pattern.rows

    def seed(self, dtype: Any = np.float64) -> np.ndarray:
        """The seed matrix ``S``, ``seed_length x count``, ``S[v, colors[v]] = 1``."""
        out = np.zeros((self.seed_length, self.count), dtype=dtype)
        out[np.arange(self.seed_length), self.colors] = 1
        return out

    def gather_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Where each stored entry of the pattern sits in the compressed product.

        Returns ``(a, b)``, arrays of length ``nnz`` in CSR order: entry ``k``
        (row ``i``, column ``j``) is ``B[a[k], b[k]]``, with ``B = J S``
        (``m x count``: ``(i, colors[j])``) or ``B = Sᵀ J`` (``count x n``:
        ``(colors[i], j)``).
        """
        rows, cols = self.pattern.row_ids(), self.pattern.indices
        if self.mode == "column":
            return rows, self.colors[cols]
        return self.colors[rows], cols

    def decompress(self, compressed: Any) -> np.ndarray:
        """The stored values (CSR order) of ``J`` read off its compressed product ``B``."""
        b = np.asarray(compressed)
        want = ((self.pattern.rows, self.count) if self.mode == "column"
                else (self.count, self.pattern.cols))
        if b.shape != want:
            raise ValueError(
                f"compressed has shape {b.shape}, expected {want} for a {self.mode} coloring "
                f"of a {self.pattern.rows}x{self.pattern.cols} pattern with {self.count} colors")
        a, c = self.gather_index()
        return b[a, c]

    def to_dense(self, compressed: Any) -> np.ndarray:
        """``J`` as a dense array from its compressed product (zeros off the pattern)."""
        values = self.decompress(compressed)
        out = np.zeros(self.pattern.shape, dtype=values.dtype)
        out[self.pattern.row_ids(), self.pattern.indices] = values
        return out

    def __repr__(self) -> str:
        p = self.pattern
        return f"Coloring({self.mode!r}, {p.rows}x{p.cols}, {self.count} colors)"


def _csr(rows: int, cols: int, indptr: np.ndarray, indices: np.ndarray) -> Any:
    import scipy.sparse as sp

    data = np.ones(indices.size, dtype=np.int64)
    return sp.csr_array((data, indices, indptr), shape=(rows, cols))


def _greedy(indptr: np.ndarray, nbrs: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """Largest-first greedy coloring of the graph whose CSR adjacency is ``indptr, nbrs``."""
    degree = np.diff(indptr)
    order = np.argsort(-degree, kind="stable")  # most neighbors first, ties by index
    colors = np.full(size, -1, dtype=np.int64)
    # mark[c] == v: color c is taken by a neighbor of vertex v
    mark = np.full(int(degree.max(initial=0)) + 2, -1, dtype=np.int64)
    ptr, adj = indptr.tolist(), nbrs.tolist()
    col = colors.tolist()
    for v in order.tolist():
        for u in adj[ptr[v] : ptr[v + 1]]:
            if col[u] >= 0:
                mark[col[u]] = v
        c = 0
        while mark[c] == v:
            c += 1
        col[v] = c
    colors[:] = col
    return colors, int(colors.max(initial=-1)) + 1


def _lower_bound(p: SparsityPattern) -> int:
    """No column coloring has fewer colors than the most entries of a row."""
    return max(int(p.row_counts().max(initial=0)), 1)


def _modular(p: SparsityPattern, count: int) -> np.ndarray | None:
    """The fewest-color valid ``j mod k`` column coloring with ``k < count``, or None."""
    low = _lower_bound(p)
    rows = p.row_ids()
    for k in range(low, min(count, low + MODULAR_TRIES)):
        key = rows * k + p.indices % k  # a clash: two columns of one row share j mod k
        if np.bincount(key, minlength=1).max(initial=0) <= 1:
            return np.arange(p.cols, dtype=np.int64) % k
    return None


def _best(p: SparsityPattern) -> tuple[np.ndarray, int]:
    """The greedy coloring of the columns of ``p``, or a modular one with fewer colors.

    A modular coloring with as many colors as the lower bound is optimal: then the
    greedy sweep (a Python loop over the graph's edges) is not run.
    """
    low = _lower_bound(p)
    optimal = _modular(p, low + 1)
    if optimal is not None:
        return optimal, low
    indptr, nbrs = _intersection_graph(p)
    colors, count = _greedy(indptr, nbrs, p.cols)
    modular = _modular(p, count)
    if modular is not None:
        return modular, int(modular.max()) + 1
    return colors, count


def _intersection_graph(p: SparsityPattern) -> tuple[np.ndarray, np.ndarray]:
    """CSR adjacency (no self loops) of the columns of ``p`` that share a row."""
    a = _csr(p.rows, p.cols, p.indptr, p.indices)
    g = (a.T @ a).tocsr()
    g.setdiag(0)
    g.eliminate_zeros()
    g.sort_indices()
    return np.asarray(g.indptr, dtype=np.int64), np.asarray(g.indices, dtype=np.int64)


def _check_pattern(pattern: Any) -> SparsityPattern:
    if not isinstance(pattern, SparsityPattern):
        raise TypeError(f"pattern must be a SparsityPattern, got {type(pattern).__name__}")
    return pattern


def column_coloring(pattern: SparsityPattern) -> Coloring:
    """Color the columns of ``pattern`` so that columns sharing a row differ (see module).

    Examples
    --------
    >>> band = SparsityPattern.from_mask(np.tri(6, k=1) - np.tri(6, k=-2))  # 3 per row
    >>> column_coloring(band).count
    3
    """
    p = _check_pattern(pattern)
    return Coloring(p, "column", *_best(p))


def row_coloring(pattern: SparsityPattern) -> Coloring:
    """Color the rows of ``pattern`` so that rows sharing a column differ (see module).

    Examples
    --------
    >>> row_coloring(SparsityPattern.from_mask(np.eye(4))).count
    1
    """
    p = _check_pattern(pattern)
    t = _csr(p.rows, p.cols, p.indptr, p.indices).T.tocsr()
    t.sort_indices()
    transposed = SparsityPattern(p.cols, p.rows, t.indptr, t.indices)
    return Coloring(p, "row", *_best(transposed))
