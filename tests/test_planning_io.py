"""Planning does no I/O: importing the algebra and planning with a time model read no file,
list no folder, start no process and probe no BLAS.

A child process, once numpy is imported, installs an audit hook (:func:`sys.addaudithook`,
which cannot be removed, hence the child) that records every file opened, folder listed,
process started and library loaded; opening Python's own modules (a lazy import) is the
one thing allowed. The child's cache directory holds a valid time model, so an implicit
load would have something to read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

CHILD = textwrap.dedent('''
    import json, os, sys

    WATCHED = ("open", "os.listdir", "os.scandir", "glob.glob", "subprocess.Popen",
               "os.system", "os.exec", "os.posix_spawn", "ctypes.dlopen", "socket.connect")
    MODULE_FILES = (".py", ".pyc", ".so", ".pth")
    seen, phase = {"import": [], "plan": [], "load": []}, ["import"]

    def hook(event, args):
        if event not in WATCHED:
            return
        what = str(args[0]) if args else ""
        if event == "open" and what.endswith(MODULE_FILES):
            return  # Python's own modules, imported
        if event in ("os.listdir", "os.scandir") and (
                what in sys.path or os.path.isfile(os.path.join(what, "__init__.py"))):
            return  # the import system looking for a module
        seen[phase[0]].append(f"{event} {what}")

    import numpy  # numpy's own import is numpy's business

    sys.addaudithook(hook)
    import chainorder as co
    from chainorder.algebra.orders import ORDERS
    from chainorder.algebra.timemodel import TimeModel, load_model, use_machine
    before = set(sys.modules)

    phase[0] = "plan"
    m = TimeModel.from_rates(peak_gflops=50, bandwidth_gbs=5, overhead_seconds=1e-6)
    dims = [1, 300, 20, 1000, 7, 64, 5]
    plans = [co.plan(dims), co.optimize(dims, cost=m), co.plan(dims, "time_optimal", cost=m),
             co.optimize(dims, cost=m.with_margin(0)), co.optimize(dims, method="hu-shing"),
             co.plan(list(range(1, 2000))), co.optimize(dims, cost="structured")]
    with use_machine(m):
        plans += [co.plan(dims, name) for name in ORDERS]
        plans += [co.optimize(dims, cost="time")]
        seconds = [p.predicted_seconds for p in plans]
        text = [str(p) + repr(p) for p in plans]
    seconds += [plans[1].predicted_seconds]
    try:
        plans[0].predicted_seconds
        raise SystemExit("predicted_seconds without a model did not raise")
    except co.algebra.timemodel.NotCalibratedError:
        pass
    imported = sorted(set(sys.modules) - before)

    phase[0] = "load"  # a control: loading a model explicitly does read the machine and disk
    load_model()
    print(json.dumps({**seen, "imported": imported}))
''')


@pytest.fixture
def cached_model_dir(tmp_path: Path) -> Path:
    """A cache directory holding this machine's model, as ``chainorder calibrate`` leaves it."""
    from chainorder.algebra.timemodel import TimeModel, cache_path, machine_fingerprint

    fp = machine_fingerprint()
    TimeModel.from_rates(40.0, 10.0, 2e-6, fingerprint=fp).save(cache_path(fp, tmp_path))
    return tmp_path


def test_importing_and_planning_read_nothing(cached_model_dir: Path) -> None:
    env = {"CHAINORDER_CACHE_DIR": str(cached_model_dir), "PATH": "/usr/bin:/bin",
           "PYTHONDONTWRITEBYTECODE": "1",
           # the BLAS settings a machine runs under (OPENBLAS_CORETYPE where it is set for
           # safety) are part of the machine the model was cached for
           **{k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}}
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["import"] == [], "importing chainorder read the machine or the disk"
    assert got["plan"] == [], "planning read the machine or the disk"
    assert not [m for m in got["imported"] if m.split(".")[0] == "threadpoolctl"]
    # the hook does see what an explicit load reads: the cached model itself
    assert any(str(cached_model_dir) in e for e in got["load"]), got["load"]
