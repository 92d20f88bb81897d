"""``chainorder sweep``: measure cases under each order, one JSON line per point, resumable.

The output is JSON Lines. A *run* record (machine, measured peaks,
settings) opens every session that measures something; then one *row*
record per point (case x order x repeat settings), appended, flushed and
fsync'ed as soon as it is measured. The orders of one case are timed
interleaved (a batch of runs of each per round, rotating), so a load that
comes and goes hits them alike; each row carries the bootstrap interval of
its median (``seconds_low`` .. ``seconds_high``), the highest load average
seen while it was measured (``loadavg_max``), the CPU other processes took
meanwhile (``other_work``, cores) and ``loaded`` when other work competed
for the cores (:func:`~chainorder.lab.verdicts.under_load`). Rows written before these fields
existed lack them; readers treat them as optional. A killed sweep loses at most the row in
flight; a torn last line is dropped on the next start, and points already
present are skipped, so rerunning the same command resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from ..algebra.chain import Chain
from ..algebra.execute import execute
from ..algebra.orders import plan as make_plan
from ..algebra.plan import Plan
from .cases import Case, get_case
from .machine import blas_threads
from .verdicts import cpu_sample, interval, loadavg, other_work_since, under_load

__all__ = [
    "DEFAULT_ORDERS",
    "Timing",
    "FORMAT",
    "run_sweep",
    "read_sweep",
    "point_key",
    "measure_point",
    "measure_points",
]

#: Orders measured unless told otherwise.
DEFAULT_ORDERS: tuple[str, ...] = ("loss_first", "input_first", "optimal")
#: Written into every run record; bump when the row layout changes incompatibly.
FORMAT = "chainorder-sweep/1"


@dataclass(frozen=True)
class Timing:
    """How each point is timed: ``warmup`` untimed runs, then at least ``repeats`` timed runs,
    and more (up to ``max_runs``) until they add up to ``min_seconds``; BLAS limited to
    ``threads`` threads (0: the BLAS default).

    Part of every point's key: a point measured with other settings is another point.
    """

    repeats: int = 5
    warmup: int = 1
    min_seconds: float = 0.0
    threads: int = 0
    max_runs: int = 1000

    def __post_init__(self) -> None:
        for name, low in (("repeats", 1), ("warmup", 0), ("threads", 0), ("max_runs", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not isinstance(self.min_seconds, (int, float)) or not self.min_seconds >= 0:
            raise ValueError(f"min_seconds must be a number >= 0, got {self.min_seconds!r}")

    @property
    def label(self) -> str:
        """The settings as text, e.g. ``'repeats=5,warmup=1,min_seconds=0.05,threads=1'``."""
        threads = self.threads or "default"
        return (f"repeats={self.repeats},warmup={self.warmup},min_seconds={self.min_seconds:g},"
                f"threads={threads}")

    def blas_limits(self) -> contextlib.AbstractContextManager[Any]:
        """A context limiting BLAS to :attr:`threads` threads (a no-op for 0)."""
        return blas_threads(self.threads)


def point_key(case_id: str, order: str, timing: Timing) -> str:
    """The identity of a point: a rerun skips every point whose key is already in the file.

    Examples
    --------
    >>> point_key("article-x10", "loss_first", Timing(5, 1, 0.05, threads=1))
    'article-x10|loss_first|repeats=5,warmup=1,min_seconds=0.05,threads=1'
    """
    return f"{case_id}|{order}|{timing.label}"


# ----------------------------------------------------------------------------- the file


def _drop_torn_tail(path: Path) -> int:
    """Cut a final line that has no newline (a write killed midway); return the bytes dropped."""
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as fh:
        fh.seek(max(size - 1, 0))
        if fh.read(1) == b"\n":
            return 0
        keep, chunk = 0, 1 << 16
        pos = size
        while pos > 0:  # find the last newline from the end
            start = max(pos - chunk, 0)
            fh.seek(start)
            nl = fh.read(pos - start).rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            pos = start
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    return size - keep


def read_sweep(path: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The run records and the row records of a sweep file, in file order.

    A torn final line (no newline) is ignored; an unreadable line elsewhere
    is skipped with a warning naming its line number.
    """
    path = Path(path)
    runs: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    data = path.read_bytes()
    lines = data.split(b"\n")
    for number, line in enumerate(lines[:-1], 1):  # lines[-1] is b"" or a torn tail
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            warnings.warn(f"{path}: line {number} is not JSON; skipped", stacklevel=2)
            continue
        (runs if rec.get("record") == "run" else rows).append(rec)
    return runs, rows


def _append(fh: IO[str], record: dict[str, Any]) -> None:
    fh.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


@contextlib.contextmanager
def _locked_append(path: Path) -> Iterator[IO[str]]:
    """Open ``path`` for appending, holding an exclusive lock so two sweeps cannot interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        try:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        except OSError:
            raise ValueError(f"{path} is being written by another sweep; wait for it or use "
                             "another --out") from None
        yield fh


# ----------------------------------------------------------------------------- measuring


def measure_point(chain: Chain, plan: Plan, timing: Timing) -> dict[str, Any]:
    """Counted cost, sizes and wall time of multiplying ``chain`` by ``plan``.

    One plan alone: :func:`measure_points` with a single plan.
    """
    return measure_points(chain, {"plan": plan}, timing)["plan"]


def measure_points(chain: Chain, plans: Mapping[str, Plan], timing: Timing) -> dict[str, dict]:
    """Counted cost, sizes and wall time of each plan on ``chain``, timed interleaved.

    A run's time is the sum of its multiplications' wall times (planning and
    Python bookkeeping excluded), in seconds. After ``timing.warmup``
    untimed runs of each plan, one timed run of each sizes the rounds: each
    round then runs every plan a batch of times taking about as long as the
    slowest plan's run (or ``min_seconds / repeats``, if longer), the plans
    in a rotating order, until every plan has ``repeats`` runs adding up to
    ``min_seconds`` (at most ``max_runs``). A load that comes and goes so
    hits every plan alike. The median of many runs keeps a fast product
    from being judged by one stall of the operating system.

    Returns
    -------
    dict
        Per plan name: ``multiplications`` (counted from the operands'
        shapes), ``flops``, byte counts, ``seconds_median`` / ``seconds_min`` /
        ``seconds_q1`` / ``seconds_q3`` / ``seconds_max`` (quartiles of the
        runs), ``seconds_low`` / ``seconds_high`` (95% bootstrap interval of
        the median), ``gflops`` (achieved, 1e9 FLOP/s at the median), ``runs``,
        ``loadavg_max`` (highest one-minute load average seen at a round),
        ``other_work`` (cores' worth of CPU time other processes took meanwhile,
        :func:`~chainorder.lab.verdicts.other_work`) and ``loaded``
        (:func:`~chainorder.lab.verdicts.under_load` of them).
    """
    mats = chain.matrices
    for _ in range(timing.warmup):
        for pl in plans.values():
            execute(mats, pl)
    loads, start = [loadavg()], cpu_sample()
    counted: dict[str, int] = {}
    times: dict[str, list[float]] = {}
    for name, pl in plans.items():
        _, trace = execute(mats, pl, timed=True)
        times[name], counted[name] = [trace.seconds], trace.multiplications
    slot = max(max(t[0] for t in times.values()), timing.min_seconds / timing.repeats)
    batch = {n: max(1, min(int(slot / max(t[0], 1e-9)), -(-timing.max_runs // timing.repeats)))
             for n, t in times.items()}

    def wanted(t: list[float]) -> int:
        if len(t) < timing.repeats:
            return timing.repeats - len(t)
        return 1 if sum(t) < timing.min_seconds and len(t) < timing.max_runs else 0

    names = list(plans)
    rnd = 0
    while any(wanted(times[n]) for n in names):
        rnd += 1
        loads.append(loadavg())
        for name in names[rnd % len(names):] + names[: rnd % len(names)]:
            t = times[name]
            for _ in range(min(batch[name], timing.max_runs - len(t)) if wanted(t) else 0):
                t.append(execute(mats, plans[name], timed=True)[1].seconds)
    top = max((x for x in loads if x is not None), default=None)
    others = other_work_since(start)
    return {n: {**_timed(times[n], counted[n]), **_sizes(chain, plans[n]),
                "loadavg_max": top, "other_work": others,
                "loaded": under_load(top, others=others)} for n in names}


def _timed(times: list[float], counted: int) -> dict[str, Any]:
    """The counted cost and the statistics of one plan's runs."""
    median = statistics.median(times)
    q1, _, q3 = statistics.quantiles(times, n=4) if len(times) > 1 else (median,) * 3
    ci = interval(times, "bootstrap", resamples=1000)
    flops = 2 * counted
    return {
        "multiplications": counted,
        "flops": flops,
        "seconds_median": median,
        "seconds_min": min(times),
        "seconds_q1": q1,
        "seconds_q3": q3,
        "seconds_max": max(times),
        "seconds_low": ci.low,
        "seconds_high": ci.high,
        "gflops": flops / median / 1e9 if median > 0 else None,
        "runs": len(times),
    }


def _sizes(chain: Chain, plan: Plan) -> dict[str, int]:
    """Bytes of the Jacobians and of the products each step makes; steps that are BLAS-2."""
    item = max(m.itemsize for m in chain.matrices)
    p = plan.dims
    outs = [p[i] * p[j] for i, _, j in plan.step_array.tolist()]
    moved = sum(p[i] * p[k] + p[k] * p[j] + p[i] * p[j] for i, k, j in plan.step_array.tolist())
    vector = sum(1 for i, _, j in plan.step_array.tolist() if p[i] == 1 or p[j] == 1)
    return {
        "jacobian_bytes": sum(int(m.nbytes) for m in chain.matrices),
        "intermediate_bytes_largest": item * max(outs, default=0),
        "intermediate_bytes_total": item * sum(outs),
        "bytes_moved": item * moved,
        "steps": len(outs),
        "vector_steps": vector,
        "itemsize": item,
    }


def _row(case: Case, chain: Chain, plan: Plan, order: str, run: int, timing: Timing,
         measured: dict[str, Any]) -> dict[str, Any]:
    return {
        "record": "row",
        "key": point_key(case.id, order, timing),
        "run": run,
        "case": case.id,
        "kind": case.kind,
        "params": case.to_dict()["params"],
        "dims": list(chain.dims),
        "n_matrices": len(chain),
        "order": order,
        "planned_multiplications": plan.cost,
        "parenthesization": plan.parenthesization,
        **measured,
        "repeats": timing.repeats,
        "warmup": timing.warmup,
        "min_seconds": timing.min_seconds,
        "threads": timing.threads,
        "loadavg_1min": loadavg(),
        "measured_at": _now(),
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _resolve(grid: Iterable[Case | str]) -> list[Case]:
    out = []
    for item in grid:
        if isinstance(item, Case):
            out.append(item)
        elif isinstance(item, str):
            out.append(get_case(item))
        else:
            raise TypeError(f"grid items must be Case objects or case ids, got {item!r}")
    return out


def run_sweep(
    grid: Iterable[Case | str],
    out_path: str | Path,
    *,
    repeats: int = 5,
    warmup: int = 1,
    min_seconds: float = 0.0,
    threads: int = 1,
    orders: Sequence[str] = DEFAULT_ORDERS,
    progress: bool = True,
    peak_seconds: float = 1.0,
    command: str | None = None,
) -> Path:
    """Measure every case of ``grid`` under every order; append one row per point to ``out_path``.

    Parameters
    ----------
    grid : iterable of Case or str
        Cases (or ids in :data:`chainorder.lab.cases.CASES`), measured in this order.
    out_path : str or Path
        JSON Lines file, created or resumed: points whose key (case, order,
        timing settings) is present are skipped.
    repeats, warmup, min_seconds, threads : int, int, float, int
        Timing settings, see :class:`Timing`; the median run is reported.
        ``threads`` limits BLAS (through threadpoolctl, for this process
        only) while measuring: 1 by default, so that timings do not depend
        on what else runs on the machine; 0 keeps the BLAS default.
    orders : sequence of str
        Order names for :func:`chainorder.plan`.
    progress : bool
        Show a tqdm bar on stderr (only when stderr is a terminal).
    peak_seconds : float
        Budget of :func:`chainorder.lab.machine.measure_peak`; 0 skips it.
    command : str, optional
        The command line to record in the run record.

    Returns
    -------
    Path
        ``out_path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "s.jsonl"
    >>> _ = run_sweep(["article-x10"], out, repeats=3, progress=False, peak_seconds=0)
    >>> runs, rows = read_sweep(out)
    >>> len(runs), [(r["order"], r["multiplications"]) for r in rows]
    (1, [('loss_first', 12000), ('input_first', 110100), ('optimal', 12000)])
    """
    timing = Timing(repeats, warmup, float(min_seconds), threads)
    cases, orders = _resolve(grid), [str(o) for o in orders]
    path = Path(out_path)
    with _locked_append(path) as fh:
        _drop_torn_tail(path)
        runs, rows = read_sweep(path)
        done = {r.get("key") for r in rows}
        todo = [(c, o) for c in cases for o in orders if point_key(c.id, o, timing) not in done]
        if todo:
            run = len(runs)
            with timing.blas_limits():
                _append(fh, _run_record(run, timing, orders, peak_seconds, command, len(todo)))
                _measure_all(fh, todo, run, timing, progress)
    return path


def _run_record(run: int, timing: Timing, orders: list[str], peak_seconds: float,
                command: str | None, points: int) -> dict[str, Any]:
    from .machine import machine_info, measure_peak

    return {
        "record": "run",
        "run": run,
        "format": FORMAT,
        "started": _now(),
        "command": command if command is not None else " ".join(sys.argv),
        "settings": {**asdict(timing), "orders": orders, "points": points},
        "loadavg_1min": loadavg(),
        "machine": machine_info(),
        "peak": measure_peak(peak_seconds) if peak_seconds > 0 else None,
    }


def _measure_all(fh: IO[str], todo: list[tuple[Case, str]], run: int, timing: Timing,
                 progress: bool) -> None:
    from tqdm.auto import tqdm

    show = progress and sys.stderr.isatty()
    bar = tqdm(total=len(todo), unit="point", file=sys.stderr, disable=not show, desc="sweep")
    by_case: dict[str, list[str]] = {}
    for case, order in todo:
        by_case.setdefault(case.id, []).append(order)
    cases = {case.id: case for case, _ in todo}
    with bar:
        for case_id, case_orders in by_case.items():
            case = cases[case_id]
            bar.set_postfix_str(f"{case.id} (building)", refresh=False)
            chain = case.build()
            bar.set_postfix_str(f"{case.id} {', '.join(case_orders)}", refresh=False)
            plans = {order: make_plan(chain.dims, order) for order in case_orders}
            measured = measure_points(chain, plans, timing)
            for order in case_orders:
                _append(fh, _row(case, chain, plans[order], order, run, timing,
                                 measured[order]))
                bar.update(1)
            del chain  # free this case's matrices before the next is built
