"""The mini-batch page: per-example counts by hand, no crossover, findings read from its data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chainorder.lab.report import ReportSettings
from chainorder.lab.studies import minibatch as mb
from chainorder.lab.studies.base import ReportContext
from chainorder.networks.gradients import input_first_gradients, loss_first_gradients
from chainorder.networks.network import article_network

TINY = {"x": 10, "batches": (1, 3, 8), "check_upto": 3, "jax_x": 3, "rounds": 1,
        "block_seconds": 0.0, "jax_max_seconds": 5.0}


def _context(tmp_path):
    return ReportContext(tmp_path, ReportSettings.preset(True, study={"mini-batches": TINY}), {})


@pytest.mark.parametrize("structure", ["dense", "structured"])
def test_single_input_first_is_one_examples_count(structure):
    net = article_network(10, 100, 10, seed=0)
    rng = np.random.default_rng(3)
    got = input_first_gradients(net, rng.standard_normal(10), rng.standard_normal(10),
                                cost=structure).multiplications
    assert mb.single_input_first(10, structure) == got


def test_counted_costs_are_b_times_one_example():
    costs = mb.counted_costs(10, (1, 2, 5), check_upto=5)
    for conv in ("dense", "structured"):
        c = costs[costs["convention"] == conv].set_index("batch")
        assert (c["loss_first"] == c.index * c.loc[1, "loss_first"]).all()
        assert (c["input_first"] == c.index * mb.single_input_first(10, conv)).all()
        assert c["ratio"].nunique() == 1  # no B term is shared: no crossover
    s = costs[costs["convention"] == "structured"]
    assert (s["input_first_counted"] == s["input_first"]).all()
    # structured, |x| = 10: loss-first 10·100 + 100 + 100·10 + outer products, by the sweep
    net = article_network(10, 100, 10, seed=0)
    one = loss_first_gradients(net, np.ones(10), np.zeros(10)).multiplications
    assert s.set_index("batch").loc[1, "loss_first"] == one


def test_crossover_text():
    assert mb.crossover_text(pd.Series([2.0, 3.0]), pd.Series([1, 2])) == "none"
    assert mb.crossover_text(pd.Series([2.0, 0.9, 0.5]), pd.Series([1, 2, 4])) == "B = 2, 4"


def test_counted_findings_follow_the_data():
    costs = mb.counted_costs(10, (1, 4), check_upto=1)
    text = "\n".join(mb.counted_findings(costs, 10))
    assert "input-first is cheaper at none" in text
    assert "B > " in text  # the shared-chain model's crossover, stated beside
    changed = costs.copy()
    changed.loc[changed["batch"] == 4, "ratio"] = 0.5
    assert "input-first is cheaper at B = 4" in "\n".join(mb.counted_findings(changed, 10))


def test_page_without_jax_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(mb, "_jax_version", lambda: None)
    ctx = _context(tmp_path)
    mb.STUDY.collect(ctx)
    page = mb.STUDY.render(ctx)
    assert any("pip install 'chainorder[jax]'" in f for f in page.findings)
    assert any(f.startswith("numpy, |x| = 10") for f in page.findings)


def test_page_times_jax_and_reads_its_data(tmp_path):
    pytest.importorskip("jax")
    ctx = _context(tmp_path)
    mb.STUDY.collect(ctx)
    jaxt = pd.read_csv(ctx.data_dir / "minibatch_jax.csv")
    assert list(jaxt["batch"]) == [1, 3, 8]
    assert jaxt["max_abs_difference"].max() < 1e-12
    text = "\n".join(mb.STUDY.render(ctx).findings)
    assert "JAX, |x| = 3" in text
    jaxt["ratio"] = [0.5, 2.0, 3.0]
    jaxt.to_csv(ctx.data_dir / "minibatch_jax.csv", index=False)
    assert "forward mode is faster at B = 1" in "\n".join(mb.STUDY.render(ctx).findings)
