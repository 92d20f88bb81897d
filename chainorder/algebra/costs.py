"""Cost conventions: exact scalar-multiplication counts and FLOPs, as pure functions.

One convention everywhere (the article's and Cormen's): multiplying a
``p x q`` by a ``q x r`` matrix costs ``p*q*r`` scalar multiplications, and
``2*p*q*r`` FLOPs when each multiply-add counts as two. Every count is an
exact Python ``int``, so it cannot overflow however long the chain or large
the dims.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: The unit sentence printed beside every dense count (CLI, tables, figures, report pages).
COST_UNIT = (
    "scalar multiplications (a p×q by q×r product costs p·q·r; FLOPs = 2 × multiplications)"
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
    "INT64_SAFE",
    "fits_int64",
    "matmul_cost",
    "flops",
    "loss_first_cost",
    "input_first_cost",
    "steps_cost",
    "steps_cost_fast",
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
