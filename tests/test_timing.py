"""The timing runner: what it calls, in what order, and what it keeps, under a fake clock.

Every test here counts calls or reads a fake clock; none asserts on a wall time.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator

import pytest

from chainorder.timing import (
    Calls,
    Stopwatch,
    fastest,
    fastest_call,
    interleave,
    per_call,
    round_orders,
    time_calls,
    wall,
)


class FakeClock:
    """A clock that only moves when a call spends time: ``spend(s)`` advances it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    def spend(self, seconds: float) -> None:
        self.now += seconds


def _costs(clock: FakeClock, seconds: list[float]) -> Callable[[], None]:
    """A function whose n-th call takes ``seconds[n]`` on ``clock`` (the last one repeats)."""
    it: Iterator[float] = iter(seconds)
    last = [seconds[-1]]

    def call() -> None:
        last[0] = next(it, last[0])
        clock.spend(last[0])
    return call


def test_time_calls_times_each_call_after_untimed_warmups() -> None:
    clock = FakeClock()
    fn = _costs(clock, [9.0, 9.0, 3.0, 1.0, 2.0])
    got = time_calls(fn, warmup=2, min_calls=3, clock=clock)
    assert got.seconds == [3.0, 1.0, 2.0]  # the two 9 s warm-ups are not timed
    assert (got.best, got.median, len(got)) == (1.0, 2.0, 3)


def test_time_calls_keeps_calling_until_the_budget_is_spent() -> None:
    clock = FakeClock()
    got = time_calls(_costs(clock, [1.0]), min_calls=1, seconds=4.5, clock=clock)
    assert got.seconds == [1.0] * 5  # the fifth call ends past 4.5 s after the first began


def test_time_calls_stops_at_max_calls_and_after_a_slow_call() -> None:
    clock = FakeClock()
    assert len(time_calls(_costs(clock, [1.0]), seconds=100, max_calls=7, clock=clock)) == 7
    slow = time_calls(_costs(clock, [0.5, 0.05, 0.3, 0.05]), seconds=100, slow=0.2,
                      min_calls=1, clock=clock)
    assert slow.seconds == [0.5]  # a call of 0.2 s or more is not repeated
    exact = FakeClock()  # binary fractions: no rounding in the clock's sums
    slow = time_calls(_costs(exact, [0.125, 0.125, 0.5, 0.125]), seconds=100, slow=0.25,
                      clock=exact)
    assert slow.seconds == [0.125, 0.125, 0.5]
    # min_calls wins over the budget and the slow rule
    assert len(time_calls(_costs(clock, [5.0]), min_calls=4, slow=1.0, clock=clock)) == 4


def test_setup_runs_outside_the_timed_call_and_gives_its_arguments() -> None:
    clock = FakeClock()
    seen = []

    def setup() -> tuple[int]:
        clock.spend(100.0)  # expensive, and not timed
        return (len(seen),)

    def fn(k: int) -> None:
        seen.append(k)
        clock.spend(1.0)

    got = time_calls(fn, setup=setup, warmup=1, min_calls=3, clock=clock)
    assert got.seconds == [1.0, 1.0, 1.0] and seen == [0, 1, 2, 3]
    with pytest.raises(TypeError, match="not both"):
        time_calls(fn, 1, setup=setup)


def test_each_result_is_dropped_before_the_next_call() -> None:
    class Product:
        pass

    alive: list[weakref.ref[Product]] = []
    held_during_call = []

    def fn() -> Product:
        gc.collect()
        held_during_call.append(sum(r() is not None for r in alive))
        out = Product()
        alive.append(weakref.ref(out))
        return out

    got = time_calls(fn, warmup=1, min_calls=4)
    assert held_during_call == [0] * 5 and got.result is None
    kept = time_calls(fn, min_calls=2, keep=True)
    assert isinstance(kept.result, Product)


@pytest.mark.parametrize(("kw", "match"), [
    ({"min_calls": 0}, "min_calls must be an integer >= 1, got 0"),
    ({"warmup": -1}, "warmup must be an integer >= 0"),
    ({"min_calls": 5, "max_calls": 2}, r"max_calls must be >= min_calls \(5\), got 2"),
    ({"min_calls": True}, "min_calls must be an integer"),
])
def test_time_calls_names_a_bad_argument(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        time_calls(lambda: None, **kw)


def test_fastest_call_is_the_best_within_the_block() -> None:
    clock = FakeClock()
    assert fastest_call(_costs(clock, [3.0, 1.0, 2.0]), clock=clock) == 1.0  # three calls
    assert fastest_call(_costs(clock, [3.0, 2.0, 2.0, 0.5, 9.0]), seconds=8.0,
                        clock=clock) == 0.5


def test_per_call_shares_one_reading_of_the_clock_between_calls() -> None:
    clock = FakeClock()
    calls = []
    got = per_call(lambda x: (calls.append(x), clock.spend(2.0)), "a", number=5, clock=clock)
    assert got == 2.0 and calls == ["a"] * 5 and clock.reads == 2


def test_interleave_rotates_who_goes_first_and_who_follows_whom() -> None:
    seen: list[str] = []
    samplers = {n: (lambda n=n: seen.append(n) or 1.0) for n in "abc"}
    got = interleave(samplers, rounds=7)
    assert "".join(seen) == "abc" "bca" "cab" "cba" "acb" "bac" "abc"
    assert got == {"a": [1.0] * 7, "b": [1.0] * 7, "c": [1.0] * 7}


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 7])
def test_round_orders_are_a_williams_design(k: int) -> None:
    from collections import Counter

    names = [chr(ord("a") + i) for i in range(k)]
    orders = round_orders(names)
    assert all(sorted(o) == names for o in orders)
    assert len(orders) == (k if k % 2 == 0 else 2 * k)
    assert len(set(Counter(o[0] for o in orders).values())) == 1
    follows = Counter((a, b) for o in orders for a, b in zip(o[:-1], o[1:], strict=True))
    assert len(follows) == k * (k - 1) and len(set(follows.values())) <= 1


def test_interleave_warms_up_and_records_each_round() -> None:
    seen: list[str] = []
    rounds: list[int] = []
    samplers = {n: (lambda n=n: seen.append(n) or 2.0) for n in "ab"}
    got = interleave(samplers, rounds=2, warmup=1, before_round=rounds.append)
    assert "".join(seen) == "ab" "ab" "ba" and rounds == [0, 1] and got["a"] == [2.0, 2.0]


def test_interleave_takes_batches_until_told_to_stop_and_extends_given_samples() -> None:
    have = {"a": [9.0], "b": [9.0]}

    def batch(name: str, size: int) -> Callable[[], list[float]]:
        return lambda: [1.0] * (size if len(have[name]) < 5 else 0)

    got = interleave({"a": batch("a", 2), "b": batch("b", 3)}, into=have, first_round=1,
                     rounds=lambda: any(len(t) < 5 for t in have.values()))
    assert got is have
    assert have == {"a": [9.0, 1.0, 1.0, 1.0, 1.0], "b": [9.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]}


def test_interleave_refuses_nothing_to_time() -> None:
    with pytest.raises(ValueError, match="at least one"):
        interleave({}, rounds=1)
    with pytest.raises(ValueError, match="rounds must be an integer >= 0"):
        interleave({"a": lambda: 1.0}, rounds=-1)


def test_samplers_time_one_call_or_the_fastest_of_a_block() -> None:
    clock = FakeClock()
    assert wall(_costs(clock, [4.0]), clock=clock)() == 4.0
    assert wall(_costs(clock, [4.0]), number=2, clock=clock)() == 4.0
    # a call that reports its own seconds (a trace's products) is believed
    own = wall(lambda: (clock.spend(5.0), 0.25)[1], own_seconds=True, clock=clock)
    assert own() == 0.25
    assert wall(lambda: clock.spend(5.0), own_seconds=True, clock=clock)() == 5.0
    assert fastest(_costs(clock, [3.0, 1.0, 2.0]), seconds=0.0, clock=clock)() == 1.0


def test_stopwatch_times_a_block() -> None:
    clock = FakeClock()
    with Stopwatch(clock=clock) as sw:
        clock.spend(1.5)
        assert sw.elapsed() == 1.5 and repr(sw) == "<Stopwatch running>"
        clock.spend(1.0)
    assert sw.seconds == 2.5 and repr(sw) == "<Stopwatch 2.5 s>"
    with pytest.raises(RuntimeError, match="'with' block"):
        Stopwatch().elapsed()


def test_calls_print_their_seconds() -> None:
    assert repr(Calls([1.0, 2.0])) == "Calls(seconds=[1.0, 2.0])"
