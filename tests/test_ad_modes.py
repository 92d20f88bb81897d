"""Factors that allow one sweep only: the optimizer against a brute force that honours modes."""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import pytest

from chainorder.algebra.gjc import (
    Factor,
    Schedule,
    homogeneous_adjoint_schedule,
    homogeneous_tangent_schedule,
    optimize_gjc,
    preaccumulation_schedule,
)

MODE_SETS = [("tangent", "adjoint"), ("tangent",), ("adjoint",)]


def _sweep(f: list[Factor], mode: str, a: int, b: int, memory: int | None) -> int | None:
    """Cost of ``mode`` sweeps through factors ``a..b`` per direction, None if not allowed."""
    part = f[a : b + 1]
    if not all(mode in x.modes for x in part):
        return None
    if mode == "adjoint" and memory is not None and sum(x.tape for x in part) > memory:
        return None
    return sum(x.tangent_cost if mode == "tangent" else x.adjoint_cost for x in part)


def least_cost(f: list[Factor], memory: int | None) -> int | None:
    """The least cost of any tree of ops (written from the op definitions), None if none."""

    @cache
    def best(i: int, j: int) -> float:
        out = [float("inf")]
        t, a = _sweep(f, "tangent", i, j, memory), _sweep(f, "adjoint", i, j, memory)
        out += [f[i].n * t] if t is not None else []
        out += [f[j].m * a] if a is not None else []
        for k in range(i, j):
            out.append(best(i, k) + best(k + 1, j) + f[j].m * f[k].m * f[i].n)
            t, a = _sweep(f, "tangent", k + 1, j, memory), _sweep(f, "adjoint", i, k, memory)
            out += [best(i, k) + f[i].n * t] if t is not None else []
            out += [best(k + 1, j) + f[j].m * a] if a is not None else []
        return min(out)

    c = best(0, len(f) - 1)
    return None if c == float("inf") else int(c)


def _chain(rng: np.random.Generator, q: int) -> list[Factor]:
    widths = rng.integers(1, 7, size=q + 1).tolist()
    out = []
    for i in range(q):
        t, a, e = rng.integers(1, 40, size=3).tolist()
        modes = MODE_SETS[int(rng.choice(3, p=[0.5, 0.25, 0.25]))]
        out.append(Factor(widths[i + 1], widths[i], t, a, e, modes=modes))
    return out


def _respects_modes(s: Schedule) -> bool:
    for op in s.ops:
        if op.swept is not None:
            a, b = op.swept
            if not all(op.mode in x.modes for x in s.factors[a : b + 1]):
                return False
    return True


@pytest.mark.parametrize("method", ["python", "numpy"])
def test_optimizer_matches_brute_force_with_modes(method: str) -> None:
    rng = np.random.default_rng(20261129)
    for trial in range(400):
        f = _chain(rng, 1 + trial % 6)
        tapes = sorted({sum(x.tape for x in f[a:b]) for a, b in itertools.combinations(
            range(len(f) + 1), 2)})
        for memory in [None, *tapes[:: max(1, len(tapes) // 4)]]:
            want = least_cost(f, memory)
            if want is None:
                with pytest.raises(ValueError, match="allows adjoints only"):
                    optimize_gjc(f, memory, method=method)
                continue
            s = optimize_gjc(f, memory, method=method)
            assert s.cost == want, (f, memory)
            assert _respects_modes(s)
            Schedule(f, s.ops, memory=memory)  # the checker accepts it


def test_a_forbidden_sweep_is_refused_by_the_schedule_checker() -> None:
    f = [Factor(4, 4, 1, 1, 1), Factor(4, 4, 1, 1, 1, modes=("adjoint",))]
    with pytest.raises(ValueError, match="runs tangents through F1, which allows only"):
        Schedule(f, [("accumulate", "tangent", 0, 1, None)])
    with pytest.raises(ValueError, match=r"factors\[1\] allows only \('adjoint',\)"):
        homogeneous_tangent_schedule(f)
    assert homogeneous_adjoint_schedule(f).cost == 8
    pre = preaccumulation_schedule(f)
    assert [op.mode for op in pre.ops[:2]] == ["tangent", "adjoint"]


def test_modes_print_round_trip_and_are_checked() -> None:
    f = Factor(2, 3, 4, 5, 6, modes=["adjoint"])
    assert f.modes == ("adjoint",) and not f.allows("tangent")
    assert repr(f).endswith("modes=('adjoint',))")
    s = optimize_gjc([f, Factor(3, 2, 1, 1, 1)])
    doc = s.to_dict()
    assert doc["factors"][0]["modes"] == ["adjoint"] and "modes" not in doc["factors"][1]
    assert Schedule.from_dict(doc) == s
    for bad in ([], ("sideways",), 3):
        with pytest.raises(ValueError, match="modes must be a non-empty subset"):
            Factor(1, 1, 1, 1, 1, modes=bad)
