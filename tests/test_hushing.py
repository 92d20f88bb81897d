"""Hu–Shing, both paths, against an independent DP and brute force on adversarial chains."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainorder.algebra.hushing
from chainorder.algebra.hushing import hu_shing_steps, hu_shing_steps_python

CORMEN = (30, 35, 15, 5, 10, 20, 25)  # Cormen et al., Introduction to Algorithms, §15.2: 15125
HAVE_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed")


def _numba_steps(dims):
    """The numba kernel, whatever the chain's length; Python where int64 is unsafe or n < 2."""
    from chainorder.algebra.hushing_numba import hu_shing_steps_numba

    n = len(dims) - 1
    if n < 2 or max(dims) ** 3 * n >= 2**62:
        return hu_shing_steps_python(dims)
    return hu_shing_steps_numba(dims)


# Every path that must give the optimum. The dispatcher takes the Python path
# on chains this short (see NUMBA_MIN_MATRICES), so the kernel is called directly.
PATHS = [
    pytest.param(hu_shing_steps_python, id="python"),
    pytest.param(_numba_steps, id="numba", marks=needs_numba),
]


def dp_cost(dims) -> int:
    """Optimal cost by the O(n^3) dynamic program, Python ints (independent of the library)."""
    n = len(dims) - 1
    best = {(i, i + 1): 0 for i in range(n)}
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length
            best[i, j] = min(
                best[i, k] + best[k, j] + dims[i] * dims[k] * dims[j] for k in range(i + 1, j)
            )
    return best[0, n]


def brute_force_cost(dims) -> int:
    """Optimal cost over every bracketing, enumerated (small n only)."""

    def costs(i, j):
        if j - i == 1:
            yield 0
            return
        for k in range(i + 1, j):
            for left in costs(i, k):
                for right in costs(k, j):
                    yield left + right + dims[i] * dims[k] * dims[j]

    return min(costs(0, len(dims) - 1))


def assert_valid(dims, steps: np.ndarray, cost: int) -> None:
    """Steps form a triangulation in execution order whose cost is ``cost``."""
    n = len(dims) - 1
    assert steps.dtype == np.int64 and steps.shape == (max(n - 1, 0), 3)
    assert isinstance(cost, int)
    built = {(i, i + 1) for i in range(n)}
    total = 0
    for i, k, j in steps.tolist():
        assert 0 <= i < k < j <= n
        assert (i, k) in built and (k, j) in built, "an operand is used before it is built"
        assert (i, j) not in built, "a product is built twice"
        built.add((i, j))
        total += dims[i] * dims[k] * dims[j]
    assert total == cost
    if n >= 2:
        assert steps[-1, 0] == 0 and steps[-1, 2] == n
        assert len(built) == 2 * n - 1  # the n matrices and the n - 1 products


def assert_optimal(solve, dims) -> None:
    steps, cost = solve(tuple(dims))
    assert_valid(dims, steps, cost)
    assert cost == dp_cost(dims), f"dims {dims}"


# ---------------------------------------------------------------- strategies

lengths = st.integers(min_value=2, max_value=41)
random_chains = st.lists(st.integers(1, 1000), min_size=2, max_size=41)
small_alphabet = st.lists(st.sampled_from([1, 2, 3]), min_size=2, max_size=41)
few_values = st.lists(st.sampled_from([1, 2, 3, 6, 7, 12, 40]), min_size=2, max_size=41)
all_equal = st.builds(lambda d, n: [d] * n, st.integers(1, 1000), lengths)
increasing = st.sets(st.integers(1, 10_000), min_size=2, max_size=41).map(sorted)
decreasing = increasing.map(lambda d: d[::-1])


@st.composite
def rotated_monotone(draw):
    """A strictly increasing chain rotated: one descent, anywhere."""
    dims = draw(increasing)
    k = draw(st.integers(0, len(dims) - 1))
    return dims[k:] + dims[:k]


@st.composite
def one_tiny(draw):
    """Large, close dims with one tiny dim somewhere."""
    dims = draw(st.lists(st.integers(50, 60), min_size=2, max_size=41))
    dims[draw(st.integers(0, len(dims) - 1))] = draw(st.integers(1, 3))
    return dims


@st.composite
def repeated_minimum(draw):
    """Several positions share the smallest dim."""
    dims = draw(st.lists(st.integers(5, 30), min_size=3, max_size=41))
    low = draw(st.integers(1, 4))
    for i in draw(st.lists(st.integers(0, len(dims) - 1), min_size=2, max_size=6)):
        dims[i] = low
    return dims


@st.composite
def zigzag(draw):
    """Alternating light and heavy dims: many potential h-arcs, many equal weights."""
    n = draw(lengths)
    light = st.integers(1, 4)
    heavy = st.integers(5, 40)
    return [draw(light if i % 2 == 0 else heavy) for i in range(n)]


adversarial = st.one_of(
    small_alphabet,
    few_values,
    all_equal,
    increasing,
    decreasing,
    rotated_monotone(),
    one_tiny(),
    repeated_minimum(),
    zigzag(),
)


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("solve", PATHS)
def test_cormen_case(solve):
    steps, cost = solve(CORMEN)
    assert cost == 15125
    assert steps.tolist() == [[1, 2, 3], [3, 4, 5], [0, 1, 3], [3, 5, 6], [0, 3, 6]]
    assert_valid(CORMEN, steps, cost)


@pytest.mark.parametrize("solve", [hu_shing_steps, hu_shing_steps_python])
def test_one_matrix(solve):
    steps, cost = solve((7, 3))
    assert steps.shape == (0, 3) and steps.dtype == np.int64
    assert cost == 0 and isinstance(cost, int)


@pytest.mark.parametrize("solve", PATHS)
def test_two_matrices(solve):
    steps, cost = solve((2, 3, 4))
    assert steps.tolist() == [[0, 1, 2]] and cost == 24


@pytest.mark.parametrize("solve", [hu_shing_steps, hu_shing_steps_python])
def test_brute_force_small(solve):
    rng = np.random.default_rng(1982)
    for n in range(1, 9):
        for high in (2, 3, 50):
            for _ in range(6):
                dims = [int(d) for d in rng.integers(1, high + 1, size=n + 1)]
                steps, cost = solve(tuple(dims))
                assert_valid(dims, steps, cost)
                assert cost == brute_force_cost(dims), f"dims {dims}"


@pytest.mark.parametrize("solve", PATHS)
@settings(max_examples=150, deadline=None)
@given(dims=random_chains)
def test_random_chains_are_optimal(solve, dims):
    assert_optimal(solve, dims)


@pytest.mark.parametrize("solve", PATHS)
@settings(max_examples=250, deadline=None)
@given(dims=adversarial)
def test_adversarial_chains_are_optimal(solve, dims):
    assert_optimal(solve, dims)


@pytest.mark.parametrize(
    "dims",
    [
        [5] * 30,
        list(range(1, 31)),
        list(range(30, 0, -1)),
        [1] * 30,
        [40] * 14 + [1] + [40] * 15,
        [3, 9, 3, 9, 3, 9, 3, 9, 3, 9, 3, 9, 3],
        [2, 2, 1, 2, 2, 1, 2, 2, 1, 2, 2],
        [1, 2, 1, 2, 1],
    ],
    ids=["equal", "increasing", "decreasing", "ones", "one-tiny", "zigzag", "ties", "ones-twos"],
)
@pytest.mark.parametrize("solve", PATHS)
def test_named_shapes(solve, dims):
    assert_optimal(solve, dims)


@pytest.mark.parametrize("solve", PATHS)
def test_longer_chains(solve):
    rng = np.random.default_rng(2019)
    for high in (3, 1000, 10**6):
        dims = [int(d) for d in rng.integers(1, high + 1, size=121)]
        assert_optimal(solve, dims)


@pytest.mark.parametrize("solve", [hu_shing_steps, hu_shing_steps_python])
def test_huge_dims_are_exact(solve):
    rng = np.random.default_rng(10**7)
    equal = [10**7] * 51
    steps, cost = solve(tuple(equal))
    assert cost == 49 * 10**21 and isinstance(cost, int)
    assert_valid(equal, steps, cost)
    for _ in range(3):
        dims = [int(d) for d in rng.integers(1, 10**7 + 1, size=51)]
        assert_optimal(solve, dims)


@needs_numba
def test_numba_near_its_int64_limit():
    # max(p)**3 * n just below 2**62: the numba kernel runs, and must not overflow.
    rng = np.random.default_rng(62)
    n = 4
    high = int((2**62 // n) ** (1 / 3)) - 1
    assert high**3 * n < 2**62
    for _ in range(20):
        dims = [int(d) for d in rng.integers(high // 2, high + 1, size=n + 1)]
        assert_optimal(_numba_steps, dims)


@needs_numba
def test_numba_matches_python():
    rng = np.random.default_rng(1984)
    for n in (2, 3, 10, 100, 2000):
        for high in (2, 7, 1000):
            dims = tuple(int(d) for d in rng.integers(1, high + 1, size=n + 1))
            fast_steps, fast_cost = _numba_steps(dims)
            steps, cost = hu_shing_steps_python(dims)
            assert fast_cost == cost
            np.testing.assert_array_equal(fast_steps, steps)


@needs_numba
def test_dispatch_reaches_numba(monkeypatch):
    import chainorder.algebra.hushing_numba as kernel

    calls = []
    original = kernel.hu_shing_steps_numba
    monkeypatch.setattr(chainorder.algebra.hushing, "NUMBA_MIN_MATRICES", 2)
    monkeypatch.setattr(chainorder.algebra.hushing, "NUMBA_COLD_MIN_MATRICES", 2)
    monkeypatch.setattr(kernel, "hu_shing_steps_numba", lambda d: calls.append(d) or original(d))
    steps, cost = hu_shing_steps(CORMEN)
    assert calls == [CORMEN] and cost == 15125
    # Past int64 the dispatcher keeps to Python ints.
    assert hu_shing_steps((10**7,) * 51)[1] == 49 * 10**21 and len(calls) == 1


@needs_numba
def test_dispatch_does_not_compile_for_a_short_chain(monkeypatch):
    # Until the kernel is compiled somewhere, only very long chains pay for compiling it.
    import chainorder.algebra.hushing_numba as kernel

    calls = []
    original = kernel.hu_shing_steps_numba
    monkeypatch.setattr(chainorder.algebra.hushing, "NUMBA_MIN_MATRICES", 2)
    monkeypatch.setattr(chainorder.algebra.hushing, "_numba_compiled", lambda: False)
    monkeypatch.setattr(kernel, "hu_shing_steps_numba", lambda d: calls.append(d) or original(d))
    assert hu_shing_steps(CORMEN)[1] == 15125 and calls == []
    monkeypatch.setattr(chainorder.algebra.hushing, "NUMBA_COLD_MIN_MATRICES", 6)
    assert hu_shing_steps(CORMEN)[1] == 15125 and calls == [CORMEN]


def test_works_without_numba(monkeypatch):
    # A None entry makes `from . import hushing_numba` raise ImportError.
    monkeypatch.setitem(sys.modules, "chainorder.algebra.hushing_numba", None)
    monkeypatch.setattr(chainorder.algebra.hushing, "NUMBA_MIN_MATRICES", 2)
    steps, cost = hu_shing_steps(CORMEN)
    assert cost == 15125
    assert_valid(CORMEN, steps, cost)


def test_deterministic():
    rng = np.random.default_rng(7)
    dims = tuple(int(d) for d in rng.integers(1, 4, size=500))
    first = hu_shing_steps(dims)
    again = hu_shing_steps(dims)
    assert first[1] == again[1]
    np.testing.assert_array_equal(first[0], again[0])
