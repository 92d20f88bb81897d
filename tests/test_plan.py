"""Plans: the Cormen case, every order on every chain, bracketing text, and bad input."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from chain_helpers import random_chain, random_dims

import chainorder as co
from chainorder import algebra
from chainorder.algebra.plan import check_steps, format_bracketing, parse_bracketing

CORMEN = [30, 35, 15, 5, 10, 20, 25]  # Cormen et al., Introduction to Algorithms, §15.2


def test_cormen_case():
    plan = co.optimize(CORMEN)
    assert plan.cost == 15125 and isinstance(plan.cost, int)
    assert plan.flops == 30250
    assert plan.parenthesization == "((A1(A2A3))((A4A5)A6))"
    assert co.plan(CORMEN, "loss_first").cost == 40500
    assert co.plan(CORMEN, "forward").cost == 40500
    assert co.plan(CORMEN, "input_first").cost == 47500
    assert co.plan(CORMEN, "backward").cost == 47500
    assert co.plan(CORMEN, "((A1A2)(A3(A4(A5A6))))").cost == 35125


def test_plan_knows_its_facts():
    plan = co.optimize(CORMEN)
    assert plan.dims == tuple(CORMEN) and plan.n == 6
    assert [list(s[:3]) for s in plan.steps] == plan.step_array.tolist()
    assert sum(s.cost for s in plan.steps) == plan.cost
    assert plan.largest_intermediate == max(CORMEN[s.i] * CORMEN[s.j] for s in plan.steps)
    assert plan.loss_first_cost == 40500 and plan.input_first_cost == 47500
    assert plan.speedup("loss_first") == pytest.approx(40500 / 15125)
    text = str(plan)
    for fragment in ("15,125", "40,500", "47,500", "((A1(A2A3))((A4A5)A6))", "2.68x"):
        assert fragment in text
    assert "15,125" in repr(plan)
    assert json.loads(json.dumps(plan.to_dict()))["cost"] == 15125


def _all_bracketings(i: int, j: int):
    """Every bracketing of dims i..j as step lists (independent enumeration)."""
    if j - i == 1:
        yield []
        return
    for k in range(i + 1, j):
        for left in _all_bracketings(i, k):
            for right in _all_bracketings(k, j):
                yield [*left, *right, (i, k, j)]


def _brute_force(dims):
    n = len(dims) - 1
    return min(sum(dims[i] * dims[k] * dims[j] for i, k, j in s) for s in _all_bracketings(0, n))


@pytest.mark.parametrize("n", range(1, 10))
def test_optimize_equals_exhaustive_search(n):
    rng = np.random.default_rng(n)
    for _ in range(30 if n < 8 else 4):
        dims = random_dims(rng, n, high=50)
        assert co.optimize(dims).cost == _brute_force(dims)


def test_every_bracketing_of_five_round_trips_through_text():
    dims = [3, 5, 2, 7, 4, 6]
    for steps in _all_bracketings(0, 5):
        text = format_bracketing(5, np.array(steps))
        plan = co.plan(dims, text)
        assert plan.parenthesization == text
        assert plan.cost == sum(dims[i] * dims[k] * dims[j] for i, k, j in steps)


def test_optimize_matches_numpy_dp_on_longer_chains():
    from numpy.linalg._linalg import _multi_dot_matrix_chain_order

    rng = np.random.default_rng(7)
    for n in (12, 25, 40):
        dims = random_dims(rng, n, high=1000)
        arrays = [np.empty((p, q)) for p, q in zip(dims[:-1], dims[1:], strict=True)]
        _, m = _multi_dot_matrix_chain_order(arrays, return_costs=True)
        assert co.optimize(dims, method="dp").cost == int(m[0, -1])


def test_ties_break_to_the_smallest_split():
    # All dims equal: every bracketing costs the same; the rule picks k = i + 1 each time.
    assert co.optimize([2] * 5, method="dp").parenthesization == "(A1(A2(A3A4)))"


@pytest.mark.parametrize("n", [1, 2, 3, 7])
@pytest.mark.parametrize("order", co.available_orders())
def test_every_order_gives_a_valid_plan(order, n):
    dims = random_dims(np.random.default_rng(n), n)
    plan = co.plan(dims, order)
    check_steps(n, plan.step_array)
    assert plan.cost >= co.optimize(dims).cost
    assert co.plan(dims, plan.parenthesization).cost == plan.cost


def test_one_and_two_matrices():
    one = co.optimize([4, 5])
    assert (one.cost, one.parenthesization, one.largest_intermediate) == (0, "A1", 0)
    two = co.optimize([4, 5, 6])
    assert (two.cost, two.parenthesization) == (120, "(A1A2)")


def test_exact_optimum_with_huge_dims():
    rng = np.random.default_rng(3)
    dims = [int(d) for d in rng.integers(1, 10**7, size=51)]
    plan = co.optimize(dims, method="dp")
    # an independent Python-int DP
    n = len(dims) - 1
    m = {(i, i + 1): 0 for i in range(n)}
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length
            m[i, j] = min(m[i, k] + m[k, j] + dims[i] * dims[k] * dims[j] for k in range(i + 1, j))
    assert plan.cost == m[0, n] and m[0, n] > 2**63
    assert plan.cost == sum(dims[i] * dims[k] * dims[j] for i, k, j in plan.step_array.tolist())


def test_fixed_orders_on_ten_thousand_matrices():
    dims = [3] * 10_001
    lf = co.plan(dims, "loss_first")
    assert lf.cost == 9_999 * 27 and lf.parenthesization.startswith("(" * 9_999 + "A1A2)")
    text = co.plan(dims, "input_first").parenthesization
    assert co.plan(dims, text).cost == 9_999 * 27


def test_dp_refuses_very_long_chains():
    with pytest.raises(ValueError, match="hu-shing"):
        co.optimize([2] * 5_000, method="dp")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("(A1A2A3)", "3 factors"),
        ("((A1A2)A3", "never closed"),
        ("(A1A2))A3", "unmatched"),
        ("((A2A1)A3)", "expected A1"),
        ("((A1A2)B3)", "unexpected character 'B' at position 8"),
        ("(A1A2)", "names 2 matrices"),
        ("()", "empty|no matrices"),
    ],
)
def test_malformed_bracketings_name_the_problem(text, match):
    with pytest.raises(ValueError, match=match):
        co.plan([2, 3, 4, 5], text)


def test_bracketing_accepts_spacing_operators_and_redundant_brackets():
    assert parse_bracketing("((A1 * A2) @ (A3))").tolist() == [[0, 1, 2], [0, 2, 3]]
    assert parse_bracketing("A1 A2").tolist() == [[0, 1, 2]]


@pytest.mark.parametrize(
    ("dims", "exc", "match"),
    [
        ([5], ValueError, "at least two"),
        ([], ValueError, "at least two"),
        ([3, 0, 2], ValueError, r"dims\[1\] must be >= 1, got 0"),
        ([3, -4, 2], ValueError, r"dims\[1\]"),
        ([3, 2.5, 2], TypeError, r"dims\[1\] must be an integer"),
        ([3, 2.0, 2], TypeError, r"int\(2.0\)"),
        ([3, "4", 2], TypeError, r"dims\[1\]"),
        ([3, True, 2], TypeError, r"dims\[1\]"),
        ("3 4 5", TypeError, "string"),
        (None, TypeError, "sequence"),
        ({3: 4, 5: 6}, TypeError, "ordered sequence"),
        ({3, 4, 5}, TypeError, "ordered sequence"),
        (np.ones((2, 2), dtype=int), ValueError, "one-dimensional"),
    ],
)
def test_bad_dims(dims, exc, match):
    with pytest.raises(exc, match=match):
        co.plan(dims)


def test_unknown_order_lists_the_valid_ones():
    with pytest.raises(ValueError, match="loss_first.*input_first|input_first.*loss_first") as err:
        co.plan([2, 3, 4], "fastest")
    assert "optimal" in str(err.value)
    with pytest.raises(ValueError, match="Did you mean 'loss_first'"):
        co.plan([2, 3, 4], "los_first")
    with pytest.raises(TypeError, match="order must be a str"):
        co.plan([2, 3, 4], 3)


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown method 'fast'"):
        co.optimize([2, 3, 4], method="fast")


def test_numpy_integer_dims_are_accepted():
    assert co.optimize(np.array(CORMEN)).cost == 15125
    assert co.optimize(tuple(np.int32(d) for d in CORMEN)).cost == 15125


def test_all_orders_registry_aliases_resolve():
    for name, info in algebra.ORDERS.items():
        for alias in (name, *info.aliases):
            assert co.plan([3, 4, 5, 6], alias).cost == co.plan([3, 4, 5, 6], name).cost


def test_plans_compare_by_bracketing():
    a = co.plan(CORMEN, "optimal")
    b = co.plan(CORMEN, a.parenthesization)
    assert a == b and a != co.plan(CORMEN, "loss_first")


def test_plan_products_agree_for_all_bracketings_of_six(rng):
    dims = random_dims(rng, 6)
    arrays = random_chain(rng, dims)
    ref = arrays[0]
    for a in arrays[1:]:
        ref = ref @ a
    for steps in itertools.islice(_all_bracketings(0, 6), 42):
        plan = co.Plan(dims, steps, "custom")
        np.testing.assert_allclose(co.multiply(arrays, plan), ref, rtol=1e-10, atol=1e-12)


def test_methods_agree_and_auto_switches_to_hu_shing():
    rng = np.random.default_rng(11)
    dims = random_dims(rng, 300, high=1000)
    dp, hs = co.optimize(dims, method="dp"), co.optimize(dims, method="hu-shing")
    assert dp.cost == hs.cost == co.optimize(dims).cost
    assert co.plan(dims, "hu_shing").cost == dp.cost


def test_optimize_long_chains():
    rng = np.random.default_rng(12)
    dims = random_dims(rng, 20_000, high=1000)
    plan = co.optimize(dims)
    check_steps(20_000, plan.step_array)
    assert plan.cost <= min(plan.loss_first_cost, plan.input_first_cost)
    assert plan.cost == sum(dims[i] * dims[k] * dims[j] for i, k, j in plan.step_array.tolist())


def test_plan_from_steps_is_checked():
    with pytest.raises(ValueError, match="not built yet"):
        co.Plan([2, 3, 4, 5], [(0, 2, 3), (0, 1, 2)])
    with pytest.raises(ValueError, match="shape"):
        co.Plan([2, 3, 4, 5], [(0, 1, 2)])
    with pytest.raises(TypeError, match="integers"):
        co.Plan([2, 3, 4], [(0.0, 1.5, 2.0)])
    with pytest.raises(ValueError, match=r"dims\[0\]"):
        co.Plan([0, 3, 4], [(0, 1, 2)])


def _reversed_fan(dims):
    n = len(dims) - 1
    steps = algebra.orders.input_first_steps(n)
    return steps, algebra.costs.steps_cost(dims, steps)


def test_register_order_refuses_a_builtin_name_unless_replace():
    before = dict(algebra.ORDERS)
    with pytest.raises(ValueError, match="'greedy' is already registered; pass replace=True"):
        co.register_order("greedy", _reversed_fan)
    assert algebra.ORDERS == before


def test_register_order_is_atomic_when_an_alias_is_taken():
    before_orders, before_aliases = dict(algebra.ORDERS), dict(algebra.orders._ALIASES)
    with pytest.raises(ValueError, match="'forward' is already registered for 'loss_first'"):
        co.register_order("mine", _reversed_fan, aliases=("fresh_alias", "forward"))
    assert algebra.ORDERS == before_orders and algebra.orders._ALIASES == before_aliases
    with pytest.raises(ValueError, match="unknown order 'fresh_alias'"):
        co.plan([2, 3, 4], "fresh_alias")


def test_register_order_replace_then_restore():
    original = algebra.ORDERS["greedy"]
    try:
        co.register_order("greedy", _reversed_fan, replace=True)
        assert co.plan(CORMEN, "greedy").cost == co.plan(CORMEN, "input_first").cost
        assert co.plan(CORMEN, "greedy").order == "greedy"
    finally:
        co.register_order("greedy", original.strategy, original.aliases, original.description,
                          replace=True)
    assert co.plan([4, 1, 16, 5], "greedy").cost == 384


@pytest.mark.parametrize(
    ("args", "error", "pattern"),
    [
        (("", _reversed_fan), TypeError, "name must be a non-empty str"),
        (("x", 3), TypeError, "strategy must be callable"),
        (("x", _reversed_fan, "abc"), TypeError, "aliases must be a sequence of str"),
    ],
)
def test_register_order_bad_input(args, error, pattern):
    with pytest.raises(error, match=pattern):
        co.register_order(*args)


def test_speedup_takes_fixed_orders_or_plans():
    best = co.optimize(CORMEN)
    assert best.speedup("input_first") == pytest.approx(47500 / 15125)
    assert best.speedup(co.plan(CORMEN, "greedy")) >= 1.0
    with pytest.raises(TypeError, match="chainorder.plan"):
        best.speedup("greedy")


@pytest.mark.parametrize("n", [2, 3, 5, 8, 12, 13])
def test_short_chain_dp_matches_the_vectorized_one(n):
    from chainorder.algebra import dp

    rng = np.random.default_rng(n)
    for _ in range(50):
        dims = tuple(int(d) for d in rng.integers(1, 6, size=n + 1))  # small dims: many ties
        split_small = dp._fill_small(dims)
        split_vec = dp._fill_tables(dims)
        assert np.array_equal(split_small, split_vec), dims
