"""The dense kind: a full matrix, its rule with itself, and rules that write a side out dense."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Kind, KindSig
from .registry import (
    PairRule,
    by_dims,
    densify_cost,
    kind_matmul,
    register_kind,
    structured_product,
)

__all__ = ["Dense", "as_kind", "densify_left", "densify_right"]


class Dense(Kind):
    """A full matrix.

    Examples
    --------
    >>> Dense(np.ones((2, 3)))
    Dense(2x3, 48 bytes)
    """

    kind = "dense"

    def __init__(self, a: Any) -> None:
        arr = np.asarray(a, dtype=np.float64)
        if arr.ndim != 2:
            raise ValueError(f"a must be 2-D, got shape {arr.shape}")
        self.a = arr

    @property
    def shape(self) -> tuple[int, int]:
        return self.a.shape

    @property
    def stored(self) -> tuple[np.ndarray, ...]:
        return (self.a,)

    def densify(self) -> tuple[np.ndarray, int]:
        return self.a, 0

    @classmethod
    def densify_cost(cls, sig: KindSig) -> int:
        return 0

    @classmethod
    def stored_elements(cls, sig: KindSig) -> int:
        return sig.rows * sig.cols


def as_kind(obj: Any) -> Kind:
    """``obj`` if it is a :class:`~chainorder.algebra.kinds.base.Kind`, else a :class:`Dense`."""
    return obj if isinstance(obj, Kind) else Dense(obj)


def densify_left(left: str, right: str) -> PairRule:
    """A rule that writes the ``left`` factor out dense, then multiplies by the dense rule.

    It costs :func:`~chainorder.algebra.kinds.densify_cost` of the left factor
    plus what ``dense`` times the right factor costs, and has that product's kind.

    Examples
    --------
    >>> rule = densify_left("kronecker", "*")     # 2·3 to write diag(d) ⊗ xᵀ out, 2·6·1
    >>> rule.count(KindSig.kronecker(KindSig.diagonal(2), 3), KindSig.dense(6, 1))
    (18, KindSig('dense', 2x1))
    """

    def count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
        cost, out = structured_product(KindSig.dense(a.rows, a.cols), b)
        return densify_cost(a) + cost, out

    def product(a: Kind, b: Kind) -> Kind:
        return kind_matmul(Dense(a.densify()[0]), b)[0]

    return PairRule(left, right, count, product)


def densify_right(left: str, right: str) -> PairRule:
    """A rule that writes the ``right`` factor out dense, then multiplies by the dense rule.

    Examples
    --------
    >>> rule = densify_right("diagonal", "diag_rank_one")   # 3·3 to write it out, then 3·3
    >>> rule.count(KindSig.diagonal(3), KindSig.diag_rank_one(3))
    (18, KindSig('dense', 3x3))
    """

    def count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
        cost, out = structured_product(a, KindSig.dense(b.rows, b.cols))
        return densify_cost(b) + cost, out

    def product(a: Kind, b: Kind) -> Kind:
        return kind_matmul(a, Dense(b.densify()[0]))[0]

    return PairRule(left, right, count, product)


register_kind(Dense, [
    # p·q·r, the article's and Cormen's convention
    by_dims("dense", "dense", "dense", lambda p, q, r: p * q * r, lambda a, b: Dense(a.a @ b.a)),
])
