"""Verdicts that respect noise: interleaved timings, an interval per thing, 'faster' only if apart.

Two things timed repeatedly and interleaved (run A, run B, run A, ...; the
order inside each round varies, chainorder.timing.round_orders) each get an interval: the bootstrap
confidence interval of the median (default), the quartiles, or the full
range of the runs. One is *faster* than the other only when its interval
lies wholly below the other's; overlapping intervals are a *tie*, whatever
the medians say. A measurement is flagged *loaded* when other work competed
for the CPU: where Linux's ``/proc/stat`` is readable, when the CPU time
every other process (and the hypervisor's steal) took while it ran came to
more than half a core (:func:`other_work`: the machine's busy time less this
process's own, so a two-thread measurement does not flag itself; a
measurement shorter than 0.1 s is judged over the moments before it too,
:func:`other_work_since`); elsewhere when the one-minute load average,
recorded at every round too, exceeded the cores less half a core.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..timing import interleave, wall

__all__ = [
    "Interval",
    "Verdict",
    "Interleaved",
    "INTERVAL_METHODS",
    "interval",
    "compare",
    "time_interleaved",
    "loadavg",
    "under_load",
    "CpuSample",
    "cpu_sample",
    "other_work",
    "other_work_since",
    "proc_stat_readable",
    "OTHER_WORK_CORES",
    "LOADED_MEANS",
    "MIN_SPAN",
    "LOOKBACK",
    "VERDICTS",
    "tally",
    "SlowerGoal",
]

#: Cores' worth of CPU time other work may take while we measure before a point is loaded.
OTHER_WORK_CORES = 0.5
#: Shortest span :func:`other_work` judges: ``/proc/stat`` counts in ticks of 10 ms.
MIN_SPAN = 0.1
#: What ``loaded`` means, for the pages that count loaded points.
LOADED_MEANS = (f"other processes took more than {OTHER_WORK_CORES:g} cores' worth of CPU time "
                f"while it was measured (a point shorter than {MIN_SPAN:g} s is judged with "
                "the moments before it; where /proc/stat is unreadable: a load average above "
                "the cores less half a core)")

#: How an interval is made from repeated timings.
INTERVAL_METHODS: tuple[str, ...] = ("bootstrap", "iqr", "range")


@dataclass(frozen=True)
class Interval:
    """Where the typical time of one thing lies: ``low <= median <= high``, in seconds."""

    low: float
    median: float
    high: float
    min: float
    max: float
    runs: int
    method: str

    def __repr__(self) -> str:
        return (f"Interval({self.median:.4g} s in [{self.low:.4g}, {self.high:.4g}], "
                f"{self.method}, {self.runs} runs)")


def interval(times: Sequence[float], method: str = "bootstrap", *, confidence: float = 0.95,
             resamples: int = 2000, seed: int = 0) -> Interval:
    """An interval for the typical value of repeated timings.

    Parameters
    ----------
    times : sequence of float
        Seconds of each run (at least one).
    method : {'bootstrap', 'iqr', 'range'}
        ``'bootstrap'``: a percentile bootstrap confidence interval of the
        median (seeded, so the same timings give the same interval);
        ``'iqr'``: first to third quartile; ``'range'``: min to max.
    confidence : float
        Coverage of the bootstrap interval.

    Examples
    --------
    >>> iv = interval([1.0, 1.1, 0.9, 1.0, 5.0], method="range")
    >>> iv.low, iv.median, iv.high
    (0.9, 1.0, 5.0)
    """
    x = np.asarray(times, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"times must be a non-empty 1-D sequence of seconds, got {times!r}")
    if method not in INTERVAL_METHODS:
        raise ValueError(f"method must be one of {INTERVAL_METHODS}, got {method!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    if method == "range":
        low, high = x.min(), x.max()
    elif method == "iqr":
        low, high = np.quantile(x, [0.25, 0.75])
    else:
        rng = np.random.default_rng(seed)
        medians = np.median(rng.choice(x, size=(resamples, x.size)), axis=1)
        tail = (1 - confidence) / 2
        low, high = np.quantile(medians, [tail, 1 - tail])
    return Interval(float(low), float(np.median(x)), float(high), float(x.min()),
                    float(x.max()), int(x.size), method)


@dataclass(frozen=True)
class Verdict:
    """How ``a`` compares with ``b``: ``'faster'``, ``'slower'`` or ``'tie'``.

    ``ratio`` is ``b.median / a.median`` (above 1: ``a`` ran faster at the
    median, which alone is no verdict); ``loaded`` flags timings taken while
    other processes loaded the machine.
    """

    verdict: str
    a: Interval
    b: Interval
    ratio: float
    loaded: bool
    loadavg_max: float | None = None
    other_work: float | None = None

    def to_record(self, a: str = "a", b: str = "b") -> dict[str, Any]:
        """A flat dict for a table: ``<a>_low``, ``<a>_median``, ..., verdict, ratio, loaded."""
        out: dict[str, Any] = {}
        for name, iv in ((a, self.a), (b, self.b)):
            out.update({f"{name}_{k}": v for k, v in asdict(iv).items() if k != "method"})
        out.update(verdict=self.verdict, ratio=self.ratio, interval=self.a.method,
                   loaded=self.loaded, loadavg_max=self.loadavg_max,
                   other_work=self.other_work)
        return out


def compare(a: Sequence[float], b: Sequence[float], *, method: str = "bootstrap",
            confidence: float = 0.95, loadavgs: Sequence[float | None] = (),
            cores: int | None = None, seed: int = 0, others: float | None = None) -> Verdict:
    """Judge repeated timings ``a`` against ``b``: faster only when the intervals separate.

    Parameters
    ----------
    a, b : sequence of float
        Seconds of each run of the two things, best measured interleaved
        (:func:`time_interleaved`).
    method, confidence, seed
        How each interval is made (:func:`interval`).
    loadavgs : sequence of float or None
        Load averages seen while measuring, recorded; where ``others`` is None,
        any above ``cores - 0.5`` marks the verdict ``loaded``.
    cores : int, optional
        CPUs available (default: :func:`os.cpu_count`).
    others : float, optional
        Cores' worth of CPU other work took while measuring (:func:`other_work`);
        above :data:`OTHER_WORK_CORES` the verdict is ``loaded``.

    Examples
    --------
    >>> compare([1.0, 1.1, 1.05], [2.0, 2.1, 1.9], method="range").verdict
    'faster'
    >>> compare([1.0, 1.5, 1.2], [1.4, 1.3, 1.6], method="range").verdict
    'tie'
    """
    ia = interval(a, method, confidence=confidence, seed=seed)
    ib = interval(b, method, confidence=confidence, seed=seed + 1)
    if ia.high < ib.low:
        verdict = "faster"
    elif ia.low > ib.high:
        verdict = "slower"
    else:
        verdict = "tie"
    loads = [x for x in loadavgs if x is not None]
    ratio = ib.median / ia.median if ia.median > 0 else float("inf")
    top = max(loads) if loads else None
    return Verdict(verdict, ia, ib, ratio, under_load(top, cores, others), top, others)


def loadavg() -> float | None:
    """The one-minute load average (None where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # pragma: no cover - not POSIX
        return None


def under_load(load: float | None, cores: int | None = None,
               others: float | None = None) -> bool:
    """Whether other work competed: ``others`` (cores' worth of CPU other work took, from
    :func:`other_work`) above :data:`OTHER_WORK_CORES`; where that was not measured, a
    load average above ``cores - 0.5``.

    The load average counts this process's own threads and lags by a minute, so
    where ``/proc/stat`` is readable it decides nothing: a span too short to judge
    (``others`` None) is not flagged.

    Examples
    --------
    >>> under_load(2.0, cores=2, others=0.1), under_load(0.2, cores=2, others=0.8)
    (False, True)
    """
    if others is not None:
        return others > OTHER_WORK_CORES
    if load is None or proc_stat_readable():
        return False  # where /proc/stat is readable, a span it could not judge is no evidence
    return load > (cores or os.cpu_count() or 1) - 0.5


@dataclass(frozen=True)
class CpuSample:
    """A moment's clocks: ``wall`` (monotonic s), ``busy`` (non-idle CPU seconds of the whole
    machine, steal included; None without ``/proc/stat``) and ``own`` (this process's CPU s)."""

    wall: float
    busy: float | None
    own: float


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


#: Recent samples, for :func:`other_work_since` to look back on.
_HISTORY: deque[CpuSample] = deque(maxlen=256)


def proc_stat_readable() -> bool:
    """Whether ``/proc/stat`` gives the machine's CPU time here (Linux)."""
    global _READABLE
    if _READABLE is None:
        _READABLE = cpu_sample().busy is not None
    return _READABLE


_READABLE: bool | None = None


def cpu_sample() -> CpuSample:
    """The clocks :func:`other_work` compares (kept a while, for :func:`other_work_since`)."""
    busy = None
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()
        if fields and fields[0] == "cpu":
            # user nice system idle iowait irq softirq steal (guest time is inside user)
            ticks = [int(x) for x in fields[1:9]]
            busy = (sum(ticks) - ticks[3] - ticks[4]) / _TICK
    except (OSError, ValueError):
        busy = None
    out = CpuSample(time.monotonic(), busy, time.process_time())
    if busy is not None:
        _HISTORY.append(out)
    return out


def other_work(start: CpuSample, end: CpuSample) -> float | None:
    """Cores' worth of CPU time other processes and the hypervisor took between two samples.

    The machine's busy time less this process's own, over the wall time; None
    without ``/proc/stat`` or for spans under :data:`MIN_SPAN` (too few ticks).

    Examples
    --------
    >>> other_work(CpuSample(0.0, 10.0, 1.0), CpuSample(1.0, 11.5, 1.9))
    0.6
    >>> other_work(CpuSample(0.0, None, 1.0), CpuSample(1.0, None, 1.9)) is None
    True
    """
    if start.busy is None or end.busy is None or end.wall - start.wall < MIN_SPAN:
        return None
    spent = (end.busy - start.busy) - (end.own - start.own)
    return round(max(0.0, spent / (end.wall - start.wall)), 3)


#: How far back :func:`other_work_since` may reach for a span long enough to judge.
LOOKBACK = 5.0


def other_work_since(start: CpuSample) -> float | None:
    """:func:`other_work` from ``start`` to now; a span shorter than :data:`MIN_SPAN` (a
    microsecond measurement) is widened back to the latest earlier sample that makes it
    long enough, up to :data:`LOOKBACK` seconds, so it is judged with what ran around it.
    """
    end = cpu_sample()
    if end.busy is not None and end.wall - start.wall < MIN_SPAN:
        earlier = [s for s in _HISTORY if end.wall - LOOKBACK <= s.wall <= end.wall - MIN_SPAN]
        start = earlier[-1] if earlier else start
    return other_work(start, end)


#: The verdicts of :func:`compare`, in the order pages list them.
VERDICTS: tuple[str, ...] = ("faster", "tie", "slower")


def tally(verdicts: Sequence[str]) -> dict[str, int]:
    """How many of ``verdicts`` are ``'faster'``, ``'tie'`` and ``'slower'``.

    Examples
    --------
    >>> tally(["faster", "tie", "faster"])
    {'faster': 2, 'tie': 1, 'slower': 0}
    """
    unknown = sorted(set(verdicts) - set(VERDICTS))
    if unknown:
        raise ValueError(f"verdicts must be among {VERDICTS}, got {unknown!r}")
    return {v: sum(1 for x in verdicts if x == v) for v in VERDICTS}


@dataclass(frozen=True)
class SlowerGoal:
    """A goal fixed before measuring: measurably slower in at most ``share`` of the pairs.

    The allowance is ``floor(share * pairs)``, decided from the number of pairs
    alone, so the goal can fail: it is *met* only when the measured pairs that are
    ``'slower'`` (:func:`compare`) do not exceed it.

    Examples
    --------
    >>> g = SlowerGoal(0.1)
    >>> g.allowed(20), g.met(["slower", "tie"] + ["faster"] * 18), g.met(["slower"] * 3)
    (2, True, False)
    """

    share: float

    def __post_init__(self) -> None:
        if not 0 <= self.share < 1:
            raise ValueError(f"share must be in [0, 1), got {self.share!r}")

    def allowed(self, pairs: int) -> int:
        """The most pairs that may be measurably slower out of ``pairs``."""
        return int(self.share * pairs + 1e-9)

    def met(self, verdicts: Sequence[str]) -> bool:
        """Whether at most :meth:`allowed` of ``verdicts`` are ``'slower'``."""
        return tally(verdicts)["slower"] <= self.allowed(len(verdicts))

    def text(self, verdicts: Sequence[str], population: str) -> str:
        """The goal, its population and whether it was met, as a sentence's clause."""
        n, slower = len(verdicts), tally(verdicts)["slower"]
        bound = (f"never measurably slower on the {population}" if not self.share else
                 f"measurably slower in at most {self.share:.0%} of the {population} (here "
                 f"{self.allowed(n)} of {n})")
        return (f"the goal fixed before measuring, {bound}, is "
                f"{'met' if self.met(verdicts) else 'not met'}: {slower} of {n} slower")


@dataclass
class Interleaved:
    """Timings of several things measured in rounds: ``times[name]`` and the load per round."""

    times: dict[str, list[float]] = field(default_factory=dict)
    loadavgs: list[float | None] = field(default_factory=list)
    #: Cores' worth of CPU other work took over all rounds (:func:`other_work`).
    other_work: float | None = None

    def compare(self, a: str, b: str, **kw: Any) -> Verdict:
        """:func:`compare` of two of the things, with the recorded load."""
        return compare(self.times[a], self.times[b], loadavgs=self.loadavgs,
                       others=self.other_work, **kw)


def time_interleaved(fns: Mapping[str, Callable[[], Any]], *, repeats: int = 9,
                     warmup: int = 1) -> Interleaved:
    """Time every function once per round, rounds repeated, starting each round one later,
    and record the load: the rounds of :func:`chainorder.timing.interleave`.

    A function that returns a float reports its own seconds (for instance
    the summed product time of a trace, leaving Python bookkeeping out);
    otherwise its wall time is taken (:func:`chainorder.timing.wall`).

    Examples
    --------
    >>> out = time_interleaved({"a": lambda: 1.0, "b": lambda: 2.0}, repeats=3)
    >>> out.times["a"], len(out.loadavgs)
    ([1.0, 1.0, 1.0], 3)
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    if not fns:
        raise ValueError("fns must name at least one function to time")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    out = Interleaved()
    start = cpu_sample()
    out.times = interleave({name: wall(fn, own_seconds=True) for name, fn in fns.items()},
                           rounds=repeats, before_round=lambda _: out.loadavgs.append(loadavg()))
    out.other_work = other_work_since(start)
    return out
