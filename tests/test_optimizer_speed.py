"""The optimizer study: costs replay each method's own answer, optima agree, skips say why."""

from __future__ import annotations

import json

import numpy as np
import pytest

from chainorder.algebra.costs import steps_cost
from chainorder.algebra.dp import dp_steps
from chainorder.algebra.plan import check_steps
from chainorder.lab.studies import optimizer_speed as study
from chainorder.lab.studies.optimizer_speed import (
    METHODS,
    optimizer_table,
    path_cost,
    plot_optimizer_times,
    steps_to_path,
    study_dims,
    study_markdown,
    time_optimizers,
)

EXACT = {"chainorder.dp", "chainorder.hu-shing", "numpy.multi_dot", "opt_einsum.optimal",
         "opt_einsum.dp", "cotengra.optimal"}
NS = (5, 12)


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return time_optimizers(NS, seed=3, keep_paths=True, repeats=1)


def _einsum(dims):
    oe = pytest.importorskip("opt_einsum")
    n = len(dims) - 1
    sym = [oe.get_symbol(m) for m in range(n + 1)]
    eq = ",".join(sym[m] + sym[m + 1] for m in range(n)) + "->" + sym[0] + sym[n]
    return oe, eq, [(dims[m], dims[m + 1]) for m in range(n)]


def test_every_method_has_a_record_per_length(records):
    assert [(r["method"], r["n"]) for r in records] == [(m, n) for n in NS for m in METHODS]
    for r in records:
        assert (r["seconds"] is None) == (r["skipped_reason"] is not None)


def test_costs_are_replays_of_each_methods_own_answer(records):
    ran = [r for r in records if r["skipped_reason"] is None]
    assert {r["method"] for r in ran} >= {"chainorder.dp", "chainorder.best_fan"}
    for r in ran:
        dims = study_dims(r["n"], seed=3)
        assert isinstance(r["cost"], int)
        assert r["cost"] == path_cost(dims, r["path"]), r["method"]
        if r["steps"] is not None:
            check_steps(r["n"], np.array(r["steps"]))
            assert r["cost"] == steps_cost(dims, r["steps"]), r["method"]


def test_costs_agree_with_opt_einsums_own_count(records):
    # opt_einsum counts 2 FLOPs per multiply-add of a matrix product: an independent replay.
    for r in records:
        if r["skipped_reason"] is None:
            oe, eq, shapes = _einsum(study_dims(r["n"], seed=3))
            info = oe.contract_path(eq, *shapes, shapes=True, optimize=r["path"])[1]
            assert info.opt_cost == 2 * r["cost"], r["method"]


def test_optimum_is_the_dynamic_programs_and_ratios_are_at_least_one(records):
    for r in records:
        assert r["optimum"] == dp_steps(study_dims(r["n"], seed=3))[1]
        if r["skipped_reason"] is None:
            assert r["cost"] >= r["optimum"]
            assert r["ratio"] == r["cost"] / r["optimum"] >= 1
            if r["method"] in EXACT:
                assert r["cost"] == r["optimum"], r["method"]


def test_size_limits_are_recorded(records):
    exhaustive = [r for r in records if r["method"] == "opt_einsum.optimal"]
    if exhaustive[0]["skipped_reason"] and "not installed" in exhaustive[0]["skipped_reason"]:
        pytest.skip("opt_einsum is not installed")
    assert exhaustive[0]["skipped_reason"] is None  # n = 5
    assert exhaustive[1]["skipped_reason"].startswith("n > 10 (size limit")  # n = 12


def test_missing_peers_are_skipped_with_a_reason(monkeypatch):
    real_has = study._has
    hidden = ("opt_einsum", "cotengra")
    monkeypatch.setattr(study, "_has", lambda m: m not in hidden and real_has(m))
    methods = ["opt_einsum.greedy", "cotengra.auto", "chainorder.best_fan"]
    recs = time_optimizers([6], methods=methods)
    reasons = {r["method"]: r["skipped_reason"] for r in recs}
    assert reasons == {
        "opt_einsum.greedy": 'opt_einsum is not installed: pip install opt_einsum (or pip '
                             'install -e ".[peers]" in a chainorder checkout)',
        "cotengra.auto": 'cotengra is not installed: pip install cotengra (or pip '
                         'install -e ".[peers]" in a chainorder checkout)',
        "chainorder.best_fan": None,
    }


def test_budget_forecast_skips_the_next_length():
    recs = time_optimizers([4, 40], methods=["chainorder.dp"], budget_s=1e-12)
    assert recs[0]["skipped_reason"] is None
    assert "over budget_s=1e-12" in recs[1]["skipped_reason"]


def test_quick_caps_the_lengths():
    recs = time_optimizers([10, 20_000], methods=["chainorder.best_fan"], quick=True)
    assert [r["n"] for r in recs] == [10]


def test_bad_arguments():
    with pytest.raises(ValueError, match="ns must hold integers >= 2"):
        time_optimizers([1])
    with pytest.raises(ValueError, match="unknown methods \\['dp'\\]; valid: chainorder.dp"):
        time_optimizers([5], methods=["dp"])
    with pytest.raises(TypeError, match="methods must be a sequence of names"):
        time_optimizers([5], methods="chainorder.dp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="budget_s must be a positive"):
        time_optimizers([5], budget_s=0)


@pytest.mark.parametrize("seed", range(10))
def test_path_cost_replays_random_paths_like_opt_einsum(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 12))
    dims = [int(d) for d in rng.integers(1, 50, size=n + 1)]
    oe, eq, shapes = _einsum(dims)
    # only neighbouring factors, where opt_einsum counts 2 per multiply-add; a linear
    # path appends each product at the end, so the factors are tracked by their spans
    spans = [(m, m + 1) for m in range(n)]
    path = []
    for _ in range(n - 1):
        order = sorted(range(len(spans)), key=spans.__getitem__)
        a = int(rng.integers(0, len(spans) - 1))
        x, y = order[a], order[a + 1]
        path.append((x, y))
        merged = (spans[x][0], spans[y][1])
        for z in sorted((x, y), reverse=True):
            spans.pop(z)
        spans.append(merged)
    info = oe.contract_path(eq, *shapes, shapes=True, optimize=path)[1]
    assert path_cost(dims, path) == info.opt_cost // 2


def test_path_cost_of_an_outer_product():
    # A1 with A3 first shares no index: a 2x3x4x5 outer product, then (..) with A2 over 3 and 4
    assert path_cost([2, 3, 4, 5], [(0, 2), (0, 1)]) == 2 * 3 * 4 * 5 + 2 * 3 * 4 * 5
    with pytest.raises(ValueError, match="path leaves 2 operands"):
        path_cost([2, 3, 4], [(0,)])
    with pytest.raises(ValueError, match="does not name distinct operands"):
        path_cost([2, 3, 4], [(0, 0)])


def test_steps_to_path_round_trip(rng):
    for n in (1, 2, 3, 9):
        dims = [int(d) for d in rng.integers(1, 30, size=n + 1)]
        steps, cost = dp_steps(dims)
        assert path_cost(dims, steps_to_path(steps, n)) == cost


def test_table_keeps_exact_ints(records):
    df = optimizer_table(records)
    assert list(df.columns) == ["method", "library", "version", "n", "seconds", "seconds_max",
                                "repeats", "cost", "optimum", "ratio", "skipped_reason"]
    assert len(df) == len(records)
    assert all(isinstance(v, int) for v in df["optimum"])
    assert all(isinstance(v, int) for v in df["cost"] if v is not None)
    big = [{**records[0], "cost": 10**40 + 1, "optimum": 10**40}]
    assert optimizer_table(big)["cost"][0] == 10**40 + 1


def test_plot_and_markdown(records, tmp_path):
    paths = plot_optimizer_times(records, tmp_path / "fig" / "optimizer_times.png")
    assert [p.name for p in paths] == ["optimizer_times.png", "optimizer_times.svg"]
    assert all(p.stat().st_size > 1000 for p in paths)
    text = study_markdown(records, ["figures/optimizer_times.png", "figures/optimizer_times.svg"])
    assert "| method | n = 5 | n = 12 |" in text
    assert "![Planning time against chain length (log-log)](figures/optimizer_times.png)" in text
    assert "**Not run**, and why:" in text and "opt_einsum.optimal at n = 12: n > 10" in text
    assert "p·q·r" in text


def test_page_names_a_missing_peer_and_the_command_that_adds_it(monkeypatch, tmp_path):
    from chainorder.lab.settings import ReportSettings
    from chainorder.lab.studies.base import ReportContext

    real_has = study._has
    monkeypatch.setattr(study, "_has", lambda m: m != "cotengra" and real_has(m))
    recs = time_optimizers([5], methods=["chainorder.dp", "numpy.multi_dot", "cotengra.auto"])
    ctx = ReportContext(tmp_path, ReportSettings.preset(True), {})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "optimizer_times.json").write_text(json.dumps(recs))
    check = {"chains": 10, "mismatches": 0, "seed": 0, "families": {"random": 10},
             "paths": ["python"], "max_matrices": 30}
    (tmp_path / "data" / "hushing_check.json").write_text(json.dumps(check))
    page = study.STUDY.render(ctx)
    assert page.findings[0].startswith("Not measured: cotengra did not import")
    assert 'pip install -e ".[peers]"' in page.findings[0]
    assert "cotengra.auto at n = 5: cotengra is not installed" in page.body
