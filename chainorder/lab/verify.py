"""Correctness at scale: Hu–Shing against an independent dynamic program on many chains.

Run it as ``chainorder verify --chains 100000 --seed 0 --json out.json``
(:mod:`chainorder.cli`) or ``python scripts/check_hushing.py ...`` (the same).

Every chain is solved by the pure-Python path and by the numba kernel (when
numba imports); a chain is a mismatch if either cost differs from the
dynamic program's, the two paths disagree, or the returned steps are not a
valid triangulation costing what was returned. The reference DP runs on all
chains of one length at once, vectorized with numpy over the chains.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import secrets
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..algebra.costs import fits_int64
from ..algebra.hushing import hu_shing_steps_python
from ..validation import check_output_file, check_positive_int

__all__ = [
    "FAMILIES",
    "MAX_JOBS",
    "make_chain",
    "dp_costs",
    "check_block",
    "check_hu_shing",
    "check_summary_path",
    "write_summary",
]

MAX_MATRICES = 30
BLOCK = 2000  # chains per work unit; a block's chains depend only on (seed, block index)
#: Most worker processes :func:`check_hu_shing` starts; more than one per core only costs memory.
MAX_JOBS = 64
#: Seconds between a worker's checks that its parent is still alive.
PARENT_POLL_SECONDS = 0.25


def _random(rng, n):
    return rng.integers(1, 1001, n + 1)


def _small_alphabet(rng, n):
    return rng.integers(1, 4, n + 1)


def _few_values(rng, n):
    return rng.choice([1, 2, 3, 6, 7, 12, 40, 100], n + 1)


def _all_equal(rng, n):
    return np.full(n + 1, rng.integers(1, 1001))


def _increasing(rng, n):
    return np.sort(rng.choice(np.arange(1, 10_001), n + 1, replace=False))


def _decreasing(rng, n):
    return _increasing(rng, n)[::-1]


def _rotated_monotone(rng, n):
    return np.roll(_increasing(rng, n), rng.integers(0, n + 1))


def _one_tiny(rng, n):
    dims = rng.integers(50, 61, n + 1)
    dims[rng.integers(0, n + 1)] = rng.integers(1, 4)
    return dims


def _repeated_minimum(rng, n):
    dims = rng.integers(5, 31, n + 1)
    dims[rng.integers(0, n + 1, rng.integers(2, 7))] = rng.integers(1, 5)
    return dims


def _ones(rng, n):
    return np.where(rng.random(n + 1) < 0.7, 1, rng.integers(2, 5, n + 1))


def _zigzag(rng, n):
    return np.where(
        np.arange(n + 1) % 2 == 0, rng.integers(1, 5, n + 1), rng.integers(5, 41, n + 1)
    )


def _wide(rng, n):
    # log-uniform over 1..2**20: ratios large enough to keep many h-arcs
    return np.exp2(rng.uniform(0, 20, n + 1)).astype(np.int64)


def _huge(rng, n):
    # past int64 for the costs: exercises the Python-int paths
    return rng.integers(1, 10**7 + 1, n + 1)


#: name -> generator(rng, n) of dims p0..pn
FAMILIES: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "random": _random,
    "small_alphabet": _small_alphabet,
    "few_values": _few_values,
    "all_equal": _all_equal,
    "increasing": _increasing,
    "decreasing": _decreasing,
    "rotated_monotone": _rotated_monotone,
    "one_tiny": _one_tiny,
    "repeated_minimum": _repeated_minimum,
    "ones": _ones,
    "zigzag": _zigzag,
    "wide": _wide,
    "huge": _huge,
}


def make_chain(rng: np.random.Generator) -> tuple[str, tuple[int, ...]]:
    """One chain: a family drawn uniformly, ``n`` in 1..MAX_MATRICES; dims as Python ints."""
    family = list(FAMILIES)[rng.integers(0, len(FAMILIES))]
    n = int(rng.integers(1, MAX_MATRICES + 1))
    return family, tuple(int(d) for d in FAMILIES[family](rng, n))


def dp_costs(chains: list[tuple[int, ...]]) -> list[int]:
    """Optimal costs of chains of one length ``n + 1`` by the O(n^3) DP, vectorized over chains.

    ``best[:, i, j]`` is the least cost of the product over dims ``i..j``;
    int64 when ``max(p)**3 * n < 2**62``, exact Python ints otherwise.
    """
    n = len(chains[0]) - 1
    exact = not fits_int64(max(max(c) for c in chains), n)
    dtype = object if exact else np.int64
    p = np.array(chains, dtype=dtype)
    best = np.zeros((len(chains), n + 1, n + 1), dtype=dtype)
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length
            k = np.arange(i + 1, j)
            total = best[:, i, k] + best[:, k, j] + (p[:, i] * p[:, j])[:, None] * p[:, k]
            best[:, i, j] = total.min(axis=1)
    return [int(c) for c in best[:, 0, n]]


def _valid_steps(dims: tuple[int, ...], steps: np.ndarray, cost: int) -> bool:
    """Whether ``steps`` is a triangulation in execution order costing ``cost``."""
    n = len(dims) - 1
    if steps.shape != (max(n - 1, 0), 3):
        return False
    built = {(i, i + 1) for i in range(n)}
    total = 0
    for i, k, j in steps.tolist():
        if not (i < k < j and (i, k) in built and (k, j) in built) or (i, j) in built:
            return False
        built.add((i, j))
        total += dims[i] * dims[k] * dims[j]
    return total == cost and (n < 2 or (steps[-1, 0], steps[-1, 2]) == (0, n))


def _solvers() -> dict[str, Callable]:
    solvers = {"python": hu_shing_steps_python}
    try:
        from ..algebra.hushing_numba import hu_shing_steps_numba
    except ImportError:
        return solvers

    def numba_where_it_applies(dims):
        n = len(dims) - 1
        if n < 2 or not fits_int64(max(dims), n):
            return hu_shing_steps_python(dims)
        return hu_shing_steps_numba(dims)

    solvers["numba"] = numba_where_it_applies
    return solvers


def _block_chains(seed: int, block: int, count: int) -> Iterator[tuple[str, tuple[int, ...]]]:
    rng = np.random.default_rng([seed, block])
    for _ in range(count):
        yield make_chain(rng)


def check_block(seed: int, block: int, count: int) -> dict:
    """Check ``count`` chains of block ``block``; return family counts and mismatches."""
    chains = list(_block_chains(seed, block, count))
    # One DP per length and arithmetic, so int64 batches stay int64.
    groups: dict[tuple[int, bool], list[int]] = {}
    for index, (_, dims) in enumerate(chains):
        key = (len(dims), not fits_int64(max(dims), len(dims)))
        groups.setdefault(key, []).append(index)
    reference = [0] * count
    for indices in groups.values():
        for index, cost in zip(indices, dp_costs([chains[t][1] for t in indices]), strict=True):
            reference[index] = cost
    solvers = _solvers()
    mismatches = []
    for (family, dims), expected in zip(chains, reference, strict=True):
        results = {name: solve(dims) for name, solve in solvers.items()}
        ok = all(c == expected and _valid_steps(dims, s, c) for s, c in results.values())
        first = next(iter(results.values()))[0]
        ok = ok and all(np.array_equal(s, first) for s, _ in results.values())
        if not ok:
            costs = {name: c for name, (_, c) in results.items()}
            mismatches.append({"family": family, "dims": list(dims), "dp": expected, **costs})
    return {
        "families": Counter(f for f, _ in chains),
        "mismatches": mismatches,
        "paths": sorted(solvers),
    }


def _worker_init(main_pid: int) -> None:
    """Set up a worker process: Ctrl-C is the parent's to handle, SIGTERM ends it, and it exits
    on its own once the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal sends it to the whole group
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # an ignored SIGTERM survives exec: undo it
    watch = threading.Thread(target=_watch_parent, args=(main_pid, os.getppid()), daemon=True,
                             name="chainorder-watch-parent")
    watch.start()


def _watch_parent(main_pid: int, parent_pid: int) -> None:
    """Exit this process when the process that made the pool dies.

    A killed parent cannot end its workers, so each one looks for itself. A
    forkserver worker's own parent is the fork server, which exits when the
    main process does; so the worker exits when its parent pid changes
    (it was re-parented) or ``main_pid`` no longer exists, whichever it
    sees first.
    """
    while os.getppid() == parent_pid and _exists(main_pid):
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process has this pid now
        return True
    return True


@contextlib.contextmanager
def _worker_pool(jobs: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``jobs`` worker processes that ends with its parent.

    On normal exit the pool is shut down as usual. An exception unwinding
    through it (a failed block, Ctrl-C, SIGTERM turned into ``SystemExit``)
    cancels the queued blocks and terminates the workers instead of waiting
    for the rest of the work; a parent killed outright leaves workers that
    exit within :data:`PARENT_POLL_SECONDS` of noticing.
    """
    # forkserver, not fork: the parent may hold threads (BLAS, JAX) that a fork would copy mid-state
    context = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init,
                               initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        _end_pool(pool)
        raise
    pool.shutdown(wait=True)


def _end_pool(pool: ProcessPoolExecutor, grace: float = 2.0) -> None:
    """Cancel what ``pool`` has not started, terminate its workers, kill those that linger."""
    workers = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        worker.terminate()
    deadline = time.monotonic() + grace
    for worker in workers:
        worker.join(max(deadline - time.monotonic(), 0.0))
        if worker.is_alive():
            worker.kill()
            worker.join(grace)


def _check_jobs(jobs: Any) -> int:
    jobs = check_positive_int(jobs, "jobs")
    if jobs > MAX_JOBS:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        raise ValueError(f"jobs must be at most {MAX_JOBS}, got {jobs}; this machine has {cores} "
                         "cores, and more workers than cores only cost memory")
    return jobs


def _check_seed(seed: Any) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def check_hu_shing(
    chains: int = 100_000,
    *,
    seed: int = 0,
    jobs: int = 2,
    progress: Callable[[int, int, float], None] | None = None,
) -> dict:
    """Check ``chains`` seeded chains in ``jobs`` processes; return the summary.

    The summary holds ``chains``, ``mismatches`` (a count, 0 when every
    chain agreed), ``seed``, ``families`` (chains per family), ``seconds``,
    ``paths`` (the Hu–Shing paths checked), ``max_matrices`` and up to 20
    mismatching ``examples``. ``progress(done, total, seconds)`` is called
    after each block of chains.

    The worker processes end with the caller: an exception (Ctrl-C, a
    SIGTERM handler's ``SystemExit``) terminates them at once, and if the
    caller is killed they exit on their own within a second.

    Raises
    ------
    ValueError
        If ``chains`` or ``jobs`` is not an integer >= 1, ``jobs`` is above
        :data:`MAX_JOBS`, or ``seed`` is not an integer >= 0.
    """
    chains = check_positive_int(chains, "chains")
    jobs, seed = _check_jobs(jobs), _check_seed(seed)
    start = time.perf_counter()
    blocks = [(b, min(BLOCK, chains - b * BLOCK)) for b in range(-(-chains // BLOCK))]
    families: Counter = Counter()
    mismatches: list[dict] = []
    paths: list[str] = sorted(_solvers())
    done = 0
    with _worker_pool(min(jobs, len(blocks))) as pool:
        futures = [pool.submit(check_block, seed, b, c) for b, c in blocks]
        for (_, count), future in zip(blocks, futures, strict=True):
            result = future.result()
            families.update(result["families"])
            mismatches.extend(result["mismatches"])
            done += count
            if progress is not None:
                progress(done, chains, time.perf_counter() - start)
    return {
        "chains": chains,
        "mismatches": len(mismatches),
        "seed": seed,
        "families": dict(sorted(families.items())),
        "seconds": round(time.perf_counter() - start, 1),
        "paths": paths,
        "max_matrices": MAX_MATRICES,
        "examples": mismatches[:20],
    }


# ----------------------------------------------------------------------------- the summary file

#: The fields that mark a JSON file as a summary of an earlier check (safe to replace).
_SUMMARY_FIELDS = frozenset({"chains", "mismatches", "seed", "families", "paths", "max_matrices"})
_SUMMARY_MAX_BYTES = 1 << 20


def _is_summary(path: Path) -> bool:
    """Whether the existing file ``path`` is empty or a summary :func:`write_summary` wrote."""
    size = path.stat().st_size
    if size == 0:
        return True
    if size > _SUMMARY_MAX_BYTES:
        return False
    try:
        value = json.loads(path.read_bytes())
    except ValueError:
        return False
    return isinstance(value, dict) and _SUMMARY_FIELDS <= value.keys()


def check_summary_path(path: str | Path, *, name: str = "path") -> Path:
    """Refuse, before the check runs, a path :func:`write_summary` could not write to.

    ``path`` may be new (missing folders are made), empty, or the summary
    of an earlier check, which it then replaces; a directory, a path under a
    file, an unwritable place or any other file is refused. ``name`` is the
    argument's name in the messages (the CLI passes ``"--json"``).

    Examples
    --------
    >>> check_summary_path(".", name="--json")
    Traceback (most recent call last):
    ...
    ValueError: --json .: is a directory; expected a JSON file for the summary
    """
    path = Path(path)
    try:
        _refuse_summary_target(path, name)
    except OSError as exc:
        raise ValueError(f"{name} {path}: cannot be checked ({exc.strerror}); expected a JSON "
                         "file for the summary") from None
    return path


def _refuse_summary_target(path: Path, name: str) -> None:
    check_output_file(path, name, "a JSON file for the summary")
    if path.exists() and not _is_summary(path):
        raise ValueError(f"{name} {path}: exists and is not the summary of an earlier check; "
                         "expected a new file (it would be overwritten), or remove it first")


def write_summary(summary: dict, path: str | Path, *, name: str = "path") -> Path:
    """Write ``summary`` as JSON to ``path``, all at once: a reader never sees half a file.

    ``path`` is checked again (:func:`check_summary_path`) and missing
    folders are made; an OS error is a ``ValueError`` naming ``name``.
    """
    path = check_summary_path(path, name=name)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "x", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise ValueError(f"{name} {path}: cannot be written ({exc.strerror}); expected a JSON "
                         "file in a writable folder") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path
