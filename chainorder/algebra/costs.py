"""Cost conventions: exact scalar-multiplication counts and FLOPs, as pure functions.

One convention everywhere (the article's and Cormen's): multiplying a
``p x q`` by a ``q x r`` matrix costs ``p*q*r`` scalar multiplications, and
``2*p*q*r`` FLOPs when each multiply-add counts as two. Every count is an
exact Python ``int``, so it cannot overflow however long the chain or large
the dims.

Structured model
----------------
The dense model counts every Jacobian as a full array. The structured model
(:class:`KindSig`, :func:`structured_product`, :func:`densify_cost`,
:func:`structured_steps_cost`) counts what multiplying Jacobians of known
*kinds* really performs; :mod:`chainorder.algebra.kinds` performs exactly
these operations (tested pair by pair). Left ``p x q`` times right ``q x r``,
scalar multiplications (additions are free), and the kind of the product:

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
the left is written out dense first.

Writing a factor out dense (:func:`densify_cost`; done once for the product
of a chain, which is delivered dense) costs 0 for dense, diagonal and
identity, ``q²`` for diag_rank_one (``u vᵀ``), and for ``A ⊗ xᵀ`` with ``A``
``p x m`` and ``|x| = n``: 0 if ``A = I``, ``m·n`` if ``A`` is diagonal,
else ``densify(A) + p·m·n`` (for a row ``A``, the outer product).

The kind of a product does not depend on its bracketing
(:func:`span_signature`), which makes the structured optimizer exact
(:func:`chainorder.algebra.structured.structured_dp_steps`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: The unit sentence printed beside every dense count (CLI, tables, figures, report pages).
COST_UNIT = (
    "scalar multiplications (a p×q by q×r product costs p·q·r; FLOPs = 2 × multiplications)"
)

#: The unit sentence of every matrix-free (generalized-chain) cost: tangents, adjoints, products.
GJC_COST_UNIT = (
    "fused multiply-adds (one tangent of F_i costs T_i, one adjoint A_i, "
    "a p×q by q×r product p·q·r)"
)

#: Sums of products of dims stay below this bound in int64 arithmetic (2**62 leaves
#: a factor 2 of headroom for one more addition).
INT64_SAFE = 2**62


def fits_int64(largest: int, terms: int) -> bool:
    """Whether ``terms`` products ``a*b*c`` of numbers up to ``largest`` sum safely in int64.

    Every vectorized cost computation asks this first and falls back to exact
    Python ints when it is False.

    Examples
    --------
    >>> fits_int64(1000, 10**6), fits_int64(10**7, 10**4)
    (True, False)
    """
    return int(terms) * int(largest) ** 3 < INT64_SAFE

__all__ = [
    "COST_UNIT",
    "GJC_COST_UNIT",
    "INT64_SAFE",
    "fits_int64",
    "matmul_cost",
    "flops",
    "loss_first_cost",
    "input_first_cost",
    "steps_cost",
    "steps_cost_fast",
    "KIND_NAMES",
    "KindSig",
    "structured_product",
    "densify_cost",
    "span_signature",
    "structured_steps_cost",
    "stored_elements",
]


def matmul_cost(p: int, q: int, r: int) -> int:
    """Scalar multiplications of a ``p x q`` times ``q x r`` product: ``p*q*r``.

    Examples
    --------
    >>> matmul_cost(10, 100, 5)
    5000
    """
    return int(p) * int(q) * int(r)


def flops(multiplications: int) -> int:
    """FLOPs of a count of scalar multiplications: two per multiply-add.

    Examples
    --------
    >>> flops(15125)
    30250
    """
    return 2 * int(multiplications)


def loss_first_cost(dims: Sequence[int]) -> int:
    """Cost of multiplying the chain left to right (the article's "forwards").

    ``sum_{k=1}^{n-1} p0 * pk * p(k+1)``; with ``p0 = 1`` (a scalar loss) each
    step is a vector-matrix product.

    Examples
    --------
    >>> loss_first_cost([1, 10, 100, 100, 1000])   # the article, |x| = 1000
    111000
    """
    p = [int(d) for d in dims]
    return sum(p[0] * p[k] * p[k + 1] for k in range(1, len(p) - 1))


def input_first_cost(dims: Sequence[int]) -> int:
    """Cost of multiplying the chain right to left (the article's "backwards").

    ``sum_{k=0}^{n-2} pk * p(k+1) * pn``: the input size ``pn`` enters every step.

    Examples
    --------
    >>> input_first_cost([1, 10, 100, 100, 1000])
    11010000
    """
    p = [int(d) for d in dims]
    return sum(p[k] * p[k + 1] * p[-1] for k in range(len(p) - 2))


def steps_cost(dims: Sequence[int], steps: Sequence[Sequence[int]]) -> int:
    """Total cost of a bracketing given as steps ``(i, k, j)``: ``sum p_i p_k p_j``.

    A step ``(i, k, j)`` multiplies the product over dims ``i..k`` by the
    product over dims ``k..j``.

    Examples
    --------
    >>> steps_cost([10, 100, 5, 50], [(0, 1, 2), (0, 2, 3)])   # (A1A2)A3
    7500
    """
    p = [int(d) for d in dims]
    return sum(p[int(i)] * p[int(k)] * p[int(j)] for i, k, j in steps)


def steps_cost_fast(dims: Sequence[int], steps: np.ndarray) -> int:
    """:func:`steps_cost` for an ``(m, 3)`` step array, vectorized when int64 cannot overflow."""
    steps = np.asarray(steps, dtype=np.int64).reshape(-1, 3)
    if len(steps) == 0:
        return 0
    if not fits_int64(max(dims), len(steps)):
        return steps_cost(dims, steps.tolist())
    p = np.asarray(dims, dtype=np.int64)
    return int((p[steps[:, 0]] * p[steps[:, 1]] * p[steps[:, 2]]).sum())



# ----------------------------------------------------------------------------- structured model
# (the count table is in the module docstring)

#: The kinds the structured model knows.
KIND_NAMES = ("dense", "diagonal", "identity", "diag_rank_one", "kronecker")


@dataclass(frozen=True)
class KindSig:
    """What the structured cost model knows of a factor: its kind and shape, no data.

    Parameters
    ----------
    kind : str
        One of :data:`KIND_NAMES`.
    rows, cols : int
        The shape. Diagonal, identity and diag_rank_one factors are square.
    inner : KindSig, optional
        For ``'kronecker'``: the kind of ``A`` in ``A ⊗ xᵀ`` (never itself kronecker).
    width : int
        For ``'kronecker'``: ``|x|``; ``cols == inner.cols * width``.

    Examples
    --------
    >>> KindSig.diagonal(100), KindSig.kronecker(KindSig.identity(3), 4).shape
    (KindSig('diagonal', 100x100), (3, 12))
    """

    kind: str
    rows: int
    cols: int
    inner: KindSig | None = None
    width: int = 1

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
        if self.kind == "kronecker" and self.inner is not None:
            return f"KindSig('kronecker', {self.inner!r} ⊗ x[{self.width}])"
        return f"KindSig({self.kind!r}, {self.rows}x{self.cols})"


def densify_cost(sig: KindSig) -> int:
    """Multiplications to write a factor of kind ``sig`` out as a dense array.

    Examples
    --------
    >>> densify_cost(KindSig.diag_rank_one(10)), densify_cost(KindSig.dense(3, 4))
    (100, 0)
    >>> densify_cost(KindSig.kronecker(KindSig.dense(1, 100), 1000))   # an outer product
    100000
    """
    if sig.kind == "diag_rank_one":
        return sig.rows * sig.rows
    if sig.kind != "kronecker" or sig.inner is None:
        return 0
    inner = sig.inner
    if inner.kind == "identity":
        return 0
    if inner.kind == "diagonal":
        return inner.cols * sig.width
    return densify_cost(inner) + inner.rows * inner.cols * sig.width


def stored_elements(sig: KindSig) -> int:
    """Numbers a factor of kind ``sig`` stores (a dense one all ``rows * cols``).

    Examples
    --------
    >>> stored_elements(KindSig.kronecker(KindSig.identity(100), 1000))   # just x
    1000
    """
    if sig.kind == "dense":
        return sig.rows * sig.cols
    if sig.kind == "kronecker" and sig.inner is not None:
        return stored_elements(sig.inner) + sig.width
    return {"diagonal": 1, "identity": 0, "diag_rank_one": 3}[sig.kind] * sig.rows


def structured_product(left: KindSig, right: KindSig) -> tuple[int, KindSig]:
    """The count and the kind of ``left · right`` under the structured model (table above).

    Examples
    --------
    >>> structured_product(KindSig.dense(1, 100), KindSig.diagonal(100))
    (100, KindSig('dense', 1x100))
    >>> structured_product(KindSig.dense(1, 10), KindSig.kronecker(KindSig.identity(10), 100))
    (0, KindSig('kronecker', KindSig('dense', 1x10) ⊗ x[100]))
    """
    if left.cols != right.rows:
        raise ValueError(f"left is {left.rows}x{left.cols} but right is {right.rows}x{right.cols}")
    p, q, r = left.rows, left.cols, right.cols
    a, b = left.kind, right.kind
    if b == "identity":
        return 0, left
    if a == "identity":
        return 0, right
    if b == "kronecker" and right.inner is not None and a != "kronecker":
        cost, inner = structured_product(left, right.inner)
        return cost, KindSig.kronecker(inner, right.width)
    if a == "kronecker":
        cost, out = structured_product(KindSig.dense(p, q), right)
        return densify_cost(left) + cost, out
    return _PAIR_COSTS[a, b](p, q, r)


def _dense_out(cost: int, p: int, r: int) -> tuple[int, KindSig]:
    return cost, KindSig.dense(p, r)


_PAIR_COSTS = {
    ("diagonal", "diagonal"): lambda p, q, r: (q, KindSig.diagonal(q)),
    ("diagonal", "diag_rank_one"): lambda p, q, r: (2 * q, KindSig.diag_rank_one(q)),
    ("diagonal", "dense"): lambda p, q, r: _dense_out(q * r, p, r),
    ("diag_rank_one", "diagonal"): lambda p, q, r: (2 * q, KindSig.diag_rank_one(q)),
    ("diag_rank_one", "diag_rank_one"): lambda p, q, r: _dense_out(2 * q * q + 5 * q, p, r),
    ("diag_rank_one", "dense"): lambda p, q, r: _dense_out(3 * q * r, p, r),
    ("dense", "diagonal"): lambda p, q, r: _dense_out(p * q, p, r),
    ("dense", "diag_rank_one"): lambda p, q, r: _dense_out(3 * p * q, p, r),
    ("dense", "dense"): lambda p, q, r: _dense_out(p * q * r, p, r),
}


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

    ``steps`` are ``(i, k, j)`` as in :func:`steps_cost`; the total adds, once,
    :func:`densify_cost` of the chain's product (a product is delivered dense).

    Examples
    --------
    >>> sigs = [KindSig.dense(1, 10), KindSig.dense(10, 100), KindSig.diagonal(100),
    ...         KindSig.dense(100, 1000)]          # the article's chain, |x| = 1000
    >>> structured_steps_cost(sigs, [(0, 1, 2), (0, 2, 3), (0, 3, 4)])
    101100
    >>> structured_steps_cost(sigs, [(2, 3, 4), (1, 2, 4), (0, 1, 4)])
    1110000
    """
    span = {i: sig for i, sig in enumerate(sigs)}  # span[i]: kind of the product built at i
    total = 0
    for i, k, _ in steps:
        cost, span[int(i)] = structured_product(span[int(i)], span.pop(int(k)))
        total += cost
    return total + densify_cost(span[0])
