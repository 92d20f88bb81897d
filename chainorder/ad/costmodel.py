"""What a schedule costs to run: multiply-adds, or seconds on a machine (a calibrated model).

Two cost models share one small protocol, so a user can pass their own as ``cost=``:

``op_seconds(op, factors)``        predicted cost of one :class:`chainorder.algebra.gjc.Op`
``schedule_seconds(s, factors)``   the whole schedule: one call plus its ops

:class:`MultiplyAdds` counts (its "seconds" are multiply-adds). :class:`TimeModel` is a
linear model of what an engine's compiled program spends its time on, per op::

    t(op) = kernel_seconds * kernels         # a fixed cost per operation launched
          + madd_seconds   * multiply_adds   # arithmetic
          + byte_seconds   * bytes           # memory traffic: operands read once per op
                                             # (weights) plus the state per direction
    t(schedule) = call_seconds + sum of t(op)

For a sweep of ``B`` directions through factors ``a..b`` the features are
``sum kernels_i``, ``B * sum T_i + sum primal_i`` (``A_i`` for adjoints) and
``sum fixed_bytes_i + B * sum direction_bytes_i``; for a product ``m x k @ k x n`` they are
one kernel, ``m k n`` and ``itemsize * (mk + kn + mn)``. The coefficients are calibrated
per machine by the engine (:func:`chainorder.ad.jax_engine.calibrate`) and cached as JSON
in the time models' cache directory (:func:`chainorder.algebra.timemodel.cache_dir`), one
file per fingerprint (for JAX: CPU, cores, jax and jaxlib versions, device kind and
count, ``XLA_FLAGS``, chainorder's version and :data:`MODEL_VERSION`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..algebra.gjc import Op, Schedule
from ..algebra.timemodel import cache_dir, fingerprint_key, write_atomic
from .planner import ADFactor

__all__ = [
    "MODEL_VERSION",
    "CostModel",
    "MultiplyAdds",
    "TimeModel",
    "op_features",
    "time_model_path",
]

#: The form of :class:`TimeModel`; bump it when its features change (cached models go stale).
MODEL_VERSION = 1

_COEFFICIENTS = ("call_seconds", "kernel_seconds", "madd_seconds", "byte_seconds")


class CostModel(Protocol):
    """What a planner asks of a cost model."""

    def op_seconds(self, op: Op, factors: Sequence[ADFactor]) -> float: ...

    def schedule_seconds(self, schedule: Schedule, factors: Sequence[ADFactor]) -> float: ...


def op_features(op: Op, factors: Sequence[ADFactor]) -> tuple[int, int, int]:
    """``(kernels, multiply_adds, bytes)`` of one op on the measured factors.

    Examples
    --------
    >>> from chainorder.algebra.gjc import Op
    >>> f = [ADFactor(0, 4, 3, 12, 12, 12, kernels=2, fixed_bytes=96, direction_bytes=56)]
    >>> op_features(Op("accumulate", "tangent", 0, 0, None, 4, 48, 0), f)
    (2, 48, 320)
    """
    if op.swept is None:
        s = op.split
        assert s is not None
        m, k, n = factors[op.last].m, factors[s].m, factors[op.first].n
        return 1, m * k * n, factors[op.first].itemsize * (m * k + k * n + m * n)
    a, b = op.swept
    part = factors[a : b + 1]
    per = sum(f.tangent if op.mode == "tangent" else f.adjoint for f in part)
    madds = op.evaluations * per + sum(f.primal for f in part)
    moved = sum(f.fixed_bytes for f in part) + op.evaluations * sum(
        f.direction_bytes for f in part)
    return sum(f.kernels for f in part), madds, moved


class MultiplyAdds:
    """The counting model: an op costs its multiply-adds (``Op.cost``), a call nothing.

    Examples
    --------
    >>> MultiplyAdds()
    <MultiplyAdds>
    """

    madd_seconds = 1.0
    byte_seconds = 0.0
    call_seconds = 0.0

    def op_seconds(self, op: Op, factors: Sequence[ADFactor]) -> float:
        return float(op.cost)

    def schedule_seconds(self, schedule: Schedule, factors: Sequence[ADFactor]) -> float:
        return float(schedule.cost)

    def __repr__(self) -> str:
        return "<MultiplyAdds>"


@dataclass(frozen=True)
class TimeModel:
    """A machine's seconds per call, per kernel, per multiply-add and per byte (see module).

    Attributes
    ----------
    call_seconds, kernel_seconds, madd_seconds, byte_seconds : float
        The coefficients, each >= 0.
    fingerprint : dict
        What the model holds for (machine, engine and versions); empty for a default.
    errors : dict
        Relative errors of the fit on its calibration programs (median, max).

    Examples
    --------
    >>> m = TimeModel(1e-5, 1e-6, 1e-10, 1e-10)
    >>> f = [ADFactor(0, 1000, 10, 10_000, 10_000, 10_000, kernels=2)]
    >>> from chainorder.algebra.gjc import homogeneous_tangent_schedule
    >>> round(m.schedule_seconds(homogeneous_tangent_schedule([f[0].factor()]), f), 6)
    0.001012
    """

    call_seconds: float
    kernel_seconds: float
    madd_seconds: float
    byte_seconds: float
    fingerprint: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in _COEFFICIENTS:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")

    def op_seconds(self, op: Op, factors: Sequence[ADFactor]) -> float:
        kernels, madds, moved = op_features(op, factors)
        return (self.kernel_seconds * kernels + self.madd_seconds * madds
                + self.byte_seconds * moved)

    def schedule_seconds(self, schedule: Schedule, factors: Sequence[ADFactor]) -> float:
        return self.call_seconds + sum(self.op_seconds(op, factors) for op in schedule.ops)

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in _COEFFICIENTS},
                "fingerprint": self.fingerprint, "errors": self.errors,
                "model_version": MODEL_VERSION}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> TimeModel:
        if not isinstance(doc, Mapping) or any(k not in doc for k in _COEFFICIENTS):
            raise ValueError(f"a time model needs the keys {', '.join(_COEFFICIENTS)}")
        call, kernel, madd, byte = (float(doc[k]) for k in _COEFFICIENTS)
        return cls(call, kernel, madd, byte, fingerprint=dict(doc.get("fingerprint", {})),
                   errors=dict(doc.get("errors", {})))

    def save(self, path: str | Path) -> Path:
        return write_atomic(path, json.dumps(self.to_dict(), indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> TimeModel:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: not a time model chainorder can read ({exc})") from None

    def __repr__(self) -> str:
        where = "calibrated" if self.fingerprint else "default"
        return (
            f"<TimeModel {where}: call {self.call_seconds * 1e6:.3g} us, kernel "
            f"{self.kernel_seconds * 1e6:.3g} us, {1e-9 / max(self.madd_seconds, 1e-30):.3g} "
            f"G madd/s, {1e-9 / max(self.byte_seconds, 1e-30):.3g} GB/s>"
        )


def time_model_path(fingerprint: Mapping[str, Any], engine: str,
                    directory: str | Path | None = None) -> Path:
    """The cache file of an engine's time model for ``fingerprint``."""
    fp = {**fingerprint, "model_version": MODEL_VERSION}
    return Path(directory or cache_dir()) / f"{engine}-timemodel-{fingerprint_key(fp)}.json"
