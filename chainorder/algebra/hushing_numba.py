"""Hu–Shing matrix-chain ordering compiled with numba: int64 kernel, exact 128-bit comparisons."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from .costs import fits_int64
from .plan import steps_from_triangles

__all__ = ["hu_shing_steps_numba"]

# The same algorithm as chainorder.algebra.hushing, on arrays: read that module for
# the why; comments here only map array names to it. Arcs are numbered in
# sweep order (a post-order), the root last; -1 is "none".

_LIVE, _REMOVED, _ABSORBED = 0, 1, 2


def hu_shing_steps_numba(dims: Sequence[int]) -> tuple[np.ndarray, int]:
    """Hu–Shing with a numba kernel; see :func:`chainorder.algebra.hushing.hu_shing_steps`.

    Every intermediate (costs, edge sums, supporting-weight numerators and
    denominators) is below ``max(p)**3 * n``, which the caller guarantees to
    be below ``2**62``; supporting weights are compared by exact 128-bit
    cross products, never as floats.

    Parameters
    ----------
    dims : sequence of int
        Validated dims ``p_0..p_n``, ``n >= 2``, ``max(p)**3 * n < 2**62``.

    Returns
    -------
    steps : ndarray of int64, shape (n-1, 3)
        As :func:`chainorder.algebra.hushing.hu_shing_steps`.
    cost : int
        The optimal cost, a Python int.
    """
    n = len(dims) - 1
    if n < 2 or not fits_int64(max(dims), n):
        raise ValueError(f"hu_shing_steps_numba needs n >= 2 and max(p)**3 * n < 2**62, got {n=}")
    p = np.asarray(dims, dtype=np.int64)
    shift = int(np.argmin(p))  # first smallest, as the pure-Python path
    w = np.concatenate((p[shift:], p[:shift], p[shift : shift + 1]))
    triangles, cost = _solve(w)
    steps = steps_from_triangles(triangles, shift, n + 1)
    check = int(np.sum(p[steps[:, 0]] * p[steps[:, 1]] * p[steps[:, 2]]))
    if check != cost:
        raise RuntimeError(f"hu_shing_steps_numba: internal error on dims {tuple(dims)!r}")
    return steps, int(cost)


@njit(cache=True)
def _solve(w):
    """Triangles (rotated vertex numbers) and cost of the optimal partition of polygon ``w``."""
    lo, hi, first_child, next_sibling = _sweep(w)
    na = lo.shape[0]
    low = np.empty(na, dtype=np.int64)
    for x in range(na):
        low[x] = lo[x] if w[lo[x]] <= w[hi[x]] else hi[x]
    low[na - 1] = 0
    state, absorber, cost = _bottom_up(w, lo, hi, low, first_child, next_sibling)
    kept = _kept(state, absorber)
    return _fan_triangles(lo, hi, low, kept), cost


@njit(cache=True)
def _sweep(w):
    """One-sweep: potential h-arcs ``(lo, hi)`` in post-order with their children lists."""
    m = w.shape[0] - 1
    lo = np.empty(m, dtype=np.int64)
    hi = np.empty(m, dtype=np.int64)
    first_child = np.full(m, -1, dtype=np.int64)
    next_sibling = np.full(m, -1, dtype=np.int64)
    vertices = np.empty(m, dtype=np.int64)
    open_arcs = np.empty(m, dtype=np.int64)
    nv = 0
    no = 0
    na = 0
    for i in range(m):
        while nv >= 2 and w[vertices[nv - 1]] > w[i]:
            nv -= 1
            if vertices[nv - 1] != 0:
                no, na = _add_arc(
                    vertices[nv - 1], i, lo, hi, first_child, next_sibling, open_arcs, no, na
                )
        vertices[nv] = i
        nv += 1
    no, na = _add_arc(0, m, lo, hi, first_child, next_sibling, open_arcs, no, na)
    return lo[:na], hi[:na], first_child[:na], next_sibling[:na]


@njit(cache=True)
def _add_arc(a, b, lo, hi, first_child, next_sibling, open_arcs, no, na):
    """Append arc ``(a, b)``, adopting the open arcs inside it; return the new ``no, na``."""
    child = -1
    while no > 0 and lo[open_arcs[no - 1]] >= a:
        no -= 1
        next_sibling[open_arcs[no]] = child
        child = open_arcs[no]
    lo[na] = a
    hi[na] = b
    first_child[na] = child
    open_arcs[no] = na
    return no + 1, na + 1


@njit(cache=True)
def _mul128(a, b):
    """``a * b`` for 0 <= a, b < 2**63 as a (high, low) pair of uint64 words."""
    mask = np.uint64(0xFFFFFFFF)
    s = np.uint64(32)
    a = np.uint64(a)
    b = np.uint64(b)
    a0 = a & mask
    a1 = a >> s
    b0 = b & mask
    b1 = b >> s
    p00 = a0 * b0
    p01 = a0 * b1
    p10 = a1 * b0
    mid = (p00 >> s) + (p01 & mask) + (p10 & mask)
    low = (p00 & mask) | (mid << s)
    high = a1 * b1 + (p01 >> s) + (p10 >> s) + (mid >> s)
    return high, low


@njit(cache=True)
def _heavier(a, b, num, den):
    """Whether arc ``a``'s supporting weight ``num/den`` is strictly above ``b``'s."""
    h1, l1 = _mul128(num[a], den[b])
    h2, l2 = _mul128(num[b], den[a])
    return h1 > h2 or (h1 == h2 and l1 > l2)


@njit(cache=True)
def _meld(a, b, num, den, left, right, dist, path):
    """Meld leftist max-heaps rooted at ``a`` and ``b``; return the new root."""
    if a < 0:
        return b
    if b < 0:
        return a
    if _heavier(b, a, num, den):
        a, b = b, a
    root = a
    path[0] = a
    depth = 1
    while True:
        r = right[a]
        if r < 0:
            right[a] = b
            break
        if _heavier(b, r, num, den):
            right[a] = b
            b = r
        a = right[a]
        path[depth] = a
        depth += 1
    for d in range(depth - 1, -1, -1):
        x = path[d]
        dl = dist[left[x]] if left[x] >= 0 else 0
        dr = dist[right[x]] if right[x] >= 0 else 0
        if dl < dr:
            left[x], right[x] = right[x], left[x]
            dr = dl
        dist[x] = dr + 1
    return root


@njit(cache=True)
def _pop(root, num, den, left, right, dist, path):
    """Remove the root of a heap; return the root of the rest."""
    rest = _meld(left[root], right[root], num, den, left, right, dist, path)
    left[root] = -1
    right[root] = -1
    dist[root] = 1
    return rest


@njit(cache=True)
def _live_top(v, top_at, below_lo, below_hi, lo, state):
    """The latest processed live arc ending at vertex ``v``, dropping dead ones on the way."""
    t = top_at[v]
    while t >= 0 and state[t] != _LIVE:
        t = below_lo[t] if lo[t] == v else below_hi[t]
    top_at[v] = t
    return t


@njit(cache=True)
def _bottom_up(w, lo, hi, low, first_child, next_sibling):  # noqa: C901 (Hu-Shing kernel)
    """Part II's bottom-up pass; return each arc's state and absorber, and the optimal cost."""
    na = lo.shape[0]
    root = na - 1
    prefix = np.zeros(w.shape[0], dtype=np.int64)
    for k in range(1, w.shape[0]):
        prefix[k] = prefix[k - 1] + w[k - 1] * w[k]
    num = np.zeros(na, dtype=np.int64)
    den = np.zeros(na, dtype=np.int64)
    state = np.zeros(na, dtype=np.int8)
    absorber = np.full(na, -1, dtype=np.int64)
    left = np.full(na, -1, dtype=np.int64)
    right = np.full(na, -1, dtype=np.int64)
    dist = np.ones(na, dtype=np.int64)
    path = np.empty(na + 1, dtype=np.int64)
    heap_of = np.full(na, -1, dtype=np.int64)
    top_at = np.full(w.shape[0], -1, dtype=np.int64)
    below_lo = np.full(na, -1, dtype=np.int64)
    below_hi = np.full(na, -1, dtype=np.int64)
    for x in range(na):
        # bnd: sum of w_a w_b over x's region edges other than x itself.
        bnd = prefix[hi[x]] - prefix[lo[x]]
        heap = -1
        c = first_child[x]
        while c >= 0:
            bnd -= prefix[hi[c]] - prefix[lo[c]] - w[lo[c]] * w[hi[c]]
            heap = _meld(heap, heap_of[c], num, den, left, right, dist, path)
            c = next_sibling[c]
        weight = w[low[x]]
        while heap >= 0 and num[heap] >= weight * den[heap]:
            top = heap
            heap = _pop(heap, num, den, left, right, dist, path)
            state[top] = _REMOVED
            bnd += den[top]
        v = low[x]
        if x == root:
            edge = w[0] * w[1] + w[0] * w[w.shape[0] - 2]
        else:
            t = _live_top(v, top_at, below_lo, below_hi, lo, state)
            if t >= 0 and lo[t] >= lo[x] and hi[t] <= hi[x]:
                edge = w[lo[t]] * w[hi[t]]
            elif v == lo[x]:
                edge = w[v] * w[v + 1]
            else:
                edge = w[v] * w[v - 1]
        num[x] = weight * (bnd - edge)
        den[x] = bnd - w[lo[x]] * w[hi[x]]
        if x == root:
            break
        while heap >= 0 and not _heavier(x, heap, num, den):
            top = heap
            heap = _pop(heap, num, den, left, right, dist, path)
            state[top] = _ABSORBED
            absorber[top] = x
            num[x] += num[top]
            den[x] += den[top]
        heap_of[x] = _meld(heap, x, num, den, left, right, dist, path)
        below_lo[x] = top_at[lo[x]]
        top_at[lo[x]] = x
        below_hi[x] = top_at[hi[x]]
        top_at[hi[x]] = x
    cost = 0
    for x in range(na):
        if state[x] == _LIVE:
            cost += num[x]
    return state, absorber, cost


@njit(cache=True)
def _kept(state, absorber):
    """Whether each arc is in the optimal partition; absorbed arcs follow their absorber."""
    na = state.shape[0]
    kept = np.zeros(na, dtype=np.bool_)
    kept[na - 1] = True
    for x in range(na - 2, -1, -1):
        if state[x] == _ABSORBED:
            kept[x] = kept[absorber[x]]
        else:
            kept[x] = state[x] == _LIVE
    return kept


@njit(cache=True)
def _fan_triangles(lo, hi, low, kept):
    """Triangles of the partition: each kept region fanned from its lighter end (rotated ids)."""
    na = lo.shape[0]
    root = na - 1
    m = hi[root]
    # first_start[v] -> next_start[x]: kept arcs with lo == v, outermost first.
    first_start = np.full(m, -1, dtype=np.int64)
    next_start = np.full(na, -1, dtype=np.int64)
    for x in range(na - 1):
        if kept[x]:
            next_start[x] = first_start[lo[x]]
            first_start[lo[x]] = x
    triangles = np.empty((m - 2, 3), dtype=np.int64)
    nt = 0
    last = np.zeros(na, dtype=np.int64)
    stack = np.empty(na, dtype=np.int64)
    stack[0] = root
    ns = 1
    for v in range(1, m):
        top = stack[ns - 1]
        nt = _fan_edge(triangles, nt, low[top], last[top], v)
        while hi[stack[ns - 1]] == v:
            ns -= 1
            top = stack[ns - 1]
            nt = _fan_edge(triangles, nt, low[top], lo[stack[ns]], v)
        last[stack[ns - 1]] = v
        x = first_start[v]
        while x >= 0:
            stack[ns] = x
            ns += 1
            last[x] = v
            x = next_start[x]
    return triangles[:nt]


@njit(cache=True)
def _fan_edge(triangles, nt, apex, a, b):
    """Add the fan triangle over region edge ``(a, b)`` unless at the apex; return the count."""
    if apex != a and apex != b:
        triangles[nt, 0] = apex
        triangles[nt, 1] = a
        triangles[nt, 2] = b
        nt += 1
    return nt
