"""Fast approximate orders: the cheapest fan bracketing (O(n)) and the greedy order (O(n log n))."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Literal

import numpy as np

from .costs import fits_int64

__all__ = [
    "fan_costs",
    "fan_steps",
    "best_fan_steps",
    "greedy_steps",
]

GreedyRule = Literal["cost", "memory"]


def fan_costs(dims: Sequence[int]) -> list[int]:
    """Exact cost of each of the ``n + 1`` fan bracketings of a chain, in O(n).

    The fan at vertex ``k`` of the polygon ``V0..Vn`` (weights ``p0..pn``)
    is the triangulation whose triangles all share ``Vk``: every polygon
    edge not at ``Vk`` makes one triangle with it. Its cost is therefore
    ``p_k * (E - p_k * (p_{k-1} + p_{k+1}))``, with ``E`` the sum of
    ``p_a * p_b`` over all ``n + 1`` polygon edges (the closing edge
    ``V0 Vn`` included) and indices taken around the polygon.

    Parameters
    ----------
    dims : sequence of int
        Validated dims ``p0..pn``.

    Returns
    -------
    list of int
        ``costs[k]`` is the exact cost of :func:`fan_steps` ``(n, k)``;
        ``costs[0]`` is the loss-first (left to right) cost and ``costs[n]``
        the input-first (right to left) cost.

    Examples
    --------
    >>> fan_costs([30, 35, 15, 5, 10, 20, 25])
    [40500, 55125, 38250, 15125, 29000, 49000, 47500]
    """
    costs = _fan_cost_array(dims)
    return costs.tolist() if isinstance(costs, np.ndarray) else costs


def _fan_cost_array(dims: Sequence[int]) -> np.ndarray | list[int]:
    """:func:`fan_costs` in int64 if ``(n + 1) max(p)^3 < 2**62``, else in Python ints."""
    n = len(dims) - 1
    if n < 2:
        return [0] * (n + 1)
    if fits_int64(max(dims), n + 1):
        return _fan_costs_int64(dims)
    p = [int(d) for d in dims]
    edges = sum(p[m] * p[m + 1] for m in range(n)) + p[0] * p[n]
    return [p[k] * (edges - p[k] * (p[k - 1] + p[(k + 1) % (n + 1)])) for k in range(n + 1)]


def _fan_costs_int64(dims: Sequence[int]) -> np.ndarray:
    p = np.asarray(dims, dtype=np.int64)
    edges = int(p[:-1] @ p[1:]) + int(p[0] * p[-1])
    around = np.roll(p, 1) + np.roll(p, -1)  # p_{k-1} + p_{k+1}, cyclic
    return p * (edges - p * around)


def fan_steps(n: int, k: int) -> np.ndarray:
    """Steps of the fan bracketing at vertex ``k`` of a chain of ``n`` matrices.

    ``A1..Ak`` is multiplied right to left, ``A(k+1)..An`` left to right, and
    the two products last: ``(A1(A2(..Ak)))((..(A(k+1)A(k+2))..)An)``. The
    fan at 0 is loss-first and the fan at ``n`` input-first.

    Examples
    --------
    >>> fan_steps(4, 2).tolist()
    [[0, 1, 2], [2, 3, 4], [0, 2, 4]]
    """
    if not 0 <= k <= n:
        raise ValueError(f"fan vertex k must be in 0..{n} for a chain of {n} matrices, got {k}")
    left = np.arange(k - 2, -1, -1, dtype=np.int64)  # (m, m+1, k), m = k-2 .. 0
    right = np.arange(k + 1, n, dtype=np.int64)  # (k, m, m+1), m = k+1 .. n-1
    rows = [
        np.stack([left, left + 1, np.full_like(left, k)], axis=1),
        np.stack([np.full_like(right, k), right, right + 1], axis=1),
    ]
    if 0 < k < n:
        rows.append(np.array([[0, k, n]], dtype=np.int64))
    return np.concatenate(rows).reshape(-1, 3)


def best_fan_steps(dims: Sequence[int]) -> tuple[np.ndarray, int]:
    """The cheapest of the ``n + 1`` fan bracketings, in O(n) time.

    López, Karlsson and Bientinesi (2023) show that these ``n + 1``
    bracketings are the *essential* ones; in the words of their abstract,
    "exactly n + 1 parenthesisations are essential in the sense that the
    removal of any one of them causes an unbounded penalty for an infinite
    number of problem instances. By focusing on essential
    parenthesisations, we improve on the best known approximation algorithm
    and show that the approximation factor is at most 1.143" (the best
    factor before was 1.155). That 1.143 is the factor of the article's
    algorithm, not of the plain cheapest fan computed here.

    For the cheapest fan the factor is 2, and it is tight. Bound: with
    ``v`` the lightest vertex and ``E`` the sum of ``p_a p_b`` over the
    polygon's sides, the fan at ``v`` costs at most ``p_v E``, while in any
    triangulation (``n >= 3``) each side lies in one triangle, a triangle
    has at most two sides, and a triangle ``(a, b, c)`` costs at least
    ``p_v`` times the larger side product in it, so the optimum is at
    least ``p_v E / 2``.
    Tightness: the chain with dims ``(1, 1, M) * r + (1,)`` has an optimum
    near ``r M`` (each ``M`` cut off alone) but every fan costs at least
    about ``(2 r - 1) M``: the ratio tends to ``2 - 1/r`` as ``M`` grows.

    On random chains the cheapest fan is usually optimal: on 1000 seeded
    chains of 2 to 30 matrices with dims uniform in 1..1000 (the check in
    ``tests/test_approx.py``) it was optimal on 89.1% and never more than
    1.091 times the optimum; the greedy order was optimal on 16.8%.

    Parameters
    ----------
    dims : sequence of int
        Validated dims ``p0..pn``.

    Returns
    -------
    steps : ndarray of int64, shape (n-1, 3)
        The steps of the cheapest fan (the lowest vertex ``k`` on ties).
    cost : int
        Its exact cost.

    References
    ----------
    F. López, L. Karlsson and P. Bientinesi, "On the Parenthesisations of
    Matrix Chains: All Are Useful, Few Are Essential", 2023,
    arXiv:2303.17352.

    Examples
    --------
    On the textbook chain (Cormen et al. §15.2) the fan at vertex 3 (the
    dim 5) is the optimum, 15125:

    >>> steps, cost = best_fan_steps([30, 35, 15, 5, 10, 20, 25])
    >>> cost, steps.tolist()
    (15125, [[1, 2, 3], [0, 1, 3], [3, 4, 5], [3, 5, 6], [0, 3, 6]])
    """
    costs = _fan_cost_array(dims)
    if isinstance(costs, np.ndarray):
        k = int(np.argmin(costs))  # the first minimum
    else:
        k = min(range(len(costs)), key=costs.__getitem__)
    return fan_steps(len(dims) - 1, k), int(costs[k])


def greedy_steps(dims: Sequence[int], rule: GreedyRule = "cost") -> tuple[np.ndarray, int]:
    """The greedy order: always perform the cheapest multiplication available now.

    The chain is kept as a linked list of factors and every pair of
    neighbouring factors sits in a heap keyed by its cost ``p_i p_k p_j``,
    so the whole order takes O(n log n). Ties go to the leftmost pair.
    Long chains run in a numba kernel when numba imports and int64 cannot
    overflow; the pure-Python heap gives the same steps otherwise.

    Greedy has no constant-factor guarantee. For ``N >= 2`` the three
    matrices with dims ``(N, 1, N^2, N + 1)`` give ``A1 A2`` (cost
    ``N^3``) a slightly cheaper first step than ``A2 A3``
    (``N^3 + N^2``), so greedy pays ``N^3 + N^3 (N + 1) = N^4 + 2 N^3``
    where ``A1 (A2 A3)`` costs ``N (N + 1)^2``: the ratio
    ``N^2 (N + 2) / (N + 1)^2`` exceeds ``N - 1`` and grows without bound.
    On random chains it is poor too: on the 1000 seeded chains of 2 to 30
    matrices with dims in 1..1000 of :func:`best_fan_steps` it was optimal
    on 16.8%, its median ratio to the optimum was 3.5 and its worst 352.

    ``rule='memory'`` keys each pair instead by the memory it frees,
    ``p_i p_j - p_i p_k - p_k p_j`` (output size minus input sizes), the
    default ``'memory-removed'`` score of opt_einsum's greedy path finder.
    It is unbounded too: on dims ``(N, N^2, N, 1)`` it first multiplies
    the two large matrices, paying ``N^4 + N^2`` against the optimum
    ``2 N^3``. opt_einsum pushes only the better of a new tensor's two
    candidate pairs and breaks ties by its own tensor ids, so its paths can
    differ from this rule's (on 16 of 300 seeded chains of 2 to 59
    matrices with dims in 1..1000, 7 of them dearer).

    Parameters
    ----------
    dims : sequence of int
        Validated dims ``p0..pn``.
    rule : {'cost', 'memory'}
        The key a pair of neighbouring factors is chosen by.

    Returns
    -------
    steps : ndarray of int64, shape (n-1, 3)
        The steps in the order greedy performs them.
    cost : int
        Their exact total cost in scalar multiplications, whatever the rule.

    Examples
    --------
    The textbook chain (Cormen et al. §15.2, optimum 15125):

    >>> steps, cost = greedy_steps([30, 35, 15, 5, 10, 20, 25])
    >>> cost, steps.tolist()
    (50625, [[2, 3, 4], [2, 4, 5], [2, 5, 6], [1, 2, 6], [0, 1, 6]])

    The first chain of the unbounded family, ``N = 4`` (optimum 100):

    >>> greedy_steps([4, 1, 16, 5])[1], greedy_steps([4, 1, 16, 5], "memory")[1]
    (384, 100)
    """
    if rule not in ("cost", "memory"):
        raise ValueError(f"rule must be 'cost' or 'memory', got {rule!r}")
    n = len(dims) - 1
    if n >= _NUMBA_FROM and fits_int64(max(dims), n):
        kernel = _greedy_kernel()
        if kernel is not None:
            steps = np.empty((max(n - 1, 0), 3), dtype=np.int64)
            cost = kernel(np.asarray(dims, dtype=np.int64), rule == "memory", steps)
            return steps, int(cost)
    return _greedy_python(dims, rule)


#: Chains at least this long use the numba kernel of :func:`greedy_steps` when it is available.
_NUMBA_FROM = 5000


def _greedy_python(dims: Sequence[int], rule: GreedyRule) -> tuple[np.ndarray, int]:
    """:func:`greedy_steps` with ``heapq`` and Python ints; stale heap entries are skipped."""
    n = len(dims) - 1
    p = [int(d) for d in dims]
    key = _cost_key if rule == "cost" else _memory_key
    prev = list(range(-1, n))  # prev[k]: start of the factor that ends at dim k
    nxt = list(range(1, n + 2))  # nxt[k]: end of the factor that starts at dim k
    heap = [(key(p, k - 1, k, k + 1), k, k - 1, k + 1) for k in range(1, n)]
    heapq.heapify(heap)
    steps: list[tuple[int, int, int]] = []
    total = 0
    while heap:
        _, k, i, j = heapq.heappop(heap)
        if prev[k] != i or nxt[k] != j:
            continue  # a neighbour was merged since this pair was pushed
        steps.append((i, k, j))
        total += p[i] * p[k] * p[j]
        nxt[i], prev[j] = j, i
        prev[k] = nxt[k] = -2  # boundary k is gone
        if i > 0:
            heapq.heappush(heap, (key(p, prev[i], i, j), i, prev[i], j))
        if j < n:
            heapq.heappush(heap, (key(p, i, j, nxt[j]), j, i, nxt[j]))
    return np.array(steps, dtype=np.int64).reshape(-1, 3), total


def _cost_key(p: list[int], i: int, k: int, j: int) -> int:
    return p[i] * p[k] * p[j]


def _memory_key(p: list[int], i: int, k: int, j: int) -> int:
    return p[i] * p[j] - p[i] * p[k] - p[k] * p[j]


_KERNEL: list = []  # [compiled kernel or None], filled on first use so numba loads lazily


def _greedy_kernel():
    """The numba-compiled :func:`_greedy_indexed_heap`, or None without numba."""
    if not _KERNEL:
        try:
            from numba import njit
        except ImportError:
            _KERNEL.append(None)
        else:
            _KERNEL.append(njit(cache=True)(_greedy_indexed_heap))
    return _KERNEL[0]


def _greedy_indexed_heap(p, memory, steps):  # noqa: C901  # pragma: no cover - a compiled DP kernel
    """Greedy on int64 dims with an indexed heap of boundaries; fills ``steps``, returns the cost.

    ``heap[h]`` is a boundary dim ``k`` (0 < k < n) and ``pos[k]`` its slot;
    ``key[k]`` is the key of merging the two factors that meet at ``k``.
    Entries compare by ``(key, k)``, so ties go to the leftmost boundary.
    The helpers are closures so that numba compiles the kernel as one unit.
    """
    n = p.shape[0] - 1
    prev = np.arange(-1, n)  # as in _greedy_python
    nxt = np.arange(1, n + 2)
    key = np.zeros(n + 1, dtype=np.int64)
    heap = np.arange(1, n)
    pos = np.arange(-1, n)  # pos[k] = k - 1 at the start

    def pair_key(i, k, j):
        if memory:
            return p[i] * p[j] - p[i] * p[k] - p[k] * p[j]
        return p[i] * p[k] * p[j]

    def before(a, b):
        return key[a] < key[b] or (key[a] == key[b] and a < b)

    def sift(h, size):
        k = heap[h]
        while h > 0 and before(k, heap[(h - 1) // 2]):
            heap[h] = heap[(h - 1) // 2]
            pos[heap[h]] = h
            h = (h - 1) // 2
        while 2 * h + 1 < size:
            c = 2 * h + 1
            if c + 1 < size and before(heap[c + 1], heap[c]):
                c += 1
            if not before(heap[c], k):
                break
            heap[h] = heap[c]
            pos[heap[h]] = h
            h = c
        heap[h] = k
        pos[k] = h

    for k in range(1, n):
        key[k] = pair_key(k - 1, k, k + 1)
    size = n - 1
    for h in range(size):  # insert one by one: sift moves an entry up before it moves it down
        sift(h, h + 1)
    total = 0
    for s in range(n - 1):
        k = heap[0]
        size -= 1
        heap[0] = heap[size]
        pos[heap[0]] = 0
        sift(0, size)
        i, j = prev[k], nxt[k]
        steps[s, 0], steps[s, 1], steps[s, 2] = i, k, j
        total += p[i] * p[k] * p[j]
        nxt[i], prev[j] = j, i
        if i > 0:
            key[i] = pair_key(prev[i], i, j)
            sift(pos[i], size)
        if j < n:
            key[j] = pair_key(i, j, nxt[j])
            sift(pos[j], size)
    return total
