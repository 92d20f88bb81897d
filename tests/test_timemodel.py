"""The time model: shape classes, features, predictions, the cache, and time-optimal plans."""

from __future__ import annotations

import contextvars
import itertools
import os
from functools import cache

import numpy as np
import pytest

import chainorder as co
from chainorder.algebra.dp import dp_steps, dp_steps_by
from chainorder.algebra.timemodel import (
    FEATURES,
    MODEL_VERSION,
    SHAPE_CLASSES,
    CacheWarning,
    NotCalibratedError,
    TimeModel,
    active_model,
    cache_path,
    load_model,
    machine_fingerprint,
    shape_class,
    step_features,
    use_machine,
)


def _random_model(seed: int) -> TimeModel:
    """Coefficients that differ by class, so class boundaries matter to the optimum."""
    rng = np.random.default_rng(seed)
    scale = np.array([1e-6, 5e-6, 2e-11, 5e-11, 1e-10, 5e-11, 2e-11, 2e-11, 2e-11, 1e-10, 3e-11,
                      1e-10])
    coef = {c: list(scale * rng.uniform(0, 2, len(FEATURES))) for c in SHAPE_CLASSES}
    return TimeModel(coef)


MODELS = {
    "roofline": TimeModel.from_rates(peak_gflops=50, bandwidth_gbs=5, overhead_seconds=1e-6),
    "random-classes-0": _random_model(0),
    "random-classes-1": _random_model(1),
}


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((1, 5, 1), "dot"), ((1, 100, 7), "vecmat"), ((7, 100, 1), "matvec"),
     ((7, 1, 100), "outer"), ((4, 4, 4), "small"), ((16, 16, 16), "small"),
     ((16, 16, 17), "matmat"), ((1, 1, 1), "dot"), ((2, 1, 1), "matvec")],
)
def test_shape_class(shape, expected):
    assert shape_class(*shape) == expected


def test_features_are_counts_of_work_and_bytes():
    f = step_features(10, 100, 5)
    assert f.shape == (len(FEATURES),)
    assert f.tolist()[:6] == [1.0, 0.0, 2 * 10 * 100 * 5, 8 * (10 * 100 + 100 * 5), 0.0, 8 * 50]
    assert f[6:].tolist() == [0.0] * 6  # far below every knot
    big = step_features(1, 4096, 4096)  # a 128 MiB matrix: past every input knot
    assert np.all(big[6:9] > 0) and np.all(big[9:] == 0)
    wide = step_features(3000, 1, 3000)  # a 72 MB result: past every result knot
    assert np.all(wide[9:] > 0) and np.all(wide[6:9] == 0)
    cold = step_features(10, 100, 5, cold_left=True, cold_right=True)
    assert cold[1] == 1 and cold[3] == 0 and cold[4] == f[3]


def test_plan_seconds_is_the_sum_of_step_seconds():
    m = MODELS["random-classes-0"]
    p = co.plan([3, 50, 1, 70, 20, 1], "loss_first", cost=m)
    by_step = sum(m.step_seconds(*s.left_shape, s.right_shape[1]) for s in p.steps)
    assert p.predicted_seconds == pytest.approx(by_step, rel=1e-12)


def test_a_one_matrix_plan_takes_no_time():
    assert co.plan([4, 5], cost=MODELS["roofline"]).predicted_seconds == 0.0


def test_roofline_prediction_by_hand():
    m = TimeModel.from_rates(peak_gflops=10, bandwidth_gbs=10, overhead_seconds=1e-6)
    # 100 x 100 @ 100 x 100: 2e6 FLOPs at 10 GFLOP/s, 240 kB at 10 GB/s, one call
    assert m.step_seconds(100, 100, 100) == pytest.approx(2e-4 + 2.4e-5 + 1e-6)


def test_step_seconds_broadcasts():
    m = MODELS["roofline"]
    out = m.step_seconds(np.array([1, 10]), 100, np.array([[5], [50]]))
    assert out.shape == (2, 2)
    assert out[1, 1] == pytest.approx(m.step_seconds(10, 100, 50))


def test_save_and_load_round_trip(tmp_path):
    m = _random_model(3)
    m.meta["note"] = "x"
    again = TimeModel.load(m.save(tmp_path / "sub" / "model.json"))
    assert again.coefficients == m.coefficients and again.meta == {"note": "x"}
    assert again.step_seconds(3, 4, 5) == m.step_seconds(3, 4, 5)


def test_bad_models_are_refused(tmp_path):
    with pytest.raises(ValueError, match="lack shape classes"):
        TimeModel({"matmat": [0.0] * len(FEATURES)})
    with pytest.raises(ValueError, match=">= 0"):
        TimeModel({c: [-1.0] * len(FEATURES) for c in SHAPE_CLASSES})
    with pytest.raises(ValueError, match="recalibrate"):
        TimeModel.from_dict({"format": "other"})
    with pytest.raises(TypeError, match="machine must be a TimeModel"):
        co.plan([2, 3, 4], machine="fast")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cost must be a cost model name"):
        co.plan([2, 3, 4], cost=0.5)


def test_repr_names_the_roof():
    assert "roof 50.0 GFLOP/s" in repr(MODELS["roofline"])


def test_uncalibrated_machine_says_how_to_calibrate(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINORDER_CACHE_DIR", str(tmp_path))
    with pytest.raises(NotCalibratedError, match="chainorder calibrate"):
        load_model()


def test_planning_reads_no_cached_model_behind_the_callers_back(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINORDER_CACHE_DIR", str(tmp_path))
    m = _random_model(4)
    m.fingerprint = machine_fingerprint()
    m.save(cache_path(machine_fingerprint(), tmp_path))
    p = co.plan([1, 10, 100, 1000], "loss_first")
    # a fresh context: no model put in force by the test fixture; the cached one is not read
    fresh = contextvars.Context().run
    for ask in (lambda: p.predicted_seconds, lambda: co.optimize(p.dims, cost="time"),
                lambda: co.plan(p.dims, "time_optimal")):
        with pytest.raises(NotCalibratedError, match=r"none is in force.*cost=.*chainorder "
                           r"calibrate.*use_machine\(load_model\(\)\)") as err:
            fresh(ask)
        assert "\n" not in str(err.value)

    def loaded_once() -> float:
        use_machine(load_model())  # a statement: in force from here on, in this context
        return p.predicted_seconds

    assert fresh(loaded_once) == pytest.approx(m.plan_seconds(p.dims, p.step_array))


def test_use_machine_as_a_block_puts_back_the_model_before_it():
    a, b = MODELS["roofline"], MODELS["random-classes-0"]

    def nested() -> list[bool]:
        use_machine(a)
        with use_machine(b) as inner:
            seen = [inner is b, active_model() is b]
        with use_machine(None):
            seen.append(active_model() is a)
        return [*seen, active_model() is a]

    assert contextvars.Context().run(nested) == [True, True, True, True]
    with pytest.raises(TypeError, match="model must be a TimeModel or None, got str"):
        use_machine("fast")  # type: ignore[arg-type]


def test_a_model_of_another_version_is_not_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINORDER_CACHE_DIR", str(tmp_path))
    fp = machine_fingerprint()
    assert fp["chainorder"] == co.__version__ and fp["model_version"] == MODEL_VERSION
    old = {**fp, "chainorder": "0.0.1", "model_version": MODEL_VERSION - 1}
    m = _random_model(4)
    m.fingerprint = old
    m.save(cache_path(old, tmp_path))  # where the old version cached it
    with pytest.raises(NotCalibratedError, match=r"stale and not reused.*made by chainorder "
                       r"'0\.0\.1'.*chainorder calibrate"):
        load_model()
    # the same model under this version's name (copied by hand): named, ignored, and calibrating
    # replaces it (no --force needed)
    m.save(cache_path(fp, tmp_path))
    with pytest.warns(CacheWarning, match="is stale .*model form"), pytest.raises(
            NotCalibratedError, match="ignored it: it is stale .*'chainorder calibrate"):
        load_model()
    m.fingerprint = fp
    os.utime(m.save(cache_path(fp, tmp_path)), (1, 1))  # a new stamp: not the loaded copy
    assert load_model().fingerprint == fp


def test_the_machine_argument_wins_over_the_active_model():
    m = MODELS["random-classes-1"]
    p = co.plan([1, 10, 100, 1000], "optimal", cost=m)
    assert p.machine is m
    with use_machine(MODELS["roofline"]):
        assert p.predicted_seconds == m.plan_seconds(p.dims, p.step_array)


# ----------------------------------------------------------------------------- time-optimal plans


@cache
def _bracketings(i: int, j: int) -> list[tuple[tuple[int, int, int], ...]]:
    """Every bracketing of dims i..j as steps in post-order (an independent enumeration)."""
    if j - i == 1:
        return [()]
    out = []
    for k in range(i + 1, j):
        for left, right in itertools.product(_bracketings(i, k), _bracketings(k, j)):
            out.append((*left, *right, (i, k, j)))
    return out


def _exhaustive_best(dims: list[int], m: TimeModel) -> float:
    return min(m.plan_seconds(dims, np.array(b)) for b in _bracketings(0, len(dims) - 1))


def _chains(seed: int, count: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    sizes = np.array([1, 1, 2, 3, 8, 17, 64, 100, 257, 1000, 4000])
    return [[int(x) for x in rng.choice(sizes, int(rng.integers(3, 9)))] for _ in range(count)]


@pytest.mark.parametrize("model", list(MODELS), ids=list(MODELS))
@pytest.mark.parametrize("dims", _chains(7, 40))
def test_time_optimal_matches_exhaustive_search(model, dims):
    m = MODELS[model]
    fast = co.plan(dims, "time_optimal", cost=m)
    assert fast.order == "time_optimal"
    best = _exhaustive_best(dims, m)
    assert fast.predicted_seconds == pytest.approx(best, rel=1e-9)
    for other in ("optimal", "loss_first", "input_first"):
        assert fast.predicted_seconds <= m.plan_seconds(dims, co.plan(dims, other).step_array) * (
            1 + 1e-12)
    assert fast.cost >= co.optimize(dims).cost


def test_objective_time_is_the_time_optimal_order():
    m = MODELS["random-classes-0"]
    dims = [1, 376, 2, 372, 7, 14, 175, 13, 31]
    a = co.optimize(dims, cost=m)
    b = co.plan(dims, "time", cost=m)
    assert a == b and a.order == b.order == "time_optimal"
    with use_machine(m):  # the active model is what cost='time' names
        assert co.optimize(dims, cost="time") == a


def _with_margin(m: TimeModel, margin: float) -> TimeModel:
    summary = {**m.summary, "plan_ratio_error": {"margin": margin}}
    return TimeModel(m.coefficients, m.fingerprint, summary, m.fit, m.meta)


@pytest.mark.parametrize("dims", _chains(11, 40))
def test_the_margin_keeps_the_flop_optimum_unless_the_gain_passes_it(dims):
    m = _with_margin(MODELS["random-classes-1"], 0.3)
    assert m.margin == 0.3
    flop = co.optimize(dims)
    exact = co.optimize(dims, cost=m.with_margin(0))
    assert exact.predicted_seconds == pytest.approx(_exhaustive_best(dims, m), rel=1e-9)
    chosen = co.optimize(dims, cost=m)  # the model's margin
    assert chosen == co.optimize(dims, cost=m.with_margin(0.3))
    gain = m.plan_seconds(dims, flop.step_array) / exact.predicted_seconds
    want = exact if gain > 1.3 else flop
    assert np.array_equal(chosen.step_array, want.step_array), gain
    assert chosen.order == "time_optimal"


def test_a_model_without_a_measured_margin_has_margin_zero():
    assert MODELS["roofline"].margin == 0.0


@pytest.mark.parametrize(("margin", "error", "match"), [
    ("0.1", TypeError, "margin must be a real number >= 0, got '0.1'"),
    (True, TypeError, "margin must be a real number >= 0, got True"),
    (-0.1, ValueError, "margin must be a finite number >= 0, got -0.1"),
    (float("nan"), ValueError, "margin must be a finite number >= 0, got nan"),
])
def test_bad_margin(margin, error, match):
    with pytest.raises(error, match=match):
        co.optimize([2, 3, 4], cost=MODELS["roofline"].with_margin(margin))


def test_margin_needs_the_time_objective():
    with pytest.raises(ValueError, match="margin= applies to objective='time'"):
        co.optimize([2, 3, 4], margin=0.1)


def test_time_dp_with_the_flop_cost_is_the_flop_dp(rng):
    for _ in range(30):
        dims = [int(x) for x in rng.integers(1, 300, int(rng.integers(2, 20)))]
        p = np.array(dims, dtype=np.float64)
        steps, total = dp_steps_by(dims, lambda i, k, j, p=p: p[i] * p[k] * p[j])
        assert np.array_equal(steps, dp_steps(dims)[0]) and total == dp_steps(dims)[1]


def test_bad_objective_and_method():
    with pytest.raises(ValueError, match="objective must be 'flops' or 'time'"):
        co.optimize([2, 3, 4], objective="seconds")
    with pytest.raises(ValueError, match="method must be 'auto' or 'dp'"):
        co.optimize([2, 3, 4], "hu-shing", cost=MODELS["roofline"])


def test_time_dp_refuses_very_long_chains():
    with pytest.raises(ValueError, match="at most 1000 matrices"):
        co.optimize([2] * 1002, cost=MODELS["roofline"])


def test_a_plan_with_a_machine_prints_its_predicted_time():
    text = str(co.plan([1, 10, 100], cost=MODELS["roofline"]))
    assert "Predicted time:" in text and "roof 50.0 GFLOP/s" in text
    assert "Predicted time:" not in str(co.plan([1, 10, 100]))


def test_time_optimal_is_listed_apart():
    assert "time_optimal" not in co.available_orders()
    assert "time_optimal" in co.available_orders(machine=True)
