"""The Kronecker kind: ``A ⊗ xᵀ``, an affine layer's weight Jacobian, and its rules.

``L (A ⊗ xᵀ) = (L A) ⊗ xᵀ``: any factor times a Kronecker one costs what
``L`` times ``A`` costs under that pair's own rule and keeps the form, so an
affine layer's weight Jacobian ``I ⊗ xᵀ`` as built costs 0 to multiply from
the left. A Kronecker factor on the left is written out dense first. Writing
``A ⊗ xᵀ`` (``A`` ``p x m``, ``|x| = n``) out dense costs 0 if ``A = I``,
``m·n`` if ``A`` is diagonal, else ``densify(A) + p·m·n`` (for a row ``A``,
the outer product).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Kind, KindSig, as_vector
from .dense import densify_left
from .diagonal import Diagonal
from .identity import Identity
from .registry import (
    WILDCARD,
    PairRule,
    densify_cost,
    kind_matmul,
    register_kind,
    stored_elements,
    structured_product,
)

__all__ = ["Kronecker"]


class Kronecker(Kind):
    """``A ⊗ xᵀ``: ``dz/dW`` of ``z = W x + b`` is ``I ⊗ xᵀ`` (``W`` flattened row by row).

    Row ``i`` holds ``A[i, a] * x`` in columns ``a*|x| .. (a+1)*|x| - 1``.
    Multiplying from the left keeps the form: ``G (A ⊗ xᵀ) = (G A) ⊗ xᵀ``.

    Parameters
    ----------
    inner : Kind
        ``A`` (any kind but Kronecker); an affine layer's is ``Identity(m)``.
    x : array_like
        The vector (the layer's input).

    Examples
    --------
    >>> K = Kronecker(Identity(2), [1.0, 2.0, 3.0])
    >>> K, np.asarray(K)
    (Kronecker(Identity(2x2) ⊗ x[3]: 2x6, 24 bytes), array([[1., 2., 3., 0., 0., 0.],
           [0., 0., 0., 1., 2., 3.]]))
    """

    kind = "kronecker"

    def __init__(self, inner: Kind, x: Any) -> None:
        if not isinstance(inner, Kind) or isinstance(inner, Kronecker):
            raise TypeError(f"inner must be a Kind other than Kronecker, got {inner!r}")
        self.inner = inner
        self.x = as_vector(x, "x")

    @property
    def shape(self) -> tuple[int, int]:
        p, m = self.inner.shape
        return (p, m * self.x.size)

    @property
    def stored(self) -> tuple[np.ndarray, ...]:
        return (*self.inner.stored, self.x)

    @property
    def signature(self) -> KindSig:
        return KindSig.kronecker(self.inner.signature, self.x.size)

    def densify(self) -> tuple[np.ndarray, int]:
        (p, m), n = self.inner.shape, self.x.size
        if isinstance(self.inner, (Identity, Diagonal)):
            out = np.zeros((m, m, n))
            if isinstance(self.inner, Identity):
                out[np.arange(m), np.arange(m)] = self.x
                return out.reshape(m, m * n), 0
            block = np.multiply.outer(self.inner.d, self.x)
            out[np.arange(m), np.arange(m)] = block
            return out.reshape(m, m * n), block.size
        a, count = self.inner.densify()
        out = np.multiply.outer(a, self.x)
        return out.reshape(p, m * n), count + out.size

    @classmethod
    def densify_cost(cls, sig: KindSig) -> int:
        inner = _inner(sig)
        if inner.kind == "identity":
            return 0
        if inner.kind == "diagonal":
            return inner.cols * sig.width
        return densify_cost(inner) + inner.rows * inner.cols * sig.width

    @classmethod
    def stored_elements(cls, sig: KindSig) -> int:
        return stored_elements(_inner(sig)) + sig.width

    def __repr__(self) -> str:
        inner = self.inner._label()
        return f"Kronecker({inner} ⊗ x[{self.x.size}]: {self._dims()}, {self.nbytes:,} bytes)"


def _inner(sig: KindSig) -> KindSig:
    if sig.inner is None:
        raise ValueError(
            f"{sig!r} has no inner kind; build it with KindSig.kronecker(inner, width)"
        )
    return sig.inner


def _times_kronecker_count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
    cost, inner = structured_product(a, _inner(b))
    return cost, KindSig.kronecker(inner, b.width)


def _times_kronecker(a: Kind, b: Kronecker) -> Kronecker:
    return Kronecker(kind_matmul(a, b.inner)[0], b.x)


register_kind(Kronecker, [
    PairRule(WILDCARD, "kronecker", _times_kronecker_count, _times_kronecker),
    densify_left("kronecker", WILDCARD),
    densify_left("kronecker", "kronecker"),
])
