"""Jacobian kinds: dense, diagonal, identity, diagonal-plus-rank-one, Kronecker, and their products.

A Jacobian of a known kind stores only what it needs: an elementwise
activation's ``diag(σ'(z))`` its diagonal, a bias Jacobian nothing, an affine
layer's weight Jacobian ``I ⊗ xᵀ`` the vector ``x``, softmax's
``diag(s) − s sᵀ`` three vectors. :func:`kind_matmul` multiplies two kinds
the cheap way and counts every scalar multiplication it performs; the counts
equal :func:`chainorder.algebra.costs.structured_product` (tested pair by pair).
Every kind converts to a dense array on request (``np.asarray(kind)``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from ..validation import check_arrays
from .costs import KindSig

__all__ = [
    "Kind",
    "Dense",
    "Diagonal",
    "Identity",
    "DiagonalPlusRankOne",
    "Kronecker",
    "kind_matmul",
    "as_kind",
    "check_factors",
    "signature_of",
]


def _vector(v: Any, name: str) -> np.ndarray:
    arr = np.asarray(v, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    return arr


class Kind(ABC):
    """A Jacobian of a known kind: its shape, what it stores, and its dense form on request."""

    kind: ClassVar[str] = ""
    ndim: ClassVar[int] = 2

    @property
    @abstractmethod
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the matrix it stands for."""

    @property
    @abstractmethod
    def stored(self) -> tuple[np.ndarray, ...]:
        """The arrays it keeps."""

    @abstractmethod
    def densify(self) -> tuple[np.ndarray, int]:
        """The dense array and the scalar multiplications spent writing it out."""

    @property
    def signature(self) -> KindSig:
        """Kind and shape, for planning (no data)."""
        return KindSig(self.kind, *self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays it stores (not of its dense form)."""
        return sum(int(a.nbytes) for a in self.stored)

    @property
    def dense_nbytes(self) -> int:
        """Bytes its dense form would take (float64)."""
        return 8 * self.shape[0] * self.shape[1]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self.densify()[0]
        return out if dtype is None else out.astype(dtype, copy=False)

    def _dims(self) -> str:
        return f"{self.shape[0]}x{self.shape[1]}"

    def _label(self) -> str:
        return f"{type(self).__name__}({self._dims()})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._dims()}, {self.nbytes:,} bytes)"


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
        return self.a.shape  # type: ignore[return-value]

    @property
    def stored(self) -> tuple[np.ndarray, ...]:
        return (self.a,)

    def densify(self) -> tuple[np.ndarray, int]:
        return self.a, 0


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
        self.d = _vector(d, "d")

    @property
    def shape(self) -> tuple[int, int]:
        return (self.d.size, self.d.size)

    @property
    def stored(self) -> tuple[np.ndarray, ...]:
        return (self.d,)

    def densify(self) -> tuple[np.ndarray, int]:
        return np.diag(self.d), 0


class Identity(Kind):
    """The ``n x n`` identity: a bias Jacobian, or the ``identity`` activation's.

    Examples
    --------
    >>> Identity(3), Identity(3).nbytes
    (Identity(3x3, 0 bytes), 0)
    """

    kind = "identity"

    def __init__(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        self.n = int(n)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    @property
    def stored(self) -> tuple[np.ndarray, ...]:
        return ()

    def densify(self) -> tuple[np.ndarray, int]:
        return np.eye(self.n), 0


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
        self.d, self.u, self.v = _vector(d, "d"), _vector(u, "u"), _vector(v, "v")
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
        self.x = _vector(x, "x")

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

    def __repr__(self) -> str:
        inner = self.inner._label()
        return f"Kronecker({inner} ⊗ x[{self.x.size}]: {self._dims()}, {self.nbytes:,} bytes)"


# ----------------------------------------------------------------------------- products

Pair = Callable[[Any, Any], "tuple[Kind, int]"]


def _diag_diag(a: Diagonal, b: Diagonal) -> tuple[Kind, int]:
    return Diagonal(a.d * b.d), a.d.size


def _diag_dro(a: Diagonal, b: DiagonalPlusRankOne) -> tuple[Kind, int]:
    return DiagonalPlusRankOne(a.d * b.d, a.d * b.u, b.v), 2 * a.d.size


def _diag_dense(a: Diagonal, b: Dense) -> tuple[Kind, int]:
    return Dense(a.d[:, np.newaxis] * b.a), b.a.size


def _dro_diag(a: DiagonalPlusRankOne, b: Diagonal) -> tuple[Kind, int]:
    return DiagonalPlusRankOne(a.d * b.d, a.u, a.v * b.d), 2 * b.d.size


def _dro_dro(a: DiagonalPlusRankOne, b: DiagonalPlusRankOne) -> tuple[Kind, int]:
    # (Da + ua vaᵀ)(Db + ub vbᵀ) = Da Db + (Da ub + (va·ub) ua) vbᵀ + ua (Db va)ᵀ
    q = a.d.size
    left = a.d * b.u + (a.v @ b.u) * a.u
    out = np.outer(left, b.v) + np.outer(a.u, b.d * a.v)
    out[np.diag_indices_from(out)] += a.d * b.d
    return Dense(out), 2 * q * q + 5 * q


def _dro_dense(a: DiagonalPlusRankOne, b: Dense) -> tuple[Kind, int]:
    return Dense(a.d[:, np.newaxis] * b.a + np.outer(a.u, a.v @ b.a)), 3 * b.a.size


def _dense_diag(a: Dense, b: Diagonal) -> tuple[Kind, int]:
    return Dense(a.a * b.d), a.a.size


def _dense_dro(a: Dense, b: DiagonalPlusRankOne) -> tuple[Kind, int]:
    return Dense(a.a * b.d + np.outer(a.a @ b.u, b.v)), 3 * a.a.size


def _dense_dense(a: Dense, b: Dense) -> tuple[Kind, int]:
    (p, q), r = a.a.shape, b.a.shape[1]
    return Dense(a.a @ b.a), p * q * r


_PAIRS: dict[tuple[type, type], Pair] = {
    (Diagonal, Diagonal): _diag_diag,
    (Diagonal, DiagonalPlusRankOne): _diag_dro,
    (Diagonal, Dense): _diag_dense,
    (DiagonalPlusRankOne, Diagonal): _dro_diag,
    (DiagonalPlusRankOne, DiagonalPlusRankOne): _dro_dro,
    (DiagonalPlusRankOne, Dense): _dro_dense,
    (Dense, Diagonal): _dense_diag,
    (Dense, DiagonalPlusRankOne): _dense_dro,
    (Dense, Dense): _dense_dense,
}


def kind_matmul(left: Kind, right: Kind) -> tuple[Kind, int]:
    """``left @ right`` kept in the cheapest kind, with the multiplications performed.

    The count and the kind of every pair are listed in the table of
    :mod:`chainorder.algebra.costs`.

    Examples
    --------
    >>> out, count = kind_matmul(Dense(np.ones((1, 3))), Kronecker(Identity(3), np.ones(4)))
    >>> out, count
    (Kronecker(Dense(1x3) ⊗ x[4]: 1x12, 56 bytes), 0)
    >>> kind_matmul(Diagonal([1.0, 2.0]), Diagonal([3.0, 4.0]))[1]
    2
    """
    if left.shape[1] != right.shape[0]:
        raise ValueError(
            f"left is {left._dims()} but right is {right._dims()}: inner dimensions differ"
        )
    a, b = type(left), type(right)  # exact types: dispatch runs once per product, keep it cheap
    if b is Identity:
        return left, 0
    if a is Identity:
        return right, 0
    if b is Kronecker and a is not Kronecker:
        inner, count = kind_matmul(left, right.inner)  # type: ignore[attr-defined]
        return Kronecker(inner, right.x), count  # type: ignore[attr-defined]
    if a is Kronecker:
        dense, spent = left.densify()
        out, count = kind_matmul(Dense(dense), right)
        return out, spent + count
    return _PAIRS[a, b](left, right)


def as_kind(obj: Any) -> Kind:
    """``obj`` if it is a :class:`Kind`, else a :class:`Dense` of it."""
    return obj if isinstance(obj, Kind) else Dense(obj)


def signature_of(obj: Any) -> KindSig:
    """The :class:`~chainorder.algebra.costs.KindSig` of a Kind, a KindSig or a 2-D array."""
    if isinstance(obj, KindSig):
        return obj
    if isinstance(obj, Kind):
        return obj.signature
    shape = np.shape(obj)
    if len(shape) != 2:
        raise ValueError(f"expected a Kind, a KindSig or a 2-D array, got shape {shape}")
    return KindSig.dense(*shape)


def check_factors(factors: Any, name: str = "factors") -> list[Any]:
    """A chain of Kinds and arrays, arrays checked as by ``check_arrays``, shapes fitting.

    Kinds pass through; every other entry becomes a 2-D float array (a 1-D
    first entry a row, a 1-D last entry a column).
    """
    if isinstance(factors, np.ndarray) or not isinstance(factors, Sequence) or not factors:
        raise TypeError(f"{name} must be a non-empty list of arrays or Kinds, got {factors!r}")
    if not any(isinstance(f, Kind) for f in factors):
        return list(check_arrays(factors, name))
    out: list[Any] = []
    last = len(factors) - 1
    for i, f in enumerate(factors):
        if isinstance(f, Kind):
            out.append(f)
            continue
        if np.ndim(f) == 1 and i == last and i > 0:
            f = np.asarray(f)[:, np.newaxis]
        try:
            out.append(check_arrays([f], name)[0])
        except (TypeError, ValueError) as exc:
            raise type(exc)(str(exc).replace(f"{name}[0]", f"{name}[{i}]", 1)) from None
    for i in range(1, len(out)):
        cols, rows = out[i - 1].shape[1], out[i].shape[0]
        if cols != rows:
            raise ValueError(
                f"{name}[{i}] has {rows} rows but {name}[{i - 1}] has {cols} columns"
            )
    return out
