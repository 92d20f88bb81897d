"""The machine facts chainorder may need: CPU model, cores, numpy's BLAS, and pinning its threads.

One home below every part, so the time model's fingerprint
(:func:`~chainorder.algebra.timemodel.machine_fingerprint`), the laboratory's
machine records (:func:`~chainorder.lab.machine.machine_info`) and the
benchmarks read the same facts the same way. Nothing here runs on import:
each function reads the machine when called, and planning calls none of them.

threadpoolctl (in the ``lab`` extra) is what sees BLAS: without it
:func:`thread_pools` is empty, :func:`numpy_blas` is ``{}``, and
:func:`blas_threads` can only leave the thread count as it is.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from collections.abc import Iterator
from typing import Any

__all__ = [
    "cpu_model",
    "cpu_id",
    "logical_cores",
    "physical_cores",
    "usable_cores",
    "thread_pools",
    "numpy_blas",
    "blas_threads",
    "POOL_KEYS",
    "XLA_ONE_THREAD",
]

#: ``XLA_FLAGS`` that pin XLA's CPU backend to one thread (XLA reads the variable once, when
#: JAX starts: set it before the first JAX computation).
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

#: What :func:`thread_pools` keeps of each library threadpoolctl reports.
POOL_KEYS = ("user_api", "internal_api", "version", "num_threads", "architecture",
             "threading_layer", "prefix", "filepath")


def _cpuinfo() -> str:
    """``/proc/cpuinfo`` (Linux), or ``''`` where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _sysctl(name: str) -> str | None:
    """A ``sysctl -n`` value (macOS), None where it fails."""
    try:
        res = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 and res.stdout.strip() else None


def cpu_model() -> str:
    """The CPU's model name, e.g. ``'Intel(R) Xeon(R) CPU @ 2.20GHz'`` (``'unknown'`` if none).

    Read from ``/proc/cpuinfo`` on Linux, ``sysctl`` on macOS, else :mod:`platform`.

    Examples
    --------
    >>> isinstance(cpu_model(), str) and cpu_model() != ""
    True
    """
    for line in _cpuinfo().splitlines():
        if line.lower().startswith(("model name", "hardware", "cpu model")):
            return line.split(":", 1)[1].strip()
    if platform.system() == "Darwin":
        brand = _sysctl("machdep.cpu.brand_string")
        if brand:
            return brand
    return platform.processor() or platform.machine() or "unknown"


def cpu_id() -> str | None:
    """Vendor, family, model and stepping from ``/proc/cpuinfo``, which identify a CPU whose
    model name a virtual machine reports only generically (None off Linux).

    Examples
    --------
    >>> cpu_id() is None or "family" in cpu_id()
    True
    """
    first = _cpuinfo().split("\n\n", 1)[0]
    fields = dict(line.split(":", 1) for line in first.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    if "cpu family" not in fields:
        return None
    return (f"{fields.get('vendor_id', '?')} family {fields['cpu family']} model "
            f"{fields.get('model', '?')} stepping {fields.get('stepping', '?')}")


def logical_cores() -> int | None:
    """Logical CPUs of the machine (:func:`os.cpu_count`)."""
    return os.cpu_count()


def usable_cores() -> int | None:
    """Logical CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def physical_cores() -> int | None:
    """Physical cores: distinct (package, core) pairs of ``/proc/cpuinfo``, or macOS's
    ``hw.physicalcpu``; None where neither says."""
    cores = set()
    phys = core = None
    for line in _cpuinfo().splitlines() + [""]:
        key, _, val = line.partition(":")
        key = key.strip()
        if key == "physical id":
            phys = val.strip()
        elif key == "core id":
            core = val.strip()
        elif not line.strip() and core is not None:
            cores.add((phys, core))
            phys = core = None
    if cores:
        return len(cores)
    if platform.system() == "Darwin":
        out = _sysctl("hw.physicalcpu")
        return int(out) if out and out.isdigit() else None
    return None


def thread_pools() -> list[dict[str, Any]]:
    """The thread pools threadpoolctl sees in this process (BLAS and OpenMP libraries), as
    plain dicts of :data:`POOL_KEYS`, numpy's BLAS first; ``[]`` without threadpoolctl.

    Only libraries loaded so far are seen: load scipy's BLAS first (``import
    scipy.linalg``) to see it too.
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    libs = [{k: lib.get(k) for k in POOL_KEYS} for lib in threadpool_info()]
    # numpy's BLAS first: it is the one every product in chainorder runs on
    return sorted(libs, key=lambda lib: not (lib.get("user_api") == "blas"
                                             and "numpy" in str(lib.get("filepath"))))


def numpy_blas() -> dict[str, Any]:
    """numpy's BLAS (the library every product here runs on) as :func:`thread_pools` sees it:
    ``internal_api``, ``version``, ``num_threads``, ``threading_layer``, ...; ``{}`` without
    threadpoolctl.

    Examples
    --------
    >>> blas = numpy_blas()
    >>> blas == {} or blas["user_api"] == "blas"
    True
    """
    return next((lib for lib in thread_pools() if lib.get("user_api") == "blas"), {})


@contextlib.contextmanager
def blas_threads(threads: int | None) -> Iterator[None]:
    """Within the block, BLAS runs ``threads`` threads in this process (0 or None: unchanged).

    The one way chainorder pins BLAS threads: calibration, sweeps, reports and
    the benchmarks all use it. scipy's BLAS is loaded first when scipy is
    installed, so the limit reaches it too; the previous limits come back
    when the block ends.

    Raises
    ------
    ImportError
        On entering, if ``threads`` asks for a limit and threadpoolctl (the
        ``lab`` extra) is not installed.

    Examples
    --------
    >>> with blas_threads(0):  # 0: the BLAS default, nothing changes
    ...     pass
    """
    if not threads:
        yield
        return
    with contextlib.suppress(ImportError):
        import scipy.linalg  # noqa: F401  (load scipy's BLAS too, or the limit would miss it)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        raise ImportError(f"limiting BLAS to {threads} thread(s) needs threadpoolctl: "
                          "pip install 'chainorder[lab]'") from None
    with threadpool_limits(limits=int(threads), user_api="blas"):
        yield
