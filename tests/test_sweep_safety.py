"""A sweep file is only appended to: foreign files are refused untouched, torn records kept."""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path

import pytest

from chainorder.cli import main
from chainorder.lab import sweep
from chainorder.lab.sweep import FORMAT, read_sweep, run_sweep

FAST = {"repeats": 2, "warmup": 0, "progress": False, "peak_seconds": 0}
CASE = "article-x10"
ARGV = ["sweep", "--case", CASE, "--repeats", "2", "--warmup", "0", "--min-seconds", "0",
        "--peak-seconds", "0", "--no-progress"]


def _keys(path: Path) -> collections.Counter:
    return collections.Counter(r["key"] for r in read_sweep(path)[1])


@pytest.fixture
def no_measuring(monkeypatch):
    """Fail the test if anything is measured."""

    def refuse(*args, **kwargs):
        raise AssertionError("measured before the --out check")

    monkeypatch.setattr(sweep, "measure_points", refuse)
    monkeypatch.setattr(sweep, "_run_record", refuse)


@pytest.fixture
def swept(tmp_path):
    """A sweep file of one case, and its bytes."""
    out = run_sweep([CASE], tmp_path / "s.jsonl", **FAST)
    return out, out.read_bytes()


def test_a_notes_file_is_refused_byte_for_byte(tmp_path, capsys, no_measuring):
    notes = tmp_path / "notes.md"
    notes.write_bytes(b"a\nkeep me")
    assert main([*ARGV, "--out", str(notes)]) == 2
    err = capsys.readouterr().err
    assert f"{notes}, line 1 is not JSON ('a')" in err and FORMAT in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert notes.read_bytes() == b"a\nkeep me"
    with pytest.raises(ValueError, match="line 1 is not JSON"):
        run_sweep([CASE], notes, **FAST)
    assert notes.read_bytes() == b"a\nkeep me"


def test_a_foreign_last_line_is_refused_not_cut(swept, no_measuring):
    out, data = swept
    out.write_bytes(data + b"keep me")
    with pytest.raises(ValueError, match=r"line \d+ is not JSON \('keep me'\)"):
        run_sweep([CASE], out, **FAST)
    assert out.read_bytes() == data + b"keep me"


def test_a_torn_last_record_is_kept_and_the_sweep_resumes(swept):
    out, data = swept
    last = data.rstrip(b"\n").rfind(b"\n") + 1
    lost = json.loads(data[last:])["key"]
    torn = data[: last + (len(data) - last) // 2]  # killed in the middle of a write
    out.write_bytes(torn)
    assert lost not in _keys(out)
    run_sweep([CASE], out, **FAST)
    after = out.read_bytes()
    assert after.startswith(torn + b"\n")  # no byte lost, the next record on a line of its own
    keys = _keys(out)
    assert keys[lost] == 1 and set(keys.values()) == {1} and len(keys) == 3
    assert len(read_sweep(out)[0]) == 2
    before = out.read_bytes()
    run_sweep([CASE], out, **FAST)  # the kept torn line does not stop a later resume
    assert out.read_bytes() == before


def test_a_torn_first_run_record_is_a_sweep_file(tmp_path):
    out = tmp_path / "s.jsonl"
    out.write_bytes(b'{"record":"run","run":0,"form')
    run_sweep([CASE], out, **FAST)
    assert out.read_bytes().startswith(b'{"record":"run","run":0,"form\n{"record":"run"')
    assert len(_keys(out)) == 3


def test_a_whole_last_record_without_its_newline_counts(swept):
    out, data = swept
    out.write_bytes(data.rstrip(b"\n"))
    run_sweep([CASE, "random-n4-s0"], out, **FAST)
    assert out.read_bytes().startswith(data)
    assert set(_keys(out).values()) == {1} and len(_keys(out)) == 6


def test_an_empty_file_is_a_new_sweep(tmp_path):
    out = tmp_path / "s.jsonl"
    out.touch()
    run_sweep([CASE], out, **FAST)
    assert len(_keys(out)) == 3


@pytest.mark.parametrize(("line", "problem"), [
    ("[1, 2]", "is an array, not a JSON object"),
    ('"text"', "is a string, not a JSON object"),
    ("3", "is a number, not a JSON object"),
    ("null", "is null, not a JSON object"),
    ('{"a": 1}', 'is a JSON object without a "record" field'),
    ('{"record": "note"}', "is a JSON object whose \"record\" is 'note'"),
    ('{"record": "run", "format": "other/2"}', "is a run record of format 'other/2'"),
    ('{"record": "row", "case": "x"}', 'is a row record without a "key"'),
])
def test_a_line_that_is_not_a_record_is_named(swept, line, problem, no_measuring):
    out, data = swept
    lines = data.splitlines(keepends=True)
    planted = b"".join([*lines[:2], line.encode() + b"\n", *lines[2:]])
    out.write_bytes(planted)
    with pytest.raises(ValueError, match="line 3 ") as info:
        read_sweep(out)
    assert problem in str(info.value) and str(out) in str(info.value)
    with pytest.raises(ValueError, match="line 3 "):
        run_sweep([CASE, "random-n4-s0"], out, **FAST)
    assert out.read_bytes() == planted


def test_a_row_before_any_run_record_is_refused(tmp_path):
    out = tmp_path / "rows.jsonl"
    out.write_text('{"record": "row", "key": "a|b|c"}\n')
    with pytest.raises(ValueError, match="line 1 is a row record before any run record"):
        run_sweep([CASE], out, **FAST)


def test_a_directory_out_is_refused_before_measuring(tmp_path, capsys, no_measuring):
    folder = tmp_path / "sweeps"
    folder.mkdir()
    assert main([*ARGV, "--out", f"{folder}/"]) == 2
    err = capsys.readouterr().err
    assert err == (f"chainorder sweep: error: sweep file {folder}: is a directory; expected a "
                   "readable JSON Lines file\n")
    with pytest.raises(ValueError, match="is a directory"):
        run_sweep([CASE], folder, **FAST)
    assert list(folder.iterdir()) == []


def test_a_path_under_a_file_is_refused_before_measuring(tmp_path, capsys, no_measuring):
    notes = tmp_path / "notes.md"
    notes.write_text("mine\n")
    assert main([*ARGV, "--out", str(notes / "s.jsonl")]) == 2
    assert f"{notes} is a file, not a folder" in capsys.readouterr().err
    assert notes.read_text() == "mine\n"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="permissions do not bind root")
def test_an_unwritable_file_is_refused_before_measuring(swept, no_measuring):
    out, data = swept
    out.chmod(0o444)
    try:
        with pytest.raises(ValueError, match="is not writable"):
            run_sweep([CASE, "random-n4-s0"], out, **FAST)
    finally:
        out.chmod(0o644)
    assert out.read_bytes() == data
