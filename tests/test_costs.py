"""Cost conventions, pinned with exact integers."""

from __future__ import annotations

import chainorder as co
from chainorder import algebra
from chainorder.algebra.costs import steps_cost, steps_cost_fast


def test_matmul_cost_and_flops():
    assert algebra.matmul_cost(2, 3, 4) == 24
    assert co.flops(24) == 48


def test_article_formulas_worked_example():
    # EQUATIONS.md: |x| = 1000, |z1| = |z2| = 100, |z3| = 10; dims (1, z3, z2, z1, x)
    dims = [1, 10, 100, 100, 1000]
    assert algebra.loss_first_cost(dims) == 1 * 10 * 100 + 1 * 100 * 100 + 1 * 100 * 1000 == 111_000
    assert algebra.input_first_cost(dims) == 100 * 100 * 1000 + 10 * 100 * 1000 + 1 * 10 * 1000
    assert algebra.input_first_cost(dims) == 11_010_000


def test_costs_are_exact_past_int64():
    dims = [10**7] * 51
    expected = 49 * 10**21
    assert algebra.loss_first_cost(dims) == expected
    steps = co.plan(dims, "loss_first").step_array
    assert steps_cost(dims, steps.tolist()) == expected
    assert steps_cost_fast(dims, steps) == expected
    assert isinstance(steps_cost_fast(dims, steps), int)


def test_one_matrix_costs_nothing():
    assert algebra.loss_first_cost([3, 4]) == algebra.input_first_cost([3, 4]) == 0
