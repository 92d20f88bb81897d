"""The replicate kind: the Jacobian of sharing parameters across a batch, and its rules.

A mini-batch's ``B`` examples share one parameter vector ``θ`` (``n``
entries): the batch's chain for ``dl/dθ`` ends in the Jacobian of
``θ -> (θ, ..., θ)`` (``B`` copies), the ``B·n x n`` stack of ``B``
identities, so the block-diagonal factors before it see one private copy of
``θ`` per example. Multiplying by it performs no multiplication: on the
right it sums the left factor's ``B`` column blocks (additions, which the
cost unit does not count), on the left it stacks ``B`` copies of the right
factor. Left ``p x q`` times right ``q x r``:

* anything · replicate: the left factor written out dense
  (:func:`~chainorder.algebra.kinds.densify_cost`), then its column blocks
  summed: ``densify(left)``, dense ``p x r``; identity · replicate: free,
  replicate;
* replicate · anything: the right factor written out dense, then copied:
  ``densify(right)``, dense; but replicate · (A ⊗ xᵀ) is (replicate · A) ⊗ xᵀ,
  the Kronecker kind's rule for any left factor.

A product holding a replicate factor is dense (but the identity's, and a
Kronecker factor's outer form on the right, as for a dense factor), so a
product's kind does not depend on its bracketing.
"""

from __future__ import annotations

import numpy as np

from .base import Kind, KindSig
from .block_diagonal import BlockDiagonal  # noqa: F401  (registers before this kind)
from .dense import Dense
from .registry import WILDCARD, PairRule, densify_cost, register_kind
from .sparse import Sparse  # noqa: F401  (registers before this kind)

__all__ = ["Replicate"]


class Replicate(Kind):
    """``[I; I; ...; I]`` (``batch`` identities of size ``n``): ``θ`` shared by a batch.

    Parameters
    ----------
    n : int
        Entries of the shared vector.
    batch : int
        Copies (``B``).

    Examples
    --------
    >>> R = Replicate(2, batch=3)
    >>> R, np.asarray(R).tolist()[:3]
    (Replicate(3 x 2: 6x2, 0 bytes), [[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    >>> from chainorder.algebra.kinds import kind_matmul
    >>> out, count = kind_matmul(Dense(np.arange(6.0).reshape(1, 6)), R)   # sum of 3 blocks
    >>> out.densify()[0].tolist(), count
    ([[6.0, 9.0]], 0)
    """

    kind = "replicate"

    def __init__(self, n: int, batch: int) -> None:
        for name, v in (("n", n), ("batch", batch)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        self.n, self.batch = int(n), int(batch)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.batch * self.n, self.n)

    @property
    def stored(self) -> tuple[np.ndarray, ...]:
        return ()

    @property
    def signature(self) -> KindSig:
        return KindSig(self.kind, *self.shape, params=(self.batch,))

    def densify(self) -> tuple[np.ndarray, int]:
        return np.tile(np.eye(self.n), (self.batch, 1)), 0

    @classmethod
    def densify_cost(cls, sig: KindSig) -> int:
        return 0

    @classmethod
    def stored_elements(cls, sig: KindSig) -> int:
        return 0

    def _label(self) -> str:
        return f"Replicate({self.batch} x {self.n})"

    def __repr__(self) -> str:
        return f"Replicate({self.batch} x {self.n}: {self._dims()}, 0 bytes)"


def _copies(sig: KindSig) -> int:
    if not sig.params:
        raise ValueError(f"{sig!r} has no batch; build it with Replicate(n, batch).signature")
    return int(sig.params[0])


def _sum_count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
    return densify_cost(a), KindSig.dense(a.rows, b.cols)


def _sum_blocks(a: Kind, b: Replicate) -> Dense:
    left = a.densify()[0]
    return Dense(left.reshape(a.shape[0], b.batch, b.n).sum(axis=1))


def _copy_count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
    _copies(a)
    return densify_cost(b), KindSig.dense(a.rows, b.cols)


def _copy_right(a: Replicate, b: Kind) -> Dense:
    return Dense(np.tile(b.densify()[0], (a.batch, 1)))


register_kind(Replicate, [
    PairRule(WILDCARD, "replicate", _sum_count, _sum_blocks),
    PairRule("identity", "replicate", lambda a, b: (0, b), lambda a, b: b),
    PairRule("replicate", WILDCARD, _copy_count, _copy_right),
    # the kinds whose own rules take any left factor: a copy is still free
    PairRule("replicate", "sparse", _copy_count, _copy_right),
    PairRule("replicate", "block_diagonal", _copy_count, _copy_right),
    # replicate · (A ⊗ xᵀ) keeps the Kronecker rule: (replicate · A) ⊗ xᵀ, A copied
])
