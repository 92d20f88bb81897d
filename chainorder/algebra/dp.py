"""The matrix-chain dynamic program (Cormen et al. §15.2), vectorized with numpy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .costs import fits_int64, steps_cost

__all__ = ["dp_steps", "dp_steps_by", "dp_steps_exact", "DP_MAX_MATRICES"]

#: Longest chain :func:`dp_steps` accepts: O(n^3) work is about 1e10 element
#: operations here (minutes); longer chains belong to the O(n log n) Hu-Shing method.
DP_MAX_MATRICES = 3000


def dp_steps(dims: Sequence[int]) -> tuple[np.ndarray, int]:
    """Optimal bracketing of a chain by dynamic programming.

    With ``m(i, j)`` the least cost of the product over dims ``i..j``,
    ``m(i, i+1) = 0`` and ``m(i, j) = min_{i<k<j} m(i, k) + m(k, j) + p_i p_k p_j``.
    The chain is filled by length ``L = j - i``; for each ``L`` every start
    ``i`` and split ``k`` is evaluated at once as a numpy array, so no
    Python-level loop runs over ``i`` or ``k``.

    Parameters
    ----------
    dims : sequence of int
        Validated dims ``p0..pn`` (Python ints >= 1).

    Returns
    -------
    steps : ndarray of int64, shape (n-1, 3)
        Steps ``(i, k, j)`` in a valid execution order (post-order).
    cost : int
        The optimal number of scalar multiplications, exactly.

    Notes
    -----
    O(n^3) time and O(n^2) memory; chains longer than
    :data:`DP_MAX_MATRICES` raise ``ValueError``. Costs are int64 when
    ``2 (n-1) max(p)^3 < 2**62`` and exact Python ints (object arrays)
    otherwise. Ties between equally cheap splits go to the smallest ``k``
    (the shortest left factor), as in Cormen's pseudocode and numpy's
    ``multi_dot``.

    Worked by hand for ``p = (10, 100, 5, 50)``: ``(A1A2)A3`` costs
    ``10*100*5 + 10*5*50 = 7500`` and ``A1(A2A3)`` costs
    ``100*5*50 + 10*100*50 = 75000``, so the first is chosen:

    >>> steps, cost = dp_steps((10, 100, 5, 50))
    >>> steps.tolist(), cost
    ([[0, 1, 2], [0, 2, 3]], 7500)
    """
    n = _check_length(dims)
    if n < 2:
        return np.empty((0, 3), dtype=np.int64), 0
    split = _fill_small(dims) if n <= _PYTHON_UP_TO else _fill_tables(dims)
    steps = _post_order(split, n)
    return steps, steps_cost(dims, steps.tolist())


#: The cost of steps ``(i, k, j)`` given as int64 index arrays that broadcast,
#: as float64 (e.g. a time model's predicted seconds of each step).
StepCost = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def dp_steps_by(dims: Sequence[int], step_cost: StepCost) -> tuple[np.ndarray, float]:
    """The bracketing that minimizes the sum of ``step_cost`` over its steps, exactly.

    The same dynamic program as :func:`dp_steps`, with ``p_i p_k p_j``
    replaced by ``step_cost(i, k, j)``: any cost that depends only on the
    step's indices (so on its dims, and on whether an operand is one of the
    chain's matrices, ``k - i == 1`` or ``j - k == 1``), such as the predicted
    seconds of a :class:`~chainorder.algebra.timemodel.TimeModel`. The
    optimum is exact for that cost up to floating-point rounding of the sums.

    Returns
    -------
    steps : ndarray of int64, shape (n-1, 3)
        Steps ``(i, k, j)`` in a valid execution order (post-order).
    total : float
        The least sum of ``step_cost`` over the steps.

    Examples
    --------
    >>> p = np.array([10, 100, 5, 50])
    >>> steps, total = dp_steps_by(p, lambda i, k, j: 1.0 * p[i] * p[k] * p[j])
    >>> steps.tolist(), total
    ([[0, 1, 2], [0, 2, 3]], 7500.0)
    """
    n = _check_length(dims)
    if n < 2:
        return np.empty((0, 3), dtype=np.int64), 0.0
    steps = _post_order(_fill_tables(dims, step_cost), n)
    return steps, float(np.sum(step_cost(steps[:, 0], steps[:, 1], steps[:, 2])))


def dp_steps_exact(n: int, step_cost: Callable[[int, int, int], Any]) -> tuple[np.ndarray, Any]:
    """The bracketing of ``n`` matrices that minimizes the sum of ``step_cost(i, k, j)``, exactly.

    The same recurrence as :func:`dp_steps`, on Python numbers: ``step_cost``
    returns the cost of one step as an ``int`` (summed exactly, however
    large) or any other number that adds and compares (a ``float``, a
    ``Fraction``). It is called once per ``(i, k, j)``, ``O(n^3)`` times, so
    this is for the chains a cost model other than the dense one plans
    (hundreds of matrices, not thousands). Ties go to the smallest ``k``.

    Returns
    -------
    steps : ndarray of int64, shape (n-1, 3)
        Steps ``(i, k, j)`` in a valid execution order (post-order).
    total : number
        The least sum of ``step_cost`` over the steps (``0`` for ``n < 2``).

    Examples
    --------
    >>> p = (10, 100, 5, 50)
    >>> steps, total = dp_steps_exact(3, lambda i, k, j: p[i] * p[k] * p[j])
    >>> steps.tolist(), total
    ([[0, 1, 2], [0, 2, 3]], 7500)
    """
    if n < 2:
        return np.empty((0, 3), dtype=np.int64), 0
    best: list[list[Any]] = [[0] * (n + 1) for _ in range(n + 1)]  # best[i][j]: dims i..j
    split = np.zeros((n + 1, n + 1), dtype=np.int32)  # split[i, L]: best k - i for j = i + L
    for L in range(2, n + 1):
        for i in range(n - L + 1):
            j, row = i + L, best[i]
            row[j], split[i, L] = min(
                (row[k] + best[k][j] + step_cost(i, k, j), k - i) for k in range(i + 1, j)
            )  # ties: the smaller split (second tuple item) wins
    return _post_order(split, n), best[0][n]


def _check_length(dims: Sequence[int]) -> int:
    n = len(dims) - 1
    if n > DP_MAX_MATRICES:
        raise ValueError(
            f"dp_steps: a chain of {n} matrices is past the dynamic program's limit of "
            f"{DP_MAX_MATRICES} (O(n^3) time, O(n^2) memory); use method='hu-shing'"
        )
    return n


def _fill_tables(dims: Sequence[int], step_cost: StepCost | None = None) -> np.ndarray:
    """Fill the cost tables by chain length; return ``split[i, L]``, the best ``k - i``.

    Without ``step_cost`` a step costs ``p_i p_k p_j``, exactly (int64 or
    Python ints); with it, whatever it returns, in float64.
    """
    n = len(dims) - 1
    exact = step_cost is None and not fits_int64(max(dims), 2 * (n - 1))
    dtype = object if exact else (np.int64 if step_cost is None else np.float64)
    p = np.array(dims, dtype=dtype)
    # by_start[i, L] = m(i, i+L) and by_end[j, L] = m(j-L, j): with both, the
    # two halves of every split are plain strided views, never a gather.
    by_start = np.zeros((n + 1, n + 1), dtype=dtype)
    by_end = np.zeros((n + 1, n + 1), dtype=dtype)
    split = np.zeros((n + 1, n + 1), dtype=np.int32)
    for L in range(2, n + 1):
        starts = n - L + 1
        left = by_start[:starts, 1:L]  # m(i, i+t), t = 1..L-1
        right = by_end[L:, L - 1 : 0 : -1]  # m(i+t, i+L), t = 1..L-1
        inner = sliding_window_view(p, L - 1)[1 : starts + 1]  # p[i+t]
        if step_cost is None:
            step = (p[:starts] * p[L:])[:, np.newaxis] * inner  # p[i] p[i+t] p[i+L]
        else:
            i = np.arange(starts, dtype=np.int64)[:, np.newaxis]
            step = step_cost(i, i + np.arange(1, L, dtype=np.int64), i + L)
        total = left + right + step
        t = np.argmin(total, axis=1)  # first minimum: smallest split wins ties
        best = total[np.arange(starts), t]
        by_start[:starts, L] = best
        by_end[L:, L] = best
        split[:starts, L] = t + 1
    return split


#: Up to this many matrices the DP runs on Python ints: below it numpy's per-call
#: cost outweighs the vectorized loop (about 5x faster for 3 matrices).
_PYTHON_UP_TO = 12


def _fill_small(dims: Sequence[int]) -> np.ndarray:
    """:func:`_fill_tables` on Python ints for short chains; the same splits, ties included."""
    n, p = len(dims) - 1, dims
    m = [[0] * (n + 1) for _ in range(n + 1)]  # m[i][j]: least cost over dims i..j
    split = np.zeros((n + 1, n + 1), dtype=np.int32)
    for L in range(2, n + 1):
        for i in range(n - L + 1):
            j, row = i + L, m[i]
            best, at = min(
                (row[k] + m[k][j] + p[i] * p[k] * p[j], k - i) for k in range(i + 1, j)
            )  # ties: the smaller split (second tuple item) wins
            row[j] = best
            split[i, L] = at
    return split


def _post_order(split: np.ndarray, n: int) -> np.ndarray:
    """Steps of the split tree, children before parents, left before right, without recursion."""
    out: list[tuple[int, int, int]] = []
    todo = [(0, n)]
    while todo:
        i, j = todo.pop()
        k = i + int(split[i, j - i])
        out.append((i, k, j))
        if k - i >= 2:
            todo.append((i, k))
        if j - k >= 2:
            todo.append((k, j))
    # `out` is a pre-order visiting right before left; reversed, it is the
    # post-order left, right, root.
    return np.array(out[::-1], dtype=np.int64).reshape(-1, 3)
