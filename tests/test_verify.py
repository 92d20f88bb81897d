"""The large-scale Hu–Shing check, run small."""

from __future__ import annotations

import json

import pytest

from chainorder.cli import main
from chainorder.lab.verify import check_hu_shing, dp_costs


def test_check_finds_no_mismatch_on_a_small_run():
    summary = check_hu_shing(300, seed=5, jobs=1)
    assert summary["chains"] == 300 and summary["mismatches"] == 0
    assert sum(summary["families"].values()) == 300
    assert "python" in summary["paths"]


def test_reference_dp_pins_cormen():
    assert dp_costs([(30, 35, 15, 5, 10, 20, 25)]) == [15125]


@pytest.mark.parametrize(("kwargs", "match"), [({"chains": -1}, "chains"), ({"jobs": 0}, "jobs")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_hu_shing(**{"chains": 10, **kwargs})


def test_cli_writes_the_summary(tmp_path, capsys):
    out = tmp_path / "check.json"
    assert main(["verify", "--chains", "100", "--jobs", "1", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["mismatches"] == 0
    assert "mismatches: 0 of 100 chains" in capsys.readouterr().out
