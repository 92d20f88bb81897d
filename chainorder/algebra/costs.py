"""Cost conventions: exact scalar-multiplication counts and FLOPs, as pure functions.

One convention everywhere (the article's and Cormen's): multiplying a
``p x q`` by a ``q x r`` matrix costs ``p*q*r`` scalar multiplications, and
``2*p*q*r`` FLOPs when each multiply-add counts as two. Every count is an
exact Python ``int``, so it cannot overflow however long the chain or large
the dims.

Structured model
----------------
The dense model counts every Jacobian as a full array. The structured model
counts what multiplying Jacobians of known *kinds* really performs; its
conventions live with the kinds, one module per kind, in
:mod:`chainorder.algebra.kinds` (what it reads of a factor,
:class:`~chainorder.algebra.kinds.KindSig`; the costs of writing a factor out
dense, :func:`~chainorder.algebra.kinds.densify_cost`, and of storing it,
:func:`~chainorder.algebra.kinds.stored_elements`; the registered kinds,
:data:`~chainorder.algebra.kinds.KIND_NAMES`; each kind pair's count rule
beside its product rule, :data:`~chainorder.algebra.kinds.PAIR_RULES`).
``KindSig``, ``KIND_NAMES``, ``densify_cost`` and ``stored_elements`` are
importable from here too. The cost models built on
these conventions are in :mod:`chainorder.algebra.costmodels`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from ..validation import check_dims
from .kinds import KIND_NAMES, KindSig, densify_cost, stored_elements

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
    "densify_cost",
    "stored_elements",
]


def matmul_cost(p: int, q: int, r: int) -> int:
    """Scalar multiplications of a ``p x q`` times ``q x r`` product: ``p*q*r``.

    Examples
    --------
    >>> matmul_cost(10, 100, 5)
    5000
    """
    return _count(p, "p") * _count(q, "q") * _count(r, "r")


def flops(multiplications: int) -> int:
    """FLOPs of a count of scalar multiplications: two per multiply-add.

    Examples
    --------
    >>> flops(15125)
    30250
    """
    return 2 * _count(multiplications, "multiplications")


def _count(value: object, name: str) -> int:
    """``value`` as a Python int >= 0, or a TypeError/ValueError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 0, got {value!r} "
                        f"({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def loss_first_cost(dims: Sequence[int]) -> int:
    """Cost of multiplying the chain left to right (the article's "forwards").

    ``sum_{k=1}^{n-1} p0 * pk * p(k+1)``; with ``p0 = 1`` (a scalar loss) each
    step is a vector-matrix product.

    Examples
    --------
    >>> loss_first_cost([1, 10, 100, 100, 1000])   # the article, |x| = 1000
    111000
    """
    p = check_dims(dims)
    return sum(p[0] * p[k] * p[k + 1] for k in range(1, len(p) - 1))


def input_first_cost(dims: Sequence[int]) -> int:
    """Cost of multiplying the chain right to left (the article's "backwards").

    ``sum_{k=0}^{n-2} pk * p(k+1) * pn``: the input size ``pn`` enters every step.

    Examples
    --------
    >>> input_first_cost([1, 10, 100, 100, 1000])
    11010000
    """
    p = check_dims(dims)
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
    p = check_dims(dims)
    return sum(p[i] * p[k] * p[j] for i, k, j in _checked_steps(steps, len(p) - 1))


def _checked_steps(steps: Sequence[Sequence[int]], n: int) -> list[tuple[int, int, int]]:
    """Steps as int triples ``0 <= i < k < j <= n``, or a ValueError/TypeError naming the step."""
    out = []
    for s, step in enumerate(steps):
        try:
            i, k, j = (_count(v, f"steps[{s}]") for v in step)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"steps[{s}] must be three integers (i, k, j), got {step!r}") from None
        if not 0 <= i < k < j <= n:
            raise ValueError(f"steps[{s}] is {(i, k, j)}; expected 0 <= i < k < j <= {n}")
        out.append((i, k, j))
    return out


def steps_cost_fast(dims: Sequence[int], steps: np.ndarray) -> int:
    """:func:`steps_cost` for an ``(m, 3)`` step array, vectorized when int64 cannot overflow.

    For planners: ``dims`` and ``steps`` are trusted (already validated), unlike
    :func:`steps_cost`.
    """
    steps = np.asarray(steps, dtype=np.int64).reshape(-1, 3)
    if len(steps) == 0:
        return 0
    if not fits_int64(max(dims), len(steps)):
        exact = [int(d) for d in dims]
        return sum(exact[i] * exact[k] * exact[j] for i, k, j in steps.tolist())
    p = np.asarray(dims, dtype=np.int64)
    return int((p[steps[:, 0]] * p[steps[:, 1]] * p[steps[:, 2]]).sum())



# ----------------------------------------------------------------------------- structured model
# KIND_NAMES, KindSig, densify_cost and stored_elements are the kinds' own (imported above
# from chainorder.algebra.kinds, where each kind's module states its facts).

#: Names that moved to :mod:`chainorder.algebra.kinds`, beside the rule table they read.
_MOVED = ("structured_product", "span_signature", "structured_steps_cost")


def __getattr__(name: str) -> object:
    """The structured model's functions moved to the kinds module; the old names warn."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    import warnings

    warnings.warn(f"chainorder.algebra.costs.{name} moved to chainorder.algebra.kinds.{name}; "
                  "import it from there", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module("chainorder.algebra.kinds"), name)
