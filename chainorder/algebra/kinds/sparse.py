"""The sparse kind: a CSR matrix whose sparsity pattern planning reads, and its rules.

A factor's :class:`SparsityPattern` (its CSR ``indptr`` and ``indices``, no
values) is what its :class:`~chainorder.algebra.kinds.base.KindSig` carries
in ``params``, so the structured model counts sparse products exactly from
patterns alone. Left ``p x q`` times right ``q x r``, structurally (every
stored entry counts, whatever its value; no numerical cancellation):

* sparse · sparse: ``Σ_k nnz(column k of A) · nnz(row k of B)``, the
  multiplications a row-by-row (Gustavson) product performs; a sparse product
  whose pattern is the boolean product of the two patterns;
* sparse · diagonal and diagonal · sparse: ``nnz``, the pattern unchanged;
* identity · sparse (and sparse · identity, the identity's rule): free;
* sparse · anything else: the other factor written out dense
  (:func:`~chainorder.algebra.kinds.densify_cost`), then ``nnz(A) · r``;
  anything else · sparse: the other written out dense, then ``p · nnz(B)``;
  both dense. A sparse factor inside a Kronecker one keeps the Kronecker
  rules (``L (A ⊗ xᵀ) = (L A) ⊗ xᵀ``).

Why the kind of a product does not depend on its bracketing: a product is
sparse exactly when it holds only sparse, diagonal and identity factors (at
least one sparse), and its pattern is the boolean product of their patterns
(a diagonal's is the identity pattern), which is associative; any other
factor makes it dense, as with the other kinds.

Products run with :mod:`scipy.sparse` (the ``lab`` extra:
``pip install 'chainorder[lab]'``), imported only when a sparse factor is
built or multiplied, so ``import chainorder`` needs numpy alone. A product's
pattern is computed on the patterns (a 0/1 integer product, whose entries
cannot cancel), never read off the numerical product, so an entry that
cancels to zero stays stored.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

import numpy as np

from .base import Kind, KindSig
from .dense import Dense
from .diagonal import Diagonal
from .registry import WILDCARD, PairRule, densify_cost, register_kind

__all__ = ["Sparse", "SparsityPattern"]


def _scipy_sparse() -> Any:
    """:mod:`scipy.sparse`, or an ImportError naming the extra that brings it."""
    try:
        import scipy.sparse
    except ImportError:  # pragma: no cover - scipy is installed where the tests run
        raise ImportError("sparse Jacobians need scipy: pip install 'chainorder[lab]'") from None
    return scipy.sparse


def _frozen(a: Any) -> np.ndarray:
    out = np.array(a, dtype=np.int64)
    out.setflags(write=False)
    return out


class SparsityPattern:
    """Where a ``rows x cols`` matrix may be nonzero, in CSR form: hashable, no values.

    Row ``i`` holds columns ``indices[indptr[i]:indptr[i + 1]]`` (sorted, no
    repeats). Equal patterns hash equally (a digest of the arrays), so a
    pattern can sit in a :class:`~chainorder.algebra.kinds.base.KindSig`.

    Examples
    --------
    >>> p = SparsityPattern.from_mask([[1, 0, 1], [0, 0, 1]])
    >>> p, p.nnz, p.row_counts().tolist(), p.col_counts().tolist()
    (SparsityPattern(2x3, nnz=3), 3, [2, 1], [1, 0, 2])
    """

    __slots__ = ("rows", "cols", "indptr", "indices", "_hash")

    def __init__(self, rows: int, cols: int, indptr: Any, indices: Any) -> None:
        self.rows, self.cols = int(rows), int(cols)
        self.indptr, self.indices = _frozen(indptr), _frozen(indices)
        if self.indptr.shape != (self.rows + 1,) or self.indptr[0] != 0 \
                or self.indptr[-1] != self.indices.size or np.any(np.diff(self.indptr) < 0):
            raise ValueError(f"indptr must rise from 0 to nnz in {self.rows + 1} entries, "
                             f"got {self.indptr.tolist()}")
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= self.cols):
            raise ValueError(f"indices must lie in 0..{self.cols - 1}")
        digest = hashlib.blake2b(digest_size=16)
        for a in (np.array([self.rows, self.cols]), self.indptr, self.indices):
            digest.update(a.tobytes())
        self._hash = hash(digest.digest())

    @classmethod
    def from_mask(cls, mask: Any) -> SparsityPattern:
        """The pattern of the nonzeros of a 2-D array."""
        m = np.asarray(mask) != 0
        if m.ndim != 2:
            raise ValueError(f"mask must be 2-D, got shape {m.shape}")
        rows, cols = np.nonzero(m)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=m.shape[0]))])
        return cls(m.shape[0], m.shape[1], indptr, cols)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)``."""
        return (self.rows, self.cols)

    @property
    def nnz(self) -> int:
        """Stored entries."""
        return int(self.indices.size)

    def row_counts(self) -> np.ndarray:
        """Stored entries of each row."""
        return np.diff(self.indptr)

    def col_counts(self) -> np.ndarray:
        """Stored entries of each column."""
        return np.bincount(self.indices, minlength=self.cols)

    def row_ids(self) -> np.ndarray:
        """The row of each stored entry."""
        return np.repeat(np.arange(self.rows), self.row_counts())

    def to_mask(self) -> np.ndarray:
        """The pattern as a 0/1 ``int64`` array."""
        out = np.zeros(self.shape, dtype=np.int64)
        out[self.row_ids(), self.indices] = 1
        return out

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparsityPattern):
            return NotImplemented
        return (self._hash == other._hash and self.shape == other.shape
                and np.array_equal(self.indptr, other.indptr)
                and np.array_equal(self.indices, other.indices))

    def __repr__(self) -> str:
        return f"SparsityPattern({self.rows}x{self.cols}, nnz={self.nnz})"


def _pattern_csr(p: SparsityPattern) -> Any:
    sp = _scipy_sparse()
    return sp.csr_array((np.ones(p.nnz, dtype=np.int64), p.indices, p.indptr), shape=p.shape)


@lru_cache(maxsize=4096)
def pattern_product(a: SparsityPattern, b: SparsityPattern) -> tuple[int, SparsityPattern]:
    """The structural multiplications of ``A · B`` and the pattern of the product.

    Examples
    --------
    >>> a = SparsityPattern.from_mask([[1, 1], [0, 1]])
    >>> pattern_product(a, a)                   # row 0: 1 + 2, row 1: 1
    (4, SparsityPattern(2x2, nnz=3))
    """
    # Σ_k nnz(col k of A) · nnz(row k of B), in Python ints
    pairs = zip(a.col_counts().tolist(), b.row_counts().tolist(), strict=True)
    count = sum(x * y for x, y in pairs)
    out = _pattern_csr(a) @ _pattern_csr(b)  # positive entries: nothing cancels
    out.sort_indices()
    return count, SparsityPattern(a.rows, b.cols, out.indptr, out.indices)


class Sparse(Kind):
    """A sparse matrix in CSR form: a stencil's, a convolution's or a PDE step's Jacobian.

    Every stored entry belongs to the pattern, a stored zero too; its
    signature carries the :class:`SparsityPattern`. Needs :mod:`scipy`.

    Parameters
    ----------
    matrix : scipy sparse matrix or array_like
        Converted to a float CSR array (duplicates summed, indices sorted);
        a dense array keeps its nonzeros.

    Examples
    --------
    >>> S = Sparse(np.array([[2.0, 0.0], [0.0, 3.0]]))
    >>> S, S.signature
    (Sparse(2x2, nnz=2, 36 bytes), KindSig('sparse', 2x2, (SparsityPattern(2x2, nnz=2),)))
    """

    kind = "sparse"

    def __init__(self, matrix: Any) -> None:
        sp = _scipy_sparse()
        m = sp.csr_array(matrix, dtype=np.float64)
        if m.ndim != 2:
            raise ValueError(f"matrix must be 2-D, got shape {m.shape}")
        m.sum_duplicates()
        m.sort_indices()
        self.m = m
        self.pattern = SparsityPattern(m.shape[0], m.shape[1], m.indptr, m.indices)

    @classmethod
    def _on(cls, pattern: SparsityPattern, data: np.ndarray) -> Sparse:
        """A sparse factor with exactly ``pattern`` (stored zeros kept) and values ``data``."""
        sp = _scipy_sparse()
        return cls(sp.csr_array((data, pattern.indices, pattern.indptr), shape=pattern.shape))

    @property
    def shape(self) -> tuple[int, int]:
        return self.pattern.shape

    @property
    def stored(self) -> tuple[np.ndarray, ...]:
        return (self.m.data, self.m.indices, self.m.indptr)

    @property
    def signature(self) -> KindSig:
        return KindSig(self.kind, *self.shape, params=(self.pattern,))

    def densify(self) -> tuple[np.ndarray, int]:
        return self.m.toarray(), 0  # the entries written into zeros: no multiplication

    @classmethod
    def densify_cost(cls, sig: KindSig) -> int:
        return 0

    @classmethod
    def stored_elements(cls, sig: KindSig) -> int:
        return 2 * _pattern(sig).nnz + sig.rows + 1  # values, column indices, row pointers

    def __repr__(self) -> str:
        return f"Sparse({self._dims()}, nnz={self.pattern.nnz}, {self.nbytes:,} bytes)"


def _pattern(sig: KindSig) -> SparsityPattern:
    if not sig.params or not isinstance(sig.params[0], SparsityPattern):
        raise ValueError(f"{sig!r} has no sparsity pattern; a sparse KindSig carries "
                         "params=(SparsityPattern, ...)")
    return sig.params[0]


def _sig(p: SparsityPattern) -> KindSig:
    return KindSig("sparse", p.rows, p.cols, params=(p,))


def _sparse_sparse_count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
    count, pattern = pattern_product(_pattern(a), _pattern(b))
    return count, _sig(pattern)


def _sparse_sparse(a: Sparse, b: Sparse) -> Sparse:
    pattern = pattern_product(a.pattern, b.pattern)[1]
    numeric = a.m @ b.m  # scipy drops entries that cancel; read the values on the pattern
    numeric.sort_indices()
    got = SparsityPattern(pattern.rows, pattern.cols, numeric.indptr, numeric.indices)
    values = np.zeros(pattern.nnz)
    # entry (i, j) keyed i * cols + j: row-major order, so both key lists are sorted
    want_keys = pattern.row_ids() * pattern.cols + pattern.indices
    got_keys = got.row_ids() * pattern.cols + got.indices
    values[np.searchsorted(want_keys, got_keys)] = numeric.data
    return Sparse._on(pattern, values)


def _sparse_other_count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
    return densify_cost(b) + _pattern(a).nnz * b.cols, KindSig.dense(a.rows, b.cols)


def _sparse_other(a: Sparse, b: Kind) -> Dense:
    return Dense(np.asarray(a.m @ b.densify()[0]))


def _other_sparse_count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
    return densify_cost(a) + a.rows * _pattern(b).nnz, KindSig.dense(a.rows, b.cols)


def _other_sparse(a: Kind, b: Sparse) -> Dense:
    return Dense(np.asarray(b.m.T @ a.densify()[0].T).T)


def _sparse_diagonal(a: Sparse, b: Diagonal) -> Sparse:
    return Sparse._on(a.pattern, a.m.data * b.d[a.pattern.indices])


def _diagonal_sparse(a: Diagonal, b: Sparse) -> Sparse:
    return Sparse._on(b.pattern, a.d[b.pattern.row_ids()] * b.m.data)


register_kind(Sparse, [
    PairRule("sparse", "sparse", _sparse_sparse_count, _sparse_sparse),
    PairRule("sparse", "diagonal", lambda a, b: (_pattern(a).nnz, a), _sparse_diagonal),
    PairRule("diagonal", "sparse", lambda a, b: (_pattern(b).nnz, b), _diagonal_sparse),
    PairRule("identity", "sparse", lambda a, b: (0, b), lambda a, b: b),
    # every other kind, present and future, meets a sparse factor written out dense
    PairRule("sparse", WILDCARD, _sparse_other_count, _sparse_other),
    PairRule(WILDCARD, "sparse", _other_sparse_count, _other_sparse),
])
