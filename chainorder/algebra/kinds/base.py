"""What every Jacobian kind is: the Kind protocol, its data-free signature KindSig, and inputs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ...validation import check_arrays

__all__ = [
    "KindSig",
    "Kind",
    "as_vector",
    "signature_of",
    "check_factors",
]


@dataclass(frozen=True)
class KindSig:
    """What the structured cost model knows of a factor: its kind and shape, no data.

    Parameters
    ----------
    kind : str
        A registered kind's name (:data:`~chainorder.algebra.kinds.KIND_NAMES`).
    rows, cols : int
        The shape. Diagonal, identity and diag_rank_one factors are square.
    inner : KindSig, optional
        For ``'kronecker'``: the kind of ``A`` in ``A ⊗ xᵀ`` (never itself kronecker).
    width : int
        For ``'kronecker'``: ``|x|``; ``cols == inner.cols * width``.
    params : tuple
        Facts of the kind that its rules read besides the shape (hashable; empty for the
        built-in kinds), e.g. a banded factor's bandwidths.

    Examples
    --------
    >>> KindSig.diagonal(100), KindSig.kronecker(KindSig.identity(3), 4).shape
    (KindSig('diagonal', 100x100), (3, 12))
    >>> KindSig("banded", 5, 5, params=(1, 2))
    KindSig('banded', 5x5, (1, 2))
    """

    kind: str
    rows: int
    cols: int
    inner: KindSig | None = None
    width: int = 1
    params: tuple[Any, ...] = ()

    # One constructor per built-in kind, for convenience: a new kind needs none of its own.
    @classmethod
    def dense(cls, rows: int, cols: int) -> KindSig:
        """A dense ``rows x cols`` factor."""
        return cls("dense", int(rows), int(cols))

    @classmethod
    def diagonal(cls, n: int) -> KindSig:
        """A diagonal ``n x n`` factor."""
        return cls("diagonal", int(n), int(n))

    @classmethod
    def identity(cls, n: int) -> KindSig:
        """The ``n x n`` identity."""
        return cls("identity", int(n), int(n))

    @classmethod
    def diag_rank_one(cls, n: int) -> KindSig:
        """``diag(d) + u vᵀ``, ``n x n``."""
        return cls("diag_rank_one", int(n), int(n))

    @classmethod
    def kronecker(cls, inner: KindSig, width: int) -> KindSig:
        """``A ⊗ xᵀ`` with ``A`` of kind ``inner`` and ``|x| = width``."""
        return cls("kronecker", inner.rows, inner.cols * int(width), inner, int(width))

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)``."""
        return (self.rows, self.cols)

    def __repr__(self) -> str:
        if self.inner is not None:
            return f"KindSig({self.kind!r}, {self.inner!r} ⊗ x[{self.width}])"
        params = f", {self.params!r}" if self.params else ""
        return f"KindSig({self.kind!r}, {self.rows}x{self.cols}{params})"


class Kind(ABC):
    """A Jacobian of a known kind: its shape, what it stores, and its dense form on request.

    A kind is a subclass that sets ``kind`` (its name) and defines, on the
    data, :attr:`shape`, :attr:`stored` and :meth:`densify`, and, on a
    :class:`KindSig` alone (what planning reads), :meth:`densify_cost` and
    :meth:`stored_elements`. A kind whose rules read more than its shape
    overrides :attr:`signature` to put those facts in ``KindSig.params``.
    :func:`~chainorder.algebra.kinds.register_kind` adds it, with its pair
    rules, to the structured model.
    """

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

    @classmethod
    @abstractmethod
    def densify_cost(cls, sig: KindSig) -> int:
        """The multiplications :meth:`densify` spends on a factor of signature ``sig``."""

    @classmethod
    @abstractmethod
    def stored_elements(cls, sig: KindSig) -> int:
        """The numbers a factor of signature ``sig`` stores."""

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


def as_vector(v: Any, name: str) -> np.ndarray:
    """``v`` as a non-empty 1-D float array, or a ValueError naming ``name``."""
    arr = np.asarray(v, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    return arr


def signature_of(obj: Any) -> KindSig:
    """The :class:`KindSig` of a Kind, a KindSig or a 2-D array."""
    if isinstance(obj, KindSig):
        return obj
    if isinstance(obj, Kind):
        return obj.signature
    shape = np.shape(obj)
    if len(shape) != 2:
        raise ValueError(f"expected a Kind, a KindSig or a 2-D array, got shape {shape}")
    return KindSig("dense", *shape)


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
