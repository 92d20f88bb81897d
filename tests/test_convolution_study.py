"""The convolutional page: counts by hand on the patterns, findings read from its data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from chainorder.lab.report import ReportSettings
from chainorder.lab.studies import convolution as cs
from chainorder.lab.studies.base import ReportContext
from chainorder.networks.conv import conv_article_network

TINY = {"lengths": (16, 24), "channels": 2, "kernel": 3, "outputs": 2, "gradients_upto": 16,
        "rounds": 1}


def _context(tmp_path):
    return ReportContext(tmp_path, ReportSettings.preset(True, study={"convolution": TINY}), {})


def test_dl_dx_counts_by_hand():
    # |x| = 16, 2 channels, kernel 3: z1 = z2 = 2·14 = 28, pool 2 -> z3 = 14, z4 = z5 = 2.
    # Loss-first structured: row·diag 2, row·W 2·14, row·pool (14 entries) 14,
    # row·diag 28, row·conv (2·14·3 = 84 entries) 84
    net = conv_article_network(16, 2, 3, 2, seed=0)
    rows = cs.count_rows(net, np.ones(16), np.zeros(2), 16, False)
    got = {(r["convention"], r["order"]): r["multiplications"] for r in rows}
    assert got["structured", "loss_first"] == 2 + 28 + 14 + 28 + 84
    # dense: 1·2·2 + 1·2·14 + 1·14·28 + 1·28·28 + 1·28·16
    assert got["dense", "loss_first"] == 4 + 28 + 392 + 784 + 448
    assert got["structured", "optimal"] <= got["structured", "loss_first"]


def test_the_page_is_collected_and_its_findings_follow_the_data(tmp_path):
    pytest.importorskip("jax")
    ctx = _context(tmp_path)
    ctx.data_dir.mkdir(parents=True, exist_ok=True)
    cs.STUDY.collect(ctx)
    page = cs.STUDY.render(ctx)
    text = "\n".join(page.findings)
    assert "dl/dx, counted: input-first / loss-first is |x| = 16" in text
    assert "the sparse chain's optimum costs" in text and "JAX, wall time" in text
    times = pd.read_csv(ctx.data_dir / "convolution-times.csv")
    jax_times = times[times["engine"] == "jax"].set_index(["length", "mode"])
    assert (jax_times.xs("co.jacobian", level="mode")["ratio_median"] == 1).all()
    for n in TINY["lengths"]:  # each peer's ratio, its rounds' range and the plan co.jacobian ran
        r = jax_times.loc[(n, "jacrev")]
        assert r["ratio_low"] <= r["ratio_median"] <= r["ratio_high"]
        assert f"|x| = {n:,} (co.jacobian ran '{jax_times.loc[(n, 'co.jacobian'), 'chosen']}')" \
            in text
    schedules = pd.read_csv(ctx.data_dir / "convolution-schedules.csv")
    assert set(schedules["schedule"]) == set(cs.SCHEDULES)
    opt = schedules[schedules["schedule"] == "optimal"].set_index("length")["multiply_adds"]
    others = schedules[schedules["schedule"] != "optimal"].groupby("length")["multiply_adds"]
    assert (opt <= others.min()).all()  # a check: the optimum has every mode among its options
    counts = pd.read_csv(ctx.data_dir / "convolution-counts.csv")
    counts.loc[(counts["order"] == "input_first") & (counts["length"] == 16), "multiplications"] = 1
    counts.to_csv(ctx.data_dir / "convolution-counts.csv", index=False)
    assert cs.STUDY.render(ctx).findings[0] != page.findings[0]
