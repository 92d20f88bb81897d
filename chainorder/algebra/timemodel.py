"""A machine's time model: predicted seconds of each product step by shape class, cached.

A step multiplies a ``p x q`` by a ``q x r`` float64 matrix. Its *shape class*
says which kind of kernel BLAS runs:

============  ================================  =====================================
class         shape                             what limits it
============  ================================  =====================================
``dot``       ``1 x q @ q x 1``                 memory bandwidth, per-call overhead
``vecmat``    ``1 x q @ q x r``                 memory bandwidth (the loss-first step)
``matvec``    ``p x q @ q x 1``                 memory bandwidth
``outer``     ``p x 1 @ 1 x r``                 writing the ``p x r`` result
``small``     matrix-matrix, ``pqr <= 4096``    per-call overhead
``matmat``    every other product               compute rate (the roof)
============  ================================  =====================================

The predicted time of a step is a per-class non-negative linear model in
features a roofline reasons with::

    t = c_call + c_cold_call * cold              # per-call overhead; more if cold
      + c_flops * 2pqr                           # compute, 1 / rate of the class
      + c_hot * hot_bytes + c_cold * cold_bytes  # operands read (8pq + 8qr in all)
      + c_out * bytes_out                        # the result written (8pr)
      + sum_K c_K * max(bytes_in - K, 0)         # slower past each cache knot K
      + sum_J c_J * max(bytes_out - J, 0)        # slower writes past each result knot J

(knots ``K`` = 2 MiB, 16 MiB, 64 MiB; ``J`` = 128 KiB, where a result may be
freshly mapped memory paged in on first touch, 2 MiB, past the level-2
cache, and 32 MiB, past which glibc maps every result afresh). An operand is *cold* when it is one
of the chain's own matrices (not a product made by the step before) and the
chain's matrices together pass :data:`COLD_CHAIN_BYTES`: a plan run again
and again then finds its matrices evicted from the nearest cache, while the
intermediates it has just made are still there. So a step's time depends on
its dims, on whether each operand is a matrix of the chain (``k - i == 1``,
``j - k == 1``) and on the chain's size -- all known to the dynamic program,
which stays exact for the model. Non-negative coefficients make time grow
with work and with the working set.

The coefficients come from measurements (``chainorder calibrate``,
:mod:`chainorder.lab.calibrate`) fitted to relative error: per class for the
call, compute and in-cache reads, and jointly for memory traffic, with one
coefficient for all classes for each of the bytes read past the cache (cold
bytes, bytes past each knot) and the bytes written (the result, past each
result knot): a matrix streamed from memory or a result written to it costs
the same whichever kernel moves it, and per-class fits of a few noisy points
made the time-optimal plan chase differences that were not there. The
product timed is the executor's own (``np.dot``), whose BLAS calls differ
from ``np.matmul``'s on some shapes. The
model also keeps the roofline's measured facts -- the best rate achieved by
matrix-matrix products (the roof), the best bandwidth, the per-call overhead
-- each as best, median and spread. A plan's predicted time is the sum of
its steps' times.

What the model does not capture:

- threading: a model holds for the BLAS thread count it was calibrated
  with; how a step speeds up with threads is whatever the calibration saw,
  not modelled, and two-thread timings on a two-core machine suffer most
  from other processes;
- NUMA placement, frequency scaling and turbo (calibration and use may run
  at different clocks);
- other processes on the machine: calibrate on a quiet machine; the load
  average is recorded with the model, and a loaded calibration is slower
  and noisier everywhere;
- caches beyond the fixed knots and the cold rule: an operand is either in
  cache or not, by the chain's total size; partial residency, a cache
  shared between cores, TLB reach and prefetching are folded into the
  fitted coefficients;
- memory allocation beyond the fault term, non-float64 dtypes,
  non-contiguous operands, and Python overhead outside the timed product.

Models are cached as JSON under ``$CHAINORDER_CACHE_DIR``, else
``$XDG_CACHE_HOME/chainorder``, else ``~/.cache/chainorder``, one file per
machine fingerprint (CPU, cores, numpy, BLAS library, version, threading
layer and thread count) and software version (chainorder's version and
:data:`MODEL_VERSION`, the version of the model's form): a model cached by
another chainorder or for another model form is never reused -- it may
describe multiplication code or features that are no longer those run and
predicted, and would go stale silently. A cached file that cannot be read
(truncated, not JSON, the wrong keys or types, coefficients that are not
finite numbers >= 0) or that another version wrote is named in a
:class:`CacheWarning` and treated as absent: ``chainorder calibrate``
replaces it. Files are written atomically (a temporary file in the same
directory, then :func:`os.replace`), so two calibrations at once leave one
whole model. With no usable model, :func:`load_model` raises
:class:`NotCalibratedError` naming the file looked for and the command
that makes it: a silent quick calibration would spend seconds and give
noisy answers nobody asked for.

Planning reads no file and probes no machine: a plan is priced by the model
passed as ``cost=model`` or put in force with :func:`use_machine`, and
``cost='time'``, the ``'time_optimal'`` order and ``Plan.predicted_seconds``
without one say how to get one. Load it where you choose to::

    from chainorder.algebra.timemodel import load_model, use_machine
    use_machine(load_model())   # this machine's cached model, from now on
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import math
import numbers
import os
import platform
import shlex
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..hardware import cpu_model, logical_cores, numpy_blas
from ..validation import check_real
from ..version import __version__
from .costmodels import DENSE, ChainShape, CostModel
from .dp import dp_steps_by

__all__ = [
    "SHAPE_CLASSES",
    "FEATURES",
    "MODEL_VERSION",
    "TimeModel",
    "NotCalibratedError",
    "CacheWarning",
    "shape_class",
    "shape_classes",
    "step_features",
    "chain_bytes",
    "machine_fingerprint",
    "fingerprint_key",
    "cache_dir",
    "cache_path",
    "check_cache_dir",
    "write_atomic",
    "cached_model",
    "load_model",
    "version_mismatch",
    "stale_models",
    "active_model",
    "use_machine",
]

#: Shape classes of a product step, in the order of the table above.
SHAPE_CLASSES: tuple[str, ...] = ("dot", "vecmat", "matvec", "outer", "small", "matmat")
#: Matrix-matrix products with ``p*q*r`` up to this are ``small``.
SMALL_MULTIPLICATIONS = 4096
#: Bytes of float64.
ITEMSIZE = 8
#: Working-set knots (bytes of the operands) past which each byte may cost more.
IN_KNOTS: tuple[int, ...] = (2**21, 2**24, 2**26)
#: Result sizes (bytes) past which each byte written costs more: past 128 KiB a result may be
#: freshly mapped memory whose pages fault in on first touch; past 32 MiB (glibc's largest
#: dynamic mmap threshold) it always is, on every call.
OUT_KNOTS: tuple[int, ...] = (2**17, 2**21, 2**25)
#: A chain whose matrices pass this many bytes finds them out of cache on each run.
COLD_CHAIN_BYTES = 2**21
#: Names of the model's features, the columns of :func:`step_features`.
FEATURES: tuple[str, ...] = (
    "call", "cold_call", "flops", "bytes_hot", "bytes_cold", "bytes_out",
    *(f"bytes_in_over_{k >> 20}MiB" for k in IN_KNOTS),
    *(f"bytes_out_over_{k >> 10}KiB" for k in OUT_KNOTS),
)
#: Version of the JSON layout written by :meth:`TimeModel.save`.
FORMAT = "chainorder-timemodel/1"
#: Version of the model's form: its features, shape classes, cold rule and calibration.
#: Bump it whenever one of these changes, so models cached by the old form are not reused.
MODEL_VERSION = 3
#: Keys of a fingerprint that name the software, not the machine.
VERSION_KEYS: tuple[str, ...] = ("chainorder", "model_version")


class NotCalibratedError(LookupError, ValueError):
    """No time model at hand: none cached for this machine and BLAS thread count
    (:func:`load_model`), or none passed or in force where planning needs one
    (:func:`active_model`).

    A ``ValueError`` too, so code that skips orders declining a chain
    (``except ValueError``) skips ``'time_optimal'`` on an uncalibrated machine.
    """


class CacheWarning(UserWarning):
    """A cached time model could not be used (unreadable, malformed, or another version's)
    and is ignored as if absent; ``chainorder calibrate`` replaces it."""


def shape_class(p: int, q: int, r: int) -> str:
    """The shape class of a ``p x q`` by ``q x r`` product (see the module docstring).

    Examples
    --------
    >>> shape_class(1, 100, 1000), shape_class(100, 100, 1), shape_class(64, 64, 64)
    ('vecmat', 'matvec', 'matmat')
    """
    return SHAPE_CLASSES[int(shape_classes(np.array([p]), np.array([q]), np.array([r]))[0])]


def shape_classes(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Index into :data:`SHAPE_CLASSES` of every product, elementwise (arrays broadcast)."""
    p, q, r = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (p, q, r)))
    out = np.full(p.shape, SHAPE_CLASSES.index("matmat"), dtype=np.int64)
    out[p * q * r <= SMALL_MULTIPLICATIONS] = SHAPE_CLASSES.index("small")
    out[q == 1] = SHAPE_CLASSES.index("outer")
    out[r == 1] = SHAPE_CLASSES.index("matvec")
    out[p == 1] = SHAPE_CLASSES.index("vecmat")
    out[(p == 1) & (r == 1)] = SHAPE_CLASSES.index("dot")
    return out


def step_features(p: Any, q: Any, r: Any, cold_left: Any = False,
                  cold_right: Any = False) -> np.ndarray:
    """The model's features (:data:`FEATURES`) of products ``p x q @ q x r``, shape ``(..., 12)``.

    ``cold_left`` / ``cold_right``: the operand is out of cache (see the
    module docstring). Dims are taken as floats: features are magnitudes for
    a time estimate, not exact counts (those are :mod:`~chainorder.algebra.costs`).

    Examples
    --------
    >>> step_features(10, 100, 5)[:6].tolist()   # call, cold call, FLOPs, hot, cold, out bytes
    [1.0, 0.0, 10000.0, 12000.0, 0.0, 400.0]
    >>> step_features(10, 100, 5, cold_right=True)[:6].tolist()
    [1.0, 1.0, 10000.0, 8000.0, 4000.0, 400.0]
    """
    p, q, r, cl, cr = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64)
                                            for x in (p, q, r, cold_left, cold_right)))
    left, right = ITEMSIZE * p * q, ITEMSIZE * q * r
    b_in, cold = left + right, left * cl + right * cr
    b_out = ITEMSIZE * p * r
    cols = [np.ones_like(p), np.maximum(cl, cr), 2.0 * p * q * r, b_in - cold, cold, b_out]
    cols += [np.maximum(b_in - k, 0.0) for k in IN_KNOTS]
    cols += [np.maximum(b_out - k, 0.0) for k in OUT_KNOTS]
    return np.stack(cols, axis=-1)


def chain_bytes(dims: Sequence[int]) -> int:
    """Bytes of a float64 chain's matrices: ``8 * sum p(i-1) p(i)``.

    Examples
    --------
    >>> chain_bytes([1, 10, 100])
    8080
    """
    return ITEMSIZE * sum(int(a) * int(b) for a, b in zip(dims[:-1], dims[1:], strict=True))


#: Longest chain the time model's optimizer plans: its DP evaluates the model on every
#: (i, k, j), about 2 s for 500 matrices and 17 s for 1000.
TIME_DP_MAX_MATRICES = 1000


@dataclass
class TimeModel(CostModel):
    """Predicted seconds of product steps on one machine, fitted from its measurements.

    A cost model too (``cost=model``, or ``cost='time'`` for the model put in
    force with :func:`use_machine`): it prices a step by its predicted seconds and selects the
    least-time bracketing unless the fewest-multiplications one is predicted
    within :attr:`margin` of it (:meth:`optimal_steps`). Its plans' ``cost``
    stays their count of scalar multiplications; their seconds are
    ``plan.predicted_seconds``.

    Attributes
    ----------
    coefficients : dict of str to list of float
        Per shape class, one coefficient per feature of :data:`FEATURES`
        (seconds per call, per FLOP, per byte, ...), all >= 0.
    fingerprint : dict
        The machine and BLAS the model was measured on (:func:`machine_fingerprint`).
    summary : dict
        The roofline's measured facts: ``peak_gflops`` (best rate of a
        matrix-matrix product: the roof), ``bandwidth_gbs`` (best bytes/s of
        a bandwidth-bound class), ``overhead_seconds`` and per-class
        ``rates``, each ``{'best', 'median', 'spread'}``.
    fit : dict
        Per class: points measured and the median and largest relative error
        of the fit on them.
    meta : dict
        ``created``, ``seconds`` (calibration time), ``quick``, ``loadavg``, ...
    selection_margin : float or None
        The margin :meth:`optimal_steps` selects with, set by
        :meth:`with_margin` (None: the measured :attr:`margin`).

    Examples
    --------
    >>> m = TimeModel.from_rates(peak_gflops=50, bandwidth_gbs=20, overhead_seconds=1e-6)
    >>> round(m.step_seconds(1000, 1000, 1000) * 1e3, 1)  # ms: 2 GFLOP at 50 GFLOP/s + 24 MB
    41.2
    >>> m.shape_class(1, 1000, 1000), round(m.step_seconds(1, 1000, 1000) * 1e6)  # us
    ('vecmat', 442)
    """

    coefficients: dict[str, list[float]]
    fingerprint: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    selection_margin: float | None = None

    name: ClassVar[str] = "time"
    shorthand: ClassVar[str | None] = "time"
    optimum: ClassVar[str] = "time_optimal"
    unit: ClassVar[str] = "seconds"

    def __post_init__(self) -> None:
        missing = [c for c in SHAPE_CLASSES if c not in self.coefficients]
        if missing:
            raise ValueError(f"coefficients lack shape classes {missing}; need all of "
                             f"{list(SHAPE_CLASSES)}")
        rows = [self.coefficients[c] for c in SHAPE_CLASSES]
        if any(len(row) != len(FEATURES) or not all(_is_number(x) and x >= 0 for x in row)
               for row in rows):
            raise ValueError(f"coefficients must be {len(FEATURES)} finite numbers >= 0 per "
                             f"class ({', '.join(FEATURES)})")
        table = np.array(rows, dtype=np.float64)
        self._table = table

    @classmethod
    def from_rates(cls, peak_gflops: float, bandwidth_gbs: float, overhead_seconds: float,
                   **kw: Any) -> TimeModel:
        """A plain roofline: ``overhead + flops/peak + bytes/bandwidth`` for every class."""
        coef = [0.0] * len(FEATURES)
        coef[0], coef[2] = float(overhead_seconds), 1e-9 / float(peak_gflops)
        coef[3] = coef[4] = coef[5] = 1e-9 / float(bandwidth_gbs)
        summary = {"peak_gflops": {"best": peak_gflops}, "bandwidth_gbs": {"best": bandwidth_gbs},
                   "overhead_seconds": {"best": overhead_seconds}}
        return cls({c: list(coef) for c in SHAPE_CLASSES}, summary=summary, **kw)

    shape_class = staticmethod(shape_class)

    @property
    def margin(self) -> float:
        """The smallest predicted speed-up, minus one, this model can tell from its error.

        Measured at calibration (``summary['plan_ratio_error']``): how far
        predicted ratios of two plans' times missed measured ones on held-out
        chains, at the :data:`~chainorder.lab.calibrate.MARGIN_QUANTILE`
        quantile. The time-optimal plan leaves the FLOP optimum only for a
        plan predicted faster than this. 0 for a model without it (such as
        :meth:`from_rates`); :meth:`with_margin` sets another.
        """
        if self.selection_margin is not None:
            return self.selection_margin
        return float(self.summary.get("plan_ratio_error", {}).get("margin", 0.0))

    @classmethod
    def from_shorthand(cls) -> TimeModel:
        """``cost='time'``: the model in force (:func:`use_machine`); none in force raises
        :class:`NotCalibratedError` saying how to load one. Loads nothing itself."""
        return active_model()

    def with_margin(self, margin: float | None) -> TimeModel:
        """This model, selecting with ``margin`` instead of its measured one (None: itself).

        ``margin=0`` selects the model's exact least-time plan (the FLOP
        optimum when it ties).

        Examples
        --------
        >>> m = TimeModel.from_rates(peak_gflops=50, bandwidth_gbs=5, overhead_seconds=1e-6)
        >>> m.with_margin(0.2).margin, m.margin
        (0.2, 0.0)
        """
        if margin is None:
            return self
        return replace(self, selection_margin=check_real(margin, "margin"))

    @property
    def threads(self) -> int | None:
        """BLAS threads the model was calibrated with (from its fingerprint)."""
        return self.fingerprint.get("blas_threads")

    def step_seconds(self, p: Any, q: Any, r: Any, cold_left: Any = False,
                     cold_right: Any = False) -> Any:
        """Predicted seconds of ``p x q @ q x r`` products (scalars or broadcasting arrays);
        by default with both operands in cache."""
        feats = step_features(p, q, r, cold_left, cold_right)
        cls_idx = shape_classes(p, q, r)
        out = np.einsum("...f,...f->...", feats, self._table[cls_idx])
        return float(out) if out.ndim == 0 else out

    def steps_seconds(self, dims: Sequence[int], i: Any, k: Any, j: Any) -> np.ndarray:
        """Predicted seconds of steps ``(i, k, j)`` of a chain with ``dims`` (index arrays)."""
        p = np.asarray(dims, dtype=np.float64)
        i, k, j = (np.asarray(x, dtype=np.int64) for x in (i, k, j))
        cold = chain_bytes(dims) > COLD_CHAIN_BYTES
        return np.asarray(self.step_seconds(p[i], p[k], p[j], cold & (k - i == 1),
                                            cold & (j - k == 1)))

    def step_cost(self, chain: Any, i: Any = None, k: Any = None, j: Any = None) -> Any:
        """Predicted seconds of step ``(i, k, j)`` of ``chain`` (a cost model's step cost).

        ``step_cost(dims)`` alone, the old form, returns ``(i, k, j) ->
        seconds`` for that chain, with a ``DeprecationWarning``.
        """
        if i is None:
            warnings.warn("TimeModel.step_cost(dims) is deprecated; use "
                          "lambda i, k, j: model.steps_seconds(dims, i, k, j)",
                          DeprecationWarning, stacklevel=2)
            return lambda i, k, j: self.steps_seconds(chain, i, k, j)
        return float(self.steps_seconds(chain.dims, i, k, j))

    @property
    def counting(self) -> CostModel:
        """Plans under a time model count scalar multiplications (the dense model)."""
        return DENSE

    def total(self, chain: ChainShape, steps: Any) -> float:
        """Predicted seconds of a bracketing of ``chain`` (:meth:`plan_seconds`)."""
        return self.plan_seconds(chain.dims, steps)

    def optimal_steps(self, chain: ChainShape) -> np.ndarray:
        """The least-time bracketing, unless the FLOP optimum is predicted within the margin.

        The dynamic program over the model's step times is exact for the
        model; the FLOP optimum (fewest multiplications) is kept unless the
        least-time plan is predicted more than ``1 + margin`` times as fast.
        """
        dims, n = chain.dims, chain.n
        if n > TIME_DP_MAX_MATRICES:
            raise ValueError(
                f"the time model's optimizer handles at most {TIME_DP_MAX_MATRICES} matrices "
                f"(an O(n^3) dynamic program over its step times), got {n}; use cost='dense'"
            )
        steps, least = dp_steps_by(dims, lambda i, k, j: self.steps_seconds(dims, i, k, j))
        flop_steps = DENSE.optimal_steps(chain)
        if self.plan_seconds(dims, flop_steps) <= (1 + self.margin) * least:
            return flop_steps  # not predicted faster than the model can tell: fewest FLOPs
        return steps

    def plan_seconds(self, dims: Sequence[int], steps: Any) -> float:
        """Predicted seconds of a bracketing: the sum over its steps ``(i, k, j)``."""
        steps = np.asarray(steps, dtype=np.int64).reshape(-1, 3)
        if len(steps) == 0:
            return 0.0
        return float(np.sum(self.steps_seconds(dims, steps[:, 0], steps[:, 1], steps[:, 2])))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (read back by :meth:`from_dict`)."""
        return {"format": FORMAT, "features": list(FEATURES), "coefficients": self.coefficients,
                "fingerprint": self.fingerprint, "summary": self.summary, "fit": self.fit,
                "meta": self.meta}

    @classmethod
    def from_dict(cls, doc: Any) -> TimeModel:
        """The model :meth:`to_dict` wrote; ``ValueError`` for anything else (another format
        or feature list, missing keys, values of the wrong type)."""
        if not isinstance(doc, Mapping):
            raise ValueError(f"a time model is a JSON object, got {type(doc).__name__}")
        if doc.get("format") != FORMAT or doc.get("features") != list(FEATURES):
            raise ValueError(f"not a {FORMAT} time model with features {list(FEATURES)} "
                             f"(format {doc.get('format')!r}); recalibrate with "
                             "'chainorder calibrate'")
        coef = doc.get("coefficients")
        if not isinstance(coef, Mapping) or not all(isinstance(v, list) for v in coef.values()):
            raise ValueError("coefficients must map each shape class to a list of numbers, "
                             f"got {type(coef).__name__}")
        parts = {k: doc.get(k, {}) for k in ("fingerprint", "summary", "fit", "meta")}
        wrong = [k for k, v in parts.items() if not isinstance(v, Mapping)]
        if wrong:
            raise ValueError(f"{', '.join(wrong)} must be JSON object(s), got "
                             f"{', '.join(type(parts[k]).__name__ for k in wrong)}")
        return cls(dict(coef), fingerprint=dict(parts["fingerprint"]),
                   summary=dict(parts["summary"]), fit=dict(parts["fit"]),
                   meta=dict(parts["meta"]))

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON, atomically (:func:`write_atomic`): a reader never sees
        half a file, and of two writers at once the last one's whole file stays."""
        return write_atomic(path, json.dumps(self.to_dict(), indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> TimeModel:
        """Read a model written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not such a model (truncated, not JSON, wrong keys or
            types); the message names the file.
        OSError
            If it cannot be read at all (absent, a directory, no permission).
        """
        path = Path(path)
        data = path.read_bytes()
        try:
            doc = json.loads(data.decode("utf-8"))
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            why = "an empty file" if not data.strip() else f"not JSON, or cut short: {exc}"
            raise ValueError(f"{path}: not a time model chainorder can read ({why})") from None
        try:
            return cls.from_dict(doc)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: not a time model chainorder can read ({exc})") from None

    def __repr__(self) -> str:
        s = self.summary
        peak = s.get("peak_gflops", {}).get("best")
        bw = s.get("bandwidth_gbs", {}).get("best")
        call = s.get("overhead_seconds", {}).get("best")
        facts = ", ".join(x for x in (
            f"roof {peak:.1f} GFLOP/s" if peak else "", f"bandwidth {bw:.1f} GB/s" if bw else "",
            f"call {call * 1e6:.2f} us" if call else "",
            f"{self.threads} BLAS thread(s)" if self.threads else "",
            f"selecting at margin {self.selection_margin:g}"
            if self.selection_margin is not None else "") if x)
        return f"<TimeModel {facts or 'uncalibrated'}>"


# ----------------------------------------------------------------------------- fingerprint, cache


def _is_number(x: Any) -> bool:
    """A finite real number (numpy's too; not a bool, a string or None)."""
    return (isinstance(x, numbers.Real) and not isinstance(x, bool | np.bool_)
            and math.isfinite(x))


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a uniquely named temporary file in the same
    directory and :func:`os.replace`: readers see the old file or the new one, whole.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_atomic(Path(d) / "a.json", "[1]").read_text()
    '[1]'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def machine_fingerprint() -> dict[str, Any]:
    """What a time model depends on: CPU, cores, numpy, BLAS and its current thread count,
    and the software: chainorder's version and :data:`MODEL_VERSION`.

    It reads the machine (:mod:`chainorder.hardware`); planning never calls it,
    only loading and caching a model do.

    Examples
    --------
    >>> fp = machine_fingerprint()
    >>> fp["numpy"] == np.__version__, fp["blas_threads"] >= 1
    (True, True)
    """
    blas = numpy_blas()
    return {
        "cpu_model": cpu_model(),
        "cores": logical_cores(),
        "machine": platform.machine(),
        "numpy": np.__version__,
        "blas": blas.get("internal_api"),
        "blas_version": blas.get("version"),
        "blas_threading_layer": blas.get("threading_layer"),
        "blas_architecture": blas.get("architecture"),
        "blas_threads": blas.get("num_threads"),
        "chainorder": __version__,
        "model_version": MODEL_VERSION,
    }


def fingerprint_key(fingerprint: Mapping[str, Any]) -> str:
    """A short stable hash of a fingerprint, the name of its cache file.

    Examples
    --------
    >>> fingerprint_key({"cpu_model": "X", "blas_threads": 1})
    '2c523b90a20b9c94'
    """
    text = json.dumps(dict(fingerprint), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_dir() -> Path:
    """Where models are cached: ``$CHAINORDER_CACHE_DIR``, ``$XDG_CACHE_HOME/chainorder``
    or ``~/.cache/chainorder``."""
    if os.environ.get("CHAINORDER_CACHE_DIR"):
        return Path(os.environ["CHAINORDER_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "chainorder"


def cache_path(fingerprint: Mapping[str, Any] | None = None,
               directory: str | Path | None = None) -> Path:
    """The cache file of a fingerprint (default: this machine now) in ``directory``."""
    fp = machine_fingerprint() if fingerprint is None else fingerprint
    return Path(directory or cache_dir()) / f"timemodel-{fingerprint_key(fp)}.json"


def check_cache_dir(directory: str | Path | None = None, name: str = "directory") -> Path:
    """The cache directory (default :func:`cache_dir`), made if absent, once checked that
    models can be written there: call it before spending time on a calibration.

    Raises
    ------
    ValueError
        If it is a file, lies under a file, or cannot be written; the message
        names ``name`` (the argument or option that gave the directory) and its value.
    """
    if directory is not None and not str(directory):
        raise ValueError(f"{name} must be a directory's path, got ''")
    d = Path(directory) if directory is not None else cache_dir()
    what = name if directory is not None else (
        "the cache directory ($CHAINORDER_CACHE_DIR, $XDG_CACHE_HOME/chainorder or "
        "~/.cache/chainorder)")
    problem = _unwritable(d)
    if problem:
        raise ValueError(f"{what} must be a directory chainorder can write time models to, "
                         f"got {str(d)!r}: {problem}")
    return d


def _unwritable(d: Path) -> str:
    """Why models cannot be written in directory ``d`` (``''``: they can); makes ``d``."""
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=d, prefix=".timemodel-probe-")
        os.close(fd)
        os.unlink(probe)
    except FileExistsError:
        return "it is a file, not a directory"
    except NotADirectoryError:
        blocker = next((p for p in d.parents if p.exists() and not p.is_dir()), None)
        return f"{blocker or 'a parent'} is a file, not a directory"
    except OSError as exc:
        return exc.strerror or str(exc)
    return ""


def _calibrate_command(threads: int | None, directory: Path) -> str:
    """The command that calibrates the model of ``threads`` BLAS threads into ``directory``."""
    words = ["chainorder", "calibrate"]
    if threads:
        words += ["--threads", str(threads)]
    if directory != cache_dir():
        words += ["--cache-dir", str(directory)]
    return shlex.join(words)


#: Models read, by path: ``(mtime_ns, size, model)``; a file rewritten is read again.
_LOADED: dict[Path, tuple[int, int, TimeModel]] = {}


def cached_model(path: str | Path,
                 fingerprint: Mapping[str, Any] | None = None) -> TimeModel | None:
    """The model cached at ``path`` if it may be used now, else None.

    None if the file is absent; None with a :class:`CacheWarning` naming the
    file and why if it cannot be read or parsed, is no time model, or was
    made by another chainorder version or :data:`MODEL_VERSION` than the one of
    ``fingerprint`` (default: this machine now). Either way, calibrating
    writes a new model in its place.
    """
    fp = machine_fingerprint() if fingerprint is None else fingerprint
    return _read_cache(Path(path), fp)[0]


def _read_cache(path: Path, fingerprint: Mapping[str, Any]) -> tuple[TimeModel | None, str]:
    """The usable model at ``path`` or None, and why not (``''``: absent, or usable);
    an unusable file is named in a :class:`CacheWarning`."""
    why = _unusable(path, fingerprint)
    if why == "":
        return _LOADED[path][2], ""
    if why:
        fix = _calibrate_command(fingerprint.get("blas_threads"), path.parent)
        warnings.warn(f"ignoring the time model cached at {path}: {why}; '{fix}' replaces it",
                      CacheWarning, stacklevel=3)
    return None, why or ""


def _unusable(path: Path, fingerprint: Mapping[str, Any]) -> str | None:
    """Why the model at ``path`` cannot be used: None if absent, ``''`` if it can (then it
    is in :data:`_LOADED`)."""
    try:
        st = path.stat()
        hit = _LOADED.get(path)
        if hit is None or hit[:2] != (st.st_mtime_ns, st.st_size):
            _LOADED.pop(path, None)
            hit = _LOADED[path] = (st.st_mtime_ns, st.st_size, TimeModel.load(path))
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    except ValueError as exc:
        return str(exc).removeprefix(f"{path}: ")
    stale = version_mismatch(hit[2].fingerprint, fingerprint)
    return f"it is stale ({stale})" if stale else ""


def load_model(directory: str | Path | None = None) -> TimeModel:
    """The cached model of this machine at its current BLAS thread count.

    Only a model made by this chainorder version and :data:`MODEL_VERSION` is
    used; one cached by another version is stale and ignored, and so, with a
    :class:`CacheWarning`, is a file that cannot be read (see :func:`cached_model`).

    Raises
    ------
    NotCalibratedError
        If no usable model is cached; the message names the file looked for
        and the command that makes it.
    """
    fp = machine_fingerprint()
    path = cache_path(fp, directory)
    model, why = _read_cache(path, fp)
    if model is not None:
        return model
    threads = fp.get("blas_threads")
    found = f" and ignored it: {why}" if why else ", there is none"
    stale = [s for s in stale_models(fp, path.parent) if not s.startswith(f"{path}: ")]
    others = "" if not stale else (
        f"; the model(s) cached for it by another version are stale and not reused "
        f"({'; '.join(stale)})")
    raise NotCalibratedError(
        f"no time model cached for this machine with {threads} BLAS thread(s) by "
        f"chainorder {__version__} (model form {MODEL_VERSION}): looked for {path}{found}"
        f"{others}; run '{_calibrate_command(threads, path.parent)}' (under a minute; '--quick' "
        "takes seconds), or call chainorder.lab.calibrate.calibrate(threads=...), or pass "
        "cost=TimeModel.load(...)")


def version_mismatch(cached: Mapping[str, Any], current: Mapping[str, Any]) -> str:
    """Why a model of fingerprint ``cached`` must not be used now (``''``: it may).

    Examples
    --------
    >>> version_mismatch({"chainorder": "0.1.0", "model_version": 1},
    ...                  {"chainorder": "0.2.0", "model_version": 1})
    "made by chainorder '0.1.0', this is '0.2.0'"
    """
    names = {"chainorder": "chainorder", "model_version": "model form"}
    return "; ".join(f"made by {names[k]} {cached.get(k)!r}, this is {current.get(k)!r}"
                     for k in VERSION_KEYS if cached.get(k) != current.get(k))


def stale_models(fingerprint: Mapping[str, Any], directory: str | Path) -> list[str]:
    """Models cached in ``directory`` for this machine and thread count by another version,
    one line each (``'path: made by ...'``); unreadable files are skipped."""
    machine = {k: v for k, v in fingerprint.items() if k not in VERSION_KEYS}
    out: list[str] = []
    try:
        files = sorted(Path(directory).glob("timemodel-*.json"))
    except OSError:  # an unreadable directory holds none we can name
        return out
    for f in files:
        with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
            fp = json.loads(f.read_text()).get("fingerprint", {})
            if {k: v for k, v in fp.items() if k not in VERSION_KEYS} == machine:
                out.append(f"{f}: {version_mismatch(fp, fingerprint)}")
    return out


_ACTIVE: contextvars.ContextVar[TimeModel | None] = contextvars.ContextVar(
    "chainorder_time_model", default=None
)


def active_model(needed_by: str = "cost='time'") -> TimeModel:
    """The model in force, put there by :func:`use_machine`; planning reads no other.

    Nothing is loaded here: a model comes from the caller, never from the
    disk behind their back.

    Raises
    ------
    NotCalibratedError
        If none is in force; the message, naming ``needed_by``, says how to get one.

    Examples
    --------
    >>> m = TimeModel.from_rates(50, 20, 1e-6)
    >>> with use_machine(m):
    ...     active_model() is m
    True
    """
    model = _ACTIVE.get()
    if model is None:
        raise NotCalibratedError(
            f"{needed_by} needs a time model and none is in force: pass cost=<a TimeModel>, "
            "such as cost=load_model() (this machine's, cached by 'chainorder calibrate') or "
            "cost=TimeModel.load(path), or put one in force once with use_machine(load_model()) "
            "(both from chainorder.algebra.timemodel)")
    return model


class use_machine:  # a function to its callers, as contextlib.suppress is
    """Put ``model`` in force for time predictions, ``cost='time'`` and ``'time_optimal'``.

    Called as a statement, ``use_machine(model)`` keeps it in force from then on
    (in this thread, and in contexts copied from it); as ``with
    use_machine(model):``, only inside the block, the model before it coming
    back at the end. ``None`` changes nothing. Planning reads only the model
    given here or passed as ``cost=``: load one explicitly (:func:`load_model`
    reads this machine's, cached by ``chainorder calibrate``;
    :meth:`TimeModel.load` reads a file).

    Examples
    --------
    >>> m = TimeModel.from_rates(50, 20, 1e-6)
    >>> with use_machine(m):
    ...     active_model() is m
    True
    """

    def __init__(self, model: TimeModel | None) -> None:
        if model is not None and not isinstance(model, TimeModel):
            raise TypeError(f"model must be a TimeModel or None, got {type(model).__name__}")
        self.model = model
        self._token = _ACTIVE.set(model) if model is not None else None

    def __enter__(self) -> TimeModel | None:
        return self.model

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _ACTIVE.reset(self._token)
            self._token = None

    def __repr__(self) -> str:
        return f"use_machine({self.model!r})"
