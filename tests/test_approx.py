"""Approximate orders: each fan against its triangles, the best fan's bound, greedy's lack of it."""

from __future__ import annotations

import numpy as np
import pytest
from chain_helpers import random_chain, random_dims

import chainorder as co
from chainorder import algebra
from chainorder.algebra import approx
from chainorder.algebra.approx import (
    best_fan_steps,
    fan_costs,
    fan_steps,
    greedy_steps,
)
from chainorder.algebra.costs import steps_cost
from chainorder.algebra.dp import dp_steps
from chainorder.algebra.orders import input_first_steps, loss_first_steps
from chainorder.algebra.plan import Plan, check_steps

CORMEN = [30, 35, 15, 5, 10, 20, 25]  # Cormen et al., Introduction to Algorithms, §15.2
PLANNERS = {o: (lambda dims, o=o: co.plan(dims, o)) for o in ("best_fan", "greedy")}


def _fan_triangles(n: int, k: int) -> set[tuple[int, ...]]:
    """The fan at vertex k of the polygon V0..Vn by definition: k with every edge not at k."""
    edges = [(m, m + 1) for m in range(n)] + [(0, n)]
    return {tuple(sorted((k, a, b))) for a, b in edges if k not in (a, b)}


def _brute_greedy(dims: list[int], rule: str) -> tuple[list[tuple[int, int, int]], int]:
    """Greedy by rescanning every neighbouring pair each step (O(n^2)), ties to the leftmost."""
    factors = [(i, i + 1) for i in range(len(dims) - 1)]
    steps, total = [], 0
    while len(factors) > 1:
        def key(a: int) -> tuple[int, int]:
            (i, k), (_, j) = factors[a], factors[a + 1]
            if rule == "cost":
                return dims[i] * dims[k] * dims[j], k
            return dims[i] * dims[j] - dims[i] * dims[k] - dims[k] * dims[j], k

        a = min(range(len(factors) - 1), key=key)
        (i, k), (_, j) = factors[a], factors[a + 1]
        steps.append((i, k, j))
        total += dims[i] * dims[k] * dims[j]
        factors[a : a + 2] = [(i, j)]
    return steps, total


@pytest.mark.parametrize("seed", range(30))
def test_every_fan_is_its_triangles_and_costs_what_they_cost(seed):
    rng = np.random.default_rng(seed)
    dims = random_dims(rng, int(rng.integers(1, 15)))
    n = len(dims) - 1
    costs = fan_costs(dims)
    assert len(costs) == n + 1
    for k in range(n + 1):
        steps = fan_steps(n, k)
        check_steps(n, steps)  # a valid bracketing in a valid execution order
        assert {tuple(s) for s in steps.tolist()} == _fan_triangles(n, k)
        assert costs[k] == steps_cost(dims, steps.tolist())
        assert isinstance(costs[k], int)


def test_fans_at_the_ends_are_loss_first_and_input_first(rng):
    for n in (1, 2, 3, 7, 20):
        dims = random_dims(rng, n)
        assert np.array_equal(fan_steps(n, 0), loss_first_steps(n))
        assert np.array_equal(fan_steps(n, n), input_first_steps(n))
        costs = fan_costs(dims)
        assert costs[0] == co.plan(dims, "loss_first").cost
        assert costs[n] == co.plan(dims, "input_first").cost


def test_cormen_case():
    assert fan_costs(CORMEN) == [40500, 55125, 38250, 15125, 29000, 49000, 47500]
    assert best_fan_steps(CORMEN)[1] == 15125  # the optimum: the fan at the dim 5
    assert greedy_steps(CORMEN)[1] == 50625


@pytest.mark.parametrize("seed", range(40))
def test_best_fan_is_between_the_optimum_and_twice_it(seed):
    rng = np.random.default_rng(seed)
    dims = random_dims(rng, int(rng.integers(1, 40)), high=int(rng.choice([3, 30, 1000])))
    best = best_fan_steps(dims)[1]
    optimum = dp_steps(dims)[1]
    assert optimum <= best <= 2 * optimum
    assert best == min(fan_costs(dims))


def test_best_fan_factor_two_is_approached():
    # dims (1, 1, M) * r + (1,): the optimum cuts off each M alone, every fan pays ~(2r - 1) M.
    for r, bound in ((2, 1.49), (10, 1.89), (100, 1.98)):
        dims = [1, 1, 10**6] * r + [1]
        ratio = best_fan_steps(dims)[1] / dp_steps(dims)[1]
        assert bound < ratio < 2


def test_best_fan_is_usually_optimal_and_greedy_is_not():
    # The measurements quoted in the docstrings of best_fan_steps and greedy_steps.
    rng = np.random.default_rng(2023)
    fan_optimal, fan_worst, greedy_optimal, greedy_ratios = 0, 1.0, 0, []
    for _ in range(1000):
        dims = random_dims(rng, int(rng.integers(2, 31)), high=1000)
        best, greedy, optimum = best_fan_steps(dims)[1], greedy_steps(dims)[1], dp_steps(dims)[1]
        fan_optimal += best == optimum
        fan_worst = max(fan_worst, best / optimum)
        greedy_optimal += greedy == optimum
        greedy_ratios.append(greedy / optimum)
    assert fan_optimal == 891
    assert 1.09 < fan_worst < 1.1
    assert greedy_optimal == 168
    assert 3.4 < np.median(greedy_ratios) < 3.6 and 352 < max(greedy_ratios) < 353


@pytest.mark.parametrize("rule", ["cost", "memory"])
@pytest.mark.parametrize("seed", range(30))
def test_greedy_matches_a_rescanning_greedy(seed, rule):
    rng = np.random.default_rng(seed)
    dims = random_dims(rng, int(rng.integers(1, 25)), high=int(rng.choice([3, 30])))
    steps, cost = greedy_steps(dims, rule)
    expected_steps, expected_cost = _brute_greedy(dims, rule)
    assert steps.tolist() == [list(s) for s in expected_steps]
    assert cost == expected_cost == steps_cost(dims, steps.tolist())
    check_steps(len(dims) - 1, steps)
    assert cost >= dp_steps(dims)[1]


@pytest.mark.parametrize("rule", ["cost", "memory"])
def test_greedy_numba_kernel_matches_python(rng, rule):
    kernel = approx._greedy_kernel()
    if kernel is None:
        pytest.skip("numba is not installed")
    for n in (2, 3, 10, 500, approx._NUMBA_FROM + 7):
        dims = random_dims(rng, n, high=int(rng.choice([2, 1000])))
        steps = np.empty((n - 1, 3), dtype=np.int64)
        cost = kernel(np.asarray(dims, dtype=np.int64), rule == "memory", steps)
        expected_steps, expected_cost = approx._greedy_python(dims, rule)
        assert cost == expected_cost
        assert np.array_equal(steps, expected_steps)
    long = random_dims(rng, approx._NUMBA_FROM + 1, high=1000)
    assert greedy_steps(long, rule)[1] == approx._greedy_python(long, rule)[1]


@pytest.mark.parametrize("N", [2, 10, 1000, 10**6])
def test_greedy_ratio_grows_without_bound(N):
    dims = [N, 1, N**2, N + 1]  # A1A2 is cheaper first by N^2, and dearer overall by a factor ~N
    cost, optimum = greedy_steps(dims)[1], dp_steps(dims)[1]
    assert cost == N**4 + 2 * N**3
    assert optimum == N * (N + 1) ** 2
    assert cost > (N - 1) * optimum


@pytest.mark.parametrize("N", [2, 10, 1000, 10**6])
def test_memory_greedy_ratio_grows_without_bound(N):
    dims = [N, N**2, N, 1]  # freeing the two big matrices first costs N^4
    cost, optimum = greedy_steps(dims, "memory")[1], dp_steps(dims)[1]
    assert cost == N**4 + N**2
    assert optimum == 2 * N**3
    assert 2 * cost > N * optimum


@pytest.mark.parametrize("order", list(PLANNERS))
@pytest.mark.parametrize("n", [1, 2, 3, 5, 12])
def test_products_match_multi_dot(rng, order, n):
    dims = random_dims(rng, n)
    arrays = random_chain(rng, dims)
    plan = PLANNERS[order](tuple(dims))
    assert isinstance(plan, Plan) and plan.order == order
    assert plan.cost == steps_cost(dims, plan.step_array.tolist())
    # multiply() wants two arrays at least, as multi_dot does; a Chain takes one
    if n == 1:
        out, trace = co.Chain(arrays).multiply(plan, trace=True)
    else:
        out, trace = co.multiply(arrays, plan, trace=True)
    expected = arrays[0] if n == 1 else np.linalg.multi_dot(arrays)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    assert trace.multiplications == plan.cost


@pytest.mark.parametrize("order", list(PLANNERS))
def test_one_and_two_matrices(order):
    one = PLANNERS[order]((4, 7))
    assert one.cost == 0 and one.step_array.shape == (0, 3)
    two = PLANNERS[order]((4, 7, 3))
    assert two.cost == 84 and two.step_array.tolist() == [[0, 1, 2]]
    assert fan_costs([4, 7]) == [0, 0]
    assert fan_costs([4, 7, 3]) == [84, 84, 84]


def test_huge_dims_are_exact(rng):
    dims = [int(d) * 10**40 + int(d) for d in rng.integers(1, 1000, size=30)]
    costs = fan_costs(dims)
    for k in (0, 5, 29):
        assert costs[k] == steps_cost(dims, fan_steps(29, k).tolist())
    for order, planner in PLANNERS.items():
        plan = planner(tuple(dims))
        assert plan.cost == steps_cost(dims, plan.step_array.tolist()), order
        assert plan.cost >= dp_steps(dims)[1]


def test_int64_and_exact_fan_costs_agree(rng):
    dims = random_dims(rng, 200, high=10**5)
    p = dims
    edges = sum(p[m] * p[m + 1] for m in range(200)) + p[0] * p[200]
    exact = [p[k] * (edges - p[k] * (p[k - 1] + p[(k + 1) % 201])) for k in range(201)]
    assert approx._fan_costs_int64(dims).tolist() == exact == fan_costs(dims)


def test_bad_fan_vertex():
    with pytest.raises(ValueError, match="fan vertex k must be in 0..3"):
        fan_steps(3, 4)
    with pytest.raises(ValueError, match="rule must be 'cost' or 'memory'"):
        greedy_steps([2, 3, 4], "flops")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["best_fan", "fan", "greedy"])
def test_registered_names(name):
    if "best_fan" not in algebra.ORDERS or "greedy" not in algebra.ORDERS:
        pytest.skip("best_fan and greedy are not registered in chainorder.algebra.orders yet")
    plan = co.plan(CORMEN, name)
    expected = 15125 if name in ("best_fan", "fan") else 50625
    assert plan.cost == expected
