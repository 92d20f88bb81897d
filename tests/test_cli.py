"""The command line: plan, article, orders, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from chainorder.cli import main

CORMEN = ["30", "35", "15", "5", "10", "20", "25"]


def test_plan_table(capsys):
    assert main(["plan", *CORMEN]) == 0
    out = capsys.readouterr().out
    assert "((A1(A2A3))((A4A5)A6))" in out
    for fragment in ("15,125", "40,500", "47,500", "2.678x", "3.140x", "scalar multiplications"):
        assert fragment in out


def test_plan_json(capsys):
    assert main(["plan", *CORMEN, "--json", "--order", "((A1A2)(A3(A4(A5A6))))"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["optimal"]["cost"] == 15125
    assert doc["optimal"]["parenthesization"] == "((A1(A2A3))((A4A5)A6))"
    assert doc["loss_first"]["cost"] == 40500
    assert doc["input_first"]["cost"] == 47500
    assert doc["((A1A2)(A3(A4(A5A6))))"]["cost"] == 35125
    assert doc["loss_first"]["ratio_to_optimal"] == pytest.approx(40500 / 15125)


def test_article_json(capsys):
    assert main(["article", "--x", "1000", "--z1", "100", "--z3", "10", "--json"]) == 0
    rows = {r["order"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["loss_first"]["predicted"] == rows["loss_first"]["counted"] == 111_000
    assert rows["input_first"]["predicted"] == rows["input_first"]["counted"] == 11_010_000


def test_article_json_structured(capsys):
    argv = ["article", "--x", "1000", "--z1", "100", "--z3", "10", "--structure", "structured"]
    assert main([*argv, "--json"]) == 0
    rows = {r["order"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["loss_first"]["predicted"] == rows["loss_first"]["counted"] == 101_100
    assert rows["input_first"]["predicted"] == rows["input_first"]["counted"] == 1_110_000
    assert set(rows["optimal"]) == {"order", "article_name", "ad_name", "predicted", "counted",
                                    "ratio", "flops", "parenthesization", "source"}


def test_article_beyond_the_memory_budget_predicts_only(capsys):
    argv = ["article", "--x", "10000000", "--z1", "100", "--z3", "10", "--max-memory", "1GB"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "110100000000" in out and "not counted (needs 16.9 GB)" in out
    assert "--max-memory" in out
    assert main([*argv[:-2], "--max-memory", "lots"]) == 2
    assert "--max-memory must be a size such as 8GB" in capsys.readouterr().err


def test_orders_lists_the_registry(capsys):
    assert main(["orders"]) == 0
    out = capsys.readouterr().out
    assert "loss_first" in out and "forward" in out and "input_first" in out


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["plan", "3", "x", "4"], "dims[1] must be a positive integer, got 'x'"),
        (["plan", "3", "0", "4"], "dims[1] must be >= 1, got 0"),
        (["plan", "3"], "at least two"),
        (["plan", "3", "4", "5", "--order", "sideways"], "unknown order 'sideways'"),
        (["plan", "3", "4", "5", "--order", "(A1A2A3)"], "3 factors"),
        (["article", "--x", "0", "--z1", "3", "--z3", "2"], "x"),
    ],
)
def test_bad_input_is_one_line(argv, match, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_argparse_errors_are_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "chainorder", "article", "--x", "ten"],
        capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "invalid int value" in proc.stderr


def test_python_dash_m_matches_the_console_script():
    proc = subprocess.run(
        [sys.executable, "-m", "chainorder", "plan", *CORMEN, "--json"],
        capture_output=True, text=True, check=True,
    )
    assert json.loads(proc.stdout)["optimal"]["cost"] == 15125


def test_output_piped_into_head_ends_quietly():
    import subprocess
    import sys

    out = subprocess.run(
        f"{sys.executable} -m chainorder plan 30 35 15 5 10 20 25 --order best_fan | head -c 10",
        shell=True, capture_output=True, text=True, check=True,
    )
    assert "Traceback" not in out.stderr and len(out.stdout) == 10


@pytest.mark.parametrize("quiet", [[], ["--quiet"], ["-q"], ["--no-progress"]])
def test_verify_progress_goes_to_stderr_unless_quiet(quiet, capsys):
    assert main(["verify", "--chains", "20", "--jobs", "1", *quiet]) == 0
    got = capsys.readouterr()
    assert "mismatches: 0 of 20 chains" in got.out and "chains checked" not in got.out
    assert ("chains checked" in got.err) == (not quiet)
