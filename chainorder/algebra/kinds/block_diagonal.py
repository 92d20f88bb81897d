"""The block-diagonal kind: a mini-batch's Jacobian, one block per example, and its rules.

A batch of ``B`` examples has, for each layer, ``B`` Jacobians of one kind
and shape (a ``diag(σ'(z_i))`` per example for an activation, the shared
``W`` for an affine layer); the batch's Jacobian is their block diagonal
``diag(J_1, ..., J_B)``, so the batch dimension is a kind the optimizer
sees. Its signature carries the block's signature (``inner``) and ``B``
(``params``). Left ``p x q`` times right ``q x r`` (blocks ``p/B x q/B``
and ``q/B x r/B``):

* block_diagonal · block_diagonal (the same ``B``): block by block, ``B``
  times the blocks' own rule, block-diagonal of the blocks' product kind;
* dense · block_diagonal: the ``B`` column slices of the dense factor times
  their blocks, each product written out dense: ``B·(c + densify)``, dense;
  block_diagonal · dense likewise, by row slices;
* diagonal · block_diagonal and block_diagonal · diagonal: the diagonal cut
  into ``B`` pieces, ``B`` times the blocks' rule, block-diagonal;
* identity · block_diagonal: free (and the identity's rule on the right);
* diag_rank_one on either side, and a Kronecker factor on the left: written
  out dense first; ``L (A ⊗ xᵀ)`` on the right keeps the Kronecker form with
  ``A`` multiplied by the block-diagonal factor;
* any other kind (sparse, a kind registered later) on the left: the
  block-diagonal factor written out dense; on the right: the block-diagonal
  factor written out dense, unless that kind's own rule says otherwise;
* two block-diagonal factors whose blocks do not line up: the right one
  written out dense.

Why the product's kind does not depend on its bracketing: block-diagonal
factors with the same blocking and diagonal or identity factors keep it,
the blocks' product kind being bracketing-free; any other factor makes the
product dense, as with the other kinds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import Kind, KindSig
from .dense import Dense, densify_left, densify_right
from .diag_rank_one import DiagonalPlusRankOne  # noqa: F401  (registers before this kind)
from .diagonal import Diagonal
from .identity import Identity  # noqa: F401  (registers before this kind)
from .kronecker import Kronecker  # noqa: F401  (registers before this kind)
from .registry import (
    WILDCARD,
    PairRule,
    densify_cost,
    kind_matmul,
    register_kind,
    stored_elements,
    structured_product,
)

__all__ = ["BlockDiagonal"]


class BlockDiagonal(Kind):
    """``diag(J_1, ..., J_B)``: ``B`` blocks of one kind and shape, one per example of a batch.

    Parameters
    ----------
    blocks : sequence of Kind
        At least one block; all of the same signature (kind and shape).

    Examples
    --------
    >>> J = BlockDiagonal.of_diagonals(np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> J, np.asarray(J).diagonal()
    (BlockDiagonal(2 x Diagonal(2x2): 4x4, 32 bytes), array([1., 2., 3., 4.]))
    """

    kind = "block_diagonal"

    def __init__(self, blocks: Sequence[Kind]) -> None:
        blocks = list(blocks)
        if not blocks or not all(isinstance(b, Kind) for b in blocks):
            raise TypeError(f"blocks must be a non-empty list of Kinds, got {blocks!r}")
        sig = blocks[0].signature
        for i, b in enumerate(blocks):
            if b.signature != sig:
                raise ValueError(f"blocks[{i}] is {b.signature!r} but blocks[0] is {sig!r}; "
                                 "every block of a batch has one kind and shape")
        self.blocks = blocks

    @classmethod
    def of_diagonals(cls, D: Any) -> BlockDiagonal:
        """One ``diag(D[i])`` block per row of ``D`` (``B x n``): an activation on a batch."""
        return cls([Diagonal(d) for d in np.asarray(D, dtype=np.float64)])

    @classmethod
    def repeated(cls, block: Kind, batch: int) -> BlockDiagonal:
        """``batch`` copies of one block (an affine layer's ``W`` on a batch)."""
        return cls([block] * batch)

    @property
    def batch(self) -> int:
        """``B``, the number of blocks."""
        return len(self.blocks)

    @property
    def shape(self) -> tuple[int, int]:
        p, q = self.blocks[0].shape
        return (self.batch * p, self.batch * q)

    @property
    def stored(self) -> tuple[np.ndarray, ...]:
        return tuple(a for b in self.blocks for a in b.stored)

    @property
    def signature(self) -> KindSig:
        return _sig(self.blocks[0].signature, self.batch)

    def densify(self) -> tuple[np.ndarray, int]:
        p, q = self.blocks[0].shape
        out = np.zeros(self.shape)
        count = 0
        for i, b in enumerate(self.blocks):
            block, spent = b.densify()
            out[i * p:(i + 1) * p, i * q:(i + 1) * q] = block
            count += spent
        return out, count

    @classmethod
    def densify_cost(cls, sig: KindSig) -> int:
        return _batch(sig) * densify_cost(_inner(sig))

    @classmethod
    def stored_elements(cls, sig: KindSig) -> int:
        return _batch(sig) * stored_elements(_inner(sig))

    def _label(self) -> str:
        return f"BlockDiagonal({self.batch} x {self.blocks[0]._label()})"

    def __repr__(self) -> str:
        inner = self.blocks[0]._label()
        return f"BlockDiagonal({self.batch} x {inner}: {self._dims()}, {self.nbytes:,} bytes)"


def _sig(inner: KindSig, batch: int) -> KindSig:
    return KindSig("block_diagonal", batch * inner.rows, batch * inner.cols, inner,
                   params=(batch,))


def _inner(sig: KindSig) -> KindSig:
    if sig.inner is None or not sig.params:
        raise ValueError(f"{sig!r} has no block; build it with BlockDiagonal(blocks).signature")
    return sig.inner


def _batch(sig: KindSig) -> int:
    return int(sig.params[0])


def _aligned(a: KindSig, b: KindSig) -> bool:
    return _batch(a) == _batch(b) and _inner(a).cols == _inner(b).rows


# --- block_diagonal · block_diagonal


def _bd_bd_count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
    if not _aligned(a, b):
        cost, out = structured_product(a, KindSig.dense(b.rows, b.cols))
        return densify_cost(b) + cost, out
    cost, inner = structured_product(_inner(a), _inner(b))
    return _batch(a) * cost, _sig(inner, _batch(a))


def _bd_bd(a: BlockDiagonal, b: BlockDiagonal) -> Kind:
    if not _aligned(a.signature, b.signature):
        return kind_matmul(a, Dense(b.densify()[0]))[0]
    return BlockDiagonal([kind_matmul(x, y)[0] for x, y in zip(a.blocks, b.blocks,
                                                                 strict=True)])


# --- dense on either side: slices of the dense factor, each product written out dense


def _dense_bd_count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
    inner = _inner(b)
    cost, out = structured_product(KindSig.dense(a.rows, inner.rows), inner)
    return _batch(b) * (cost + densify_cost(out)), KindSig.dense(a.rows, b.cols)


def _dense_bd(a: Dense, b: BlockDiagonal) -> Dense:
    q = b.blocks[0].shape[0]
    parts = [kind_matmul(Dense(a.a[:, i * q:(i + 1) * q]), blk)[0].densify()[0]
             for i, blk in enumerate(b.blocks)]
    return Dense(np.hstack(parts))


def _bd_dense_count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
    inner = _inner(a)
    cost, out = structured_product(inner, KindSig.dense(inner.cols, b.cols))
    return _batch(a) * (cost + densify_cost(out)), KindSig.dense(a.rows, b.cols)


def _bd_dense(a: BlockDiagonal, b: Dense) -> Dense:
    q = a.blocks[0].shape[1]
    parts = [kind_matmul(blk, Dense(b.a[i * q:(i + 1) * q]))[0].densify()[0]
             for i, blk in enumerate(a.blocks)]
    return Dense(np.vstack(parts))


# --- a diagonal on either side: cut into B pieces


def _diag_bd_count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
    cost, inner = structured_product(KindSig.diagonal(_inner(b).rows), _inner(b))
    return _batch(b) * cost, _sig(inner, _batch(b))


def _diag_bd(a: Diagonal, b: BlockDiagonal) -> BlockDiagonal:
    q = b.blocks[0].shape[0]
    return BlockDiagonal([kind_matmul(Diagonal(a.d[i * q:(i + 1) * q]), blk)[0]
                          for i, blk in enumerate(b.blocks)])


def _bd_diag_count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
    cost, inner = structured_product(_inner(a), KindSig.diagonal(_inner(a).cols))
    return _batch(a) * cost, _sig(inner, _batch(a))


def _bd_diag(a: BlockDiagonal, b: Diagonal) -> BlockDiagonal:
    q = a.blocks[0].shape[1]
    return BlockDiagonal([kind_matmul(blk, Diagonal(b.d[i * q:(i + 1) * q]))[0]
                          for i, blk in enumerate(a.blocks)])


register_kind(BlockDiagonal, [
    PairRule("block_diagonal", "block_diagonal", _bd_bd_count, _bd_bd),
    PairRule("dense", "block_diagonal", _dense_bd_count, _dense_bd),
    PairRule("block_diagonal", "dense", _bd_dense_count, _bd_dense),
    PairRule("diagonal", "block_diagonal", _diag_bd_count, _diag_bd),
    PairRule("block_diagonal", "diagonal", _bd_diag_count, _bd_diag),
    PairRule("identity", "block_diagonal", lambda a, b: (0, b), lambda a, b: b),
    densify_left("diag_rank_one", "block_diagonal"),
    densify_left("kronecker", "block_diagonal"),
    # every other kind, present and future: the block-diagonal factor written out dense
    densify_right("block_diagonal", WILDCARD),
    densify_right(WILDCARD, "block_diagonal"),
])
