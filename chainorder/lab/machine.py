"""The machine a measurement ran on: CPU, cores, BLAS and its threads, versions, measured peaks.

The facts planning may need too (CPU model, cores, numpy's BLAS, pinning its
threads) live in :mod:`chainorder.hardware`; this module adds what only the
laboratory records: caches, versions, the git commit, and measured peaks.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..hardware import (
    blas_threads,
    cpu_id,
    cpu_model,
    logical_cores,
    physical_cores,
    thread_pools,
    usable_cores,
)
from ..timing import Stopwatch, time_calls

__all__ = ["machine_info", "measure_peak", "git_commit", "describe_machine", "blas_threads",
           "blas_libraries", "cpu_id", "last_level_cache", "size_bytes", "VERSIONED"]

#: Distributions whose versions a measurement records (None where not installed).
VERSIONED = ("numpy", "scipy", "pandas", "matplotlib", "threadpoolctl", "jax", "jaxlib",
             "numba", "asdex", "sparsejac")

#: Environment variables that steer BLAS; recorded when set, never changed.
BLAS_ENV = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)


def _version(dist: str) -> str | None:
    """A distribution's installed version, read from metadata (importing nothing)."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _caches() -> dict[str, str]:
    """CPU caches of cpu0 by level and type, e.g. ``{'L1d': '32K', 'L2': '1024K'}`` (Linux)."""
    out = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        level, kind, size = (_read(str(index / f)) for f in ("level", "type", "size"))
        if level and kind and size:
            tag = {"Data": "d", "Instruction": "i"}.get(kind.strip(), "")
            out[f"L{level.strip()}{tag}"] = size.strip()
    return out


def size_bytes(text: str | None) -> int | None:
    """A cache size as the OS writes it (``'2048K'``, ``'32M'``, ``'480 MiB'``) in bytes.

    Examples
    --------
    >>> size_bytes("491520K"), size_bytes("2M"), size_bytes("4 MiB"), size_bytes(None)
    (503316480, 2097152, 4194304, None)
    """
    m = re.fullmatch(r"(\d+)\s*([KMG]?)(?:i?B)?", str(text or "").strip(), re.IGNORECASE)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[m.group(2).upper()]


def last_level_cache(caches: dict[str, str]) -> tuple[str, int] | None:
    """The highest cache level and its size in bytes, from :func:`machine_info`'s ``caches``.

    Examples
    --------
    >>> last_level_cache({"L1d": "48K", "L2": "2048K", "L3": "491520K"})
    ('L3', 503316480)
    >>> last_level_cache({}) is None
    True
    """
    sized: list[tuple[str, int]] = []
    for level, text in caches.items():
        size = size_bytes(text)
        if size and not level.endswith("i"):
            sized.append((level, size))
    return max(sized, key=lambda kb: (kb[0][:2], kb[1])) if sized else None


def _available_bytes() -> int | None:
    """MemAvailable from ``/proc/meminfo`` (Linux), None elsewhere."""
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def _run(cmd: list[str], cwd: Path | None = None) -> str | None:
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def git_commit(path: str | Path | None = None) -> dict[str, Any]:
    """The git commit of the checkout holding ``path`` (default: this package), if any.

    Returns
    -------
    dict
        ``{'commit': sha or None, 'dirty': bool or None}``; ``dirty`` means
        the package's files (or ``pyproject.toml``) differ from the commit,
        new untracked modules included.
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parents[2]
    if not (where / ".git").exists():
        return {"commit": None, "dirty": None}
    sha = _run(["git", "rev-parse", "HEAD"], where)
    # new, uncommitted modules of the package count as changes too
    status = _run(["git", "status", "--porcelain", "--", "chainorder", "pyproject.toml"], where)
    return {"commit": sha, "dirty": None if status is None else bool(status)}


def blas_libraries() -> list[dict[str, Any]]:
    """threadpoolctl's view of the loaded BLAS libraries, scipy's included (numpy's first), as
    plain dicts (:func:`chainorder.hardware.thread_pools`, after loading scipy's BLAS)."""
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS, so threadpoolctl sees it too)

    return thread_pools()


def machine_info() -> dict[str, Any]:
    """What a result depends on: CPU, cores, OS, Python, library versions, BLAS and its threads.

    Reads the environment and never changes it (``OPENBLAS_CORETYPE`` and the
    like are recorded only if set). Takes well under a second.

    Returns
    -------
    dict
        JSON-ready: ``cpu_model``, ``logical_cores``, ``physical_cores``,
        ``usable_cores``, ``caches`` (as ``/sys/devices/system/cpu/cpu0/cache`` gives
        them), ``os``, ``python``, one entry per distribution of :data:`VERSIONED`
        (None where not installed), ``chainorder``,
        ``git_commit``, ``git_dirty``, ``blas`` (one dict per library, numpy's
        first: ``internal_api``, ``version``, ``num_threads``,
        ``architecture``, ...), ``env`` (the BLAS variables that are set).

    Examples
    --------
    >>> info = machine_info()
    >>> info["numpy"] == np.__version__, info["logical_cores"] >= 1
    (True, True)
    """
    from ..version import __version__

    git = git_commit()
    return {
        "cpu_model": cpu_model(),
        "cpu_id": cpu_id(),
        "architecture": platform.machine(),
        "logical_cores": logical_cores(),
        "physical_cores": physical_cores(),
        "usable_cores": usable_cores(),
        "caches": _caches(),
        "os": platform.platform(),
        "python": platform.python_version(),
        **{dist: _version(dist) for dist in VERSIONED},
        "numpy": np.__version__,
        "chainorder": __version__,
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "blas": blas_libraries(),
        "env": {k: os.environ[k] for k in BLAS_ENV if k in os.environ},
    }


def describe_machine(info: dict[str, Any]) -> str:
    """One line for logs: CPU, cores, BLAS and threads.

    Examples
    --------
    >>> blas = [{"internal_api": "openblas", "version": "0.3", "num_threads": 2}]
    >>> describe_machine({"cpu_model": "X", "physical_cores": 2, "logical_cores": 4, "blas": blas})
    'X, 2 cores / 4 threads, BLAS openblas 0.3 (2 threads)'
    """
    blas = ", ".join(
        f"{b.get('internal_api')} {b.get('version')} ({b.get('num_threads')} threads)"
        for b in info.get("blas", [])[:1]
    )
    return (f"{info.get('cpu_model')}, {info.get('physical_cores')} cores / "
            f"{info.get('logical_cores')} threads, BLAS {blas or 'unknown'}")


def _best_rate(work: float, fn: Any, budget: float) -> float:
    """Best ``work / seconds`` of ``fn()`` over runs lasting ``budget`` seconds (at least two,
    at most 1000), after a warm-up."""
    calls = time_calls(fn, warmup=1, min_calls=2, max_calls=1000, seconds=budget)
    return work / max(calls.best, 1e-12)


def _matmul_rate(n: int, budget: float) -> float:
    """Best GFLOP/s of ``n x n`` float64 matmuls within ``budget`` seconds."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    return _best_rate(2.0 * n**3 / 1e9, lambda: a @ b, budget)


#: Array sizes (bytes) of the read-bandwidth curve, below the arrays larger than the caches.
CURVE_BYTES = tuple(int(m * 2**20) for m in (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 256))


def _stream_bytes(stream_mb: int) -> tuple[int, str]:
    """Bytes of each streamed array: ``stream_mb`` MB, or 1.25 times the last-level cache if
    larger (capped at a quarter of the available memory), and the sentence saying why."""
    want, why = int(stream_mb * 1e6), f"{stream_mb} MB"
    llc = last_level_cache(_caches())
    if llc is not None and 5 * llc[1] // 4 > want:
        want = 5 * llc[1] // 4
        why = f"1.25 times the {llc[1] / 2**20:.0f} MiB {llc[0]} cache the OS reports"
    elif llc is not None:
        why += (f", {want / llc[1]:.2g} times the {llc[1] / 2**20:.0f} MiB {llc[0]} cache the "
                "OS reports")
    free = _available_bytes()
    if free is not None and want > free // 4:
        want, why = free // 4, why + ", capped at a quarter of the available memory"
    return max(want // 8 // 1024 * 1024, 1024) * 8, why


#: Columns of the matrix a vector-matrix read streams (the shape of a loss-first step).
READ_COLUMNS = 1024


def read_operands(nbytes: int) -> tuple[np.ndarray, np.ndarray]:
    """A ``1 x m`` vector and an ``m x 1024`` C-ordered matrix of at least ``nbytes`` bytes
    (whole 8 KiB rows, one at least): ``v @ M`` reads an array that large once.

    Examples
    --------
    >>> v, M = read_operands(2**20)
    >>> v.shape, M.shape, M.nbytes
    ((1, 128), (128, 1024), 1048576)
    """
    m = max(1, -(-int(nbytes) // (8 * READ_COLUMNS)))
    return np.ones((1, m)), np.ones((m, READ_COLUMNS))


def _read_rate(nbytes: int, budget: float) -> float:
    """Best GB/s reading an array of ``nbytes`` by a vector-matrix product (a loss-first step)."""
    v, M = read_operands(nbytes)
    return _best_rate(M.nbytes / 1e9, lambda: v @ M, budget)


def measure_peak(seconds: float = 1.0, *, matmul_n: int = 1024,
                 stream_mb: int = 128) -> dict[str, Any]:
    """Measure the peak float64 matmul rate and the memory bandwidth of this machine.

    Half of ``seconds`` goes to large square float64 matmuls (the best run
    gives the peak, in GFLOP/s at 2 n^3 FLOPs per n x n product); the rest to
    streaming over arrays larger than the last-level cache the OS reports
    (``stream_mb`` MB or 1.25 times that cache, whichever is larger): a copy of
    its first half onto its second (read + write bytes), a dot of the array
    with itself (read bytes) and a vector-matrix product (read bytes, the
    pattern of a loss-first step). ``bandwidth_gbs``
    is the best of the three, in GB/s (1 GB = 1e9 bytes). ``read_curve``
    gives the vector-matrix read rate on smaller arrays too (:data:`CURVE_BYTES`),
    which says how fast a working set that fits a cache streams.

    Parameters
    ----------
    seconds : float
        Time budget, roughly; at least two timed runs of each kernel happen.
    matmul_n : int
        Matrix size (1024: large enough for BLAS to reach its peak, small
        enough for many runs in the budget, of which the best counts).
    stream_mb : int
        Smallest size of each streamed array in MB.

    Returns
    -------
    dict
        ``peak_gflops``, ``bandwidth_gbs``, ``copy_gbs``, ``dot_gbs``,
        ``gemv_gbs``, ``matmul_n``, ``stream_bytes``, ``stream_why``,
        ``read_curve`` (``[bytes, GB/s]`` pairs, the streamed size last),
        ``seconds``, ``method``.
    """
    with Stopwatch() as took:
        n = int(matmul_n)
        peak = _matmul_rate(n, seconds / 2)
        nbytes, why = _stream_bytes(stream_mb)
        sizes = [b for b in CURVE_BYTES if b < nbytes]
        curve = [[b, _read_rate(b, seconds / 4 / max(len(sizes), 1))] for b in sizes]
        # one array, so the working set is larger than the cache without a second allocation
        a = np.ones(nbytes // 8)
        h = a.size // 2
        copy = _best_rate(2 * a[:h].nbytes / 1e9, lambda: np.copyto(a[h:2 * h], a[:h]),
                          seconds / 8)
        dot = _best_rate(a.nbytes / 1e9, lambda: a @ a, seconds / 8)
        M, v = a.reshape(-1, 1024), np.ones(a.size // 1024)
        gemv = _best_rate(a.nbytes / 1e9, lambda: v @ M, seconds / 8)
    return {
        "peak_gflops": peak,
        "bandwidth_gbs": max(copy, dot, gemv),
        "copy_gbs": copy,
        "dot_gbs": dot,
        "gemv_gbs": gemv,
        "matmul_n": n,
        "stream_bytes": int(nbytes),
        "stream_why": why,
        "read_curve": [*curve, [int(nbytes), gemv]],
        "seconds": took.seconds,
        "method": (f"best of repeated {n}x{n} float64 matmuls (2n^3 FLOPs each); bandwidth: best "
                   f"of copy (read+write), dot and vector-matrix product over {nbytes / 2**20:.0f}"
                   f" MiB arrays ({why})"),
    }
