"""Time-model caches that heal: a cached file that cannot be used is named, ignored and replaced.

Every test points ``$CHAINORDER_CACHE_DIR`` at a temporary folder, so none reads or writes
this machine's real cache. Calibrations here are the quick ones (about a second each); no
test asserts on a wall time.
"""

from __future__ import annotations

import contextvars
import json
import math
import os
import re
import shlex
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

import chainorder as co
import chainorder.lab.calibrate as cal
from chainorder.algebra.timemodel import (
    FEATURES,
    MODEL_VERSION,
    SHAPE_CLASSES,
    CacheWarning,
    NotCalibratedError,
    TimeModel,
    cache_path,
    load_model,
    machine_fingerprint,
)
from chainorder.cli import main
from chainorder.hardware import blas_threads
from chainorder.lab.studies.base import calibrated_model

THREADS = 1


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cache directory of the test (``$CHAINORDER_CACHE_DIR``), not made yet."""
    d = tmp_path / "cache"
    monkeypatch.setenv("CHAINORDER_CACHE_DIR", str(d))
    return d


def _path(directory: Path, threads: int | None = THREADS) -> Path:
    """The cache file of this machine's model at ``threads`` BLAS threads (None: as it is)."""
    with blas_threads(threads):
        return cache_path(machine_fingerprint(), directory)


def _model_doc(**fingerprint: object) -> dict:
    """A valid model's JSON for this machine at :data:`THREADS` threads, fingerprint amended."""
    with blas_threads(THREADS):
        fp = {**machine_fingerprint(), **fingerprint}
    return TimeModel.from_rates(50.0, 20.0, 1e-6, fingerprint=fp).to_dict()


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)


def _with_coefficient(path: Path, value: float) -> None:
    doc = _model_doc()
    doc["coefficients"]["matmat"][2] = value
    _write(path, json.dumps(doc))


def _as_directory(path: Path) -> None:
    path.mkdir(parents=True)


#: Ways a cached model turns out unusable, each a function planting one at a path.
CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "truncated": lambda p: _write(p, json.dumps(_model_doc())[:150]),
    "empty": lambda p: _write(p, ""),
    "list": lambda p: _write(p, "[]"),
    "empty-object": lambda p: _write(p, "{}"),
    "null": lambda p: _write(p, "null"),
    "wrong-types": lambda p: _write(p, json.dumps({**_model_doc(), "coefficients": "fast"})),
    "missing-classes": lambda p: _write(p, json.dumps(
        {**_model_doc(), "coefficients": {"matmat": [0.0] * len(FEATURES)}})),
    "fingerprint-a-list": lambda p: _write(p, json.dumps({**_model_doc(), "fingerprint": []})),
    "string-coefficients": lambda p: _write(p, json.dumps(
        {**_model_doc(), "coefficients": {c: ["1"] * len(FEATURES) for c in SHAPE_CLASSES}})),
    "nan-coefficient": lambda p: _with_coefficient(p, math.nan),
    "negative-coefficient": lambda p: _with_coefficient(p, -1e-9),
    "other-chainorder": lambda p: _write(p, json.dumps(_model_doc(chainorder="0.0.1"))),
    "other-model-version": lambda p: _write(p, json.dumps(
        _model_doc(model_version=MODEL_VERSION - 1))),
    "garbage-bytes": lambda p: _write(p, bytes(range(256)) * 3),
    "directory": _as_directory,
}


def _no_measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any measurement fail the test: what is refused must be refused before measuring."""
    def measured(*args: object, **kwargs: object) -> None:
        raise AssertionError("measured before refusing")

    monkeypatch.setattr(cal, "measure_steps", measured)
    monkeypatch.setattr(cal, "measure_chain_steps", measured)


def _fresh(fn: Callable[..., object], *args: object) -> object:
    """``fn(*args)`` in a fresh context: no model set by the test fixture, the cache is read."""
    return contextvars.Context().run(fn, *args)


# ----------------------------------------------------------------------------- each corruption


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_a_corrupt_cache_is_named_ignored_and_repaired_by_calibrating(kind, cache):
    path = _path(cache)
    CORRUPTIONS[kind](path)
    named = re.escape(str(path))
    with blas_threads(THREADS):
        with pytest.warns(CacheWarning, match=named), pytest.raises(
                NotCalibratedError, match=f"{named}.*'chainorder calibrate --threads {THREADS}'"):
            load_model()
    with pytest.warns(CacheWarning, match=named):
        model = cal.calibrate(threads=THREADS, quick=True, directory=cache)  # no force needed
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the repaired cache is read without a warning
        with blas_threads(THREADS):
            assert load_model().meta == model.meta
        assert TimeModel.load(path).meta == model.meta
        assert cal.calibrate(threads=THREADS, quick=True, directory=cache).meta == model.meta
    assert len(cal.calibration_records(threads=THREADS, directory=cache)) == model.meta["points"]


@pytest.mark.parametrize("kind", [k for k in CORRUPTIONS
                                  if k not in ("directory", "other-chainorder",
                                               "other-model-version")])
def test_loading_a_malformed_file_names_it(kind, tmp_path):
    # another version's model is a readable file: only the cache refuses to use it
    path = tmp_path / "model.json"
    CORRUPTIONS[kind](path)
    with pytest.raises(ValueError, match=re.escape(f"{path}: not a time model chainorder can "
                                                   "read")):
        TimeModel.load(path)


def test_a_directory_holding_files_in_the_cache_files_place_is_kept(cache, monkeypatch):
    path = _path(cache)
    path.mkdir(parents=True)
    (path / "mine.txt").write_text("keep me")
    _no_measuring(monkeypatch)
    with pytest.raises(ValueError, match=f"{re.escape(str(path))} is a directory holding files; "
                                         "move it away"):
        cal.calibrate(threads=THREADS, quick=True, directory=cache)
    assert (path / "mine.txt").read_text() == "keep me"


def test_a_corrupt_records_file_names_it_and_the_fix(cache):
    cal.calibrate(threads=THREADS, quick=True, directory=cache)
    records = _path(cache).with_name(_path(cache).stem + ".records.jsonl")
    records.write_text('{"p": 1}\n{"p": ')
    with pytest.raises(ValueError, match=f"{re.escape(str(records))} cannot be read.*"
                                         f"chainorder calibrate --threads {THREADS} --force"):
        cal.calibration_records(threads=THREADS, directory=cache)


# ----------------------------------------------------------------------------- the command line


def test_cli_calibrate_repairs_a_truncated_cache_in_one_run(cache, capsys):
    path = _path(cache)
    CORRUPTIONS["truncated"](path)
    argv = ["calibrate", "--quick", "--threads", str(THREADS)]
    assert main(argv) == 0
    err = capsys.readouterr().err.splitlines()
    progress = [line for line in err if ": measured " in line]  # a line per tenth of shapes
    warned = [line for line in err if line not in progress]
    assert progress and len(warned) == 1 and warned[0].startswith(
        f"chainorder calibrate: warning: ignoring the time model cached at {path}: ")
    assert main(argv) == 0  # the new model is used as it is: nothing measured, nothing warned
    assert capsys.readouterr().err == ""
    with blas_threads(THREADS):
        assert load_model().threads == THREADS


@pytest.mark.parametrize("kind", ["missing", "list", "truncated", "directory"])
def test_cli_plan_time_without_a_usable_model_fails_in_one_line(kind, cache, capsys):
    path = _path(cache, threads=None)  # plan --time runs at the BLAS's own thread count
    if kind != "missing":
        CORRUPTIONS[kind](path)
    assert _fresh(main, ["plan", "10", "20", "30", "--time"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    threads = machine_fingerprint()["blas_threads"]
    assert err.startswith("chainorder plan: error: no time model cached")
    assert str(path) in err and f"run 'chainorder calibrate --threads {threads}'" in err
    assert ("there is none" in err) == (kind == "missing")


def test_the_command_the_error_names_makes_the_model(cache, capsys):
    CORRUPTIONS["list"](_path(cache, threads=None))
    assert _fresh(main, ["plan", "10", "20", "30", "--time"]) == 2
    command = re.search(r"run '(chainorder calibrate[^']*)'", capsys.readouterr().err)
    assert command is not None
    assert main([*shlex.split(command.group(1))[1:], "--quick"]) == 0
    capsys.readouterr()
    assert _fresh(main, ["plan", "10", "20", "30", "--time"]) == 0
    assert "predicted time (<TimeModel" in capsys.readouterr().out


def test_the_library_raises_one_error_naming_the_file_and_the_command(cache):
    path = _path(cache, threads=None)
    CORRUPTIONS["list"](path)
    with pytest.warns(CacheWarning), pytest.raises(ValueError) as got:
        _fresh(load_model)
    assert isinstance(got.value, NotCalibratedError)
    assert str(path) in str(got.value) and "'chainorder calibrate --threads" in str(got.value)
    # planning never opens the cache: without a model it says how to load one, warning nothing
    plan = co.plan([10, 20, 30], "optimal")
    for needs_a_model in (lambda: co.optimize([10, 20, 30], cost="time"),
                          lambda: plan.predicted_seconds):
        with warnings.catch_warnings():
            warnings.simplefilter("error", CacheWarning)
            with pytest.raises(NotCalibratedError, match="none is in force.*load_model"):
                _fresh(needs_a_model)


def _file(tmp_path: Path) -> Path:
    f = tmp_path / "notes.txt"
    f.write_text("keep me")
    return f


@pytest.mark.parametrize("under", ["", "cache", "cache/deeper"])
def test_cli_calibrate_refuses_a_cache_dir_that_is_no_directory_before_measuring(
        under, tmp_path, cache, monkeypatch, capsys):
    f = _file(tmp_path)
    value = f / under if under else f
    _no_measuring(monkeypatch)
    assert main(["calibrate", "--quick", "--cache-dir", str(value)]) == 2
    err = capsys.readouterr().err
    why = f"{f} is a file" if under else "it is a file"
    assert err == (f"chainorder calibrate: error: --cache-dir must be a directory chainorder "
                   f"can write time models to, got {str(value)!r}: {why}, not a directory\n")
    assert f.read_text() == "keep me"


def test_a_cache_directory_from_the_environment_that_is_a_file_is_refused(
        tmp_path, monkeypatch, capsys):
    f = _file(tmp_path)
    monkeypatch.setenv("CHAINORDER_CACHE_DIR", str(f))
    _no_measuring(monkeypatch)
    assert main(["calibrate", "--quick"]) == 2
    assert "the cache directory ($CHAINORDER_CACHE_DIR" in capsys.readouterr().err
    with pytest.raises(ValueError, match="^directory must be a directory chainorder can write"):
        cal.calibrate(quick=True, directory=f)
    assert f.read_text() == "keep me"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into any directory")
def test_cli_calibrate_refuses_an_unwritable_cache_dir_before_measuring(tmp_path, cache,
                                                                        monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    _no_measuring(monkeypatch)
    try:
        assert main(["calibrate", "--quick", "--cache-dir", str(locked)]) == 2
    finally:
        locked.chmod(0o700)
    assert "--cache-dir must be a directory chainorder can write" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the report


def test_the_report_calibrates_over_a_corrupt_cache(cache):
    path = _path(cache)
    CORRUPTIONS["list"](path)
    with pytest.warns(CacheWarning, match=re.escape(str(path))):
        model = calibrated_model(THREADS, quick=True)
    assert TimeModel.load(path).meta == model.meta


def test_the_report_measures_without_caching_when_the_cache_cannot_be_written(
        tmp_path, monkeypatch):
    f = _file(tmp_path)
    monkeypatch.setenv("CHAINORDER_CACHE_DIR", str(f))
    with pytest.warns(CacheWarning, match="does not cache"):
        model = calibrated_model(THREADS, quick=True)
    assert model.threads == THREADS and f.read_text() == "keep me"


def test_the_report_measures_without_caching_when_a_directory_holds_the_files_place(cache):
    path = _path(cache)
    path.mkdir(parents=True)
    (path / "mine.txt").write_text("keep me")
    with pytest.warns(CacheWarning, match=f"{re.escape(str(path))} is a directory.*does not "
                                          "cache"):
        model = calibrated_model(THREADS, quick=True)
    assert model.threads == THREADS and (path / "mine.txt").read_text() == "keep me"


# ----------------------------------------------------------------------------- writers at once


def _distinct_models(count: int) -> list[TimeModel]:
    return [TimeModel.from_rates(10.0 + n, 5.0 + n, 1e-6, meta={"writer": n,
                                                                 "pad": "x" * (5000 * n)})
            for n in range(count)]


def test_two_threads_saving_at_once_always_leave_a_loadable_file(tmp_path):
    path = tmp_path / "model.json"
    models = _distinct_models(2)
    models[0].save(path)
    seen: set[int] = set()

    def writer(m: TimeModel) -> None:
        for _ in range(150):
            m.save(path)

    threads = [threading.Thread(target=writer, args=(m,)) for m in models]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        seen.add(TimeModel.load(path).meta["writer"])  # never half a file
    for t in threads:
        t.join()
    assert TimeModel.load(path).meta["writer"] in (0, 1) and seen <= {0, 1}
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_two_processes_saving_at_once_leave_one_valid_cache(tmp_path):
    path = tmp_path / "model.json"
    script = ("import sys; from chainorder.algebra.timemodel import TimeModel\n"
              "n = int(sys.argv[2])\n"
              "m = TimeModel.from_rates(10.0 + n, 5.0, 1e-6, meta={'writer': n, 'pad': 'x' * "
              "20000 * n})\n"
              "for _ in range(100):\n    m.save(sys.argv[1])\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), str(n)])
             for n in (1, 2)]
    while any(p.poll() is None for p in procs):
        if path.exists():
            assert TimeModel.load(path).meta["writer"] in (1, 2)
    assert [p.returncode for p in procs] == [0, 0]
    assert TimeModel.load(path).meta["writer"] in (1, 2)
    assert list(tmp_path.iterdir()) == [path]
