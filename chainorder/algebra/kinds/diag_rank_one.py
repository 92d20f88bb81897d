"""The diagonal-plus-rank-one kind: ``diag(d) + u vᵀ``, softmax's Jacobian, and its rules.

Left ``p x q`` times right ``q x r``, with ``J = diag(d) + u vᵀ``:
``G J = G∘d + (G u) vᵀ`` (``p·q`` each for the scaling, ``G u`` and the
outer product: ``3p·q``) and ``J H = d∘H + u (vᵀ H)`` (``3q·r``);
``diag(a) J = diag(a∘d) + (a∘u) vᵀ`` stays diag_rank_one (``2q``), as does
``J diag(a)``; ``J1 J2 = diag(d1∘d2) + (d1∘u2 + (v1·u2) u1) v2ᵀ + u1 (d2∘v1)ᵀ``
is five vector products and two outer products (``2q² + 5q``), dense.
Writing ``J`` out dense costs ``q²`` (``u vᵀ``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Kind, KindSig, as_vector
from .dense import Dense
from .diagonal import Diagonal
from .registry import by_dims, register_kind

__all__ = ["DiagonalPlusRankOne"]


class DiagonalPlusRankOne(Kind):
    """``diag(d) + u vᵀ``; softmax's Jacobian ``diag(s) − s sᵀ`` is :meth:`softmax`.

    Examples
    --------
    >>> J = DiagonalPlusRankOne.softmax(np.array([0.5, 0.5]))
    >>> J, np.asarray(J)
    (DiagonalPlusRankOne(2x2, 48 bytes), array([[ 0.25, -0.25],
           [-0.25,  0.25]]))
    """

    kind = "diag_rank_one"

    def __init__(self, d: Any, u: Any, v: Any) -> None:
        self.d, self.u, self.v = as_vector(d, "d"), as_vector(u, "u"), as_vector(v, "v")
        if not self.d.size == self.u.size == self.v.size:
            raise ValueError(
                f"d, u, v must have one length, got {self.d.size}, {self.u.size}, {self.v.size}"
            )

    @classmethod
    def softmax(cls, s: np.ndarray) -> DiagonalPlusRankOne:
        """The Jacobian of softmax at output ``s``: ``diag(s) − s sᵀ``."""
        return cls(s, s, -s)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.d.size, self.d.size)

    @property
    def stored(self) -> tuple[np.ndarray, ...]:
        return (self.d, self.u, self.v)

    def densify(self) -> tuple[np.ndarray, int]:
        out = np.outer(self.u, self.v)
        out[np.diag_indices_from(out)] += self.d
        return out, out.size

    @classmethod
    def densify_cost(cls, sig: KindSig) -> int:
        return sig.rows * sig.rows

    @classmethod
    def stored_elements(cls, sig: KindSig) -> int:
        return 3 * sig.rows


def _dro_dro(a: DiagonalPlusRankOne, b: DiagonalPlusRankOne) -> Dense:
    # (Da + ua vaᵀ)(Db + ub vbᵀ) = Da Db + (Da ub + (va·ub) ua) vbᵀ + ua (Db va)ᵀ
    left = a.d * b.u + (a.v @ b.u) * a.u
    out = np.outer(left, b.v) + np.outer(a.u, b.d * a.v)
    out[np.diag_indices_from(out)] += a.d * b.d
    return Dense(out)


def _diagonal_dro(a: Diagonal, b: DiagonalPlusRankOne) -> DiagonalPlusRankOne:
    return DiagonalPlusRankOne(a.d * b.d, a.d * b.u, b.v)


def _dro_diagonal(a: DiagonalPlusRankOne, b: Diagonal) -> DiagonalPlusRankOne:
    return DiagonalPlusRankOne(a.d * b.d, a.u, a.v * b.d)


def _dro_dense(a: DiagonalPlusRankOne, b: Dense) -> Dense:
    return Dense(a.d[:, np.newaxis] * b.a + np.outer(a.u, a.v @ b.a))


def _dense_dro(a: Dense, b: DiagonalPlusRankOne) -> Dense:
    return Dense(a.a * b.d + np.outer(a.a @ b.u, b.v))


register_kind(DiagonalPlusRankOne, [
    by_dims("diag_rank_one", "diag_rank_one", "dense", lambda p, q, r: 2 * q * q + 5 * q,
            _dro_dro),
    by_dims("diagonal", "diag_rank_one", "diag_rank_one", lambda p, q, r: 2 * q, _diagonal_dro),
    by_dims("diag_rank_one", "diagonal", "diag_rank_one", lambda p, q, r: 2 * q, _dro_diagonal),
    by_dims("diag_rank_one", "dense", "dense", lambda p, q, r: 3 * q * r, _dro_dense),
    by_dims("dense", "diag_rank_one", "dense", lambda p, q, r: 3 * p * q, _dense_dro),
])
