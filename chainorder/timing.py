"""The timing runner: every measurement chainorder makes times its calls here.

Three loops, one clock (:func:`time.perf_counter` unless a caller passes
another, as the tests pass a fake one):

- :func:`time_calls` times calls of one function back to back: untimed
  warm-up calls first, then at least ``min_calls`` timed ones and more until
  ``seconds`` have passed (at most ``max_calls``). Arguments are made outside
  the timed call (``setup``), and each result is dropped before the next
  call, as a plan run again and again drops its product (so the next result
  may land in the memory just freed). :func:`fastest_call` keeps the best.
- :func:`per_call` times ``number`` calls together, for calls too short to
  time one by one (timeit's way).
- :func:`interleave` runs several *samplers* -- functions returning seconds,
  such as :func:`wall` (one call's wall time) or :func:`fastest` (the fastest
  call of a block) -- in rounds whose orders form a Williams design (each
  sampler goes first as often, and follows each other one as often), so a
  load that comes and goes hits them all alike, and no sampler always runs
  in the caches another one left.

Single spans (a compile, a stage of a report) are timed with :class:`Stopwatch`.
The statistics (intervals, verdicts, the load the machine was under) live in
:mod:`chainorder.lab.verdicts`, which builds on these loops.

Examples
--------
A fake clock that advances one second per reading shows what is timed:

>>> ticks = iter(range(100))
>>> clock = lambda: float(next(ticks))
>>> time_calls(lambda: None, min_calls=3, clock=clock).seconds
[1.0, 1.0, 1.0]
>>> got = interleave({"a": wall(lambda: None, clock=clock),
...                   "b": wall(lambda: None, clock=clock)}, rounds=2)
>>> got
{'a': [1.0, 1.0], 'b': [1.0, 1.0]}
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CLOCK",
    "Calls",
    "time_calls",
    "fastest_call",
    "per_call",
    "wall",
    "fastest",
    "interleave",
    "round_orders",
    "Stopwatch",
]

#: The clock of every measurement: monotonic, the highest resolution the OS has, in seconds.
CLOCK: Callable[[], float] = time.perf_counter

#: A sampler: one sample of seconds per call, or a batch of them (possibly none).
Sampler = Callable[[], float | Sequence[float]]


@dataclass
class Calls:
    """The timed calls of :func:`time_calls`: ``seconds`` of each, in order.

    ``result`` is the last call's result when ``keep=True`` asked for it, else None.
    """

    seconds: list[float]
    result: Any = field(default=None, repr=False)

    @property
    def best(self) -> float:
        """The fastest call's seconds: the one least disturbed by anything else."""
        return min(self.seconds)

    @property
    def median(self) -> float:
        """The median call's seconds."""
        s = sorted(self.seconds)
        mid = len(s) // 2
        return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2

    def __len__(self) -> int:
        return len(self.seconds)


def _check_count(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def time_calls(fn: Callable[..., Any], *args: Any, warmup: int = 0, min_calls: int = 1,
               max_calls: int | None = None, seconds: float = 0.0, slow: float | None = None,
               setup: Callable[[], Sequence[Any]] | None = None, keep: bool = False,
               clock: Callable[[], float] = CLOCK) -> Calls:
    """Time calls of ``fn(*args)`` back to back: the seconds of each.

    Parameters
    ----------
    fn, *args
        The call timed; it must return only once its work is done (for JAX,
        call ``.block_until_ready()`` on the result inside ``fn``).
    warmup : int
        Untimed calls first (a first call may compile, fill a cache or fault
        pages in).
    min_calls : int
        Timed calls made whatever the time.
    max_calls : int, optional
        Timed calls made at most (default: no limit but ``seconds``).
    seconds : float
        Keep calling until this long has passed since the first timed call began.
    slow : float, optional
        A call at least this long ends the loop once ``min_calls`` are made: a
        slow call is timed once rather than repeated for ``seconds``.
    setup : callable, optional
        Called before each call, outside the timed span; its result is the
        call's arguments (then pass no ``args``).
    keep : bool
        Keep the last call's result (:attr:`Calls.result`); each result is then
        held until the next call ends, so leave it False when timing products
        whose memory matters.
    clock : callable
        The clock, :data:`CLOCK` by default.

    Returns
    -------
    Calls
        ``seconds`` of each timed call, ``best``, ``median``.

    Examples
    --------
    >>> calls = time_calls(sum, [1, 2, 3], min_calls=5)
    >>> len(calls), calls.best >= 0
    (5, True)
    """
    _check_count(warmup, "warmup", 0)
    _check_count(min_calls, "min_calls", 1)
    if max_calls is not None and _check_count(max_calls, "max_calls", 1) < min_calls:
        raise ValueError(f"max_calls must be >= min_calls ({min_calls}), got {max_calls}")
    if setup is not None and args:
        raise TypeError("pass the call's arguments as args or make them in setup, not both")
    for _ in range(warmup):
        fn(*(setup() if setup is not None else args))
    times: list[float] = []
    last: Any = None
    end = None
    while True:
        call_args = setup() if setup is not None else args
        t0 = clock()
        out = fn(*call_args)
        t1 = clock()
        if keep:
            last = out
        del out  # dropped before the next call, so it may reuse the memory
        times.append(t1 - t0)
        end = t0 + seconds if end is None else end
        n = len(times)
        if n >= min_calls and (t1 >= end or (max_calls is not None and n >= max_calls)
                               or (slow is not None and t1 - t0 >= slow)):
            return Calls(times, last)


def fastest_call(fn: Callable[..., Any], *args: Any, seconds: float = 0.0,
                 min_calls: int = 3, warmup: int = 0,
                 setup: Callable[[], Sequence[Any]] | None = None,
                 clock: Callable[[], float] = CLOCK) -> float:
    """Seconds of the fastest call of ``fn(*args)`` made within ``seconds`` (at least
    ``min_calls`` calls): :func:`time_calls`' best.

    A time budget rather than a count gives things of equal speed equally many
    calls, so the minimum is equally robust for each on a loaded machine.

    Examples
    --------
    >>> ticks = iter([0.0, 2.0, 2.0, 3.0, 3.0, 5.0])
    >>> fastest_call(lambda: None, clock=lambda: next(ticks))
    1.0
    """
    return time_calls(fn, *args, warmup=warmup, min_calls=min_calls, seconds=seconds,
                      setup=setup, clock=clock).best


def per_call(fn: Callable[..., Any], *args: Any, number: int = 1,
             clock: Callable[[], float] = CLOCK) -> float:
    """Seconds per call of ``number`` calls of ``fn(*args)`` timed together.

    For calls too short to time one by one: the clock's own cost is shared by
    ``number`` calls.

    Examples
    --------
    >>> ticks = iter([0.0, 2.0])
    >>> per_call(lambda: None, number=4, clock=lambda: next(ticks))
    0.5
    """
    _check_count(number, "number", 1)
    if number == 1:
        t0 = clock()
        fn(*args)
        return clock() - t0
    t0 = clock()
    for _ in range(number):
        fn(*args)
    return (clock() - t0) / number


def wall(fn: Callable[..., Any], *args: Any, number: int = 1, own_seconds: bool = False,
         clock: Callable[[], float] = CLOCK) -> Callable[[], float]:
    """A sampler for :func:`interleave`: the wall time of one call of ``fn(*args)``
    (per call of ``number``, timed together).

    ``own_seconds=True``: a call that returns a float reports its own seconds
    (say the summed product time of a trace, leaving Python bookkeeping out),
    used instead of the wall time.
    """
    if own_seconds:
        def sample() -> float:
            t0 = clock()
            got = fn(*args)
            spent = clock() - t0
            return float(got) if isinstance(got, float) else spent
        return sample
    return lambda: per_call(fn, *args, number=number, clock=clock)


def fastest(fn: Callable[..., Any], *args: Any, seconds: float, min_calls: int = 3,
            clock: Callable[[], float] = CLOCK) -> Callable[[], float]:
    """A sampler for :func:`interleave`: the fastest call of ``fn(*args)`` in a block of
    ``seconds`` (at least ``min_calls`` calls, :func:`fastest_call`)."""
    return lambda: fastest_call(fn, *args, seconds=seconds, min_calls=min_calls, clock=clock)


def round_orders(names: Sequence[str]) -> list[list[str]]:
    """The orders of :func:`interleave`'s rounds: a Williams design on ``names``.

    Each name goes first, and follows each other name, equally often across the
    orders: ``k`` orders for ``k`` names when ``k`` is even, ``2k`` (the ``k``
    and their reverses) when it is odd. A plain rotation (``abc``, ``bca``,
    ``cab``) would put ``a`` after ``c`` in every round, so that ``a`` always
    ran in the caches ``c`` left.

    Examples
    --------
    >>> ["".join(o) for o in round_orders("abc")]
    ['abc', 'bca', 'cab', 'cba', 'acb', 'bac']
    >>> ["".join(o) for o in round_orders("abcd")]
    ['abdc', 'bcad', 'cdba', 'dacb']
    """
    k = len(names)
    first, lo, hi = [0], 1, k - 1
    while len(first) < k:
        first.append(lo)
        lo += 1
        if len(first) < k:
            first.append(hi)
            hi -= 1
    rows = [[names[(i + r) % k] for i in first] for r in range(k)]
    if k % 2:
        rows += [row[::-1] for row in rows]
    return rows


def interleave(samplers: Mapping[str, Sampler], *, rounds: int | Callable[[], bool],
               warmup: int = 0, first_round: int = 0,
               before_round: Callable[[int], object] | None = None,
               into: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """Run every sampler once per round, rounds repeated in :func:`round_orders`' orders.

    Parameters
    ----------
    samplers : mapping of str to callable
        Each returns seconds: one sample (a float) or a batch (a sequence,
        possibly empty); :func:`wall` and :func:`fastest` make them.
    rounds : int or callable
        How many rounds; or a function called before each round that says
        whether another is wanted (say until every thing has enough samples).
    warmup : int
        Untimed rounds first (their samples are dropped).
    first_round : int
        Index of the first round: round ``r`` runs in order
        ``round_orders(names)[r % len(orders)]`` (to continue rounds already run).
    before_round : callable, optional
        Called with each round's index before it runs (to record the load).
    into : dict, optional
        Samples already taken, per name, extended in place (else a new dict).

    Returns
    -------
    dict of str to list of float
        The samples of each sampler, in the order taken.

    Examples
    --------
    >>> seen = []
    >>> got = interleave({"a": lambda: seen.append("a") or 1.0,
    ...                   "b": lambda: seen.append("b") or 2.0}, rounds=3)
    >>> seen, got["b"]
    (['a', 'b', 'b', 'a', 'a', 'b'], [2.0, 2.0, 2.0])
    """
    names = list(samplers)
    if not names:
        raise ValueError("samplers must name at least one thing to time")
    if not callable(rounds):
        _check_count(rounds, "rounds", 0)
    _check_count(warmup, "warmup", 0)
    for _ in range(warmup):
        for name in names:
            samplers[name]()
    out = into if into is not None else {}
    for name in names:
        out.setdefault(name, [])
    orders = round_orders(names)
    r = first_round
    while rounds() if callable(rounds) else r - first_round < rounds:
        if before_round is not None:
            before_round(r)
        for name in orders[r % len(orders)]:
            got = samplers[name]()
            if isinstance(got, (int, float)):
                out[name].append(float(got))
            else:
                out[name].extend(float(x) for x in got)
        r += 1
    return out


class Stopwatch:
    """The seconds a ``with`` block took (:attr:`seconds`, set when it ends).

    Examples
    --------
    >>> ticks = iter([1.0, 3.5])
    >>> with Stopwatch(clock=lambda: next(ticks)) as sw:
    ...     pass
    >>> sw.seconds
    2.5
    """

    def __init__(self, clock: Callable[[], float] = CLOCK) -> None:
        self._clock = clock
        self._start: float | None = None
        self._done = False
        #: Seconds the block took (0.0 until it ends).
        self.seconds = 0.0

    def __enter__(self) -> Stopwatch:
        self._start = self._clock()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds, self._done = self.elapsed(), True

    def elapsed(self) -> float:
        """Seconds since the block began (while it runs)."""
        if self._start is None:
            raise RuntimeError("the stopwatch has not started: use it in a 'with' block")
        return self._clock() - self._start

    def __repr__(self) -> str:
        if not self._done:
            return "<Stopwatch running>" if self._start is not None else "<Stopwatch>"
        return f"<Stopwatch {self.seconds:.4g} s>"
