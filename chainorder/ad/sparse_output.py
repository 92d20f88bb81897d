"""Sparsity arguments in, sparse Jacobians out: user patterns checked, BCOO results built."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..algebra.kinds.sparse import SparsityPattern

__all__ = ["as_bcoo", "to_pattern"]


def to_pattern(sparsity: Any) -> SparsityPattern:
    """A user's ``sparsity`` (SparsityPattern, 2-D array, scipy.sparse matrix) as a pattern.

    Examples
    --------
    >>> to_pattern(np.eye(2, dtype=bool))
    SparsityPattern(2x2, nnz=2)
    """
    if isinstance(sparsity, SparsityPattern):
        return sparsity
    if hasattr(sparsity, "tocsr") and hasattr(sparsity, "nnz"):
        csr = sparsity.tocsr().copy()
        csr.sum_duplicates()
        csr.sort_indices()
        if csr.ndim != 2:
            raise ValueError(f"sparsity must be 2-D (outputs x inputs), got shape {csr.shape}")
        return SparsityPattern(csr.shape[0], csr.shape[1], csr.indptr, csr.indices)
    if isinstance(sparsity, (np.ndarray, list, tuple)):
        mask = np.asarray(sparsity)
        if mask.ndim != 2 or not (mask.dtype == bool or np.issubdtype(mask.dtype, np.number)):
            raise ValueError(
                f"sparsity as an array must be 2-D bool or 0/1 (outputs x inputs, each "
                f"flattened), got shape {mask.shape} dtype {mask.dtype}")
        return SparsityPattern.from_mask(mask)
    raise TypeError(
        "sparsity must be None, 'detect', a SparsityPattern, a 2-D bool array or a "
        f"scipy.sparse matrix, got {type(sparsity).__name__}")


def as_bcoo(out: Any, pattern: SparsityPattern | None, layout: Any,
            values: bool = False) -> Any:
    """The dense Jacobian ``out`` (``jax.jacfwd``'s shape) as a BCOO on ``pattern``.

    ``values=True``: ``out`` already holds the values on ``pattern`` (CSR order).
    ``pattern`` None stores every entry. One differentiated array and one output array only.
    """
    import jax.numpy as jnp
    from jax.experimental import sparse

    aux = None
    if layout.has_aux:
        out, aux = out
    if len(layout.out_shapes) != 1 or len(layout.in_shapes) != 1:
        raise ValueError(
            "sparse_output=True needs f to take one differentiated array and return one "
            f"array; got {len(layout.in_shapes)} inputs and {len(layout.out_shapes)} outputs")
    oshape, ishape = tuple(layout.out_shapes[0]), tuple(layout.in_shapes[0])
    m, n = math.prod(oshape), math.prod(ishape)
    if pattern is None:
        pattern = SparsityPattern.from_mask(np.ones((m, n), dtype=bool))
    rows, cols = pattern.row_ids(), pattern.indices
    where = [np.stack(np.unravel_index(r, s), axis=1).reshape(-1, len(s))
             for r, s in ((rows, oshape), (cols, ishape))]
    index = jnp.asarray(np.concatenate(where, axis=1).astype(np.int32))
    data = out if values else out.reshape(m, n)[rows, cols]
    jac = sparse.BCOO((data, index), shape=oshape + ishape, indices_sorted=True,
                      unique_indices=True)
    return (jac, aux) if layout.has_aux else jac
