"""The neutral planner: measured factors in, candidate schedules and the one chosen out.

An AD engine (:mod:`chainorder.ad.engine`) cuts a program into a chain of factors and
measures each as an :class:`ADFactor`; nothing here knows which engine did it. The
planner makes the candidate schedules of :mod:`chainorder.algebra.gjc` on those factors
(homogeneous tangent and adjoint mode where every factor allows them, global
preaccumulation, the exact optimum by multiply-adds and the exact optimum by per-direction
time), predicts each one's seconds with a cost model (:mod:`chainorder.ad.costmodel`) and
chooses (:func:`choose`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..algebra.gjc import (
    Factor,
    Schedule,
    homogeneous_adjoint_schedule,
    homogeneous_tangent_schedule,
    optimize_gjc,
    preaccumulation_schedule,
)

__all__ = [
    "ADFactor",
    "AUTO_MARGIN",
    "HOMOGENEOUS",
    "MODES",
    "candidate_schedules",
    "choose",
]

#: The schedules a plan may run, by name; ``'auto'`` picks one of the last four.
MODES = ("auto", "tangent", "adjoint", "preaccumulation", "optimal", "optimal-time")

#: The schedules that are one sweep through everything: the peers' own programs.
HOMOGENEOUS = ("tangent", "adjoint")

#: ``mode='auto'`` takes a mixed schedule only when predicted this fraction faster than the
#: better homogeneous mode: a mixed schedule is a new program, the peers' are known.
AUTO_MARGIN = 0.2


@dataclass(frozen=True)
class ADFactor:
    """One factor of a cut program as an engine measured it; all counts exact ints.

    Attributes
    ----------
    index : int
        Position in the chain (factor 0 is applied first).
    n, m : int
        Input and output widths (flattened state).
    tangent, adjoint : int
        Multiply-adds of one more tangent (adjoint) direction through the factor.
    tape : int
        Scalars an adjoint sweep keeps (residuals).
    primal : int
        Multiply-adds of one evaluation.
    kernels : int
        Operations the engine launches per sweep, whatever the sweep's batch.
    fixed_bytes : int
        Bytes a sweep reads once whatever its batch (weights, primal values).
    direction_bytes : int
        Bytes a sweep moves per direction.
    modes : tuple of str
        Sweeps the factor allows (``custom_vjp``: adjoints only).
    kind : str
        ``'dense'``, ``'diagonal'`` (elementwise: a diagonal Jacobian) or ``'opaque'``.
    itemsize : int
        Bytes per scalar of the factor's state.
    label : str
        What the factor holds, e.g. ``'dot_general'`` or ``'scan(length=20)'``.
    pattern : SparsityPattern, optional
        The Jacobian's sparsity pattern (``m x n``) where known; None: dense.
    """

    index: int
    n: int
    m: int
    tangent: int
    adjoint: int
    tape: int
    primal: int = 0
    kernels: int = 1
    fixed_bytes: int = 0
    direction_bytes: int = 0
    modes: tuple[str, ...] = ("tangent", "adjoint")
    kind: str = "dense"
    itemsize: int = 8
    label: str = ""
    pattern: Any = None

    def factor(self) -> Factor:
        """The factor as :func:`chainorder.algebra.gjc.optimize_gjc` reads it (costs >= 1)."""
        return Factor(self.m, self.n, max(1, self.tangent), max(1, self.adjoint),
                      max(1, self.tape), modes=self.modes, pattern=self.pattern)

    def __repr__(self) -> str:
        only = "" if len(self.modes) == 2 else f", {self.modes[0]}s only"
        what = f" {self.label}" if self.label else ""
        if self.pattern is not None:
            what += f", nnz={self.pattern.nnz:,}"
        return (
            f"<ADFactor F{self.index} {self.kind}{what}: R^{self.n} -> R^{self.m}, "
            f"T={self.tangent:,}, A={self.adjoint:,}, tape={self.tape:,}{only}>"
        )


def _time_weighted(factors: Sequence[ADFactor], cost: Any) -> list[Factor]:
    """The factors with ``T``, ``A`` replaced by their per-direction seconds (in madd units)."""
    rate = getattr(cost, "madd_seconds", 0.0) or 0.0
    per_byte = getattr(cost, "byte_seconds", 0.0) or 0.0
    if rate <= 0 or per_byte <= 0:
        return [f.factor() for f in factors]
    extra = per_byte / rate
    out = []
    for f in factors:
        moved = round(f.direction_bytes * extra)
        g = f.factor()
        out.append(replace(g, tangent_cost=g.tangent_cost + moved,
                           adjoint_cost=g.adjoint_cost + moved))
    return out


def candidate_schedules(
    factors: Sequence[ADFactor], cost: Any = None, memory: int | None = None
) -> dict[str, Schedule]:
    """Every schedule a plan considers, by name, on the factors the DP reads.

    ``'tangent'`` and ``'adjoint'`` (one sweep through everything) appear only where every
    factor allows that sweep; ``'optimal'`` is the exact optimum by multiply-adds and
    ``'optimal-time'`` the exact optimum once each direction is charged its memory traffic
    too (by ``cost``'s rates; it appears only when it differs from ``'optimal'``).

    Examples
    --------
    >>> f = [ADFactor(0, 6, 2, 12, 12, 12), ADFactor(1, 2, 6, 12, 12, 12)]
    >>> {k: s.cost for k, s in candidate_schedules(f).items()}
    {'tangent': 144, 'adjoint': 144, 'preaccumulation': 120, 'optimal': 96}
    """
    gf = [f.factor() for f in factors]
    out: dict[str, Schedule] = {}
    for name, make in (("tangent", homogeneous_tangent_schedule),
                       ("adjoint", homogeneous_adjoint_schedule)):
        if all(f.allows(name) for f in gf):
            out[name] = make(gf)
    out["preaccumulation"] = preaccumulation_schedule(gf, memory)
    out["optimal"] = optimize_gjc(gf, memory)
    if cost is not None:
        timed = optimize_gjc(_time_weighted(factors, cost), memory)
        if timed.ops != out["optimal"].ops:
            out["optimal-time"] = Schedule(gf, timed.ops, memory=memory, order="optimal-time")
    return out


def choose(
    schedules: Mapping[str, Schedule], seconds: Mapping[str, float],
    margin: float = AUTO_MARGIN,
) -> str:
    """The schedule ``'auto'`` runs: the fastest predicted, a mixed one only by ``margin``.

    A mixed schedule whose ops are one sweep is the homogeneous mode itself.

    Examples
    --------
    >>> f = [ADFactor(0, 6, 2, 12, 12, 12), ADFactor(1, 2, 6, 12, 12, 12)]
    >>> s = candidate_schedules(f)
    >>> choose(s, {"tangent": 1.0, "adjoint": 1.1, "preaccumulation": 0.9, "optimal": 0.9})
    'tangent'
    >>> choose(s, {"tangent": 1.0, "adjoint": 1.1, "preaccumulation": 0.5, "optimal": 0.5})
    'optimal'
    """
    homogeneous = [k for k in HOMOGENEOUS if k in schedules]
    mixed = [k for k in ("optimal", "optimal-time") if k in schedules]
    for k in list(mixed):
        for h in homogeneous:
            if schedules[k].ops == schedules[h].ops:
                mixed.remove(k)
                break
    if not homogeneous:  # a factor forbids each homogeneous mode: the optimum it is
        return min(mixed or ["optimal"], key=lambda k: seconds.get(k, math.inf))
    best = min(homogeneous, key=lambda k: seconds[k])
    if mixed:
        fast = min(mixed, key=lambda k: seconds[k])
        if seconds[fast] < (1 - margin) * seconds[best]:
            return fast
    return best
