"""``chainorder sweep``: measure cases under each order, one JSON line per point, resumable.

The output is JSON Lines. A *run* record (machine, measured peaks,
settings) opens every session that measures something; then one *row*
record per point (case x order x repeat settings), appended, flushed and
fsync'ed as soon as it is measured. The orders of one case are timed
interleaved (a batch of runs of each per round, in varying orders), so a load that
comes and goes hits them alike; each row carries the bootstrap interval of
its median (``seconds_low`` .. ``seconds_high``), the highest load average
seen while it was measured (``loadavg_max``), the CPU other processes took
meanwhile (``other_work``, cores) and ``loaded`` when other work competed
for the cores (:func:`~chainorder.lab.verdicts.under_load`). Rows written before these fields
existed lack them; readers treat them as optional. A killed sweep loses at most the row in
flight: its torn line stays in the file, ignored by readers, and the next
start continues on a new line; points already present are skipped, so
rerunning the same command resumes where it stopped. The file is only ever
appended to, and only if every line is a sweep record (or a torn one): any
other file is refused untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import statistics
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from ..algebra.chain import Chain
from ..algebra.execute import execute
from ..algebra.orders import plan as make_plan
from ..algebra.orders import uses_machine
from ..algebra.plan import Plan
from ..algebra.timemodel import TimeModel, load_model, use_machine
from ..hardware import blas_threads
from ..timing import interleave
from ..validation import check_input_file, check_output_file
from .cases import Case, get_case
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


#: How every record this module writes begins (``_append``'s compact JSON): a line that starts
#: so but is not JSON is a record whose write was cut short.
_RECORD_STARTS = (b'{"record":"run"', b'{"record":"row"')
_EXPECTED = f'a {FORMAT} record (a JSON object with "record": "run" or "row") on every line'
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


def _is_torn(line: bytes) -> bool:
    """Whether ``line``, not JSON, is the beginning of a record whose write was cut short."""
    head = re.sub(rb"\s+", b"", line[:64])
    return bool(head) and any(head.startswith(s) or s.startswith(head) for s in _RECORD_STARTS)


def _excerpt(line: bytes) -> str:
    text = line.decode("utf-8", "replace").strip()
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _problem(rec: Any) -> str | None:
    """What keeps the JSON value ``rec`` from being a sweep record, or None if it is one."""
    if not isinstance(rec, dict):
        return f"is {_JSON_TYPES.get(type(rec), 'a JSON value')}, not a JSON object"
    kind = rec.get("record")
    if kind not in ("run", "row"):
        return ('is a JSON object without a "record" field' if "record" not in rec
                else f'is a JSON object whose "record" is {kind!r}, not "run" or "row"')
    if kind == "run" and rec.get("format") != FORMAT:
        return f"is a run record of format {rec.get('format')!r}, not {FORMAT!r}"
    if kind == "row" and not isinstance(rec.get("key"), str):
        return 'is a row record without a "key"'
    return None


def _record(path: Path, number: int, line: bytes) -> dict[str, Any] | None:
    """The sweep record on line ``number`` of ``path``; None for a blank or a torn line."""
    if not line.strip():
        return None
    try:
        rec = json.loads(line)
    except ValueError:
        if _is_torn(line):
            return None
        problem: str | None = f"is not JSON ({_excerpt(line)})"
    else:
        problem = _problem(rec)
    if problem is not None:
        raise ValueError(f"sweep file {path}, line {number} {problem}; expected {_EXPECTED}; "
                         "the file was not changed")
    return rec


def _open_sweep(path: Path) -> IO[bytes]:
    """``path`` opened for reading, or a ValueError saying why it cannot be a sweep file."""
    check_input_file(path, "sweep file", "a readable JSON Lines file")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise ValueError(f"sweep file {path}: cannot be read ({exc.strerror}); expected a "
                         "readable JSON Lines file") from None


def read_sweep(path: str | Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The run records and the row records of a sweep file, in file order.

    A torn line (a record whose write was cut short: it begins like one
    but is not JSON) is ignored wherever it is, and so are blank lines.

    Raises
    ------
    ValueError
        If ``path`` cannot be read, or a line is anything else than a sweep
        record of :data:`FORMAT` (the message names the line), or a row comes
        before the first run record.
    """
    path = Path(path)
    runs: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    with _open_sweep(path) as fh:
        for number, line in enumerate(fh, 1):
            rec = _record(path, number, line)
            if rec is None:
                continue
            if rec["record"] == "row" and not runs:
                raise ValueError(f"sweep file {path}, line {number} is a row record before any "
                                 f"run record; expected a run record of {FORMAT} first; the file "
                                 "was not changed")
            (runs if rec["record"] == "run" else rows).append(rec)
    return runs, rows


def _check_out(path: Path) -> None:
    """Refuse, before any measuring, an ``out_path`` that no sweep can be appended to."""
    check_output_file(path, "sweep file", "a JSON Lines file that can be written")


def _end_torn_line(fh: IO[str], path: Path) -> None:
    """End a last line that has no newline, so the next record starts a line of its own.

    A torn record stays in the file, byte for byte (:func:`read_sweep` ignores it):
    nothing is ever cut from a sweep file.
    """
    with open(path, "rb") as tail:
        if tail.seek(0, os.SEEK_END) == 0:
            return
        tail.seek(-1, os.SEEK_END)
        if tail.read(1) == b"\n":
            return
    fh.write("\n")
    fh.flush()
    os.fsync(fh.fileno())


def _append(fh: IO[str], record: dict[str, Any]) -> None:
    fh.write(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


@contextlib.contextmanager
def _locked_append(path: Path) -> Iterator[IO[str]]:
    """Open ``path`` for appending, holding an exclusive lock so two sweeps cannot interleave."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a", encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"sweep file {path}: cannot be opened for appending ({exc.strerror}); "
                         "expected a writable JSON Lines file") from None
    with fh:
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


def measure_points(chain: Chain, plans: Mapping[str, Plan], timing: Timing, *,
                   reads: bool = False) -> dict[str, dict]:
    """Counted cost, sizes and wall time of each plan on ``chain``, timed interleaved.

    A run's time is the sum of its multiplications' wall times (planning and
    Python bookkeeping excluded), in seconds. After ``timing.warmup``
    untimed runs of each plan, one timed run of each sizes the rounds: each
    round then runs every plan a batch of times taking about as long as the
    slowest plan's run (or ``min_seconds / repeats``, if longer), the plans
    in varying orders (:func:`chainorder.timing.round_orders`), until every plan has
    ``repeats`` runs adding up to
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
        (:func:`~chainorder.lab.verdicts.under_load` of them). With ``reads``, also
        ``read_bytes`` and ``read_gbs``: the median rate (GB/s) of a vector-matrix read of
        a C-ordered matrix as large as the plan's working set (its Jacobians and its largest
        product, rounded up to 8 KiB; up to :data:`READ_MAX_BYTES`), timed the same way in
        the same interleaved rounds, so that a point faster than the memory roof can be
        told apart from a machine that ran faster at that moment; None above that size.
    """
    names = list(plans)
    plans = dict(plans)
    sizes = {n: _sizes(chain, pl) for n, pl in plans.items()}
    mats_of = {n: chain.matrices for n in names}
    refs = _read_references(sizes) if reads else {}
    for ref, (ref_mats, ref_plan) in refs.items():
        plans[ref], mats_of[ref] = ref_plan, ref_mats
    for _ in range(timing.warmup):
        for n, pl in plans.items():
            execute(mats_of[n], pl)
    loads, start = [loadavg()], cpu_sample()
    counted: dict[str, int] = {}
    times: dict[str, list[float]] = {}
    for name, pl in plans.items():
        _, trace = execute(mats_of[name], pl, timed=True)
        times[name], counted[name] = [trace.seconds], trace.multiplications
    slot = max(max(t[0] for t in times.values()), timing.min_seconds / timing.repeats)
    batch = {n: max(1, min(int(slot / max(t[0], 1e-9)), -(-timing.max_runs // timing.repeats)))
             for n, t in times.items()}

    def wanted(t: list[float]) -> int:
        if len(t) < timing.repeats:
            return timing.repeats - len(t)
        return 1 if sum(t) < timing.min_seconds and len(t) < timing.max_runs else 0

    def runs_of(name: str) -> Callable[[], list[float]]:
        def run() -> list[float]:  # a batch of runs, the products' own seconds
            t = times[name]
            n = min(batch[name], timing.max_runs - len(t)) if wanted(t) else 0
            return [execute(mats_of[name], plans[name], timed=True)[1].seconds
                    for _ in range(n)]
        return run

    # round 0 was the sizing run above; the interleaved rounds continue from round 1
    interleave({name: runs_of(name) for name in plans}, first_round=1, into=times,
               rounds=lambda: any(wanted(t) for t in times.values()),
               before_round=lambda _: loads.append(loadavg()))
    top = max((x for x in loads if x is not None), default=None)
    others = other_work_since(start)
    out = {n: {**_timed(times[n], counted[n]), **sizes[n],
               "loadavg_max": top, "other_work": others,
               "loaded": under_load(top, others=others)} for n in names}
    for n in names if reads else ():
        ref = _read_name(_working_set(sizes[n]))
        if ref not in refs:  # above READ_MAX_BYTES: no read beside it
            out[n] |= {"read_bytes": None, "read_gbs": None}
            continue
        (_, matrix), _ = refs[ref]
        median = statistics.median(times[ref])
        out[n] |= {"read_bytes": matrix.nbytes,
                   "read_gbs": matrix.nbytes / median / 1e9 if median > 0 else None}
    return out


#: The largest working set :func:`measure_points` times a vector-matrix read beside (64 MiB):
#: larger sets stream from memory, where the memory roof itself is the reference.
READ_MAX_BYTES = 64 * 2**20

def _working_set(sizes: dict[str, int]) -> int:
    """A plan's working set: its Jacobians and its largest product, in bytes."""
    return sizes["jacobian_bytes"] + sizes["intermediate_bytes_largest"]


def _read_name(working_set: int) -> str:
    return f"(read {working_set} bytes)"


def _read_references(sizes: Mapping[str, dict[str, int]]) -> dict[str, tuple[list, Plan]]:
    """One vector-matrix read per distinct working set up to :data:`READ_MAX_BYTES`: its
    operands (:func:`chainorder.lab.machine.read_operands`) and its one-step plan."""
    from .machine import read_operands

    refs: dict[str, tuple[list, Plan]] = {}
    for s in sizes.values():
        ws = _working_set(s)
        if ws > READ_MAX_BYTES or _read_name(ws) in refs:
            continue
        v, M = read_operands(ws)
        refs[_read_name(ws)] = ([v, M], make_plan((1, *M.shape), "loss_first"))
    return refs


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
        timing settings) is present are skipped. Only appended to: an
        existing file must hold sweep records only (see :func:`read_sweep`).
    repeats, warmup, min_seconds, threads : int, int, float, int
        Timing settings, see :class:`Timing`; the median run is reported.
        ``threads`` limits BLAS (through threadpoolctl, for this process
        only) while measuring: 1 by default, so that timings do not depend
        on what else runs on the machine; 0 keeps the BLAS default.
    orders : sequence of str
        Order names for :func:`chainorder.plan`. An order that plans by the time
        model (``'time_optimal'``) uses this machine's cached one at ``threads``
        (:func:`~chainorder.algebra.timemodel.load_model`, loaded once).
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

    Raises
    ------
    ValueError
        Before any measuring, if ``out_path`` is a directory, lies under a
        file, cannot be written, is being written by another sweep or holds
        a line that is not a sweep record; the file is then left as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "s.jsonl"
    >>> _ = run_sweep(["article-x10"], out, repeats=3, progress=False, peak_seconds=0)
    >>> runs, rows = read_sweep(out)
    >>> len(runs), [(r["order"], r["multiplications"]) for r in rows]
    (1, [('loss_first', 12000), ('input_first', 110100), ('optimal', 12000)])
    """
    path = Path(out_path)
    _check_out(path)
    timing = Timing(repeats, warmup, float(min_seconds), threads)
    cases, orders = _resolve(grid), [str(o) for o in orders]
    with _locked_append(path) as fh:
        runs, rows = read_sweep(path)
        done = {r["key"] for r in rows}
        todo = [(c, o) for c in cases for o in orders if point_key(c.id, o, timing) not in done]
        if todo:
            run = len(runs)
            _end_torn_line(fh, path)
            with timing.blas_limits(), use_machine(_time_model(orders)):
                _append(fh, _run_record(run, timing, orders, peak_seconds, command, len(todo)))
                _measure_all(fh, todo, run, timing, progress)
    return path


def _time_model(orders: Sequence[str]) -> TimeModel | None:
    """This machine's cached time model if an order plans by one (``'time_optimal'``), loaded
    once at the sweep's BLAS threads; else None."""
    return load_model() if any(map(uses_machine, orders)) else None


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
            measured = measure_points(chain, plans, timing, reads=True)
            for order in case_orders:
                _append(fh, _row(case, chain, plans[order], order, run, timing,
                                 measured[order]))
                bar.update(1)
            del chain  # free this case's matrices before the next is built
