"""``chainorder verify`` leaves no process behind when it is terminated or killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from chainorder.cli import main
from chainorder.lab.verify import MAX_JOBS, check_hu_shing, check_summary_path, write_summary

PROC = Path("/proc")
linux_only = pytest.mark.skipif(not (PROC / "self" / "stat").exists(), reason="needs /proc")

# Sets the dispositions itself (the test's own may be anything), then runs `python -m chainorder`.
CHILD = textwrap.dedent("""
    import runpy, signal, sys

    def stop(signum, frame):
        raise SystemExit(143)

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop if sys.argv[1] == "raises" else signal.SIG_DFL)
    sys.argv = ["chainorder", "verify", "--chains", "2000000", "--jobs", "2"]
    runpy.run_module("chainorder", run_name="__main__", alter_sys=True)
""")


def _stat(pid: int) -> tuple[str, int, int] | None:
    """State, parent pid and start time of process ``pid``, or None if there is none."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[19])


def _descendants(root: int) -> dict[int, int]:
    """Every process below ``root``: pid -> start time (which tells a reused pid apart)."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            children.setdefault(st[1], []).append(int(entry.name))
            starts[int(entry.name)] = st[2]
    found, todo = {}, [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            found[pid] = starts[pid]
            todo.append(pid)
    return found


def _running(pid: int, start: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in "ZX" and st[2] == start


def _wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _started_verify(tmp_path: Path, disposition: str):
    """A verify run of many minutes, once its workers have checked a first block."""
    out, err = (tmp_path / "out.txt").open("wb"), (tmp_path / "err.txt").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, disposition], stdout=out, stderr=err,
                            stdin=subprocess.DEVNULL, cwd=tmp_path)
    out.close()
    err.close()
    checked = lambda: proc.poll() is not None or b"chains checked" in (  # noqa: E731
        tmp_path / "err.txt").read_bytes()  # progress goes to stderr
    assert _wait_until(checked, 180), "verify checked no block in 180 s"
    assert proc.poll() is None, (tmp_path / "err.txt").read_text()
    return proc, _descendants(proc.pid)


@linux_only
@pytest.mark.parametrize(("disposition", "sig"), [
    ("default", signal.SIGTERM),  # as a shell leaves it; the CLI may install its own handler
    ("raises", signal.SIGTERM),  # a handler raising SystemExit(143) in the main thread
    ("default", signal.SIGKILL),  # no chance to clean up: the workers must notice by themselves
])
def test_no_process_outlives_verify(tmp_path, disposition, sig):
    proc, below = _started_verify(tmp_path, disposition)
    try:
        assert len(below) >= 2, below  # at least the two workers
        os.kill(proc.pid, sig)
        proc.wait(timeout=60)  # terminated, it does not finish the remaining work first
        left = lambda: [p for p, start in below.items() if _running(p, start)]  # noqa: E731
        assert _wait_until(lambda: not left(), 30), f"still running: {left()}"
    finally:
        for pid, start in below.items():  # a failed test leaves nothing behind either
            if _running(pid, start):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode in (143, -signal.SIGTERM)
        assert "Traceback" not in (tmp_path / "err.txt").read_text()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"chains": 0}, "chains must be >= 1, got 0"),
    ({"jobs": MAX_JOBS + 1}, f"jobs must be at most {MAX_JOBS}, got {MAX_JOBS + 1}"),
    ({"seed": -1}, "seed must be an integer >= 0, got -1"),
])
def test_arguments_are_checked_before_the_run(kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_hu_shing(**{"chains": 10, **kwargs})


def test_a_directory_json_is_refused_before_the_run(tmp_path, capsys, monkeypatch):
    from chainorder.lab import verify

    def refuse(*args, **kwargs):
        raise AssertionError("the check ran before --json was checked")

    monkeypatch.setattr(verify, "check_hu_shing", refuse)
    assert main(["verify", "--chains", "10", "--json", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"chainorder verify: error: --json {tmp_path}: is a "
                                       "directory; expected a JSON file for the summary\n")
    notes = tmp_path / "notes.md"
    notes.write_text("mine\n")
    for target in (notes, notes / "check.json"):
        assert main(["verify", "--chains", "10", "--json", str(target)]) == 2
        assert str(notes) in capsys.readouterr().err
    assert notes.read_text() == "mine\n"


def test_the_summary_replaces_only_an_earlier_summary(tmp_path):
    summary = check_hu_shing(20, jobs=1)
    out = write_summary(summary, tmp_path / "new" / "check.json")
    assert json.loads(out.read_text()) == summary
    write_summary({**summary, "seed": 1}, out)
    assert json.loads(out.read_text())["seed"] == 1
    assert sorted(p.name for p in out.parent.iterdir()) == ["check.json"]
    other = tmp_path / "other.json"
    other.write_text('{"mine": true}\n')
    with pytest.raises(ValueError, match="is not the summary of an earlier check"):
        check_summary_path(other, name="--json")
    assert other.read_text() == '{"mine": true}\n'
