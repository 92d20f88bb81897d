"""The article-in-JAX page: its memory model and stops, its fit, and findings read from its data."""

from __future__ import annotations

import pandas as pd
import pytest

from chainorder.lab.report import ReportSettings
from chainorder.lab.studies import article_jax as aj
from chainorder.lab.studies.base import ReportContext
from chainorder.networks.article import article_costs

TINY = {"xs": (10, 20, 40), "depths": (1,), "memory_budget": 2**23, "rounds": 1,
        "block_seconds": 0.0, "numpy_max_x": 10}


def _context(tmp_path, **overrides):
    settings = ReportSettings.preset(True, study={"article-in-jax": {**TINY, **overrides}})
    return ReportContext(tmp_path, settings, {})


def test_sizes_and_model_bytes_by_hand():
    # |θ| = 100·|x| + 100 + 10·100 + 10; Σ|z_k| = 100 + 100 + 10
    assert aj.sizes(10, 1) == {"params": 2110, "widths": 210}
    assert aj.sizes(10, 3)["params"] == 2110 + 2 * (100 * 100 + 100)
    # forward mode on dl/dx: θ + x + n held, n² basis, n·Σ|z| tangents, n = |x| = 10
    assert aj.model_bytes(10, 1, "dx", "jacfwd") == 8 * (2110 + 10 + 10 + 100 + 10 * 210)
    # reverse mode: θ + x + n held, the tape Σ|z| and n cotangents
    assert aj.model_bytes(10, 1, "dx", "jacrev") == 8 * (2110 + 10 + 10 + 210 + 10)
    n = 2110 + 10
    assert aj.model_bytes(10, 1, "dtheta", "jacfwd") == 8 * (2110 + 10 + n + n * n + n * 210)
    assert aj.model_bytes(10, 1, "dx", "co.jacobian") == aj.model_bytes(10, 1, "dx", "jacrev")


@pytest.mark.parametrize("target", ["dx", "dtheta"])
@pytest.mark.parametrize("mode", list(aj.MODES))
def test_memory_stop_is_the_last_size_that_fits(target, mode):
    budget = 2**26
    stop = aj.memory_stop(1, target, mode, budget)
    assert stop >= 1
    assert aj.model_bytes(stop, 1, target, mode) <= budget
    assert aj.model_bytes(stop + 1, 1, target, mode) > budget


def test_memory_stop_none_fits_and_plan_agrees():
    assert aj.memory_stop(1, "dtheta", "jacfwd", 1000) == 0
    plan = aj.memory_plan((10, 100), (1,), 2**24)
    assert (plan["fits"] == (plan["model_bytes"] <= 2**24)).all()
    assert len(plan) == 2 * 2 * len(aj.MODES)
    assert not plan.set_index(["x", "target", "mode"]).loc[(100, "dtheta", "jacfwd"), "fits"]


def test_counted_costs_match_the_article_formulas():
    costs = aj.counted_costs((10, 100), (1,)).set_index(["x", "target", "convention"])
    for x in (10, 100):
        for conv in ("dense", "structured"):
            want = article_costs(x, 100, 10, cost=conv)
            got = costs.loc[(x, "dx", conv)]
            assert (got["loss_first"], got["input_first"]) == (want["loss_first"],
                                                                want["input_first"])
    # structured dl/dθ, |x| = 10: loss-first one cached sweep, input-first one chain a parameter
    assert costs.loc[(10, "dtheta", "structured"), ["loss_first", "input_first"]].tolist() == [
        4100, 17100]


def test_fit_affine_recovers_a_line_and_fails_on_a_square():
    exact = aj.fit_affine([10, 100, 1000], [2e-6 + 3e-9 * x for x in (10, 100, 1000)])
    assert exact["t_call"] == pytest.approx(2e-6) and exact["slope"] == pytest.approx(3e-9)
    assert exact["fits"] and exact["max_residual"] < 1e-9
    square = aj.fit_affine([10, 100, 1000, 10_000], [1e-6 + 1e-12 * x * x
                                                      for x in (10, 100, 1000, 10_000)])
    assert not square["fits"] and square["max_residual"] > aj.FIT_TOLERANCE
    assert not aj.fit_affine([10, 100], [1.0, 2.0])["fits"]  # two points test nothing


def test_page_without_jax_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(aj, "_jax_version", lambda: None)
    ctx = _context(tmp_path)
    aj.STUDY.collect(ctx)
    page = aj.STUDY.render(ctx)
    assert any("pip install 'chainorder[jax]'" in f for f in page.findings)
    assert "chainorder report" in page.body
    assert any("numpy chains of dl/dx" in f for f in page.findings)


def test_page_findings_come_from_the_saved_data(tmp_path):
    pytest.importorskip("jax")
    ctx = _context(tmp_path)
    aj.STUDY.collect(ctx)
    timed = pd.read_csv(ctx.data_dir / "article_jax_timed.csv")
    # at 8 MiB jacfwd on dl/dθ fits at no |x| (its |θ|² basis alone is 11.7 MB at |x| = 1)
    assert not ((timed["mode"] == "jacfwd") & (timed["target"] == "dtheta")).any()
    assert set(timed["mode"]) == set(aj.MODES)
    assert timed["max_rel_error"].max() < 1e-10
    page = aj.STUDY.render(ctx)
    text = "\n".join(page.findings)
    assert "dl/dθ and dl/dx: the largest |x| that fits is jacrev at |x| = " in text
    assert "jacfwd at no |x|" in text and "3 of 18 planned points were skipped" in text
    assert "Depth 1, dl/dx: jacfwd / jacrev in steady time" in text
    # make jacfwd 1000 times slower in the saved data: the ratio finding follows
    slow = timed.copy()
    fwd = slow["mode"] == "jacfwd"
    slow.loc[fwd, "median_s"] = 1000.0 * slow.loc[fwd, "median_s"]
    slow.to_csv(ctx.data_dir / "article_jax_timed.csv", index=False)
    again = "\n".join(aj.STUDY.render(ctx).findings)
    ratios = aj.ratio_table(slow, aj.counted_costs((10, 20, 40), (1,)), aj.fit_table(slow))
    assert again != text
    assert aj.ratio_text(ratios["measured"].iloc[0]) in again


def test_matrix_free_count_is_n_forward_passes():
    assert aj.forward_multiplications(1000, 1) == 100 * 1000 + 10 * 100
    assert aj.forward_multiplications(10, 3) == 100 * 10 + 2 * 100 * 100 + 10 * 100
    costs = aj.counted_costs((10,), (1,)).set_index(["target", "convention"])
    assert costs.loc[("dx", "dense"), "tangent_passes"] == 10 * 2000
    assert costs.loc[("dtheta", "structured"), "tangent_passes"] == (2110 + 10) * 2000


def test_numpy_findings_read_the_saved_times():
    rows = [{"depth": 1, "x": 100, "convention": c, "order": o, "median_s": t,
             "multiplications": m}
            for c, o, t, m in (("dense", "loss_first", 1.0, 21_000),
                               ("dense", "input_first", 8.0, 1_101_000),
                               ("structured", "loss_first", 2.0, 11_100),
                               ("structured", "input_first", 4.0, 111_000))]
    text = "\n".join(aj._numpy_findings(pd.DataFrame(rows)))
    assert "|x| = 100: 8x dense, 2x structured" in text
    assert "loss-first 0.5x in time vs 1.892x counted; input-first 2x in time vs 9.919x" in text


def test_a_point_jax_refuses_is_recorded_not_fatal(tmp_path, monkeypatch):
    pytest.importorskip("jax")

    def refuse(depth, x, target, *args):
        if x == 20:
            raise RuntimeError("RESOURCE_EXHAUSTED: out of memory")
        return []

    monkeypatch.setattr(aj, "time_jax_point", refuse)
    rows: list = []
    failed = aj._time_jax(aj.memory_plan((10, 20), (1,), 2**23),
                          aj.ArticleJaxStudy.Settings.preset(True, **TINY), rows)
    assert rows == [] and len(failed) == 2  # dl/dx and dl/dθ at |x| = 20
    assert all("|x| = 20" in f and "RESOURCE_EXHAUSTED" in f for f in failed)
