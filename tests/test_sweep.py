"""The sweep: rows keyed and counted, resumable after a torn write or a SIGKILL, no duplicates."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from chainorder.cli import main
from chainorder.lab.cases import Case, get_case
from chainorder.lab.sweep import (
    DEFAULT_ORDERS,
    Timing,
    _locked_append,
    point_key,
    read_sweep,
    run_sweep,
)

TINY = ["article-x10", "random-n4-s0", "rnn-T4-h64-i32"]
FAST = {"repeats": 2, "warmup": 0, "progress": False, "peak_seconds": 0}


def _keys(path: Path) -> collections.Counter:
    return collections.Counter(r["key"] for r in read_sweep(path)[1])


def test_rows_are_keyed_and_counted(tmp_path):
    out = run_sweep(TINY, tmp_path / "s.jsonl", **FAST)
    runs, rows = read_sweep(out)
    assert len(runs) == 1 and runs[0]["settings"]["orders"] == list(DEFAULT_ORDERS)
    assert runs[0]["machine"]["numpy"] and runs[0]["peak"] is None
    assert len(rows) == len(TINY) * len(DEFAULT_ORDERS)
    assert set(_keys(out).values()) == {1}
    by = {(r["case"], r["order"]): r for r in rows}
    art = by[("article-x10", "loss_first")]
    assert art["multiplications"] == art["planned_multiplications"] == 12_000
    assert art["flops"] == 24_000 and art["dims"] == [1, 10, 100, 100, 10]
    assert by[("article-x10", "input_first")]["multiplications"] == 110_100
    for r in rows:
        assert r["seconds_min"] <= r["seconds_median"] <= r["seconds_max"]
        assert r["runs"] >= 2 and r["repeats"] == 2 and r["threads"] == 1
        assert r["jacobian_bytes"] > 0 and r["intermediate_bytes_largest"] > 0
        assert r["intermediate_bytes_total"] >= r["intermediate_bytes_largest"]
        assert r["key"] == point_key(r["case"], r["order"], Timing(2, 0, 0.0, 1))


def test_rerun_measures_nothing(tmp_path):
    out = run_sweep(TINY, tmp_path / "s.jsonl", **FAST)
    before = out.read_bytes()
    run_sweep(TINY, out, **FAST)
    assert out.read_bytes() == before


def test_other_settings_are_other_points(tmp_path):
    out = run_sweep(TINY[:1], tmp_path / "s.jsonl", **FAST)
    run_sweep(TINY[:1], out, **{**FAST, "repeats": 3})
    runs, rows = read_sweep(out)
    assert len(runs) == 2 and len(rows) == 2 * len(DEFAULT_ORDERS)


def test_torn_last_line_is_dropped_and_remeasured(tmp_path):
    out = run_sweep(TINY, tmp_path / "s.jsonl", **FAST)
    data = out.read_bytes()
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    lost = json.loads(data[last:])["key"]
    out.write_bytes(data[: last + (len(data) - last) // 2])  # killed in the middle of a write
    assert lost not in _keys(out)
    run_sweep(TINY, out, **FAST)
    keys = _keys(out)
    assert keys[lost] == 1 and set(keys.values()) == {1}
    assert len(keys) == len(TINY) * len(DEFAULT_ORDERS)
    assert out.read_bytes().endswith(b"\n")


SCRIPT = textwrap.dedent("""
    import sys
    from chainorder.lab.cases import Case
    from chainorder.lab.sweep import run_sweep
    cases = [Case(f"random-n6-s{s}", "random", {"n": 6, "high": 64, "seed": s}) for s in range(8)]
    run_sweep(cases, sys.argv[1], repeats=2, warmup=0, min_seconds=0.1, progress=False,
              peak_seconds=0)
""")
KILLED = [Case(f"random-n6-s{s}", "random", {"n": 6, "high": 64, "seed": s}) for s in range(8)]


def test_sigkill_then_rerun_measures_every_point_once(tmp_path):
    out = tmp_path / "killed.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(out)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b'"record":"row"') >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the sweep finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    measured = len(_keys(out))
    assert 3 <= measured < len(KILLED) * len(DEFAULT_ORDERS)
    run_sweep(KILLED, out, repeats=2, warmup=0, min_seconds=0.1, progress=False, peak_seconds=0)
    keys = _keys(out)
    assert len(keys) == len(KILLED) * len(DEFAULT_ORDERS)
    assert set(keys.values()) == {1}
    assert len(read_sweep(out)[0]) == 2  # one run record per session that measured something


def test_a_second_writer_is_refused(tmp_path):
    out = tmp_path / "s.jsonl"
    with _locked_append(out), pytest.raises(ValueError, match="another sweep"):
        run_sweep(TINY[:1], out, **FAST)


def test_timing_settings_are_checked():
    with pytest.raises(ValueError, match="repeats must be an integer >= 1"):
        Timing(repeats=0)
    with pytest.raises(ValueError, match="min_seconds"):
        Timing(min_seconds=-1.0)
    assert Timing(5, 1, 0.05, 0).label == "repeats=5,warmup=1,min_seconds=0.05,threads=default"


def test_unknown_case_id_is_a_key_error(tmp_path):
    with pytest.raises(KeyError, match="no case"):
        run_sweep(["no-such-case"], tmp_path / "s.jsonl", **FAST)


def test_cli_lists_and_sweeps(tmp_path, capsys):
    assert main(["sweep", "--list", "--quick", "--case", "rnn-*"]) == 0
    assert capsys.readouterr().out.count("rnn-T") == 3
    assert main(["sweep", "--list", "--case", "rnn-*"]) == 0  # --case searches every case
    assert capsys.readouterr().out.count("rnn-T") == 7
    out = tmp_path / "cli.jsonl"
    argv = ["sweep", "--case", "article-x10", "--out", str(out), "--repeats", "2", "--warmup",
            "0", "--min-seconds", "0", "--peak-seconds", "0", "--no-progress", "--orders",
            "loss_first,input_first"]
    assert main(argv) == 0
    assert "2 points measured, 0 already present" in capsys.readouterr().err
    assert read_sweep(out)[0][0]["command"] == "chainorder " + " ".join(argv[:-1]) + \
        " loss_first,input_first"
    assert main(argv) == 0
    assert "0 points measured, 2 already present" in capsys.readouterr().err
    assert main(["sweep", "--case", "article-x10", "--orders", "sideways", "--out",
                 str(out)]) == 2
    assert "unknown order" in capsys.readouterr().err
    assert main(["sweep", "--case", "nothing-*"]) == 2
    assert "no case matches" in capsys.readouterr().err


def test_grid_accepts_case_objects(tmp_path):
    case = get_case("random-n4-s1")
    out = run_sweep([case], tmp_path / "s.jsonl", orders=["optimal"], **FAST)
    (row,) = read_sweep(out)[1]
    assert row["case"] == "random-n4-s1" and row["order"] == "optimal"


def test_rows_carry_an_interval_and_the_load(tmp_path):
    out = run_sweep(TINY[:2], tmp_path / "s.jsonl", **FAST)
    rows = read_sweep(out)[1]
    for r in rows:
        assert r["seconds_low"] <= r["seconds_median"] <= r["seconds_high"]
        assert isinstance(r["loaded"], bool) and "loadavg_max" in r
    for case in TINY[:2]:  # the orders of a case share their rounds, so their load
        assert len({r["loadavg_max"] for r in rows if r["case"] == case}) == 1


def test_orders_of_a_case_are_interleaved(monkeypatch):
    from chainorder.algebra.orders import plan as make_plan
    from chainorder.lab import sweep

    calls = []

    def fake(mats, plan, timed=False):
        calls.append(plan.order)
        return None, types.SimpleNamespace(seconds=1e-3, multiplications=plan.cost)

    monkeypatch.setattr(sweep, "execute", fake)
    chain = get_case("article-x10").build()
    plans = {o: make_plan(chain.dims, o) for o in DEFAULT_ORDERS}
    got = sweep.measure_points(chain, plans, Timing(3, 1, 0.0, 0))
    a, b, c = (plans[o].order for o in DEFAULT_ORDERS)
    assert calls == [a, b, c, a, b, c, b, c, a, c, a, b]  # warm-up, sizing, rotating rounds
    assert {o: r["runs"] for o, r in got.items()} == dict.fromkeys(DEFAULT_ORDERS, 3)


def test_files_without_the_new_fields_resume_and_load(tmp_path):
    from chainorder.lab.results import load_sweep, order_comparison

    out = run_sweep(TINY, tmp_path / "s.jsonl", **FAST)
    new = ("seconds_low", "seconds_high", "loadavg_max", "loaded")
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    out.write_text("".join(json.dumps({k: v for k, v in r.items() if k not in new}) + "\n"
                           for r in lines))
    before = out.read_bytes()
    run_sweep(TINY, out, **FAST)
    assert out.read_bytes() == before
    cmp = order_comparison(load_sweep(out))
    assert len(cmp) == len(TINY) and not cmp["loaded"].any()
    assert (cmp["loss_first_low"] <= cmp["loss_first_high"]).all()
