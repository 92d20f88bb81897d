"""Cost models passed as ``cost=``: users' own against exhaustive search, the shipped ones
against the flags they replace, the deprecated flags, and the signatures."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pytest
from chain_helpers import random_factors

import chainorder as co
from chainorder.algebra import costmodels
from chainorder.algebra.costmodels import (
    ChainShape,
    CostModel,
    DenseCost,
    StructuredCost,
    as_cost_model,
)
from chainorder.algebra.costs import KIND_NAMES, KindSig
from chainorder.algebra.kinds import (
    PAIR_RULES,
    rule_for,
    structured_product,
)
from chainorder.algebra.timemodel import TimeModel, use_machine
from chainorder.networks.article import article_bytes, article_costs

Steps = tuple[tuple[int, int, int], ...]


@cache
def bracketings(i: int, j: int) -> tuple[Steps, ...]:
    """Every bracketing of the span i..j as steps in execution order (children first)."""
    if j - i == 1:
        return ((),)
    return tuple(
        left + right + ((i, k, j),)
        for k in range(i + 1, j) for left in bracketings(i, k) for right in bracketings(k, j)
    )


def random_dims(seed: int, n: int) -> list[int]:
    rng = np.random.default_rng([seed, n])
    return [int(d) for d in rng.integers(1, 40, n + 1)]


# ----------------------------------------------------------------------------- users' models


class ReadWrite(CostModel):
    """Elements each product reads and writes: ``p·q + q·r + p·r``."""

    name = "read_write"

    def step_cost(self, chain: ChainShape, i: int, k: int, j: int) -> int:
        p, q, r = chain.dims[i], chain.dims[k], chain.dims[j]
        return p * q + q * r + p * r


class SplitPenalty(CostModel):
    """``p·q·r``, plus a penalty on one given step ``(i, k, j)``."""

    name = "split_penalty"

    def __init__(self, step: tuple[int, int, int], penalty: int) -> None:
        self.step, self.penalty = step, penalty

    def step_cost(self, chain: ChainShape, i: int, k: int, j: int) -> int:
        p = chain.dims
        return p[i] * p[k] * p[j] + (self.penalty if (i, k, j) == self.step else 0)


class Roots(CostModel):
    """A float cost: the square root of ``p·q·r`` (no int arithmetic to lean on)."""

    name = "roots"

    def step_cost(self, chain: ChainShape, i: int, k: int, j: int) -> float:
        p = chain.dims
        return float(np.sqrt(p[i] * p[k] * p[j]))


class KindsPlusOne(CostModel):
    """Reads kinds: the structured count of each step plus one per step, plus the finish."""

    name = "kinds_plus_one"
    reads_kinds = True

    def step_cost(self, chain: ChainShape, i: int, k: int, j: int) -> int:
        return structured_product(chain.kind(i, k), chain.kind(k, j))[0] + 1


# Independent prices of one bracketing (no cost model involved): dims -> steps -> cost.
def _read_write(p: list[int], steps: Steps) -> int:
    return sum(p[i] * p[k] + p[k] * p[j] + p[i] * p[j] for i, k, j in steps)


def _penalty(step: tuple[int, int, int], penalty: int) -> Callable[[list[int], Steps], int]:
    def price(p: list[int], steps: Steps) -> int:
        return sum(p[i] * p[k] * p[j] + (penalty if s == step else 0)
                   for s in steps for i, k, j in [s])
    return price


def _roots(p: list[int], steps: Steps) -> float:
    return sum(float(np.sqrt(p[i] * p[k] * p[j])) for i, k, j in steps)


USER_MODELS: dict[str, tuple[Callable[[int], CostModel],
                             Callable[[int], Callable[[list[int], Steps], Any]]]] = {
    "read_write": (lambda n: ReadWrite(), lambda n: _read_write),
    # the penalty sits on the step the dense optimum of a 3-split chain often takes
    "split_penalty": (lambda n: SplitPenalty((0, 1, n), 10**4),
                      lambda n: _penalty((0, 1, n), 10**4)),
    "roots": (lambda n: Roots(), lambda n: _roots),
}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", range(1, 8))
@pytest.mark.parametrize("name", list(USER_MODELS))
def test_a_users_model_gives_the_exhaustive_optimum(name: str, n: int, seed: int) -> None:
    make_model, make_price = USER_MODELS[name]
    model, price = make_model(n), make_price(n)
    dims = random_dims(seed, n)
    least = min(price(dims, b) for b in bracketings(0, n))
    best = co.optimize(dims, cost=model)
    assert best.cost == pytest.approx(least, rel=1e-12) and best.cost_model is model
    assert price(dims, tuple(map(tuple, best.step_array.tolist()))) == pytest.approx(
        best.cost, rel=1e-12)
    assert isinstance(best.cost, float if name == "roots" and n > 1 else int)
    for order in ("optimal", "dp"):
        assert co.plan(dims, order, cost=model) == best
    assert co.optimize(dims, "dp", cost=model) == best
    fixed = co.plan(dims, "loss_first", cost=model)
    assert fixed.cost == pytest.approx(price(dims, tuple((0, k, k + 1) for k in range(1, n))))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n", range(1, 7))
def test_a_users_model_reading_kinds_gives_the_exhaustive_optimum(n: int, seed: int) -> None:
    sigs = [f.signature for f in random_factors(np.random.default_rng([seed, n, 7]), n)]
    chain = ChainShape(costmodels.dims_of(sigs), tuple(sigs))

    def price(steps: Steps) -> int:  # the structured count by hand, one more per step
        span = dict(enumerate(sigs))
        total = 0
        for i, k, _ in steps:
            count, span[i] = structured_product(span[i], span.pop(k))
            total += count + 1
        return total

    least = min(price(b) for b in bracketings(0, n))
    best = co.optimize(sigs, cost=KindsPlusOne())
    assert best.cost == least and best.signatures == tuple(sigs)
    assert best.result_signature == chain.kind(0, n)


def test_a_users_model_plans_multiply_and_prints(rng: np.random.Generator) -> None:
    dims = [10, 100, 5, 50]
    arrays = [rng.standard_normal((a, b)) for a, b in zip(dims[:-1], dims[1:], strict=True)]
    out, trace = co.multiply(arrays, "optimal", cost=ReadWrite(), trace=True)
    np.testing.assert_allclose(out, np.linalg.multi_dot(arrays), rtol=1e-12)
    assert trace.plan.cost_model.name == "read_write" and trace.plan.cost == 2350
    assert trace.multiplications == co.plan(dims, trace.plan.parenthesization).cost
    best = co.Chain(arrays).plan(cost=ReadWrite())
    assert repr(best) == "<Plan 'optimal' (read_write): 3 matrices, cost 2,350, ((A1A2)A3)>"
    text = str(best)
    assert "cost model 'read_write'" in text and "Cost (cost):" in text
    assert best.to_dict()["cost_model"] == "read_write" and best.to_dict()["flops"] is None
    assert [s.cost for s in best.steps] == [1000 + 500 + 50, 50 + 250 + 500]


def test_hu_shing_is_the_dense_models_alone() -> None:
    with pytest.raises(ValueError, match="Hu-Shing.*assumes the dense p·q·r cost.*'read_write'"):
        co.optimize([2, 3, 4, 5], "hu-shing", cost=ReadWrite())
    with pytest.raises(ValueError, match="unknown method 'greedy'"):
        co.optimize([2, 3, 4, 5], "greedy", cost=ReadWrite())
    long = [2, 3] * 40  # past the 64 matrices 'auto' gives the DP under the dense model
    assert co.optimize(long, cost=ReadWrite()).cost_model.name == "read_write"
    with pytest.raises(ValueError, match="at most 200 matrices"):
        co.optimize([2] * 202, cost=ReadWrite())


def test_bad_cost_arguments_say_what_is_expected() -> None:
    with pytest.raises(ValueError, match="unknown cost model 'sparse'; expected one of 'dense', "
                       "'structured', 'time' or a CostModel"):
        co.plan([2, 3, 4], cost="sparse")
    with pytest.raises(TypeError, match="subclass chainorder.CostModel and define step_cost"):
        co.optimize([2, 3, 4], cost=lambda p, q, r: p * q * r)
    with pytest.raises(TypeError, match="abstract"):
        CostModel()  # type: ignore[abstract]
    with pytest.raises(TypeError, match="cost_model must be a CostModel"):
        co.Plan([2, 3, 4], [[0, 1, 2]], cost_model="dense")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- shipped models

CORMEN = [30, 35, 15, 5, 10, 20, 25]
ARTICLE = [KindSig.dense(1, 10), KindSig.dense(10, 100), KindSig.diagonal(100),
           KindSig.dense(100, 1000)]
CHAINS: list[Any] = [CORMEN, [10, 100, 5, 50], ARTICLE, *(random_dims(s, 6) for s in range(4)),
                     *([f.signature for f in random_factors(np.random.default_rng(s), 5)]
                       for s in range(4))]
ORDERS = ["optimal", "dp", "loss_first", "input_first", "hu_shing", "best_fan", "greedy"]
ROOFLINE = TimeModel.from_rates(peak_gflops=50, bandwidth_gbs=5, overhead_seconds=1e-6)


def _same(a: co.Plan, b: co.Plan) -> None:
    assert a == b and a.cost == b.cost and a.order == b.order
    assert type(a.cost_model) is type(b.cost_model)


def test_the_shorthands_name_the_shipped_models(synthetic_time_model: TimeModel) -> None:
    assert as_cost_model("dense") == DenseCost()
    assert as_cost_model(" Structured ") == StructuredCost()
    assert as_cost_model("time") is synthetic_time_model  # the model in force
    assert isinstance(ROOFLINE, CostModel) and ROOFLINE.counting == DenseCost()
    assert co.plan(CORMEN).cost_model == DenseCost() and co.plan(CORMEN).machine is None


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("chain", CHAINS, ids=range(len(CHAINS)))
def test_dense_and_structured_agree_with_the_old_flags(chain: Any, order: str) -> None:
    for name, model in (("dense", DenseCost()), ("structured", StructuredCost())):
        new = co.plan(chain, order, cost=name)
        with pytest.warns(DeprecationWarning, match=f"pass cost='{name}'"):
            old = co.plan(chain, order, structure=name)
        _same(new, old)
        _same(co.plan(chain, order, cost=model), old)
    assert co.plan(chain, order, cost="dense") == co.plan(chain, order)
    with pytest.warns(DeprecationWarning):
        _same(co.optimize(chain, cost="structured"), co.optimize(chain, structure="structured"))


def test_structured_is_the_old_structured_plan() -> None:
    best = co.optimize(ARTICLE, cost="structured")
    assert (best.cost, best.finish_cost, best.order) == (101_100, 0, "optimal")
    assert best.loss_first_cost == 101_100 and best.input_first_cost == 1_110_000
    assert best.to_dict()["kinds"] == ["dense", "dense", "diagonal", "dense"]
    assert best.to_dict()["cost_model"] == "structured"
    assert "(structured)" in repr(best) and "Densify product:" in str(best)
    with pytest.warns(DeprecationWarning, match="StructuredPlan is deprecated"):
        from chainorder.algebra.structured import StructuredPlan
    old = StructuredPlan(ARTICLE, best.step_array, "optimal")
    assert isinstance(old, co.Plan) and old.cost == best.cost and old == best
    assert isinstance(old.cost_model, StructuredCost)


@pytest.mark.parametrize("dims", [[10, 20, 1000, 20], [1, 376, 2, 372, 7, 14, 175, 13, 31],
                                  *(random_dims(s, 7) for s in range(6))])
def test_the_time_model_agrees_with_the_old_flags(dims: list[int]) -> None:
    m = ROOFLINE
    with pytest.warns(DeprecationWarning, match="objective='time' and machine= are deprecated; "
                      "pass cost=machine$"):
        old = co.optimize(dims, objective="time", machine=m)
    new = co.optimize(dims, cost=m)
    _same(new, old)
    assert new.order == "time_optimal" and new.machine is m
    assert new.cost == co.plan(dims, new.parenthesization).cost  # multiplications, counted
    assert new.predicted_seconds == m.plan_seconds(dims, new.step_array)
    for margin in (0, 0.25):
        with pytest.warns(DeprecationWarning, match=r"margin= are deprecated; pass "
                          r"cost=machine\.with_margin\(margin\)"):
            old = co.optimize(dims, objective="time", machine=m, margin=margin)
        _same(co.optimize(dims, cost=m.with_margin(margin)), old)
    with use_machine(m), pytest.warns(DeprecationWarning):
        _same(co.optimize(dims, cost="time"), co.optimize(dims, objective="time"))
        _same(co.plan(dims, "time_optimal"), co.plan(dims, "time_optimal", machine=m))
    _same(co.plan(dims, "time_optimal", cost=m), co.optimize(dims, cost=m))


def test_the_time_models_margin_is_how_it_selects() -> None:
    m = ROOFLINE
    dims = [10, 20, 1000, 20]
    gain = m.plan_seconds(dims, co.optimize(dims).step_array) / co.optimize(
        dims, cost=m).predicted_seconds
    assert gain > 1
    assert co.optimize(dims, cost=m.with_margin(gain - 1 + 1e-6)) == co.optimize(dims)
    assert m.with_margin(None) is m and m.with_margin(0.5).margin == 0.5 and m.margin == 0.0
    assert "selecting at margin 0.5" in repr(m.with_margin(0.5))


# ----------------------------------------------------------------------------- deprecated flags


def _warns(match: str) -> Any:
    return pytest.warns(DeprecationWarning, match=match)


def test_each_deprecated_flag_warns_once_naming_the_caller() -> None:
    with _warns(r"structure='structured' is deprecated; pass cost='structured'") as got:
        co.plan(CORMEN, structure="structured")
    assert len(got) == 1 and got[0].filename == __file__
    with _warns(r"objective='flops' is deprecated; pass cost='dense'") as got:
        co.optimize(CORMEN, objective="flops")
    assert got[0].filename == __file__
    with _warns(r"machine= is deprecated; pass cost=machine"):
        p = co.plan(CORMEN, "loss_first", machine=ROOFLINE)
    assert p.machine is ROOFLINE and p.cost_model == DenseCost()  # priced dense, as before
    with _warns(r"machine= is deprecated"):
        assert co.optimize(CORMEN, machine=ROOFLINE) == co.optimize(CORMEN)


def test_structure_on_every_function_that_took_it_warns_and_gives_the_same_result(
        rng: np.random.Generator) -> None:
    factors = random_factors(np.random.default_rng(3), 4)
    chain = co.Chain(factors)
    net = co.article_network(4, 3, 2, seed=0)
    x, y = rng.standard_normal(4), rng.standard_normal(2)
    calls: list[tuple[Callable[..., Any], Callable[[Any], Any]]] = [
        (lambda **kw: co.multiply(factors, "optimal", trace=True, **kw)[1].multiplications, int),
        (lambda **kw: chain.plan("input_first", **kw).cost, int),
        (lambda **kw: chain.multiply("optimal", trace=True, **kw)[1].multiplications, int),
        (lambda **kw: net.input_chain(x, y, **kw).signatures, tuple),
        (lambda **kw: net.param_chain(x, y, 0, "W", **kw).signatures, tuple),
        (lambda **kw: co.loss_first_gradients(net, x, y, **kw).multiplications, int),
        (lambda **kw: co.input_first_gradients(net, x, y, **kw).multiplications, int),
        (lambda **kw: article_costs(1000, 100, 10, **kw), dict),
        (lambda **kw: article_bytes(1000, 100, 10, **kw), int),
        (lambda **kw: co.article_table(40, 5, 3, **kw)["counted"].tolist(), list),
    ]
    for call, kind in calls:
        for name in ("dense", "structured"):
            with _warns(f"structure='{name}' is deprecated; pass cost='{name}'"):
                old = call(structure=name)
            assert isinstance(old, kind) and old == call(cost=name)


def test_old_and_new_spellings_do_not_mix() -> None:
    with pytest.raises(ValueError, match="pass cost= alone; structure= is its deprecated"):
        co.plan(CORMEN, cost="structured", structure="structured")
    with pytest.raises(TypeError, match=r"plan\(\) got an unexpected keyword argument 'objective'"):
        co.plan(CORMEN, objective="time")
    with pytest.raises(TypeError, match="unexpected keyword argument 'structur'"):
        co.optimize(CORMEN, structur="dense")
    with pytest.raises(ValueError, match="the time model prices dense products"), _warns("deprec"):
        co.optimize(CORMEN, structure="structured", objective="time", machine=ROOFLINE)


def test_moved_names_warn() -> None:
    from chainorder.algebra import costs

    with _warns("structured_product moved to chainorder.algebra.kinds.structured_product"):
        assert costs.structured_product is structured_product
    with _warns(r"TimeModel.step_cost\(dims\) is deprecated"):
        step = ROOFLINE.step_cost([10, 20, 30])
    assert float(step(0, 1, 2)) == ROOFLINE.step_cost(ChainShape((10, 20, 30)), 0, 1, 2)


# ----------------------------------------------------------------------------- the signatures


def _public_callables() -> list[tuple[str, Callable[..., Any]]]:
    modules = [co, importlib.import_module("chainorder.algebra"),
               importlib.import_module("chainorder.networks")]
    for pkg in modules[1:]:
        for info in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + "."):
            if not info.name.rsplit(".", 1)[1].startswith("_"):
                modules.append(importlib.import_module(info.name))
    out = []
    for mod in modules:
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name, None)
            if inspect.isclass(obj):
                out += [(f"{mod.__name__}.{name}.{m}", f) for m, f in vars(obj).items()
                        if callable(f) and (not m.startswith("_") or m == "__init__")]
            elif callable(obj):
                out.append((f"{mod.__name__}.{name}", obj))
    return out


def test_no_public_signature_has_a_structure_parameter() -> None:
    found = _public_callables()
    assert len(found) > 150  # the scan reaches the functions and methods it should
    with_structure = []
    for name, f in found:
        try:
            params = inspect.signature(f).parameters
        except (TypeError, ValueError):  # builtins without a signature
            continue
        if "structure" in params:
            with_structure.append(name)
    assert with_structure == []


def test_every_kind_pair_has_one_rule() -> None:
    # the rule table is the one place a kind pair is defined: every pair resolves
    for left in KIND_NAMES:
        for right in KIND_NAMES:
            rule = rule_for(left, right)
            assert rule in PAIR_RULES.values()
    with pytest.raises(ValueError, match="no rule multiplies a 'tridiagonal' factor"):
        rule_for("tridiagonal", "dense")
