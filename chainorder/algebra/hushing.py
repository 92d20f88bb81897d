"""The Hu–Shing O(n log n) exact matrix-chain ordering: pure-Python reference and numba dispatch."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .costs import fits_int64, steps_cost_fast
from .plan import steps_from_triangles

__all__ = [
    "hu_shing_steps",
    "hu_shing_steps_python",
    "NUMBA_MIN_MATRICES",
    "NUMBA_COLD_MIN_MATRICES",
]

#: Shortest chain :func:`hu_shing_steps` hands to the numba kernel. Below it
#: the pure-Python path takes under about 0.15 s, less than loading the
#: compiled kernel from numba's cache (about 2 s per process, and about 15 s
#: to compile it the first time).
NUMBA_MIN_MATRICES = 10_000

#: Shortest chain for which the kernel is compiled when no compiled copy
#: exists yet (first use after installing): compiling takes about 15 s, the
#: pure-Python path about 1.5 s at 10**5 and 30 s at 10**6 matrices.
NUMBA_COLD_MIN_MATRICES = 400_000

# The chain p0..pn is the convex polygon V0..Vn with weights p0..pn; the
# bracketings are its triangulations, triangle (i, k, j) costing p_i p_k p_j.
# Inside this module the polygon is rotated so that vertex 0 is the first
# smallest weight and a copy of it closes the polygon as vertex m = n + 1.
# Ties between equal weights are broken by rotated index (the smaller index
# is the lighter vertex), which is what the strict ">" of the one-sweep and
# the choice of the lower endpoint of an arc below both assume.

_NIL = -1
# What the bottom-up pass did to an arc: still in its heap (live), merged into
# the region above it (removed), or tied to the arc above it (absorbed: it is
# in the partition exactly when that arc is).
_LIVE, _REMOVED, _ABSORBED = 0, 1, 2


def hu_shing_steps(dims: Sequence[int]) -> tuple[np.ndarray, int]:
    """Optimal bracketing of a chain by the Hu–Shing algorithm, exactly.

    The chain of matrices ``A_1..A_n`` (``A_i`` is ``p_{i-1} x p_i``) is the
    convex polygon ``V_0..V_n`` with weights ``p_0..p_n``; a bracketing is a
    triangulation, a triangle ``(i, k, j)`` being the product over dims
    ``i..k`` times the product over dims ``k..j`` at cost ``p_i p_k p_j``.
    Hu and Shing find the cheapest triangulation in O(n log n) time: rotate
    the smallest weight to ``V_0``, list the potential h-arcs in one sweep,
    then decide bottom-up over the tree of those arcs which of them the
    optimum keeps, every other region being a fan from its lightest vertex.

    This dispatches to the numba kernel
    (:mod:`chainorder.algebra.hushing_numba`) when numba imports, the chain has at
    least :data:`NUMBA_MIN_MATRICES` matrices and every intermediate fits in
    int64 (``max(p)**3 * n < 2**62``), and to :func:`hu_shing_steps_python`
    otherwise; both return the same steps and cost. Until the kernel has
    been compiled once (numba caches it on disk), only chains of at least
    :data:`NUMBA_COLD_MIN_MATRICES` matrices pay for compiling it.

    Parameters
    ----------
    dims : sequence of int
        Validated dims ``p_0..p_n``: Python ints >= 1, at least two of them.

    Returns
    -------
    steps : ndarray of int64, shape (n-1, 3)
        One row ``(i, k, j)`` per multiplication, ``i < k < j``, sorted by
        ``j - i`` then ``i``: every row comes after the rows that build its
        two operands, and the last row is ``(0, k, n)``.
    cost : int
        The optimal number of scalar multiplications, an exact Python int.

    Notes
    -----
    O(n log n) time and O(n) memory, with no recursion. Ties between
    equally cheap bracketings are broken deterministically (not necessarily
    as the dynamic program breaks them). The cost the algorithm computes is
    checked against the cost of the steps it returns; a difference would
    be a bug and raises ``RuntimeError``.

    References
    ----------
    T. C. Hu and M. T. Shing, "Computation of matrix chain products. Part I",
    SIAM J. Comput. 11(2):362-373, 1982, and "Part II", SIAM J. Comput.
    13(2):228-251, 1984. O. Schwartz and E. Weiss, "Revisiting 'Computation
    of Matrix Chain Products'", SIAM J. Comput. 48(5), 2019 (also on arXiv,
    2017), which repairs a gap in the proof of Part II; the algorithm
    itself, implemented here, stands.

    Examples
    --------
    The textbook chain of Cormen et al. §15.2:

    >>> steps, cost = hu_shing_steps((30, 35, 15, 5, 10, 20, 25))
    >>> cost
    15125
    >>> steps.tolist()
    [[1, 2, 3], [3, 4, 5], [0, 1, 3], [3, 5, 6], [0, 3, 6]]
    """
    fast = _numba_kernel(dims)
    if fast is None:
        return hu_shing_steps_python(dims)
    return fast(dims)


def hu_shing_steps_python(dims: Sequence[int]) -> tuple[np.ndarray, int]:
    """Pure-Python Hu–Shing with Python-int arithmetic; see :func:`hu_shing_steps`.

    The reference for the numba kernel and the fallback when numba is
    missing or the dims are too large for int64. Same parameters, returns
    and complexity as :func:`hu_shing_steps`.

    Examples
    --------
    >>> steps, cost = hu_shing_steps_python((10, 100, 5, 50))
    >>> steps.tolist(), cost
    ([[0, 1, 2], [0, 2, 3]], 7500)
    """
    if len(dims) < 2:
        raise ValueError(f"dims must hold at least two dims p0, p1, got {tuple(dims)!r}")
    m = len(dims)
    if m < 3:
        return np.empty((0, 3), dtype=np.int64), 0
    w, shift = _rotate(dims)
    tree = _ArcTree(w)
    solver = _BottomUp(w, tree)
    cost = solver.run()
    triangles = _fan_triangles(tree, solver.low, solver.kept())
    steps = steps_from_triangles(np.array(triangles, dtype=np.int64).reshape(-1, 3), shift, m)
    if steps_cost_fast(tuple(dims), steps) != cost:
        raise RuntimeError(f"hu_shing_steps_python: internal error on dims {tuple(dims)!r}")
    return steps, cost


def _numba_kernel(dims: Sequence[int]) -> Callable[[Sequence[int]], tuple[np.ndarray, int]] | None:
    """The numba solver if it pays off, numba imports and int64 is safe for ``dims``; else None."""
    n = len(dims) - 1
    if n < max(NUMBA_MIN_MATRICES, 2) or not fits_int64(max(dims), n):
        return None
    if n < NUMBA_COLD_MIN_MATRICES and not _numba_compiled():
        return None  # compiling first (~15 s) would cost more than pure Python saves
    try:
        from . import hushing_numba
    except ImportError:
        return None
    return hushing_numba.hu_shing_steps_numba


def _rotate(dims: Sequence[int]) -> tuple[list[int], int]:
    """Weights from the first smallest dim on, closed by a copy of it; and its index."""
    shift = min(range(len(dims)), key=dims.__getitem__)
    w = [int(d) for d in dims[shift:]] + [int(d) for d in dims[:shift]]
    return w + [w[0]], shift


class _ArcTree:
    """The potential h-arcs of the rotated polygon, as a tree, in post-order.

    Arc ``x`` joins vertices ``lo[x] < hi[x]``; every vertex strictly
    between them is heavier than both ends (Part II, the one-sweep
    algorithm). Arcs are numbered in the order the sweep finds them, which
    is a post-order (inner arcs first); the last one is the root, the whole
    polygon seen as the degenerate arc ``(0, m)``.
    """

    def __init__(self, w: list[int]) -> None:
        self.lo: list[int] = []
        self.hi: list[int] = []
        self.children: list[list[int]] = []
        m = len(w) - 1
        vertices: list[int] = []
        open_arcs: list[int] = []  # arcs whose parent is not found yet
        for i in range(m):
            while len(vertices) >= 2 and w[vertices[-1]] > w[i]:
                vertices.pop()
                # Arcs at vertex 0 are edges of the root's fan, never h-arcs.
                if vertices[-1] != 0:
                    self._add(vertices[-1], i, open_arcs)
            vertices.append(i)
        self._add(0, m, open_arcs)
        self.root = len(self.lo) - 1

    def _add(self, a: int, b: int, open_arcs: list[int]) -> None:
        children = []
        while open_arcs and self.lo[open_arcs[-1]] >= a:
            children.append(open_arcs.pop())
        self.lo.append(a)
        self.hi.append(b)
        self.children.append(children[::-1])
        open_arcs.append(len(self.lo) - 1)

    def __len__(self) -> int:
        return len(self.lo)


class _SupportHeaps:
    """Leftist max-heaps of arcs keyed by supporting weight ``num[x] / den[x]``.

    Many heaps share the arrays; a heap is named by its root arc, ``_NIL``
    when empty. Melding two costs O(log n) (Knuth, TAOCP vol. 3, §5.2.3).
    """

    def __init__(self, size: int, num: list[int], den: list[int]) -> None:
        self.num, self.den = num, den
        self.left = [_NIL] * size
        self.right = [_NIL] * size
        self.dist = [1] * size  # length of the right spine; 0 for _NIL

    def heavier(self, a: int, b: int) -> bool:
        """Whether arc ``a`` has a strictly larger supporting weight than ``b``."""
        return self.num[a] * self.den[b] > self.num[b] * self.den[a]

    def meld(self, a: int, b: int) -> int:
        """Meld heaps ``a`` and ``b``; return the root of the result."""
        if a == _NIL:
            return b
        if b == _NIL:
            return a
        if self.heavier(b, a):
            a, b = b, a
        root, path = a, [a]
        # Walk down the right spines, keeping the heavier root on top.
        while True:
            r = self.right[a]
            if r == _NIL:
                self.right[a] = b
                break
            if self.heavier(b, r):
                self.right[a] = b
                b = r
            a = self.right[a]
            path.append(a)
        for x in reversed(path):
            self._rebalance(x)
        return root

    def _rebalance(self, x: int) -> None:
        left, right = self.left[x], self.right[x]
        dl = self.dist[left] if left != _NIL else 0
        dr = self.dist[right] if right != _NIL else 0
        if dl < dr:
            self.left[x], self.right[x] = right, left
            dl, dr = dr, dl
        self.dist[x] = dr + 1

    def pop(self, root: int) -> int:
        """Remove the root of a heap; return the root of what is left."""
        rest = self.meld(self.left[root], self.right[root])
        self.left[root] = self.right[root] = _NIL
        self.dist[root] = 1
        return rest


class _BottomUp:
    """The bottom-up pass of Part II over the arc tree: which h-arcs stay, at what cost.

    For arc ``x`` with ends ``lo < hi``, ``low[x]`` is its lighter end. The
    region of ``x`` is the polygon it cuts off, minus the regions of the
    arcs still below it. With ``bnd`` the sum of ``w_a w_b`` over the
    region's edges other than ``x`` itself, the region's fan from ``low[x]``
    costs ``num = w_low (bnd - e)``, ``e`` being the product of the region's
    other edge at ``low[x]``. Above ``x``, the region is fanned from a
    vertex of weight ``w'``: keeping ``x`` costs ``num + w' w_lo w_hi``,
    removing it (fanning its region from there too) ``w' bnd``. So ``x`` is
    kept exactly when ``w'`` is below its supporting weight ``num / den``,
    ``den = bnd - w_lo w_hi`` (on equality both are optimal; it is
    removed). Arcs leave a max-heap, largest supporting weight first:
    popping the smallest instead, as a public port does, gives wrong costs
    (on about one random chain in ten of up to 30 matrices). An arc whose
    supporting weight is not above that of an arc still below it carries
    that arc along: the two are kept or removed together, as one arc with
    summed ``num`` and ``den`` (the "ceiling" of Part II).
    """

    def __init__(self, w: list[int], tree: _ArcTree) -> None:
        size = len(tree)
        self.w, self.tree = w, tree
        # prefix[i] = sum of w[k-1] w[k] over k = 1..i: boundary edges up to vertex i.
        self.prefix = [0] * len(w)
        for k in range(1, len(w)):
            self.prefix[k] = self.prefix[k - 1] + w[k - 1] * w[k]
        self.low = [a if w[a] <= w[b] else b for a, b in zip(tree.lo, tree.hi, strict=True)]
        self.low[tree.root] = 0
        self.num = [0] * size
        self.den = [0] * size
        self.state = [_LIVE] * size
        self.absorber = [_NIL] * size
        self.heaps = _SupportHeaps(size, self.num, self.den)
        self.heap_of = [_NIL] * size
        # Per vertex, a stack of the processed arcs with an end there,
        # linked through below_lo / below_hi; dead ones are skipped lazily.
        self.top_at = [_NIL] * len(w)
        self.below_lo = [_NIL] * size
        self.below_hi = [_NIL] * size

    def run(self) -> int:
        """Process every arc bottom-up; return the optimal cost."""
        for x in range(len(self.tree)):
            self._process(x)
        return sum(self.num[x] for x in range(len(self.tree)) if self.state[x] == _LIVE)

    def _process(self, x: int) -> None:
        tree, heaps = self.tree, self.heaps
        bnd = self._edge_sum(x)
        heap = _NIL
        for c in tree.children[x]:
            bnd -= self._edge_sum(c) - self._product(c)
            heap = heaps.meld(heap, self.heap_of[c])
        weight = self.w[self.low[x]]
        # Arcs supporting at least this weight cost more kept than fanned from low[x].
        while heap != _NIL and self.num[heap] >= weight * self.den[heap]:
            top, heap = heap, heaps.pop(heap)
            self.state[top] = _REMOVED
            bnd += self.den[top]
        self.num[x] = weight * (bnd - self._edge_at_low(x))
        self.den[x] = bnd - self._product(x)
        if x == tree.root:
            return
        while heap != _NIL and not heaps.heavier(x, heap):
            top, heap = heap, heaps.pop(heap)
            self.state[top] = _ABSORBED
            self.absorber[top] = x
            self.num[x] += self.num[top]
            self.den[x] += self.den[top]
        self.heap_of[x] = heaps.meld(heap, x)
        self._push_ends(x)

    def _edge_sum(self, x: int) -> int:
        """Sum of ``w_a w_b`` over the boundary edges from ``lo[x]`` to ``hi[x]``."""
        return self.prefix[self.tree.hi[x]] - self.prefix[self.tree.lo[x]]

    def _product(self, x: int) -> int:
        return self.w[self.tree.lo[x]] * self.w[self.tree.hi[x]]

    def _edge_at_low(self, x: int) -> int:
        """Product of the edge of x's region at ``low[x]`` other than x itself."""
        w, lo, hi = self.w, self.tree.lo, self.tree.hi
        v = self.low[x]
        if x == self.tree.root:
            # No arc in the tree ends at vertex 0: its edges are polygon edges.
            return w[0] * w[1] + w[0] * w[len(w) - 2]
        # The outermost live arc at v inside x, if any, is that edge: arcs
        # processed later at v are outside x, earlier ones are nested inside.
        t = self._live_top(v)
        if t != _NIL and lo[t] >= lo[x] and hi[t] <= hi[x]:
            return self._product(t)
        return w[v] * w[v + 1] if v == lo[x] else w[v] * w[v - 1]

    def _live_top(self, v: int) -> int:
        t = self.top_at[v]
        while t != _NIL and self.state[t] != _LIVE:
            t = self.below_lo[t] if self.tree.lo[t] == v else self.below_hi[t]
        self.top_at[v] = t
        return t

    def _push_ends(self, x: int) -> None:
        a, b = self.tree.lo[x], self.tree.hi[x]
        self.below_lo[x], self.top_at[a] = self.top_at[a], x
        self.below_hi[x], self.top_at[b] = self.top_at[b], x

    def kept(self) -> list[bool]:
        """Whether each arc is in the optimal partition (the root always is)."""
        kept = [False] * len(self.tree)
        for x in reversed(range(len(self.tree))):
            if self.state[x] == _ABSORBED:
                kept[x] = kept[self.absorber[x]]
            else:
                kept[x] = self.state[x] == _LIVE
        kept[self.tree.root] = True
        return kept


def _fan_triangles(tree: _ArcTree, low: list[int], kept: list[bool]) -> list[tuple[int, int, int]]:
    """Triangles of the partition: each kept arc's region fanned from its lighter end.

    One walk round the polygon with a stack of the kept arcs open at the
    current vertex; ``last[x]`` is the vertex where region ``x``'s boundary
    was last seen, so each region edge is met once, in O(n) in all.
    """
    m = tree.hi[tree.root]
    # starts[v]: kept arcs lo == v, outermost (longest) first, so they open in order.
    starts: list[list[int]] = [[] for _ in range(m)]
    for x in reversed(range(len(tree) - 1)):
        if kept[x]:
            starts[tree.lo[x]].append(x)
    triangles: list[tuple[int, int, int]] = []
    last = [0] * len(tree)
    stack = [tree.root]
    for v in range(1, m):
        _fan_edge(triangles, low[stack[-1]], last[stack[-1]], v)
        while tree.hi[stack[-1]] == v:
            closed = stack.pop()
            _fan_edge(triangles, low[stack[-1]], tree.lo[closed], v)
        last[stack[-1]] = v
        for x in starts[v]:
            stack.append(x)
            last[x] = v
    return triangles


def _fan_edge(triangles: list[tuple[int, int, int]], apex: int, a: int, b: int) -> None:
    """Add the fan triangle over region edge ``(a, b)`` unless the edge is at the apex."""
    if apex != a and apex != b:
        triangles.append((apex, a, b))





def _numba_compiled() -> bool:
    """Whether the numba kernel is compiled in this process or in numba's on-disk cache."""
    loaded = sys.modules.get(f"{__package__}.hushing_numba")
    if loaded is not None and getattr(loaded._solve, "signatures", None):
        return True
    here = Path(__file__).resolve().parent
    places = [here / "__pycache__"]
    if os.environ.get("NUMBA_CACHE_DIR"):
        places.append(Path(os.environ["NUMBA_CACHE_DIR"]))
    return any(any(place.rglob("hushing_numba*.nbi")) for place in places if place.is_dir())
