"""Verdicts that respect noise: intervals, 'faster' only when they separate, load flags."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from chainorder.lab import verdicts
from chainorder.lab.verdicts import (
    MIN_SPAN,
    OTHER_WORK_CORES,
    CpuSample,
    compare,
    cpu_sample,
    interval,
    other_work,
    other_work_since,
    time_interleaved,
    under_load,
)


def _noisy(median: float, spread: float, n: int, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(median * (1 + spread * rng.uniform(-1, 1, n)))


@pytest.mark.parametrize("method", ["bootstrap", "iqr", "range"])
def test_interval_brackets_the_median(method):
    times = _noisy(1.0, 0.2, 15, seed=1)
    iv = interval(times, method)
    assert iv.min <= iv.low <= iv.median <= iv.high <= iv.max
    assert iv.median == pytest.approx(float(np.median(times))) and iv.runs == 15
    assert iv == interval(times, method)  # seeded: the same timings, the same interval


def test_range_and_iqr_by_hand():
    times = [1.0, 2.0, 3.0, 4.0, 100.0]
    assert (interval(times, "range").low, interval(times, "range").high) == (1.0, 100.0)
    assert (interval(times, "iqr").low, interval(times, "iqr").high) == (2.0, 4.0)


@pytest.mark.parametrize("method", ["bootstrap", "iqr", "range"])
def test_separated_timings_are_faster_and_slower(method):
    a, b = _noisy(1.0, 0.05, 11, seed=2), _noisy(2.0, 0.05, 11, seed=3)
    assert compare(a, b, method=method).verdict == "faster"
    assert compare(b, a, method=method).verdict == "slower"
    assert compare(a, b, method=method).ratio == pytest.approx(np.median(b) / np.median(a))


@pytest.mark.parametrize("method", ["bootstrap", "iqr", "range"])
def test_overlapping_timings_are_a_tie_whatever_the_medians(method):
    # medians 20% apart, but each run varies by +-50%: no verdict
    a, b = _noisy(1.0, 0.5, 9, seed=4), _noisy(1.2, 0.5, 9, seed=5)
    v = compare(a, b, method=method)
    assert v.verdict == "tie"


def test_an_outlier_widens_the_range_but_not_the_bootstrap_interval():
    a = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.01, 0.99, 5.0]
    b = [1.5, 1.51, 1.49, 1.5, 1.52, 1.48, 1.5, 1.51, 1.49, 1.5]
    assert compare(a, b, method="range").verdict == "tie"
    assert compare(a, b, method="bootstrap").verdict == "faster"


def test_load_is_flagged(monkeypatch):
    a, b = [1.0, 1.1], [2.0, 2.1]
    # other processes' CPU time decides
    assert compare(a, b, loadavgs=[0.2], cores=2, others=0.7).loaded
    v = compare(a, b, loadavgs=[0.2, 1.9, None], cores=2, others=0.1)
    assert not v.loaded and v.loadavg_max == 1.9 and v.other_work == 0.1
    # where /proc/stat is unreadable, the load average does
    monkeypatch.setattr(verdicts, "_READABLE", False)
    assert not compare(a, b, loadavgs=[0.2, 1.2], cores=2).loaded
    v = compare(a, b, loadavgs=[0.2, 1.6, None], cores=2)
    assert v.loaded and v.loadavg_max == 1.6
    rec = v.to_record("new", "old")
    assert rec["verdict"] == "faster" and rec["loaded"] and rec["new_median"] == pytest.approx(1.05)
    assert under_load(1.51, cores=2) and not under_load(1.49, cores=2) and not under_load(None)
    monkeypatch.setattr(verdicts, "_READABLE", True)
    # where it is readable, a span it could not judge is not flagged by the lagging load average
    assert not under_load(1.9, cores=2, others=None)


def test_time_interleaved_rotates_the_order():
    calls: list[str] = []
    fns = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    out = time_interleaved(fns, repeats=3, warmup=0)
    assert calls == list("abc" "bca" "cab")
    assert all(len(t) == 3 and min(t) >= 0 for t in out.times.values())
    assert len(out.loadavgs) == 3


def test_reported_seconds_win_over_wall_time():
    out = time_interleaved({"a": lambda: 0.25, "b": lambda: 0.5}, repeats=4)
    assert out.times == {"a": [0.25] * 4, "b": [0.5] * 4}
    assert out.compare("a", "b").verdict == "faster"


def test_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        interval([])
    with pytest.raises(ValueError, match="method must be one of"):
        interval([1.0], "mean")
    with pytest.raises(ValueError, match="confidence"):
        interval([1.0], confidence=1.5)
    with pytest.raises(ValueError, match="repeats must be an integer"):
        time_interleaved({"a": lambda: None}, repeats=0)
    with pytest.raises(ValueError, match="at least one"):
        time_interleaved({})


needs_proc_stat = pytest.mark.skipif(cpu_sample().busy is None, reason="no /proc/stat here")


@needs_proc_stat
def test_a_busy_child_process_is_other_work():
    code = ("import time\nprint('spinning', flush=True)\nt = time.process_time()\n"
            "while time.process_time() - t < 0.6: pass\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "spinning\n"
        start = cpu_sample()
        time.sleep(0.4)
        others = other_work(start, cpu_sample())
    finally:
        child.wait()
    assert others is not None and others >= OTHER_WORK_CORES
    assert under_load(0.0, cores=2, others=others)


@needs_proc_stat
def test_our_own_work_is_not_other_work():
    start = cpu_sample()
    t = time.process_time()
    while time.process_time() - t < 0.3:
        pass
    end = cpu_sample()
    # however much of a core the loop got on a busy machine, it spent 0.3 s of its own
    assert end.own - start.own >= 0.3
    busy_rate = (end.busy - start.busy) / (end.wall - start.wall)
    own_rate = (end.own - start.own) / (end.wall - start.wall)
    # whatever else ran, our own CPU time is subtracted
    assert other_work(start, end) == pytest.approx(max(0.0, busy_rate - own_rate), abs=1e-3)


def test_spans_too_short_or_without_proc_stat_are_not_judged():
    assert other_work(CpuSample(0.0, 1.0, 0.0), CpuSample(0.05, 1.1, 0.0)) is None
    assert other_work(CpuSample(0.0, None, 0.0), CpuSample(1.0, None, 0.5)) is None
    assert not under_load(1.7, cores=2, others=0.2)


@needs_proc_stat
def test_a_short_span_is_judged_with_what_ran_around_it():
    cpu_sample()
    time.sleep(1.5 * MIN_SPAN)
    start = cpu_sample()
    # a microsecond measurement: too short alone, so the window reaches back to the sample
    # taken before the sleep
    assert other_work_since(start) is not None
    verdicts._HISTORY.clear()
    assert other_work_since(cpu_sample()) is None  # nothing earlier to reach back to


def test_interleaved_timings_carry_the_other_work():
    got = time_interleaved({"a": lambda: time.sleep(0.02), "b": lambda: time.sleep(0.02)},
                           repeats=3)
    verdict = got.compare("a", "b")
    assert verdict.other_work == got.other_work
    assert verdict.to_record()["other_work"] == got.other_work


def test_tally_counts_each_verdict_and_refuses_others():
    assert verdicts.tally(["slower", "tie", "tie"]) == {"faster": 0, "tie": 2, "slower": 1}
    with pytest.raises(ValueError, match="verdicts must be among"):
        verdicts.tally(["quicker"])


def test_a_slower_goal_can_fail_and_says_its_population():
    goal = verdicts.SlowerGoal(0.1)
    assert [goal.allowed(n) for n in (5, 9, 10, 20)] == [0, 0, 1, 2]
    ok = ["faster"] * 9 + ["slower"]
    assert goal.met(ok) and not goal.met(ok[1:] + ["slower"])  # 2 of 10 slower: fails
    text = goal.text(ok[1:] + ["slower"], "sampled pairs")
    assert "at most 10% of the sampled pairs (here 1 of 10), is not met: 2 of 10 slower" in text
    strict = verdicts.SlowerGoal(0.0)
    assert "never measurably slower on the grid, is met: 0 of 2" in strict.text(["tie"] * 2,
                                                                               "grid")
    assert not strict.met(["faster"] * 30 + ["slower"])
    with pytest.raises(ValueError, match="share must be in"):
        verdicts.SlowerGoal(1.0)
