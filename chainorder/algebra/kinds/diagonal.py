"""The diagonal kind: ``diag(d)``, an elementwise activation's Jacobian, and its rules with dense.

Left ``p x q`` times right ``q x r``: diagonal·diagonal multiplies the two
diagonals (``q``); diagonal·dense scales ``q`` rows of length ``r``
(``q·r``); dense·diagonal scales ``q`` columns of length ``p`` (``p·q``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Kind, KindSig, as_vector
from .dense import Dense
from .registry import by_dims, register_kind

__all__ = ["Diagonal"]


class Diagonal(Kind):
    """``diag(d)``: an elementwise activation's Jacobian ``diag(σ'(z))``.

    Examples
    --------
    >>> D = Diagonal([1.0, 2.0])
    >>> D, np.asarray(D)
    (Diagonal(2x2, 16 bytes), array([[1., 0.],
           [0., 2.]]))
    """

    kind = "diagonal"

    def __init__(self, d: Any) -> None:
        self.d = as_vector(d, "d")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.d.size, self.d.size)

    @property
    def stored(self) -> tuple[np.ndarray, ...]:
        return (self.d,)

    def densify(self) -> tuple[np.ndarray, int]:
        return np.diag(self.d), 0

    @classmethod
    def densify_cost(cls, sig: KindSig) -> int:
        return 0

    @classmethod
    def stored_elements(cls, sig: KindSig) -> int:
        return sig.rows


def _diagonal_dense(a: Diagonal, b: Dense) -> Dense:
    return Dense(a.d[:, np.newaxis] * b.a)


def _dense_diagonal(a: Dense, b: Diagonal) -> Dense:
    return Dense(a.a * b.d)


register_kind(Diagonal, [
    by_dims("diagonal", "diagonal", "diagonal", lambda p, q, r: q,
            lambda a, b: Diagonal(a.d * b.d)),
    by_dims("diagonal", "dense", "dense", lambda p, q, r: q * r, _diagonal_dense),
    by_dims("dense", "diagonal", "dense", lambda p, q, r: p * q, _dense_diagonal),
])
