"""Jacobians of JAX function chains: every schedule on every case equals jax.jacfwd."""

from __future__ import annotations

import subprocess
import sys
from functools import cache, reduce

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = jax.numpy

from chainorder.ad import jacobian, plan_jacobian, recommend  # noqa: E402
from chainorder.ad.jax_engine import DEFAULT_MODEL  # noqa: E402
from chainorder.algebra.gjc import Schedule  # noqa: E402
from chainorder.lab.jax_cases import JAX_CASES, get_jax_case  # noqa: E402


def _composed(functions):
    return lambda v: reduce(lambda z, f: f(z), functions, v)


@cache
def _case(case_id: str):
    functions, x = get_jax_case(case_id).build()
    with jax.enable_x64(True):
        xj = jnp.asarray(x)
        return functions, xj, plan_jacobian(functions, xj, cost=DEFAULT_MODEL)


def _check_every_schedule(functions, x, plan) -> None:
    modes = list(plan.schedules)
    programs = [plan.function(mode) for mode in modes]
    with jax.enable_x64(True):  # one compilation for every schedule and the reference
        run = jax.jit(lambda v: [jax.jacfwd(_composed(functions))(v), *(p(v) for p in programs)])
        ref, *got = (np.asarray(a) for a in run(x))
    for mode, jac in zip(modes, got, strict=True):
        assert jac.dtype == np.float64 and jac.shape == ref.shape, mode
        np.testing.assert_allclose(jac, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max(),
                                   err_msg=mode)


@pytest.mark.parametrize("case_id", [c.id for c in JAX_CASES])
def test_every_schedule_equals_jacfwd_on_every_case(case_id: str) -> None:
    _check_every_schedule(*_case(case_id))


def test_auto_mode_takes_a_mixed_schedule_on_every_bottleneck() -> None:
    for case in JAX_CASES:
        if case.bottleneck:
            plan = _case(case.id)[2]
            assert plan.mode.startswith("optimal"), case.id
            assert plan.costs["optimal"] * 2 < min(plan.costs["tangent"], plan.costs["adjoint"])


def test_each_stage_is_a_factor_and_the_compiled_plan_equals_jacfwd() -> None:
    functions, x, plan = _case("bottleneck-500-5-500")
    assert plan.program.widths == [500, 500, 5, 500, 500]
    assert plan.cut.startswith("cut the given stages into 4 factors")
    with jax.enable_x64(True):
        compiled = plan.compile()
        assert compiled.compile_seconds > 0 and "compiled in" in repr(compiled)
        np.testing.assert_allclose(np.asarray(compiled(x)),
                                   np.asarray(jax.jacfwd(_composed(functions))(x)), atol=1e-10)


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
    with jax.enable_x64(True):
        x = jnp.asarray(rng.standard_normal(5))
        factors = [f.factor() for f in plan_jacobian(functions, x).factors]
        plan = plan_jacobian(functions, x, schedule=Schedule(factors, HAND_SCHEDULES[name]))
        assert plan.mode == "custom"
        np.testing.assert_allclose(np.asarray(plan(x)),
                                   np.asarray(jax.jacfwd(_composed(functions))(x)), atol=1e-12)


def test_a_memory_bound_limits_the_tape_of_the_optimal_schedule() -> None:
    functions, x, plan = _case("bottleneck-500-5-500")
    bound = max(f.tape for f in plan.factors) - 1  # no adjoint over a 500 x 500 layer
    with jax.enable_x64(True):
        bounded = plan_jacobian(functions, x, mode="optimal", memory=bound)
    assert bounded.schedule.memory_peak <= bound < plan.schedules["optimal"].memory_peak
    assert bounded.schedule.cost > plan.schedules["optimal"].cost
    _check_every_schedule(functions, x, bounded)


def test_measured_costs_of_a_dense_layer_are_its_matrix_size(rng) -> None:
    W = rng.standard_normal((30, 20))
    (linear,) = plan_jacobian([lambda v: W @ v], jnp.ones(20)).factors
    assert (linear.n, linear.m, linear.tangent, linear.adjoint) == (20, 30, 600, 600)
    (layer,) = plan_jacobian([lambda v: jnp.tanh(W @ v)], jnp.ones(20)).factors
    assert layer.tangent == layer.adjoint == 600 + 30  # the product, then one per output
    assert layer.tape >= 600 and layer.factor().shape == (30, 20)


def test_predicted_costs_are_the_gjc_counts_of_the_factors() -> None:
    plan = _case("article-gradient")[2]
    f = plan.factors
    assert plan.costs["tangent"] == 1000 * sum(x.tangent for x in f)
    assert plan.costs["adjoint"] == 1 * sum(x.adjoint for x in f)
    assert plan.mode == "adjoint"


def test_recommend_explains_the_choice() -> None:
    functions, x, _ = _case("bottleneck-500-5-500")
    with jax.enable_x64(True):
        rec = recommend(functions, x, cost=DEFAULT_MODEL)
    assert rec.mode.startswith("optimal") and "faster than" in rec.reason
    text = str(rec)
    assert "recommended: optimal" in text and "* optimal" in text and "tangent" in text
    assert "cut the given stages into 4 factors: 500 [dot_general, tanh] -> 500" in text
    functions, x, _ = _case("article-gradient")
    with jax.enable_x64(True):
        rec = recommend(functions, x, cost="multiply-adds")
    assert rec.mode == "adjoint" and "predicted" in rec.reason
    assert repr(rec).startswith("<Recommendation adjoint")


def test_tune_times_the_candidates_and_runs_the_fastest(rng) -> None:
    W = rng.standard_normal((40, 40)) / 7
    functions = [lambda v: jnp.tanh(W @ v), lambda v: jnp.sin(W @ v)]  # square: a near tie
    x = jnp.asarray(rng.standard_normal(40), jnp.float32)
    plan = plan_jacobian(functions, x, tune=True, rounds=2)
    assert {"tangent", "adjoint"} <= set(plan.measured)
    assert plan.mode == min(plan.measured, key=plan.measured.__getitem__)
    assert "measured us" in str(recommend(functions, x, tune=True, rounds=1))


def test_x64_is_never_switched() -> None:
    before = jax.config.jax_enable_x64
    out = jacobian([jnp.sin])(np.ones(3))
    assert jax.config.jax_enable_x64 == before
    assert out.dtype == jnp.result_type(float)


@pytest.mark.parametrize(
    ("functions", "kwargs", "error", "match"),
    [
        ([], {}, ValueError, "at least one callable"),
        (3, {}, TypeError, "f must be a callable"),
        ([jnp.sin, 3], {}, TypeError, r"functions\[1\] must be callable"),
        ([jnp.sin], {"mode": "fastest"}, ValueError, "mode must be one of"),
        ([jnp.sin], {"margin": 1.5}, ValueError, "margin must be a number in"),
        ([jnp.sin], {"tune": True, "rounds": 0}, ValueError, "rounds must be >= 1"),
        ([jnp.sin], {"schedule": "tangent"}, TypeError, "gjc Schedule"),
        ([jnp.sin], {"cost": 3}, TypeError, "cost must be None"),
        ([jnp.sin], {"engine": "torch"}, ValueError, "engine must be one of 'jax'"),
    ],
)
def test_bad_input_is_refused_by_name(functions, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        plan_jacobian(functions, jnp.ones(3), **kwargs)


def test_the_old_call_with_x_says_what_to_write() -> None:
    with pytest.raises(TypeError, match=r"is now jacobian\(functions\)\(x\)"):
        jacobian([jnp.sin], np.ones(3))


def test_import_chainorder_does_not_import_jax() -> None:
    code = (
        "import sys, chainorder, chainorder.algebra, chainorder.ad, chainorder.lab.jax_cases; "
        "print('jax' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
