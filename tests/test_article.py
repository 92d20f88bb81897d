"""The article's dims, cost formulas and table: worked example pinned, counts checked by running."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainorder.algebra.costs import input_first_cost, loss_first_cost
from chainorder.algebra.orders import optimize, plan
from chainorder.networks.article import (
    article_bytes,
    article_costs,
    article_dims,
    article_signature,
    article_table,
)
from chainorder.validation import format_bytes, memory_budget

# The article: |x| = 1000, |z1| = |z2| = 100, |z3| = 10.
#   forwards (loss-first):   1*10*100 + 1*100*100 + 1*100*1000           =    111,000
#   backwards (input-first): 100*100*1000 + 10*100*1000 + 1*10*1000      = 11,010,000
WORKED = {"loss_first": 111_000, "input_first": 11_010_000}


def test_worked_example_is_pinned() -> None:
    assert article_dims(1000, 100, 10) == (1, 10, 100, 100, 1000)
    assert article_costs(1000, 100, 10) == WORKED
    assert article_costs(1000, 100, 10, z2=100) == WORKED


def test_worked_example_table() -> None:
    t = article_table(1000, 100, 10, seed=0)
    assert list(t.columns) == [
        "order", "article_name", "ad_name", "predicted", "counted", "ratio", "flops",
        "parenthesization", "source",
    ]
    rows = t.set_index("order")
    assert rows.loc["loss_first", "counted"] == 111_000
    assert rows.loc["input_first", "counted"] == 11_010_000
    assert rows.loc["optimal", "counted"] == optimize((1, 10, 100, 100, 1000)).cost == 111_000
    assert (t["counted"] == t["predicted"]).all() and (t["ratio"] == 1.0).all()
    assert (t["flops"] == 2 * t["counted"]).all()
    assert rows.loc["loss_first", "article_name"] == "forwards computation"
    assert rows.loc["loss_first", "ad_name"] == "reverse mode (VJP)"
    assert rows.loc["input_first", "article_name"] == "backwards computation"
    assert rows.loc["input_first", "ad_name"] == "forward mode (JVP)"
    assert rows.loc["optimal", "article_name"] == "—"
    assert rows.loc["loss_first", "parenthesization"] == "(((A1A2)A3)A4)"
    assert rows.loc["input_first", "parenthesization"] == "(A1(A2(A3A4)))"
    assert t.attrs["dims"] == (1, 10, 100, 100, 1000)
    assert t.attrs["source"] == "article_network"


@pytest.mark.parametrize(
    ("x", "z1", "z3", "z2"),
    [(7, 3, 2, None), (50, 20, 5, 7), (3, 40, 60, None), (1, 1, 1, None), (9, 2, 30, 11)],
)
def test_table_counts_equal_the_formulas(x, z1, z3, z2) -> None:
    t = article_table(x, z1, z3, z2, seed=1)
    assert (t["counted"] == t["predicted"]).all()
    expected = article_costs(x, z1, z3, z2)
    rows = t.set_index("order")
    assert rows.loc["loss_first", "counted"] == expected["loss_first"]
    assert rows.loc["input_first", "counted"] == expected["input_first"]
    assert rows.loc["optimal", "counted"] <= min(expected.values())
    if z2 is not None and z2 != z1:
        assert t.attrs["source"].startswith("random matrices")
        assert t.attrs["dims"] == (1, z3, z2, z1, x)


@pytest.mark.parametrize(
    ("x", "z1", "z3", "z2"),
    [(10**5, 100, 10, None), (10**5, 300, 1, 50), (12_345, 7, 999, 64), (1, 10**4, 10**3, None)],
)
def test_formulas_equal_plan_costs_on_large_sizes(x, z1, z3, z2) -> None:
    dims = article_dims(x, z1, z3, z2)
    costs = article_costs(x, z1, z3, z2)
    assert costs["loss_first"] == plan(dims, "loss_first").cost == loss_first_cost(dims)
    assert costs["input_first"] == plan(dims, "input_first").cost == input_first_cost(dims)
    # the brackets written out by hand give the same counts
    assert plan(dims, "(((A1A2)A3)A4)").cost == costs["loss_first"]
    assert plan(dims, "(A1(A2(A3A4)))").cost == costs["input_first"]


@settings(max_examples=60, deadline=None)
@given(
    x=st.integers(1, 10**6), z1=st.integers(1, 10**4), z3=st.integers(1, 10**4),
    z2=st.one_of(st.none(), st.integers(1, 10**4)),
)
def test_formulas_equal_plan_costs(x: int, z1: int, z3: int, z2: int | None) -> None:
    dims = article_dims(x, z1, z3, z2)
    costs = article_costs(x, z1, z3, z2)
    assert costs["loss_first"] == plan(dims, "loss_first").cost
    assert costs["input_first"] == plan(dims, "input_first").cost
    assert optimize(dims).cost <= min(costs.values())


def test_input_first_grows_with_x_loss_first_does_not_multiply_it() -> None:
    small, big = article_costs(1000, 100, 10), article_costs(2000, 100, 10)
    assert big["input_first"] - small["input_first"] == (100 * 100 + 10 * 100 + 10) * 1000
    assert big["loss_first"] - small["loss_first"] == 100 * 1000


@pytest.mark.parametrize(
    ("args", "error", "pattern"),
    [
        ((0, 100, 10), ValueError, "x must be >= 1, got 0"),
        ((1000, -1, 10), ValueError, "z1 must be >= 1, got -1"),
        ((1000, 100, 2.5), TypeError, "z3 must be an integer"),
        ((1000, 100, 10, 0), ValueError, "z2 must be >= 1, got 0"),
        ((1000.0, 100, 10), TypeError, r"x must be an integer, got 1000.0 .float.; pass int"),
    ],
)
def test_bad_sizes_name_the_argument(args, error, pattern) -> None:
    for fn in (article_dims, article_costs, article_table):
        with pytest.raises(error, match=pattern):
            fn(*args)


# The same example with dz2/dz1 = diag(sigma'(z1)) counted as a diagonal:
#   loss-first:  1*10*100 + 100 + 1*100*1000           =   101,100
#   input-first: 100*1000 + 10*100*1000 + 1*10*1000    = 1,110,000
STRUCTURED = {"loss_first": 101_100, "input_first": 1_110_000}


def test_worked_example_structured() -> None:
    assert article_costs(1000, 100, 10, cost="structured") == STRUCTURED
    t = article_table(1000, 100, 10, cost="structured")
    rows = t.set_index("order")
    assert rows["counted"].to_dict() == {**STRUCTURED, "optimal": 101_100}
    assert (t["counted"] == t["predicted"]).all() and t.attrs["structure"] == "structured"


@settings(max_examples=40, deadline=None)
@given(
    x=st.integers(1, 10**6), z1=st.integers(1, 10**4), z3=st.integers(1, 10**4),
    z2=st.one_of(st.none(), st.integers(1, 10**4)),
)
def test_structured_formulas_equal_structured_plans(x, z1, z3, z2) -> None:
    sigs = article_signature(x, z1, z3, z2)
    costs = article_costs(x, z1, z3, z2, cost="structured")
    for order in ("loss_first", "input_first"):
        assert costs[order] == plan(sigs, order, cost="structured").cost
    assert optimize(sigs, cost="structured").cost <= min(costs.values())
    if z2 is not None and z2 != z1:
        assert costs == article_costs(x, z1, z3, z2)


@pytest.mark.parametrize(("x", "z1", "z3", "z2"), [(7, 3, 2, None), (9, 2, 30, 11)])
def test_structured_table_counts_equal_the_formulas(x, z1, z3, z2) -> None:
    t = article_table(x, z1, z3, z2, seed=2, cost="structured")
    assert (t["counted"] == t["predicted"]).all()


def test_memory_budget_predicts_without_counting() -> None:
    assert format_bytes(article_bytes(10**7, 100, 10, order="input_first")) == "16.9 GB"
    t = article_table(10**7, 100, 10, max_bytes=10**9)  # formulas only: nothing is built
    assert t["predicted"].tolist() == [1_000_011_000, 110_100_000_000, 1_000_011_000]
    assert t["counted"].tolist()[1] == "not counted (needs 16.9 GB)"
    assert t["ratio"].isna().all() and t["flops"].isna().all()
    t = article_table(1000, 100, 10, max_bytes=10**6)
    assert t["counted"].tolist() == [111_000, "not counted (needs 1.8 MB)", 111_000]
    assert memory_budget(123) == 123 and memory_budget() > 0
    with pytest.raises(ValueError, match="max_bytes must be at least 1 byte"):
        memory_budget(0)
    with pytest.raises(ValueError, match="unknown cost model 'sparse'"):
        article_costs(10, 3, 2, cost="sparse")
