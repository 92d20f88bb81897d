"""Shared tables and each study's findings, from a small synthetic sweep (made-up times, exact
counts) and benchmark JSON."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

import chainorder as co
from chainorder.lab import results as R
from chainorder.lab.studies import article, flops_vs_time, growth, optimizer
from chainorder.lab.studies import caching as caching_study
from chainorder.lab.studies import when_loss_first_wins as winners
from chainorder.lab.sweep import FORMAT
from chainorder.networks.article import article_costs, article_dims

PEAK = {"peak_gflops": 40.0, "bandwidth_gbs": 10.0, "copy_gbs": 8.0, "dot_gbs": 10.0,
        "gemv_gbs": 9.0, "matmul_n": 1024}
#: case -> (kind, params, dims, seconds per order). Times are made up: loss-first is faster
#: except on the mini-batch, where input-first wins in FLOPs and in time.
SYNTHETIC = {
    "article-x10": ("article", {"x": 10, "z1": 100, "z3": 10}, article_dims(10, 100, 10),
                    (1e-5, 2e-5, 1e-5)),
    "article-x1000": ("article", {"x": 1000, "z1": 100, "z3": 10}, article_dims(1000, 100, 10),
                      (4e-5, 4e-4, 4e-5)),
    "article-x100000": ("article", {"x": 100000, "z1": 100, "z3": 10},
                        article_dims(100000, 100, 10), (8e-3, 8e-2, 8e-3)),
    "batch-B512": ("minibatch", {"batch": 512, "x": 1000, "z1": 100, "z3": 10},
                   (512, 10, 100, 100, 1000), (9e-3, 2e-3, 1e-3)),
    "bottleneck": ("random", {"n": 3, "high": 512, "seed": 0}, (1, 1, 512, 1),
                   (2e-6, 1e-6, 1e-6)),
}


def _row(case, kind, params, dims, order, seconds):
    plan = co.plan(dims, order)
    moved = sum(8 * (dims[i] * dims[k] + dims[k] * dims[j] + dims[i] * dims[j])
                for i, k, j in plan.step_array.tolist())
    vector = sum(1 for i, _, j in plan.step_array.tolist() if dims[i] == 1 or dims[j] == 1)
    return {
        "record": "row", "key": f"{case}|{order}|synthetic", "run": 0, "case": case,
        "kind": kind, "params": params, "dims": list(dims), "n_matrices": len(dims) - 1,
        "order": order, "planned_multiplications": plan.cost, "multiplications": plan.cost,
        "flops": plan.flops,
        "jacobian_bytes": 8 * sum(a * b for a, b in zip(dims[:-1], dims[1:], strict=True)),
        "intermediate_bytes_largest": 8 * plan.largest_intermediate,
        "intermediate_bytes_total": 8 * plan.largest_intermediate, "bytes_moved": moved,
        "steps": len(plan.step_array), "vector_steps": vector, "itemsize": 8,
        "seconds_median": seconds, "seconds_min": seconds * 0.9, "seconds_max": seconds * 1.2,
        "gflops": plan.flops / seconds / 1e9, "runs": 5, "repeats": 5, "warmup": 1,
    }


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("results") / "synthetic.jsonl"
    lines = [{"record": "run", "run": 0, "format": FORMAT, "machine": {"cpu_model": "test"},
              "peak": PEAK, "settings": {}}]
    for case, (kind, params, dims, secs) in SYNTHETIC.items():
        for order, s in zip(R.ORDERS, secs, strict=True):
            lines.append(_row(case, kind, params, dims, order, s))
    text = "".join(json.dumps(r) + "\n" for r in lines)
    path.write_text(text + '{"record": "row", "case": "torn')  # a torn last line is ignored
    return path


@pytest.fixture(scope="module")
def df(sweep_file):
    return R.load_sweep(sweep_file)


def test_load_sweep_is_tidy(df):
    assert len(df) == len(SYNTHETIC) * 3
    assert df.attrs["peak"] == PEAK and df.attrs["machine"] == {"cpu_model": "test"}
    row = df[(df["case"] == "article-x1000") & (df["order"] == "loss_first")].iloc[0]
    assert row["x"] == 1000 and row["input_size"] == 1000 and row["rows"] == 1
    assert row["dims_text"] == "1x10x100x100x1000"
    assert row["arithmetic_intensity"] == pytest.approx(row["flops"] / row["bytes_moved"])


def test_article_agreement_is_exact(df):
    table = article.article_agreement(df)
    assert len(table) == 6 and (table["ratio"] == 1.0).all()
    assert (table["counted"] == table["predicted"]).all()
    worked = table[(table["x"] == 1000)].set_index("order")["counted"]
    assert worked.to_dict() == {"input_first": 11_010_000, "loss_first": 111_000}
    assert article.article_predicted(1000, 100, 10) == article_costs(1000, 100, 10)


def test_order_comparison_and_claim(df):
    cmp = R.order_comparison(df).set_index("case")
    art = cmp.loc["article-x1000"]
    assert art["mult_input_first"] == 11_010_000 and art["mult_loss_first"] == 111_000
    assert art["flop_ratio"] == pytest.approx(11_010_000 / 111_000)
    assert art["time_ratio"] == pytest.approx(10.0)
    assert art["cheaper"] == art["faster"] == "loss_first" and art["loss_first_optimal"]
    batch = cmp.loc["batch-B512"]
    assert batch["cheaper"] == batch["faster"] == "input_first"
    assert not batch["loss_first_optimal"] and batch["lf_over_opt"] > 9
    neck = cmp.loc["bottleneck"]  # (1, 1, 512, 1): loss-first 1024, optimal 513
    assert (neck["mult_loss_first"], neck["mult_optimal"]) == (1024, 513)
    s = winners.claim_summary(R.order_comparison(df))
    assert (s["cases"], s["lf_cheaper"], s["lf_faster"], s["lf_optimal"]) == (5, 3, 3, 3)
    assert s["not_cheaper"] == ["batch-B512", "bottleneck"]
    assert s["not_optimal"] == ["batch-B512", "bottleneck"]
    assert s["scalar_loss"]["cases"] == 4
    assert s["scalar_loss"]["max_lf_over_opt"] == pytest.approx(1024 / 513)


def test_claim_is_stated_on_the_premise_and_per_kind(df):
    cmp = R.order_comparison(df)
    s = winners.claim_summary(cmp)
    # the bottleneck (1, 1, 512, 1) has |x| = 1 and the mini-batch B = 512 rows: off the premise
    assert (s["premise"]["cases"], s["premise"]["lf_cheaper"]) == (3, 3)
    assert (s["off_premise"]["cases"], s["off_premise"]["lf_cheaper"]) == (2, 0)
    kinds = s["by_kind"].set_index("kind")
    assert kinds.loc["article", ["cases", "on_premise", "lf_cheaper"]].tolist() == [3, 3, 3]
    assert kinds.loc["minibatch", ["cases", "on_premise", "lf_cheaper"]].tolist() == [1, 0, 0]
    assert list(kinds.index) == ["minibatch", "random", "article"]  # by FLOP ratio, rising
    text = winners._premise_finding(s, "1 BLAS thread")
    assert "3 of the 5 cases" in text and "cheaper in 3 of 3" in text
    assert "Outside it (a mini-batch, or |x| = 1: 2 cases)" in text
    assert "article 3 of 3" in winners._kind_finding(s)


def test_the_premise_finding_changes_with_the_data(df):
    cmp = R.order_comparison(df)
    before = winners._premise_finding(winners.claim_summary(cmp), "1 BLAS thread")
    flipped = cmp.copy()
    flipped.loc[flipped["case"] == "article-x10", "faster"] = "input_first"
    after = winners._premise_finding(winners.claim_summary(flipped), "1 BLAS thread")
    assert "faster in 3 of 3" in before and "faster in 2 of 3" in after
    assert "1 input-first faster" in after


def test_roofline_and_efficiency(df):
    roof = flops_vs_time.roofline_table(df, PEAK["peak_gflops"], PEAK["bandwidth_gbs"])
    lf = roof[(roof["case"] == "article-x100000") & (roof["order"] == "loss_first")].iloc[0]
    assert lf["bound"] == "memory" and lf["vector_share"] == 1.0
    assert lf["roof_gflops"] == pytest.approx(10.0 * lf["arithmetic_intensity"])
    inf = roof[(roof["case"] == "article-x100000") & (roof["order"] == "input_first")].iloc[0]
    assert inf["bound"] == "compute" and inf["roof_gflops"] == 40.0
    assert inf["of_roof"] == pytest.approx(inf["gflops"] / 40.0)
    eff = flops_vs_time.order_efficiency(roof)
    assert list(eff.index) == list(R.ORDERS)
    assert eff.loc["input_first", "median_gflops"] > eff.loc["loss_first", "median_gflops"]


def test_ratio_gap(df):
    gap = flops_vs_time.ratio_gap(R.order_comparison(df))
    t = gap["table"].set_index("case")
    assert t.loc["article-x1000", "gap"] == pytest.approx((11_010_000 / 111_000) / 10.0)
    kinds = gap["by_kind"].set_index("kind")
    assert kinds.loc["article", "cases"] == 3 and 0 < kinds.loc["article", "slope"] < 1
    assert math.isnan(kinds.loc["minibatch", "slope"])


def test_the_roof_is_the_best_rate_achieved(df):
    best = flops_vs_time.best_rate(df, PEAK["peak_gflops"])
    assert best["gflops"] == pytest.approx(max(PEAK["peak_gflops"], df["gflops"].max()))
    roof = flops_vs_time.roofline_table(df, best["gflops"], PEAK["bandwidth_gbs"],
                                        {"caches": {"L2": "1M", "L3": "8M"}})
    assert (roof["gflops"] <= best["gflops"]).all()
    above = roof[roof["above_roof"]]
    assert (above["why_above"] != "").all()
    assert (roof.loc[~roof["above_roof"], "why_above"] == "").all()
    assert flops_vs_time.why_above(2**30, {"caches": {"L3": "8M"}}).startswith(
        "working set 1024 MiB exceeds the 8 MiB L3")


def test_verdicts_need_separated_intervals(sweep_file, tmp_path):
    """Old rows have no interval fields (the median stands alone); new ones overlap: a tie."""
    lines = sweep_file.read_text().splitlines()[:-1]
    rows = [json.loads(x) for x in lines]
    for r in rows[1:]:
        r.update(seconds_low=r["seconds_median"] * 0.5, seconds_high=r["seconds_median"] * 20,
                 loaded=r["order"] == "optimal")
    path = tmp_path / "overlap.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cmp = R.order_comparison(R.load_sweep(path))
    assert (cmp["faster"] == "tie").all() and cmp["loaded"].all()
    assert (cmp["loss_first_low"] < cmp["seconds_loss_first"]).all()


def test_fit_loglog():
    fit = R.fit_loglog([10, 100, 1000], [5, 500, 50000])
    assert fit["slope"] == pytest.approx(2.0) and fit["r2"] == pytest.approx(1.0)
    assert math.isnan(R.fit_loglog([3, 3], [1, 2])["slope"])


def test_growth_fits_are_exact_affine_lines(df):
    # the article's formulas: loss-first = |z3||z2| + |z2||z1| + |z1||x|, input-first is linear
    fits = growth.growth_fits(df).set_index(["order", "quantity"])
    lf = fits.loc[("loss_first", "counted multiplications")]
    assert (lf["intercept"], lf["slope"], lf["exact"]) == (11_000, 100, True)
    assert isinstance(lf["intercept"], int) and isinstance(lf["slope"], int)
    inf = fits.loc[("input_first", "counted multiplications")]
    assert (inf["intercept"], inf["slope"]) == (0, 11_010)
    formula = fits.loc[("loss_first", "article formula")]
    assert (formula["intercept"], formula["slope"]) == (11_000, 100)
    timed = fits.loc[("loss_first", "wall time (median s)")]
    assert timed["points"] == 3 and 0 < timed["r2"] <= 1
    assert growth.affine_text(lf["intercept"], lf["slope"]) == "11,000 + 100·|x|"


def test_exact_affine_flags_points_off_the_line():
    fit = growth.exact_affine([1, 2, 3], [1, 2, 4])
    assert fit["exact"] is False and fit["slope"] == Fraction(3, 2)


def test_caching_fits():
    depth = np.array([1, 2, 4, 8])
    caching = pd.DataFrame({"depth": depth, "loss_first_cached_multiplications": 100 * depth,
                            "input_first_multiplications": 100 * depth**2})
    fits = caching_study.caching_fits(caching).set_index("method")
    assert fits.loc["loss_first_cached", "slope"] == pytest.approx(1.0)
    assert fits.loc["input_first", "slope"] == pytest.approx(2.0)
    assert fits.loc["input_first", "ratio_at_max_depth"] == pytest.approx(8.0)
    assert fits.loc["input_first", "last_slope"] == pytest.approx(2.0)


def test_random_chain_summary():
    rc = pd.DataFrame({"scalar_loss": [True, True, False], "n": [3, 3, 3],
                       "loss_first": [1024, 10, 50], "input_first": [513, 40, 20],
                       "optimal": [513, 10, 20]})
    s = optimizer.random_chain_summary(rc).set_index(["scalar_loss", "n", "order"])
    lf = s.loc[(True, 3, "loss_first")]
    assert lf["optimal"] == 0.5 and lf["within_1pct"] == 0.5
    assert lf["max_ratio"] == pytest.approx(1024 / 513)
    assert s.loc[(True, 3, "input_first"), "cheaper_than_loss_first"] == 0.5
    assert s.loc[(False, 3, "loss_first"), "max_ratio"] == pytest.approx(2.5)
    near = pd.DataFrame({"scalar_loss": [True], "n": [2], "loss_first": [10_005],
                         "input_first": [20_000], "optimal": [10_000]})
    row = optimizer.random_chain_summary(near).set_index("order").loc["loss_first"]
    assert row["optimal"] == 0.0 and row["within_1pct"] == 1.0


def test_load_benchmark_json(tmp_path):
    doc = {
        "machine_info": {"cpu": {"brand_raw": "test"}}, "commit_info": {"id": "abc"},
        "datetime": "2026-11-28T00:00:00", "version": "5.0",
        "benchmarks": [{
            "name": "test_chain_product[loss_first-article-x1000]", "group": "chain article-x1000",
            "params": {"order": "loss_first"},
            "extra_info": {"case": "article-x1000", "order": "loss_first", "dims": [1, 10],
                           "multiplications": 111000, "flops": 222000},
            "stats": {"min": 1e-5, "max": 3e-5, "mean": 2e-5, "median": 2e-5, "stddev": 1e-6,
                      "iqr": 1e-6, "rounds": 100, "iterations": 1},
        }],
    }
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(doc))
    b = R.load_benchmark_json(path)
    row = b.iloc[0]
    assert row["case"] == "article-x1000" and row["median"] == 2e-5 and row["rounds"] == 100
    assert row["gflops"] == pytest.approx(222000 / 2e-5 / 1e9)
    assert row["param_order"] == "loss_first" and row["dims"] == (1, 10)
    assert b.attrs["commit_info"] == {"id": "abc"}
    assert isinstance(row["multiplications"], int) and row["multiplications"] == 111000
