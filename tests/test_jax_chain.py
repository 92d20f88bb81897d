"""Jacobians of JAX function chains: every schedule on every case equals jax.jacfwd."""

from __future__ import annotations

import subprocess
import sys
from functools import cache, reduce

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = jax.numpy

from chainorder.algebra import jax_chain as jc  # noqa: E402
from chainorder.algebra.gjc import Schedule  # noqa: E402
from chainorder.lab.jax_cases import JAX_CASES, get_jax_case  # noqa: E402

SCHEDULES = ("tangent", "adjoint", "preaccumulation", "optimal")


def _composed(functions):
    return lambda v: reduce(lambda z, f: f(z), functions, v)


def _reference(functions, x):
    with jax.enable_x64(True):
        return np.asarray(jax.jacfwd(_composed(functions))(jnp.asarray(x, dtype=jnp.float64)))


@cache
def _case(case_id: str):
    functions, x = get_jax_case(case_id).build()
    return functions, x, jc.plan_jacobian(functions, x)


def _check_every_schedule(functions, x, plan) -> None:
    programs = [
        jc.jacobian_program(functions, plan.measured, plan.schedules[mode]) for mode in SCHEDULES
    ]
    with jax.enable_x64(True):  # one compilation for all four schedules and the reference
        run = jax.jit(lambda v: [jax.jacfwd(_composed(functions))(v), *(p(v) for p in programs)])
        ref, *got = (np.asarray(a) for a in run(jnp.asarray(x, dtype=jnp.float64)))
    for mode, jac in zip(SCHEDULES, got, strict=True):
        assert jac.dtype == np.float64 and jac.shape == ref.shape, mode
        np.testing.assert_allclose(jac, ref, rtol=0, atol=1e-10, err_msg=mode)


@pytest.mark.parametrize("case_id", [c.id for c in JAX_CASES])
def test_every_schedule_equals_jacfwd_on_every_case(case_id: str) -> None:
    _check_every_schedule(*_case(case_id))


def test_the_compiled_plan_equals_jacfwd() -> None:
    functions, x, plan = _case("random-5")
    np.testing.assert_allclose(
        np.asarray(plan.compile()(x)), _reference(functions, x), rtol=0, atol=1e-10
    )


def test_auto_mode_takes_the_mixed_schedule_on_every_bottleneck() -> None:
    for case in JAX_CASES:
        if case.bottleneck:
            plan = _case(case.id)[2]
            assert plan.mode == "optimal", case.id
            assert plan.costs["optimal"] * 2 < min(plan.costs["tangent"], plan.costs["adjoint"])


def test_jacobian_matches_jacfwd_with_matrix_shapes_and_scalar_output(rng) -> None:
    W = rng.standard_normal((6, 12))
    functions = [
        lambda X: jnp.tanh(X @ W),  # (3, 6) -> (3, 12)
        lambda Y: Y.T @ Y,  # (3, 12) -> (12, 12)
        lambda Z: jnp.sum(jnp.sin(Z)),  # (12, 12) -> ()
    ]
    x = rng.standard_normal((3, 6))
    plan = jc.plan_jacobian(functions, x)
    assert [mf.in_shape for mf in plan.measured] == [(3, 6), (3, 12), (12, 12)]
    _check_every_schedule(functions, x, plan)


def test_a_single_function_and_the_bottleneck_schedule_by_hand(rng) -> None:
    W = rng.standard_normal((4, 7))
    assert np.allclose(jc.jacobian([lambda v: W @ v], np.ones(7)), W)
    functions, x, plan = _case("bottleneck-500-5-500")
    factors = list(plan.schedules["optimal"].factors)
    ops = [("accumulate", "adjoint", 0, 1, None), ("accumulate", "tangent", 2, 3, None),
           ("multiply", None, 0, 3, 1)]
    custom = jc.plan_jacobian(functions, x, schedule=Schedule(factors, ops))
    assert custom.mode == "custom"
    assert custom.costs["custom"] == custom.costs["optimal"]  # same counts, other ops
    assert custom.schedule.ops[0].kind == "accumulate"
    np.testing.assert_allclose(
        np.asarray(custom.compile()(x)), _reference(functions, x), rtol=0, atol=1e-10
    )


def test_tune_times_the_candidates_and_keeps_the_fastest_compiled(rng) -> None:
    W = rng.standard_normal((40, 40)) / 7
    functions = [lambda v: jnp.tanh(W @ v), lambda v: jnp.sin(W @ v)]  # square: a near tie
    x = rng.standard_normal(40)
    rec = jc.recommend(functions, x, tune=True, rounds=2)
    plan = rec.plan
    assert {"tangent", "adjoint"} <= set(plan.seconds) <= {"tangent", "adjoint", "optimal"}
    assert plan.mode == rec.mode == min(plan.seconds, key=plan.seconds.__getitem__)
    assert "measured on x" in rec.reason and "measured seconds per call" in str(rec)
    assert plan.compile() is plan.compile()  # compiled once, while tuning
    np.testing.assert_allclose(
        np.asarray(plan.compile()(x)), _reference(functions, x), rtol=0, atol=1e-10
    )


HAND_SCHEDULES = {
    "tangents pushed through F1..F3": [("accumulate", "tangent", 0, 0, None),
                                       ("tangent", "tangent", 0, 3, 0)],
    "adjoints pulled through F0..F2": [("accumulate", "adjoint", 3, 3, None),
                                       ("adjoint", "adjoint", 0, 3, 2)],
    "two spans and a product": [("accumulate", "tangent", 0, 1, None),
                                ("accumulate", "adjoint", 2, 3, None),
                                ("multiply", None, 0, 3, 1)],
    "every kind": [("accumulate", "adjoint", 1, 1, None), ("adjoint", "adjoint", 0, 1, 0),
                   ("accumulate", "tangent", 2, 2, None), ("tangent", "tangent", 2, 3, 2),
                   ("multiply", None, 0, 3, 1)],
}


@pytest.mark.parametrize("name", HAND_SCHEDULES)
def test_every_op_kind_executes_exactly(rng, name: str) -> None:
    shapes = [(7, 5), (3, 7), (6, 3), (4, 6)]  # 5 -> 7 -> 3 -> 6 -> 4
    weights = [rng.standard_normal(shape) for shape in shapes]
    functions = [lambda v, W=W: jnp.sin(W @ v) for W in weights]
    x = rng.standard_normal(5)
    factors = [mf.factor() for mf in jc.measure_factors(functions, x)]
    plan = jc.plan_jacobian(functions, x, schedule=Schedule(factors, HAND_SCHEDULES[name]))
    np.testing.assert_allclose(
        np.asarray(plan.compile()(x)), _reference(functions, x), rtol=0, atol=1e-10
    )


def test_a_memory_bound_limits_the_tape_of_the_optimal_schedule() -> None:
    functions, x, plan = _case("bottleneck-500-5-500")
    bound = max(mf.tape for mf in plan.measured) - 1  # no adjoint over a 500 x 500 layer
    bounded = jc.plan_jacobian(functions, x, "optimal", memory=bound)
    assert bounded.schedule.memory_peak <= bound < plan.schedule.memory_peak
    assert bounded.schedule.cost > plan.schedule.cost
    _check_every_schedule(functions, x, bounded)


def test_a_repeated_function_is_measured_once_and_indexed_per_position(rng) -> None:
    W = rng.standard_normal((9, 9)) / 3
    layer = lambda v: jnp.tanh(W @ v)  # noqa: E731
    measured = jc.measure_factors([layer] * 6, np.ones(9))
    assert [mf.index for mf in measured] == list(range(6))
    assert len({(mf.tangent, mf.adjoint, mf.tape) for mf in measured}) == 1


def test_measured_costs_of_a_dense_layer_are_its_matrix_size(rng) -> None:
    W = rng.standard_normal((30, 20))
    (linear,) = jc.measure_factors([lambda v: W @ v], np.ones(20))
    assert (linear.n, linear.m, linear.tangent, linear.adjoint) == (20, 30, 600, 600)
    (layer,) = jc.measure_factors([lambda v: jnp.tanh(W @ v)], np.ones(20))
    # one more direction: the 30 x 20 product plus a few operations per output
    assert 600 < layer.tangent < 600 + 5 * 30 and 600 < layer.adjoint < 600 + 5 * 30
    assert layer.tape >= 600  # the residuals hold W
    assert layer.factor().shape == (30, 20)


def test_predicted_costs_are_the_gjc_counts_of_the_measured_factors() -> None:
    plan = _case("article-gradient")[2]
    f = plan.measured
    assert plan.costs["tangent"] == 1000 * sum(mf.tangent for mf in f)
    assert plan.costs["adjoint"] == 1 * sum(mf.adjoint for mf in f)
    assert plan.mode == "adjoint"


def test_recommend_explains_the_choice_with_predicted_costs() -> None:
    functions, x, _ = _case("bottleneck-500-5-500")
    rec = jc.recommend(functions, x)
    assert rec.mode == "optimal" and "cheaper than" in rec.reason
    text = str(rec)
    assert "recommended: optimal" in text and "* optimal" in text and "tangent" in text
    functions, x, _ = _case("article-gradient")
    rec = jc.recommend(functions, x)
    assert rec.mode == "adjoint" and "save only" in rec.reason
    assert repr(rec).startswith("<Recommendation adjoint")
    assert "1. accumulate F0..F3 by adjoints" in str(rec)
    rec = jc.recommend(functions, x, tune=True)  # adjoint mode is 1000x cheaper than the rest
    assert rec.mode == "adjoint" and "the only schedule" in rec.reason and not rec.seconds


def test_plans_and_compiled_jacobians_print() -> None:
    plan = _case("bottleneck-500-5-500")[2]
    assert repr(plan).startswith("<JacobianPlan optimal: 500 -> 500 -> 5 -> 500 -> 500")
    assert "multiply J(F2..F3) @ J(F0..F1)" in str(plan)
    compiled = plan.compile()
    assert compiled.compile_seconds > 0
    assert "compiled in" in repr(compiled)


def test_x64_is_a_context_not_a_global_switch() -> None:
    before = jax.config.jax_enable_x64
    jc.jacobian([jnp.sin], np.ones(3))
    assert jax.config.jax_enable_x64 == before


@pytest.mark.parametrize(
    ("functions", "kwargs", "error", "match"),
    [
        ([], {}, ValueError, "at least one callable"),
        (jnp.sin, {}, TypeError, "sequence of callables"),
        ([jnp.sin, 3], {}, TypeError, r"functions\[1\] must be callable"),
        ([jnp.sin], {"mode": "fastest"}, ValueError, "mode must be one of"),
        ([jnp.sin], {"margin": 1.5}, ValueError, "margin must be in"),
        ([jnp.sin], {"tune": True, "rounds": 0}, ValueError, "rounds must be >= 1"),
        ([jnp.sin], {"schedule": "tangent"}, TypeError, "gjc Schedule"),
    ],
)
def test_bad_input_is_refused_by_name(functions, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        jc.plan_jacobian(functions, np.ones(3), **kwargs)


def test_import_chainorder_does_not_import_jax() -> None:
    code = (
        "import sys, chainorder, chainorder.algebra, chainorder.lab.jax_cases; "
        "print('jax' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
