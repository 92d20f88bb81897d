"""``report --out`` never takes what is not its own.

A folder is replaced only when its manifest lists everything in it, unchanged; recovery touches
only chainorder's marked folders of the same ``--out`` from a run that has ended; paths, input
files and a folder another run is writing are refused in one line before any work.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from report_helpers import TINIER
from test_report import ROOT, _digest
from test_report import private_calibration as private_calibration  # autouse here too

from chainorder.cli import main
from chainorder.lab import report
from chainorder.lab.report import MANIFEST, MARKER, generate_report

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def made(built_report) -> Path:
    """One real report (the one test_report.py reads); the tests that change it work on copies."""
    return built_report


@pytest.fixture
def copy(made: Path, tmp_path: Path) -> Path:
    out = tmp_path / "report"
    shutil.copytree(made, out, symlinks=True)
    return out


def _no_work(*args: object, **kwargs: object) -> None:
    raise AssertionError("the report started measuring before refusing")


@pytest.fixture
def no_work(monkeypatch) -> None:
    """Any measuring fails the test: each refusal must come before the work."""
    monkeypatch.setattr(report, "_build", _no_work)
    monkeypatch.setattr(report, "run_sweep", _no_work)


def _stub(text: str, fail: bool = False) -> Callable[..., None]:
    """A build that writes a two-file report at once (or fails half-way), to test the folder."""

    def build(out: Path, *args: object) -> None:
        (out / "data").mkdir(parents=True)
        (out / "README.md").write_text(f"{MARKER}\n{text}\n")
        if fail:
            raise RuntimeError("the build failed")
        (out / "data" / "sweep.jsonl").write_text(text)

    return build


def _write(out: Path, monkeypatch, text: str = "first", fail: bool = False) -> None:
    monkeypatch.setattr(report, "_build", _stub(text, fail))
    generate_report(out, settings=TINIER, progress=False)


def _refusal(capsys, out: Path, *args: str) -> str:
    """Run ``chainorder report --out out ...``: it must exit 2 with one line; return that line."""
    capsys.readouterr()
    assert main(["report", "--quick", "--no-progress", "--out", str(out), *args]) == 2
    text = capsys.readouterr().err
    assert text.count("\n") == 1, text
    return text


# ----------------------------------------------------------------------------- the manifest


def test_a_report_is_known_by_its_manifest(made, copy):
    manifest = json.loads((made / MANIFEST).read_text())
    assert manifest["format"] == "chainorder-report" and manifest["version"] == 1
    assert manifest["out"] == str(made)
    assert manifest["files"] == {k: v for k, v in _digest(made).items() if k != MANIFEST}
    assert {"data", "figures", "tables"} <= set(manifest["dirs"])
    assert report._first_foreign(copy) is None
    (copy / ".gitkeep").write_text("")
    (copy / "04-growth-with-x.md").unlink()  # a page gone is nothing lost
    assert report._first_foreign(copy) is None


def test_a_copied_index_beside_a_thesis_is_refused_and_the_thesis_kept(made, tmp_path, no_work,
                                                                      capsys):
    home = tmp_path / "h"
    (home / "Documents").mkdir(parents=True)
    shutil.copyfile(made / "README.md", home / "README.md")
    (home / "Documents" / "thesis.tex").write_text("t")
    line = _refusal(capsys, home)
    assert f"{home / 'Documents' / 'thesis.tex'} is not listed in a chainorder manifest" in line
    assert "wrote no manifest" not in line  # Documents/ is no report's: no hint to delete it
    assert (home / "Documents" / "thesis.tex").read_text() == "t"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h"]


def test_a_report_without_a_manifest_is_refused_with_a_hint(copy, no_work):
    (copy / MANIFEST).unlink()
    with pytest.raises(ValueError, match="wrote no manifest: make sure nothing in it is yours"):
        generate_report(copy, settings=TINIER, progress=False)
    assert (copy / "README.md").is_file()


PLANTED: dict[str, Callable[[Path], object]] = {
    "notes.txt": lambda out: (out / "notes.txt").write_text("mine"),
    "figures/mine.png": lambda out: (out / "figures" / "mine.png").write_bytes(b"mine"),
    "data/.gitkeep": lambda out: (out / "data" / ".gitkeep").write_text(""),
    "drafts": lambda out: (out / "drafts").mkdir(),
    "latest.md": lambda out: (out / "latest.md").symlink_to(out / "README.md"),
    ".git/HEAD": lambda out: (out / ".git").mkdir() or (out / ".git" / "HEAD").write_text("x"),
}


@pytest.mark.parametrize("name", PLANTED)
def test_anything_planted_in_a_report_is_refused_by_name(copy, no_work, name):
    PLANTED[name](copy)
    before = _digest(copy)
    with pytest.raises(ValueError, match=re.escape(f"report folder: {copy / name} ")):
        generate_report(copy, settings=TINIER, progress=False)
    assert _digest(copy) == before and (copy / name).exists()


def test_an_edited_page_is_refused_as_changed(copy, no_work):
    page = copy / "01-article.md"
    page.write_text(page.read_text() + "My own note.\n")
    with pytest.raises(ValueError, match="01-article.md was changed after chainorder wrote it"):
        generate_report(copy, settings=TINIER, progress=False)
    assert page.read_text().endswith("My own note.\n")


@pytest.mark.parametrize("manifest", [
    "not json", "[]", '{"format": "chainorder-report", "version": 1, "files": {}}',
    '{"format": "chainorder-report", "version": 2, "files": {}, "dirs": []}'])
def test_a_folder_with_a_broken_manifest_is_refused(tmp_path, no_work, manifest):
    out = tmp_path / "r"
    out.mkdir()
    (out / MANIFEST).write_text(manifest)
    (out / "mine.txt").write_text("mine")
    with pytest.raises(ValueError, match=re.escape(f"{out / 'mine.txt'} is not listed")):
        report._check_out(out)
    (out / "mine.txt").unlink()
    with pytest.raises(ValueError, match=re.escape(f"{out / MANIFEST} is not listed")):
        report._check_out(out)


def test_a_missing_an_empty_and_a_gitkeep_only_folder_are_accepted(tmp_path, monkeypatch):
    report._check_out(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    report._check_out(tmp_path / "empty")
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / ".gitkeep").write_text("keep this folder\n")
    _write(tmp_path / "kept", monkeypatch)
    assert (tmp_path / "kept" / ".gitkeep").read_text() == "keep this folder\n"
    assert report._first_foreign(tmp_path / "kept") is None


# ----------------------------------------------------------------------------- the swap


def test_the_previous_report_stays_until_the_new_one_is_complete(tmp_path, monkeypatch):
    out = tmp_path / "X"
    _write(out, monkeypatch)
    before = _digest(out)
    with pytest.raises(RuntimeError, match="the build failed"):
        _write(out, monkeypatch, "second", fail=True)
    assert _digest(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["X"]
    _write(out, monkeypatch, "second")
    assert "second" in (out / "README.md").read_text() and report._first_foreign(out) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X"]


_MAKE_HOLDER = """
import os, sys
from pathlib import Path
from chainorder.lab import report
out = Path(sys.argv[1])
holder = report._new_holder(out, sys.argv[2])
if sys.argv[2] == "old":  # killed between setting the report aside and moving the new one in
    os.rename(out, holder / "report")
else:  # killed while building
    (holder / "report").mkdir()
    (holder / "report" / "README.md").write_text("half")
print(holder)
"""


def _left_by_a_dead_run(out: Path, purpose: str) -> Path:
    """A holder made by chainorder in a child process that then ended."""
    done = subprocess.run([sys.executable, "-c", _MAKE_HOLDER, str(out), purpose], env=ENV,
                          capture_output=True, text=True, check=True)
    return Path(done.stdout.strip())


def _forged(out: Path, pid: int, *, marked_for: Path) -> Path:
    """A holder with a well-formed marker, for ``marked_for``, of process ``pid``."""
    holder = report._beside(out, f"new-{pid}-0123456789abcdef")
    holder.mkdir()
    (holder / ".chainorder-holder.json").write_text(json.dumps({
        "format": "chainorder-report-holder", "version": 1, "purpose": "new",
        "out": str(marked_for), "pid": pid, "token": "0123456789abcdef"}))
    (holder / "f").write_text("kept")
    return holder


def test_a_dead_runs_staging_folder_is_cleaned_and_nothing_else(tmp_path, monkeypatch):
    out = tmp_path.resolve() / "X"
    stale = _left_by_a_dead_run(out, "new")
    assert stale.parent == out.parent and (stale / "report" / "README.md").exists()
    dead = int(stale.name.split("-")[-2])
    kept = [_forged(out, os.getppid(), marked_for=out)]  # a live run's
    for name in (".X.new-backup", ".X.old-2024", f".X.chainorder-new-{dead}-abc"):
        (out.parent / name).mkdir()
        (out.parent / name / "f").write_text("kept")
        kept.append(out.parent / name)
    _write(out, monkeypatch)
    assert not stale.exists() and (out / "README.md").is_file()
    assert all((k / "f").read_text() == "kept" for k in kept)


def test_a_holder_marked_for_another_folder_is_left_alone(tmp_path, monkeypatch):
    out = tmp_path.resolve() / "X"
    dead = int(_left_by_a_dead_run(tmp_path.resolve() / "Y", "new").name.split("-")[-2])
    other = _forged(out, dead, marked_for=tmp_path / "elsewhere" / "X")
    _write(out, monkeypatch)
    assert (other / "f").read_text() == "kept"


def test_a_report_a_killed_run_set_aside_is_put_back(tmp_path, monkeypatch):
    out = tmp_path.resolve() / "X"
    _write(out, monkeypatch)
    before = _digest(out)
    aside = _left_by_a_dead_run(out, "old")
    assert not out.exists() and (aside / "report" / "README.md").is_file()
    with pytest.raises(RuntimeError, match="the build failed"):
        _write(out, monkeypatch, "second", fail=True)
    assert _digest(out) == before and sorted(p.name for p in out.parent.iterdir()) == ["X"]


# ----------------------------------------------------------------------------- paths and files


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """``tmp/work/sub`` as the current folder, ``tmp/home`` as home, a file and a link."""
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (tmp_path / "home").mkdir()
    (work / "somefile").write_text("x")
    (work / "link").symlink_to(work / "sub")
    monkeypatch.chdir(work / "sub")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return work


BAD_OUT = {".": "the current or home folder", "..": "the current or home folder",
           "../..": "the current or home folder", "/": "the current or home folder",
           "HOME": "the current or home folder", "../link": "is a symbolic link",
           "../somefile": "is a file", "../somefile/child": "which is a file"}


@pytest.mark.parametrize("value", BAD_OUT)
def test_a_path_that_cannot_hold_a_report_is_refused_before_work(workdir, no_work, value, capsys):
    value = os.environ["HOME"] if value == "HOME" else value
    before = sorted(workdir.parent.rglob("*"))
    line = _refusal(capsys, Path(value))
    assert line.startswith(f"chainorder report: error: --out {value} ")
    assert BAD_OUT.get(value, BAD_OUT["HOME"]) in line
    assert sorted(workdir.parent.rglob("*")) == before


def test_a_folder_in_a_read_only_one_is_refused(tmp_path, no_work):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("every folder is writable to this user (root)")
        with pytest.raises(ValueError, match="is not writable"):
            generate_report(locked / "r" / "report", settings=TINIER, progress=False)
    finally:
        locked.chmod(0o755)


BAD_BENCHMARKS = {
    "torn": "{", "a list": "[]", "no benchmarks": '{"machine_info": {}}',
    "benchmarks an object": '{"benchmarks": {}}', "a benchmark a number": '{"benchmarks": [3]}',
    "stats a list": '{"benchmarks": [{"name": "x", "stats": [1.0]}]}',
}


@pytest.mark.parametrize("content", BAD_BENCHMARKS.values(), ids=list(BAD_BENCHMARKS))
def test_a_bad_benchmark_json_is_refused_before_the_sweep(tmp_path, no_work, content, capsys):
    bench = tmp_path / "bench.json"
    bench.write_text(content)
    line = _refusal(capsys, tmp_path / "r", "--benchmark-json", str(bench))
    assert f"--benchmark-json {bench}" in line and "pytest --benchmark-json" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json"]


def test_a_benchmark_json_that_pytest_benchmark_writes_is_accepted(tmp_path):
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"machine_info": {}, "benchmarks": [
        {"name": "test_x", "params": None, "extra_info": {"flops": 6}, "stats": {"min": 1.0}}]}))
    assert report._check_benchmark_json(bench) == bench


@pytest.mark.parametrize("option", ["--benchmark-json", "--sweep"])
@pytest.mark.parametrize("kind", ["missing", "folder", "fifo"])
def test_an_input_that_is_not_a_readable_file_is_refused_before_work(tmp_path, no_work, capsys,
                                                                     option, kind):
    path = tmp_path / "input"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    line = _refusal(capsys, tmp_path / "r", option, str(path))
    expected = {"missing": "no such file", "folder": "is a directory",
                "fifo": "is not a regular file"}[kind]
    assert f"{option} {path}" in line and expected in line


# ----------------------------------------------------------------------------- racing runs


_HOLD_LOCK = """
import sys
from pathlib import Path
from chainorder.lab import report
with report._locked(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_folder_another_run_is_writing_is_refused_at_once(tmp_path, monkeypatch, capsys):
    out = tmp_path.resolve() / "X"
    _write(out, monkeypatch)
    before = _digest(out)
    child = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(out)], env=ENV, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        monkeypatch.setattr(report, "_build", _no_work)
        line = _refusal(capsys, out)
        assert "another chainorder report is being written to this folder" in line
        assert _digest(out) == before
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait()
    assert child.returncode == 0
    _write(out, monkeypatch, "second")  # the lock is gone with its run
    assert sorted(p.name for p in out.parent.iterdir()) == ["X"]


def test_a_lock_file_left_by_a_killed_run_is_reused(tmp_path, monkeypatch):
    out = tmp_path.resolve() / "X"
    lock = report._beside(out, "lock")
    lock.write_text(json.dumps({"format": "chainorder-report-lock", "out": str(out), "pid": 1}))
    _write(out, monkeypatch)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X"]


def test_a_lock_file_chainorder_did_not_write_is_left_alone(tmp_path, no_work, capsys):
    out = tmp_path.resolve() / "X"
    lock = report._beside(out, "lock")
    lock.write_text("mine")
    line = _refusal(capsys, out)
    assert f"{lock} exists and is not chainorder's lock file" in line
    assert lock.read_text() == "mine"


def test_a_sweep_file_that_is_not_a_sweep_is_refused_by_its_own_name(tmp_path, capsys):
    notes = tmp_path / "notes.md"
    notes.write_text("a\nkeep me")
    line = _refusal(capsys, tmp_path / "r", "--sweep", str(notes))
    assert f"sweep file {notes}, line 1 is not JSON" in line
    assert notes.read_text() == "a\nkeep me" and not (tmp_path / "r").exists()
