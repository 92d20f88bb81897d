"""Jacobian kinds: dense, diagonal, identity, diagonal-plus-rank-one, Kronecker, and their products.

A Jacobian of a known kind stores only what it needs: an elementwise
activation's ``diag(σ'(z))`` its diagonal, a bias Jacobian nothing, an affine
layer's weight Jacobian ``I ⊗ xᵀ`` the vector ``x``, softmax's
``diag(s) − s sᵀ`` three vectors. Every kind converts to a dense array on
request (``np.asarray(kind)``).

How two kinds multiply is one table, :data:`PAIR_RULES`: one
:class:`PairRule` per kind pair holds its *count rule* (the multiplications
and the kind of the product, from kinds and shapes alone: what the
structured cost model plans with, :func:`structured_product`) beside its
*product rule* (the product itself, on the data: what :func:`kind_matmul`
executes). A new kind is a :class:`Kind` subclass and its rows in the table.

Left ``p x q`` times right ``q x r``, scalar multiplications (additions are
free), and the kind of the product:

==============  ==========  ==========  ===============  ==========  ===============
left \\ right    identity    diagonal    diag_rank_one    dense       kronecker(A,x)
==============  ==========  ==========  ===============  ==========  ===============
identity        0, I        0, right    0, right         0, right    0, right
diagonal        0, left     q, diag     2q, dro          q·r, D      c(L·A), K(L·A)
diag_rank_one   0, left     2q, dro     2q²+5q, D        3q·r, D     c(L·A), K(L·A)
dense           0, left     p·q, D      3p·q, D          p·q·r, D    c(L·A), K(L·A)
kronecker       0, left     densify(left) + the dense row's count, kind as that row
==============  ==========  ==========  ===============  ==========  ===============

(D dense, dro diag_rank_one, K kronecker.) Where the counts come from:
diagonal·diagonal multiplies the two diagonals; diagonal·dense scales ``q``
rows of length ``r``; dense·diagonal scales ``q`` columns of length ``p``;
with ``J = diag(d) + u vᵀ``, ``G J = G∘d + (G u) vᵀ`` (``p·q`` each for the
scaling, ``G u`` and the outer product) and ``J H = d∘H + u (vᵀ H)``;
``diag(a) J = diag(a∘d) + (a∘u) vᵀ`` stays diag_rank_one (``2q``), as does
``J diag(a)``; ``J1 J2 = diag(d1∘d2) + (d1∘u2 + (v1·u2) u1) v2ᵀ + u1 (d2∘v1)ᵀ``
is five vector products and two outer products (``2q² + 5q``), dense. For
the Kronecker form ``L (A ⊗ xᵀ) = (L A) ⊗ xᵀ``: ``c(L·A)`` is the table's own
count for ``L`` times ``A``, so an affine layer's weight Jacobian
``I ⊗ xᵀ`` as built costs 0 to multiply from the left; a Kronecker factor on
the left is written out dense first
(:func:`~chainorder.algebra.costs.densify_cost`).

The kind of a product does not depend on its bracketing
(:func:`span_signature`), which makes the structured optimizer exact
(:class:`~chainorder.algebra.costmodels.StructuredCost`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..validation import check_arrays
from .costs import KindSig, densify_cost

__all__ = [
    "Kind",
    "Dense",
    "Diagonal",
    "Identity",
    "DiagonalPlusRankOne",
    "Kronecker",
    "PairRule",
    "PAIR_RULES",
    "rule_for",
    "kind_matmul",
    "structured_product",
    "span_signature",
    "structured_steps_cost",
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
        return self.a.shape

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

#: A count rule: ``(left, right) -> (multiplications, kind of the product)``, from kinds alone.
CountRule = Callable[[KindSig, KindSig], "tuple[int, KindSig]"]
#: A product rule: ``(left, right) -> the product``, performing what the count rule counts.
ProductRule = Callable[[Any, Any], Kind]


@dataclass(frozen=True)
class PairRule:
    """How a factor of kind ``left`` times one of kind ``right`` is counted and performed.

    Attributes
    ----------
    left, right : str
        Kind names (:data:`~chainorder.algebra.costs.KIND_NAMES`), or ``'*'`` for any kind.
    count : callable
        ``(left_sig, right_sig) -> (multiplications, product_sig)`` on
        :class:`~chainorder.algebra.costs.KindSig` descriptors: what planning reads.
    product : callable
        ``(left, right) -> product`` on :class:`Kind` objects: what execution
        runs; it performs exactly the multiplications ``count`` counts.

    Examples
    --------
    >>> rule = rule_for("dense", "diagonal")
    >>> rule.count(KindSig.dense(1, 3), KindSig.diagonal(3))
    (3, KindSig('dense', 1x3))
    >>> rule.product(Dense(np.ones((1, 3))), Diagonal([1.0, 2.0, 3.0])).a
    array([[1., 2., 3.]])
    """

    left: str
    right: str
    count: CountRule
    product: ProductRule

    def __repr__(self) -> str:
        return f"PairRule({self.left!r} @ {self.right!r})"


def _by_dims(left: str, right: str, result: str, count: Callable[[int, int, int], int],
             product: ProductRule) -> PairRule:
    """A rule whose count depends on ``p, q, r`` only and whose product has kind ``result``."""

    def counted(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
        return count(a.rows, a.cols, b.cols), KindSig(result, a.rows, b.cols)

    return PairRule(left, right, counted, product)


def _dro_dro(a: DiagonalPlusRankOne, b: DiagonalPlusRankOne) -> Kind:
    # (Da + ua vaᵀ)(Db + ub vbᵀ) = Da Db + (Da ub + (va·ub) ua) vbᵀ + ua (Db va)ᵀ
    left = a.d * b.u + (a.v @ b.u) * a.u
    out = np.outer(left, b.v) + np.outer(a.u, b.d * a.v)
    out[np.diag_indices_from(out)] += a.d * b.d
    return Dense(out)


def _kron_right_count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
    if b.inner is None:
        raise ValueError(f"{b!r} has no inner kind; build it with KindSig.kronecker(inner, width)")
    cost, inner = structured_product(a, b.inner)
    return cost, KindSig.kronecker(inner, b.width)


def _kron_right(a: Kind, b: Kronecker) -> Kind:
    return Kronecker(kind_matmul(a, b.inner)[0], b.x)


def _kron_left_count(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
    cost, out = structured_product(KindSig.dense(a.rows, a.cols), b)
    return densify_cost(a) + cost, out


def _kron_left(a: Kronecker, b: Kind) -> Kind:
    return kind_matmul(Dense(a.densify()[0]), b)[0]


#: (left kind, right kind) -> its :class:`PairRule`; ``'*'`` matches any kind. Looked up by
#: :func:`rule_for`: the exact pair first, then any left kind with this right kind, then
#: this left kind with any right kind.
PAIR_RULES: dict[tuple[str, str], PairRule] = {
    (r.left, r.right): r
    for r in (
        PairRule("*", "identity", lambda a, b: (0, a), lambda a, b: a),
        PairRule("identity", "*", lambda a, b: (0, b), lambda a, b: b),
        PairRule("*", "kronecker", _kron_right_count, _kron_right),
        PairRule("kronecker", "*", _kron_left_count, _kron_left),
        PairRule("kronecker", "kronecker", _kron_left_count, _kron_left),
        _by_dims("diagonal", "diagonal", "diagonal", lambda p, q, r: q,
                 lambda a, b: Diagonal(a.d * b.d)),
        _by_dims("diagonal", "diag_rank_one", "diag_rank_one", lambda p, q, r: 2 * q,
                 lambda a, b: DiagonalPlusRankOne(a.d * b.d, a.d * b.u, b.v)),
        _by_dims("diagonal", "dense", "dense", lambda p, q, r: q * r,
                 lambda a, b: Dense(a.d[:, np.newaxis] * b.a)),
        _by_dims("diag_rank_one", "diagonal", "diag_rank_one", lambda p, q, r: 2 * q,
                 lambda a, b: DiagonalPlusRankOne(a.d * b.d, a.u, a.v * b.d)),
        _by_dims("diag_rank_one", "diag_rank_one", "dense", lambda p, q, r: 2 * q * q + 5 * q,
                 _dro_dro),
        _by_dims("diag_rank_one", "dense", "dense", lambda p, q, r: 3 * q * r,
                 lambda a, b: Dense(a.d[:, np.newaxis] * b.a + np.outer(a.u, a.v @ b.a))),
        _by_dims("dense", "diagonal", "dense", lambda p, q, r: p * q,
                 lambda a, b: Dense(a.a * b.d)),
        _by_dims("dense", "diag_rank_one", "dense", lambda p, q, r: 3 * p * q,
                 lambda a, b: Dense(a.a * b.d + np.outer(a.a @ b.u, b.v))),
        _by_dims("dense", "dense", "dense", lambda p, q, r: p * q * r,
                 lambda a, b: Dense(a.a @ b.a)),
    )
}


def rule_for(left: str, right: str) -> PairRule:
    """The :class:`PairRule` for a ``left`` kind times a ``right`` kind (see :data:`PAIR_RULES`).

    Examples
    --------
    >>> rule_for("kronecker", "identity"), rule_for("dense", "kronecker")
    (PairRule('*' @ 'identity'), PairRule('*' @ 'kronecker'))
    """
    rule = (PAIR_RULES.get((left, right)) or PAIR_RULES.get(("*", right))
            or PAIR_RULES.get((left, "*")))
    if rule is None:
        raise ValueError(f"no rule multiplies a {left!r} factor by a {right!r} one; "
                         f"add a PairRule for the pair to PAIR_RULES")
    return rule


def structured_product(left: KindSig, right: KindSig) -> tuple[int, KindSig]:
    """The count and the kind of ``left · right`` under the structured model (the table above).

    Examples
    --------
    >>> structured_product(KindSig.dense(1, 100), KindSig.diagonal(100))
    (100, KindSig('dense', 1x100))
    >>> structured_product(KindSig.dense(1, 10), KindSig.kronecker(KindSig.identity(10), 100))
    (0, KindSig('kronecker', KindSig('dense', 1x10) ⊗ x[100]))
    """
    if left.cols != right.rows:
        raise ValueError(f"left is {left.rows}x{left.cols} but right is {right.rows}x{right.cols}")
    return rule_for(left.kind, right.kind).count(left, right)


def kind_matmul(left: Kind, right: Kind) -> tuple[Kind, int]:
    """``left @ right`` kept in the cheapest kind, with the multiplications performed.

    The pair's :class:`PairRule` performs the product and counts it (the
    table in this module's docstring).

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
    rule = rule_for(left.kind, right.kind)
    return rule.product(left, right), rule.count(left.signature, right.signature)[0]


def span_signature(sigs: Sequence[KindSig]) -> KindSig:
    """The kind of the product of ``sigs``; it does not depend on the bracketing.

    Why: in the table, ``identity`` is neutral; a product is ``dense`` as soon
    as it holds a dense factor or two diag_rank_one factors (whatever the
    brackets); ``L · (A ⊗ xᵀ) = (L·A) ⊗ xᵀ`` keeps a trailing Kronecker factor's
    form and puts the rest in its ``A``; anything to the right of a Kronecker
    factor other than the identity makes it dense first. So folding left to
    right gives the kind every bracketing gives (tested over all bracketings).

    Examples
    --------
    >>> span_signature([KindSig.diagonal(3), KindSig.diag_rank_one(3)])
    KindSig('diag_rank_one', 3x3)
    """
    out = sigs[0]
    for sig in sigs[1:]:
        out = structured_product(out, sig)[1]
    return out


def structured_steps_cost(sigs: Sequence[KindSig], steps: Sequence[Sequence[int]]) -> int:
    """Multiplications of a bracketing under the structured model, densifying the result.

    ``steps`` are ``(i, k, j)`` as in :func:`~chainorder.algebra.costs.steps_cost`;
    the total adds, once, :func:`~chainorder.algebra.costs.densify_cost` of the
    chain's product (a product is delivered dense).

    Examples
    --------
    >>> sigs = [KindSig.dense(1, 10), KindSig.dense(10, 100), KindSig.diagonal(100),
    ...         KindSig.dense(100, 1000)]          # the article's chain, |x| = 1000
    >>> structured_steps_cost(sigs, [(0, 1, 2), (0, 2, 3), (0, 3, 4)])
    101100
    >>> structured_steps_cost(sigs, [(2, 3, 4), (1, 2, 4), (0, 1, 4)])
    1110000
    """
    span = dict(enumerate(sigs))  # span[i]: kind of the product built at i
    total = 0
    for i, k, _ in steps:
        cost, span[int(i)] = structured_product(span[int(i)], span.pop(int(k)))
        total += cost
    return total + densify_cost(span[0])


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
