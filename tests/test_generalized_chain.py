"""The generalized-chain study: its counted findings, the memory sweep, the page with and
without JAX, and the counted tables byte-identical from one render to the next."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chain_helpers import ADMISSION_ANSWERS

import chainorder as co
from chainorder.algebra.gjc import optimize_gjc
from chainorder.lab.settings import ReportSettings
from chainorder.lab.studies import generalized_chain as gc
from chainorder.lab.studies.base import ReportContext


@pytest.mark.parametrize("name", list(ADMISSION_ANSWERS))
def test_admission_rows_are_the_reference_tools_numbers(name):
    row = gc.instance_row(name, "ADMission", gc.admission_factors(name))
    got = tuple(row[k] for k in ("optimal", "tangent", "adjoint", "preaccumulation"))
    assert got == ADMISSION_ANSWERS[name] == gc.admission_reference()[name]
    assert all(type(v) is int for v in got)


def test_admission_data_ships_with_the_package():
    folder = gc.admission_dir()
    import chainorder.algebra

    assert folder.parent.parent == Path(chainorder.algebra.__file__).resolve().parent
    assert "MIT License" in (folder / "README.md").read_text()
    assert sorted(p.name for p in folder.glob("problem_dense*")) == sorted(gc.ADMISSION_NAMES)


def test_counted_table_columns_add_up():
    table = gc.counted_table(random_count=3)
    assert len(table) == len(gc.ADMISSION_NAMES) + len(gc.generated_instances(3))
    for r in table.itertuples(index=False):
        assert r.preaccumulation == r.accumulate + r.matrix_chain
        assert r.optimal <= min(r.tangent, r.adjoint, r.preaccumulation)
        assert r.best_mode_over_optimal == min(r.tangent, r.adjoint) / r.optimal
        best = min(r.tangent, r.adjoint, r.preaccumulation)
        assert r.best_baseline_over_optimal == best / r.optimal == getattr(r, r.best_baseline) \
            / r.optimal
    f = gc.admission_factors("problem_dense10")
    dims = (*(x.m for x in reversed(f)), f[0].n)
    assert table.loc[0, "matrix_chain"] == co.optimize(dims).cost == 147


def test_generated_instances_know_the_article_and_the_bottlenecks():
    rows = {n: gc.instance_row(n, k, f) for n, k, f in gc.generated_instances(0)}
    # the article's gradient: one adjoint sweep (loss-first) is optimal
    grad = rows["article-gradient"]
    assert grad["optimal"] == grad["adjoint"] == 101_110 and grad["best_mode"] == "adjoint"
    # a 500 -> 500 -> 5 -> 500 -> 500 bottleneck: mixing modes is far cheaper than either
    assert rows["bottleneck-500-5-500"]["best_mode_over_optimal"] > 60
    assert gc.random_factors(4) == gc.random_factors(4) != gc.random_factors(5)


def test_memory_sweep_falls_to_the_unbounded_optimum():
    f = gc.admission_factors("problem_dense100")
    mem = gc.memory_sweep(f, points=8)
    assert mem["memory"].iloc[0] == 1 and mem["memory"].iloc[-1] == sum(x.tape for x in f)
    assert mem["optimal"].is_monotonic_decreasing
    assert mem["optimal"].iloc[-1] == ADMISSION_ANSWERS["problem_dense100"][0]
    assert (mem["tape_peak"] <= mem["memory"]).all()
    assert (mem["optimal"] <= mem["preaccumulation"]).all()


def _render(out: Path, status: dict) -> str:
    (out / "data").mkdir(parents=True)
    (out / "data" / "generalized_chain.json").write_text(json.dumps(status))
    # two generated instances and four tape bounds: the page's counts hold for any number
    small = {"random_instances": 2, "memory_points": 4}
    settings = ReportSettings.preset(True, study={"generalized-chain": small})
    page = gc.STUDY.render(ReportContext(out, settings, {}))
    return "\n".join(page.findings) + "\n" + page.body


def test_page_without_jax_keeps_the_counts_and_says_how_to_install(tmp_path):
    text = _render(tmp_path / "a", {"jax": None, "cases": list(gc.QUICK_TIMED)})
    assert 'pip install -e ".[jax]"' in text and "JAX is not installed" in text
    assert "reproduced exactly" in text and "231,143" in text
    again = _render(tmp_path / "b", {"jax": None, "cases": []})
    assert "No JAX case was timed" in again
    for a in sorted((tmp_path / "a" / "tables").glob("counted-*.csv")):
        assert a.read_bytes() == (tmp_path / "b" / "tables" / a.name).read_bytes(), a.name
    assert len(list((tmp_path / "a" / "tables").glob("counted-*.csv"))) == 3
    assert "## Checks" in text and "none of them can cost less: checked" in text


def test_a_jax_case_is_timed_against_the_peers():
    pytest.importorskip("jax")
    row = gc.time_jax_case("bottleneck-800-10-800", repeats=2, block_seconds=0.0)
    assert row["max_rel_error"] < 1e-12
    assert row["optimal_cost"] < min(row["tangent_cost"], row["adjoint_cost"])
    assert row["verdict"] in ("faster", "slower", "tie")
    assert row["better_peer"] in ("jacfwd", "jacrev")
    for k in ("optimal", "jacfwd", "jacrev"):
        assert 0 < row[f"{k}_min_s"] <= row[f"{k}_median_s"] <= row[f"{k}_max_s"]
        assert row[f"{k}_compile_s"] > 0


def test_memory_threshold_is_the_least_bound_reaching_the_optimum():
    f = gc.admission_factors("problem_dense100")
    m = gc.memory_threshold(f)
    assert m == 8206
    free = ADMISSION_ANSWERS["problem_dense100"][0]
    assert optimize_gjc(f, m).cost == free < optimize_gjc(f, m - 1).cost


def test_problem_dense100_is_judged_against_the_best_of_three():
    row = gc.instance_row("p", "ADMission", gc.admission_factors("problem_dense100"))
    assert row["best_baseline"] == "preaccumulation"
    assert round(row["best_baseline_over_optimal"], 2) == 39.09
    assert row["best_mode_over_optimal"] > row["best_baseline_over_optimal"]


def test_chains_drawn_like_jacobian_chaining_follow_its_settings():
    f = gc.chaining_factors(3)
    assert f == gc.chaining_factors(3) != gc.chaining_factors(4)
    assert len(f) == gc.CHAINING_LENGTH == 7
    assert all(a.m == b.n for a, b in zip(f[:-1], f[1:], strict=True))  # each feeds the next
    assert all(x.tangent_cost == x.adjoint_cost == x.tape for x in f)


def test_the_distribution_finding_changes_with_the_data():
    counted = gc.counted_table(random_count=4)
    chaining = gc.chaining_table(6)
    spread = gc.distribution_table(counted, chaining)
    assert spread["n"].tolist() == [4, 4, 6, 6]
    text = " ".join(gc._distribution_findings(spread))
    assert "Over the 4 seeded `random-factors-*` chains" in text
    assert "Over the 6 chains drawn like Jacobian-Chaining's" in text and "up to 7x" in text
    tame = chaining.assign(best_mode_over_optimal=1.5, best_baseline_over_optimal=1.5)
    text = gc._distribution_findings(gc.distribution_table(counted, tame))[1]
    assert "median 1.5x" in text and "0% of them 2x or more" in text and "within 7x" in text
    wild = tame.assign(best_baseline_over_optimal=[1.0] * 4 + [8.0, 9.0])
    text = gc._distribution_findings(gc.distribution_table(counted, wild))[1]
    assert "best of the three is 9x, above 7x on 2 of 6 chains" in text
