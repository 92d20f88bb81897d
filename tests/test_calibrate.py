"""Calibration: shapes and chains drawn, measurement records, the fit, the cache, the checks.

Most tests replace the measurements by records made from a known model, so
they are fast and exact; a few run tiny real measurements and check only
the records' shape, never a wall time.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import chainorder.lab.calibrate as cal
from chainorder.algebra.chain import Chain
from chainorder.algebra.timemodel import (
    FEATURES,
    SHAPE_CLASSES,
    TimeModel,
    cache_path,
    chain_bytes,
    machine_fingerprint,
    shape_class,
    step_features,
)
from chainorder.cli import main
from chainorder.hardware import blas_threads

TRUE = TimeModel({c: list(np.array([0.8e-6, 3e-6, 2e-11, 4e-11, 9e-11, 6e-11, 1e-11, 1e-11,
                                     2e-11, 1e-10, 5e-11, 2e-10]) * (1 + 0.3 * n))
                  for n, c in enumerate(SHAPE_CLASSES)})


def _records_from(model: TimeModel, shapes, cold=False) -> list[dict]:
    """Records as the measurement functions make them, timed by ``model`` (no noise)."""
    out = []
    for p, q, r in shapes:
        t = model.step_seconds(p, q, r, cold, cold)
        out.append(cal._step_record(p, q, r, [t, t, t], None, cold, cold))
    return out


def _fake_measurements(monkeypatch) -> list[int]:
    calls = []

    def steps(shapes, *, quick=False, budget=None, progress=None):
        calls.append(1)
        return _records_from(TRUE, shapes)

    def chain_steps(chains, *, repeats=5, warmup=1, seed=0, budget=None):
        shapes = [(d[0], d[1], d[2]) for d in chains]
        return _records_from(TRUE, shapes, cold=True)

    monkeypatch.setattr(cal, "measure_steps", steps)
    monkeypatch.setattr(cal, "measure_chain_steps", chain_steps)
    return calls


def test_shapes_cover_every_class_within_the_caps():
    for quick in (True, False):
        shapes = cal.calibration_shapes(quick=quick)
        assert shapes == cal.calibration_shapes(quick=quick)  # seeded
        assert {shape_class(*s) for s in shapes} == set(SHAPE_CLASSES)
        cap = cal._QUICK_MAX_BYTES if quick else cal._MAX_BYTES
        assert all(8 * (p * q + q * r) <= cap for p, q, r in shapes)
    assert len(cal.calibration_shapes(quick=True)) < len(cal.calibration_shapes())


def test_chains_are_seeded_and_capped():
    chains = cal.calibration_chains(quick=True)
    assert chains == cal.calibration_chains(quick=True) != cal.calibration_chains(True, seed=1)
    assert all(chain_bytes(d) <= 8e6 for d in chains)
    assert sum(d[0] == 1 for d in chains) == len(chains) // 2


def test_random_bracketing_is_valid(rng):
    from chainorder.algebra.plan import Plan

    for n in range(1, 12):
        Plan([2] * (n + 1), cal._random_bracketing(n, rng))  # checks the steps


def test_fit_recovers_a_known_model():
    shapes = cal.calibration_shapes(quick=False)
    # the true model uses only features the shapes exercise, so the data determine it
    coef = {}
    for cls in SHAPE_CLASSES:
        mine = np.array([s for s in shapes if shape_class(*s) == cls])
        support = (step_features(*mine.T, True, True) > 0).sum(axis=0) >= cal.MIN_SUPPORT
        coef[cls] = list(np.where(support, TRUE.coefficients[cls], 0.0))
    # every class shares the coefficients of memory traffic (bytes past the cache, written)
    every = np.array(shapes)
    exercised = (step_features(*every.T, True, True) > 0).sum(axis=0) >= cal.MIN_SUPPORT
    for f in cal.SHARED_FEATURES:
        j = FEATURES.index(f)
        for cls in SHAPE_CLASSES:
            coef[cls][j] = TRUE.coefficients["vecmat"][j] if exercised[j] else 0.0
    true = TimeModel(coef)
    records = _records_from(true, shapes) + _records_from(true, shapes, cold=True)
    model = cal.fit_model(records, fingerprint={"blas_threads": 1})
    for cls in SHAPE_CLASSES:
        assert model.fit[cls]["max_rel_error"] < 1e-6, cls
    p = np.array([s[0] for s in shapes])
    q, r = np.array([s[1] for s in shapes]), np.array([s[2] for s in shapes])
    for cold in (False, True):
        assert np.allclose(model.step_seconds(p, q, r, cold, cold),
                           true.step_seconds(p, q, r, cold, cold), rtol=1e-6)
    assert model.threads == 1


def test_a_feature_too_few_points_exercise_gets_no_coefficient():
    # one point past the 64 MiB knot: the fit must not extrapolate from it
    shapes = [(1, q, r) for q, r in ((10, 20), (30, 40), (100, 100), (300, 200), (500, 500),
                                     (1000, 900), (3000, 2000), (9000, 1000))]
    records = _records_from(TRUE, shapes)
    model = cal.fit_model(records)
    assert model.coefficients["vecmat"][FEATURES.index("bytes_in_over_64MiB")] == 0.0
    assert all(c >= 0 for c in model.coefficients["vecmat"])


def test_classes_share_the_cost_of_memory_traffic(rng):
    # noisy points: fitted apart, each class would get its own cost of the same bytes
    shapes = cal.calibration_shapes(quick=False)
    records = _records_from(TRUE, shapes) + _records_from(TRUE, shapes, cold=True)
    for r in records:
        r["seconds_min"] *= float(rng.uniform(0.7, 1.5))
    model = cal.fit_model(records)
    for f in cal.SHARED_FEATURES:
        got = {model.coefficients[c][FEATURES.index(f)] for c in SHAPE_CLASSES}
        assert len(got) == 1, f
    # one 68 MB matrix read once: a vector times it costs about the same from either side
    vecmat, matvec = model.step_seconds(1, 3338, 2533, False, True), model.step_seconds(
        3338, 2533, 1, True, False)
    assert vecmat == pytest.approx(matvec, rel=0.25)


def test_fit_refuses_no_records():
    with pytest.raises(ValueError, match="no measurements"):
        cal.fit_model([])


def _chain_records(model: TimeModel, chains, noise=None) -> list[dict]:
    """Records of loss-first, input-first and the FLOP optimum on each chain, timed by ``model``
    (times scaled by ``noise(plan)`` if given), as :func:`measure_chain_steps` makes them."""
    from chainorder import plan as make_plan

    out = []
    for d in chains:
        for order in ("loss_first", "input_first", "optimal"):
            scale = 1.0 if noise is None else noise(order)
            for i, k, j in make_plan(d, order).step_array.tolist():
                t = model.step_seconds(d[i], d[k], d[j]) * scale
                out.append(cal._step_record(d[i], d[k], d[j], [t, t, t], None,
                                            chain="x".join(map(str, d)), plan=order))
    return out


CHAINS = [(1, 30, 200, 40, 500), (1, 8, 900, 20, 60, 700), (5, 300, 2, 400), (1, 64, 64, 64, 64),
          (1, 1000, 10, 100, 3), (2, 50, 50, 700, 9), (1, 7, 300, 7, 300)]


def test_a_model_that_times_its_plans_exactly_has_no_margin():
    shapes = _records_from(TRUE, cal.calibration_shapes())
    exact = cal.fit_model(shapes)  # TRUE on every feature the shapes exercise
    model = cal.fit_model(shapes + _chain_records(exact, CHAINS))
    ratio = model.summary["plan_ratio_error"]
    assert ratio["chains"] == len(CHAINS) and ratio["quantile"] == cal.MARGIN_QUANTILE
    # pairs of identical plans (loss-first that is also optimal) are left out
    assert 0 < ratio["pairs"] < 3 * len(CHAINS)
    assert model.margin == ratio["margin"] == pytest.approx(0, abs=1e-6)


def test_the_margin_is_the_held_out_error_of_predicted_ratios():
    # input-first measured 1.3x slower than the model says, the others as predicted: every
    # pair with input-first is off by 30% in ratio, the rest by nothing
    shapes = _records_from(TRUE, cal.calibration_shapes())
    records = shapes + _chain_records(
        TRUE, CHAINS, noise=lambda order: 1.3 if order == "input_first" else 1.0)
    errs = cal.plan_ratio_errors(TRUE, [r for r in records if r["chain"]])
    assert set(np.round(np.expm1(errs), 6)) <= {0.0, 0.3}
    ratio = cal.fit_model(records).summary["plan_ratio_error"]
    assert ratio["margin"] == ratio["median"] > 0 and ratio["p90"] >= ratio["median"]


def test_too_few_chains_fall_back_to_the_fits_typical_error(rng):
    # three chains cannot be split into held-out folds: the margin is the fit's median error,
    # not 0 (a margin of 0 would chase every predicted gain, however small)
    shapes = _records_from(TRUE, cal.calibration_shapes(quick=True))
    for r in shapes:
        r["seconds_min"] *= float(rng.uniform(0.8, 1.25))
    model = cal.fit_model(shapes + _chain_records(TRUE, CHAINS[:3]))
    ratio = model.summary["plan_ratio_error"]
    assert ratio["pairs"] == 0 and ratio["chains"] == 3 and ratio["median"] is None
    assert 0.01 < model.margin == ratio["margin"] < 0.3
    assert "fewer than 4 calibration chains" in ratio["method"]


def test_roofline_summary_reports_the_best_rate_achieved():
    records = _records_from(TRUE, [(1, 1, 1), (512, 512, 512), (1024, 1024, 1024)])
    s = cal.roofline_summary(records)
    assert s["peak_gflops"]["best"] == max(r["gflops_best"] for r in records[1:])
    assert s["overhead_seconds"]["best"] == records[0]["seconds_min"]
    assert set(s["rates"]) == set(SHAPE_CLASSES)


def test_calibrate_caches_and_reuses(tmp_path, monkeypatch):
    calls = _fake_measurements(monkeypatch)
    model = cal.calibrate(threads=1, quick=True, directory=tmp_path)
    with blas_threads(1):
        path = cache_path(machine_fingerprint(), tmp_path)
    assert path.exists() and model.threads == 1 and model.meta["quick"]
    records = cal.calibration_records(threads=1, directory=tmp_path)
    assert len(records) == model.meta["points"] and {r["shape_class"] for r in records} == set(
        SHAPE_CLASSES)
    with pytest.raises(FileNotFoundError, match="chainorder calibrate --threads 1"):
        cal.calibration_records(threads=1, directory=tmp_path / "elsewhere")
    assert cal.calibrate(threads=1, quick=True, directory=tmp_path).meta == model.meta
    assert len(calls) == 1  # the second call read the cache
    cal.calibrate(threads=1, quick=True, force=True, directory=tmp_path)
    assert len(calls) == 2
    full = cal.calibrate(threads=1, directory=tmp_path)  # a quick model is not enough
    assert len(calls) == 3 and not full.meta["quick"]
    cal.calibrate(threads=1, quick=True, directory=tmp_path)  # a full one is
    assert len(calls) == 3


def test_real_measurement_records(rng):
    recs = cal.measure_steps([(1, 1, 1), (3, 4, 5)], quick=True)
    assert [r["shape_class"] for r in recs] == ["dot", "small"]
    for r in recs:
        assert 0 < r["seconds_min"] <= r["seconds_median"] <= r["seconds_max"]
        assert r["runs"] >= 3 and r["flops"] == 2 * r["p"] * r["q"] * r["r"]
    big = (1, 600, 600)  # 2.9 MB of matrices: past COLD_CHAIN_BYTES, so its matrices are cold
    steps = cal.measure_chain_steps([(1, 3, 4, 2), big], repeats=2, warmup=0)
    assert len(steps) == 4 * 2 + 4 * 1
    assert not any(r["cold_left"] or r["cold_right"] for r in steps if r["chain"] == "1x3x4x2")
    assert all(r["cold_left"] and r["cold_right"] for r in steps if r["chain"] == "1x600x600")
    one_chain = cal.measure_chain_steps([(1, 3, 4, 2)] * 3, repeats=1, budget=0.0)
    assert len(one_chain) == 4 * 2  # the budget is spent after the first chain


def test_predicted_vs_measured_records():
    recs = cal.predicted_vs_measured(["article-x10", (1, 5, 1, 7)], model=TRUE, repeats=2)
    plans = [r for r in recs if r["level"] == "plan"]
    steps = [r for r in recs if r["level"] == "step"]
    assert {r["case"] for r in plans} == {"article-x10", "dims-1x5x1x7"}
    assert {r["order"] for r in plans} == set(cal.DEFAULT_ORDERS)
    for pl in plans:
        mine = [s for s in steps if (s["case"], s["order"]) == (pl["case"], pl["order"])]
        assert len(mine) == pl["steps"]
        assert pl["predicted"] == pytest.approx(sum(s["predicted"] for s in mine))
        assert pl["measured_min"] <= pl["measured_median"] <= pl["measured_max"]
        assert pl["shape_class"] in SHAPE_CLASSES
    errors = cal.prediction_errors(recs)
    assert {(e["level"], e["shape_class"]) for e in errors} >= {("plan", "all"), ("step", "all")}


def test_time_vs_flops_times_only_differing_plans():
    slow_memory = TimeModel.from_rates(peak_gflops=50, bandwidth_gbs=5, overhead_seconds=1e-6)
    recs = cal.time_vs_flops([(10, 20, 1000, 20), (1, 10, 100)], model=slow_memory, repeats=3,
                             warmup=0)
    assert [r["case"] for r in recs] == ["dims-10x20x1000x20"]
    (r,) = recs
    assert r["time_plan"] == "(A1(A2A3))" and r["flop_plan"] == "((A1A2)A3)"
    assert r["verdict"] in ("faster", "slower", "tie") and r["time_plan_runs"] == 3
    assert r["predicted_speedup"] > 1 and r["cost_ratio"] == 404000 / 400000
    assert r["margin"] == 0.0 and "other_work" in r
    # a chain built already is taken as it is, under its own name
    chain = Chain([np.ones((10, 20)), np.ones((20, 1000)), np.ones((1000, 20))])
    (named,) = cal.time_vs_flops([("mine", chain)], model=slow_memory, repeats=3, warmup=0)
    assert named["case"] == "mine" and named["time_plan"] == "(A1(A2A3))"
    # a margin larger than the predicted gain keeps the FLOP optimum: nothing to time
    assert cal.time_vs_flops([("mine", chain)], model=slow_memory, repeats=3, warmup=0,
                             margin=r["predicted_speedup"]) == []


def test_differing_chains_are_ranked_by_predicted_speedup():
    slow_memory = TimeModel.from_rates(peak_gflops=50, bandwidth_gbs=5, overhead_seconds=1e-6)
    found = cal.differing_chains(slow_memory, count=3, trials=200)
    assert 1 <= len(found) <= 3
    from chainorder.algebra.orders import optimize

    gains = [slow_memory.plan_seconds(d, optimize(d).step_array)
             / optimize(d, cost=slow_memory).predicted_seconds
             for d in found]
    assert gains == sorted(gains, reverse=True) and gains[-1] > 1


def test_cli_calibrate(tmp_path, monkeypatch, capsys):
    _fake_measurements(monkeypatch)
    argv = ["calibrate", "--quick", "--threads", "1", "--cache-dir", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "roof (matrix-matrix)" in out and "per-call overhead" in out and str(tmp_path) in out
    assert main([*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"]["fingerprint"]["blas_threads"] == 1
    assert main(["calibrate", "--threads", "0", "--cache-dir", str(tmp_path)]) == 2


def test_cli_plan_with_predicted_times(capsys):
    # the test fixture's roofline is the active model
    assert main(["plan", "10", "20", "1000", "20", "--time"]) == 0
    out = capsys.readouterr().out
    assert "time_optimal" in out and "predicted time (<TimeModel roof 50.0 GFLOP/s" in out
    assert main(["plan", "10", "20", "1000", "20", "--time", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["time_optimal"]["predicted_seconds"] <= doc["optimal"]["predicted_seconds"]


def test_cli_calibrate_says_when_the_margin_was_not_measured(capsys, monkeypatch, tmp_path):
    _fake_measurements(monkeypatch)
    monkeypatch.setattr(cal, "calibration_chains", lambda quick=False, seed=0: [(1, 5, 7)])
    assert main(["calibrate", "--quick", "--threads", "1", "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "plan-time ratios:      not measured (fewer than 4 calibration chains" in out


def test_cli_plan_margin(capsys):
    # the roofline has no measured margin: its time-optimal plan is the exact optimum, and a
    # margin larger than the predicted gain keeps the FLOP optimum
    assert main(["plan", "10", "20", "1000", "20", "--time", "--json", "--margin", "0"]) == 0
    exact = json.loads(capsys.readouterr().out)
    gain = exact["optimal"]["predicted_seconds"] / exact["time_optimal"]["predicted_seconds"]
    assert gain > 1 and exact["time_optimal"]["cost"] > exact["optimal"]["cost"]
    assert main(["plan", "10", "20", "1000", "20", "--time", "--json",
                 "--margin", str(gain)]) == 0
    kept = json.loads(capsys.readouterr().out)
    assert kept["time_optimal"]["parenthesization"] == kept["optimal"]["parenthesization"]
    assert main(["plan", "10", "20", "1000", "20", "--time", "--margin", "0.5"]) == 0
    assert "time_optimal at margin 50.0%" in capsys.readouterr().out
    assert main(["plan", "2", "3", "4", "--margin", "0.1"]) == 2
    assert "--margin applies to the time-optimal plan: add --time" in capsys.readouterr().err
    assert main(["plan", "2", "3", "4", "--time", "--margin", "-1"]) == 2
    assert "margin must be a finite number >= 0, got -1.0" in capsys.readouterr().err
