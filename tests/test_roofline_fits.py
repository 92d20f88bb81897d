"""The roofline's roofs and reasons, the wall-time fits and their residuals, the machine record."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chainorder.lab import machine
from chainorder.lab.studies import flops_vs_time, growth

MIB = 2**20


def _points(gflops: list[float], intensity: list[float], working_set: list[int]) -> pd.DataFrame:
    """Sweep-like rows: one loss-first point per entry, ``achieved_gbs = gflops / intensity``."""
    n = len(gflops)
    return pd.DataFrame({
        "case": [f"c{i}" for i in range(n)], "kind": ["article"] * n, "order": ["loss_first"] * n,
        "flops": [1e6] * n, "bytes_moved": [1e6 / a for a in intensity],
        "arithmetic_intensity": intensity, "gflops": gflops,
        "achieved_gbs": [g / a for g, a in zip(gflops, intensity, strict=True)],
        "steps": [3] * n, "vector_steps": [3] * n, "jacobian_bytes": working_set,
        "intermediate_bytes_largest": [0] * n,
    })


def test_a_point_above_the_memory_roof_is_listed_with_its_reason():
    # bandwidth 10 GB/s at intensity 0.25: the memory roof is 2.5 GFLOP/s
    df = _points([2.0, 2.53, 20.0], [0.25, 0.25, 0.25], [1 * MIB, 1200 * MIB, 1 * MIB])
    curve = [[2 * MIB, 100.0], [64 * MIB, 40.0], [1000 * MIB, 10.0]]
    roof = flops_vs_time.roofline_table(df, 50.0, 10.0, {}, curve).set_index("case")
    # strictly above, no tolerance: 1.2% above the roof counts
    assert roof["above_roof"].tolist() == [False, True, True]
    assert roof.loc["c0", "why_above"] == ""
    assert "larger than every array streamed here: not explained" in roof.loc["c1", "why_above"]
    assert roof.loc["c2", "why_above"].startswith("working set 1 MiB: arrays of 2 MiB streamed "
                                                  "at 100.0 GB/s")
    assert "(its data stay in a cache)" in roof.loc["c2", "why_above"]


def test_the_arrays_around_a_set_or_a_small_cache_explain_a_point():
    curve = [[MIB // 2, 120.0], [MIB, 80.0], [4 * MIB, 30.0], [1000 * MIB, 10.0]]
    caches = {"caches": {"L1d": "48K", "L2": "2048K"}}
    between = flops_vs_time.why_above(2 * MIB, caches, achieved_gbs=70.0, curve=curve)
    assert between == ("working set 2 MiB: between arrays of 1 MiB (80.0 GB/s) and 4 MiB "
                       "(30.0 GB/s), and it moved 70.0 GB/s, within their rates (its data "
                       "partly stay in a cache)")
    assert flops_vs_time.short_why(between) == (
        "1 MiB read 80.0 GB/s")
    tiny = flops_vs_time.why_above(MIB // 8, caches, achieved_gbs=300.0, curve=curve)
    assert "smaller than every array streamed here (0.5 MiB the smallest)" in tiny
    assert flops_vs_time.short_why(tiny) == (
        "in the L2 (2 MiB)")
    # faster than the smaller array too, or below every array without a cache to fit: no reason
    assert "not explained" in flops_vs_time.why_above(2 * MIB, caches, achieved_gbs=90.0,
                                                      curve=curve)
    assert "not explained" in flops_vs_time.why_above(MIB // 8, {}, achieved_gbs=300.0,
                                                      curve=curve)


def test_no_point_lies_above_the_compute_roof():
    df = _points([90.0, 10.0], [50.0, 50.0], [MIB, MIB])
    best = flops_vs_time.best_rate(df, 80.0)
    assert best["gflops"] == 90.0 and "fastest point" in best["source"]
    roof = flops_vs_time.roofline_table(df, best["gflops"], 10.0)
    assert (roof["gflops"] <= roof["roof_gflops"]).all()


def test_the_roof_finding_names_both_roofs_and_the_streamed_size():
    best = {"gflops": 67.0, "source": "the large-matmul benchmark's best run"}
    peak = {"bandwidth_gbs": 20.0, "stream_bytes": 600 * MIB,
            "stream_why": "1.25 times the 480 MiB L3 cache the OS reports"}
    text = flops_vs_time._roof_finding(best, peak, "1 BLAS thread", 3, 10, "")
    assert "600 MiB arrays, 1.25 times the 480 MiB L3 cache the OS reports" in text
    assert "3 lie above the memory roof, listed below" in text
    assert "No point lies above either roof." in flops_vs_time._roof_finding(
        best, peak, "1 BLAS thread", 0, 10, "")


def _kinds(slopes: dict[str, float], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for kind, s in slopes.items():
        for i, f in enumerate(np.logspace(0, 3, 8)):
            rows.append({"case": f"{kind}-{i}", "kind": kind, "flop_ratio": f,
                         "time_ratio": f**s * np.exp(rng.normal(0, 0.05))})
    return pd.DataFrame(rows)


def test_equal_slopes_are_not_rejected_and_different_ones_are():
    same = flops_vs_time.equal_slopes(_kinds({"a": 0.7, "b": 0.7, "c": 0.7}))
    assert same["p"] > 0.05 and same["common_slope"] == pytest.approx(0.7, abs=0.05)
    assert same["kinds"] == 3 and same["cases"] == 24 and same["max_rel_error"] < 0.25
    differ = flops_vs_time.equal_slopes(_kinds({"a": 0.3, "b": 1.0}))
    assert differ["p"] < 1e-6
    assert "differs by kind" in flops_vs_time._slopes_finding(differ)
    assert "One exponent serves every kind" in flops_vs_time._slopes_finding(same)
    assert "misses" in flops_vs_time._slopes_finding(same)


def test_time_fit_reports_its_residuals_and_where_it_fails():
    xs = [10, 100, 1000, 10_000, 100_000]
    # a cache regime below 1,000: 1 ns per |x| there, 10 ns per |x| beyond, 1 µs per call
    ts = [1e-6 + (1e-9 if x < 1000 else 1e-8) * x for x in xs]
    fit = growth.time_fit(xs, ts)
    assert fit["fits"] and fit["x_from"] in (100, 1000)
    assert len(fit["residuals"]) == len(xs)
    assert max(abs(r) for r in fit["residuals"][xs.index(fit["x_from"]):]) <= growth.TOLERANCE
    assert abs(fit["residuals"][0]) > growth.TOLERANCE
    text = growth._failures(fit, xs)
    assert text.startswith("misses") and "|x| = 10" in text
    line = growth.time_fit([1, 10, 100], [2e-6, 11e-6, 101e-6])
    assert line["fits"] and line["x_from"] == 1 and growth._failures(line, [1, 10, 100]) == (
        "fits every size")
    assert line["intercept"] >= 0 and line["slope"] == pytest.approx(1e-6, rel=0.02)


def test_the_residual_table_has_both_orders():
    art = pd.DataFrame({"x": [10, 100, 1000] * 2,
                        "order": ["loss_first"] * 3 + ["input_first"] * 3,
                        "seconds_median": [1e-6, 2e-6, 11e-6, 2e-6, 11e-6, 101e-6]})
    fits = {o: growth.time_fit(*growth._times(art, o)) for o in ("loss_first", "input_first")}
    res = growth._residuals(art, fits)
    assert list(res.columns) == ["x", "lf_time", "lf_off", "if_time", "if_off", "time_ratio"]
    assert res["time_ratio"].tolist() == pytest.approx([2.0, 5.5, 101 / 11])


def test_the_stream_is_larger_than_the_last_level_cache(monkeypatch):
    monkeypatch.setattr(machine, "_caches", lambda: {"L1d": "48K", "L2": "2048K",
                                                     "L3": "491520K"})
    monkeypatch.setattr(machine, "_available_bytes", lambda: 24 * 2**30)
    nbytes, why = machine._stream_bytes(128)
    assert nbytes > 480 * MIB and why == "1.25 times the 480 MiB L3 cache the OS reports"
    monkeypatch.setattr(machine, "_available_bytes", lambda: 1 * 2**30)
    nbytes, why = machine._stream_bytes(128)
    assert nbytes <= 2**30 // 4 and "capped at a quarter of the available memory" in why
    assert machine.last_level_cache({"L2": "1M", "L3": "8M", "L1i": "64K"}) == ("L3", 8 * MIB)
    # the default size already exceeds a small cache: the sentence says by how much
    monkeypatch.setattr(machine, "_caches", lambda: {"L3": "32768K"})
    assert machine._stream_bytes(128)[1] == "128 MB, 3.8 times the 32 MiB L3 cache the OS reports"


def test_the_machine_record_has_the_versions_and_the_cpu_as_the_os_reports_it():
    info = machine.machine_info()
    for dist in ("jax", "jaxlib", "numba", "asdex", "sparsejac", "numpy", "threadpoolctl"):
        assert dist in info
    assert info["cpu_model"] and info["blas"]


def test_a_read_timed_beside_a_point_explains_it_before_the_curve():
    # 1 MiB arrays streamed at 50 GB/s when the bandwidth was measured; the point moved 80 GB/s
    df = _points([20.0, 30.0], [0.25, 0.25], [MIB, MIB]).assign(read_gbs=[100.0, 110.0])
    curve = [[MIB, 50.0], [1000 * MIB, 10.0]]
    roof = flops_vs_time.roofline_table(df, 50.0, 10.0, {}, curve).set_index("case")
    assert roof["above_roof"].all()
    assert roof.loc["c0", "why_above"] == (
        "working set 1 MiB: a vector-matrix read of an array of its size, timed in the same "
        "rounds, streamed at 100.0 GB/s, and this point moved 80.0 GB/s (its data stay in a "
        "cache)")
    assert flops_vs_time.short_why(roof.loc["c0", "why_above"]) == (
        "read at 100.0 GB/s")
    # faster than the read beside it (120 > 110 GB/s) and than the curve: not explained
    assert "not explained" in roof.loc["c1", "why_above"]


def test_the_sweep_times_a_read_of_each_working_set_in_the_same_rounds():
    from chainorder.lab.cases import get_case
    from chainorder.lab.sweep import Timing, make_plan, measure_points

    chain = get_case("article-x100").build()
    plans = {o: make_plan(chain.dims, o) for o in ("loss_first", "input_first")}
    got = measure_points(chain, plans, Timing(3, 1, 0.0, 0), reads=True)
    assert set(got) == set(plans)  # the reads are not points of their own
    for row in got.values():
        working_set = row["jacobian_bytes"] + row["intermediate_bytes_largest"]
        assert working_set <= row["read_bytes"] < working_set + 8 * 1024
        assert row["read_gbs"] > 0
    assert "read_gbs" not in measure_points(chain, plans, Timing(3, 1, 0.0, 0))["loss_first"]
