"""Input validation shared by the public entry points: dims, arrays, order names."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence, Set
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "check_dims",
    "check_arrays",
    "check_multi_dot_arrays",
    "check_matmul_dtypes",
    "chain_dims",
    "check_positive_int",
    "check_real",
    "as_real_array",
    "check_finite",
    "check_vector",
    "check_batch",
    "check_matrix",
    "MEMORY_FRACTION",
    "memory_budget",
    "parse_bytes",
    "format_bytes",
    "check_memory",
    "check_input_file",
    "check_output_file",
]


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as a Python int, or raise naming ``name`` if it is not an int >= 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer() and math.isfinite(value):
            raise TypeError(
                f"{name} must be an integer, got {value!r} ({type(value).__name__}); "
                f"pass int({value!r}) if that is what you meant"
            )
        raise TypeError(f"{name} must be an integer >= 1, got {value!r} ({type(value).__name__})")
    value = int(value)
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def check_real(value: Any, name: str, *, positive: bool = False) -> float:
    """Return ``value`` as a float, or raise naming ``name`` if it is not a finite real >= 0
    (> 0 with ``positive=True``).

    Examples
    --------
    >>> check_real(0.25, "margin"), check_real(2, "alpha", positive=True)
    (0.25, 2.0)
    """
    bound = "> 0" if positive else ">= 0"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number {bound}, got {value!r} "
                        f"({type(value).__name__})")
    number = float(value)
    if not (math.isfinite(number) and (number > 0 if positive else number >= 0)):
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return number


def check_dims(dims: Any, name: str = "dims") -> tuple[int, ...]:
    """Return chain dims ``p0..pn`` as a tuple of Python ints, validated.

    A chain of ``n`` matrices has ``n + 1`` dims; matrix ``i`` (1-based) is
    ``p(i-1) x p(i)``. Every dim must be an integer >= 1 and there must be at
    least two of them.
    """
    if isinstance(dims, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of integers p0..pn, got the string {dims!r}")
    if isinstance(dims, (Mapping, Set)):
        raise TypeError(
            f"{name} must be an ordered sequence of integers p0..pn, got a {type(dims).__name__}"
        )
    if not isinstance(dims, (Sequence, np.ndarray)):
        if hasattr(dims, "__iter__"):
            dims = list(dims)
        else:
            raise TypeError(
                f"{name} must be a sequence of integers p0..pn, got {type(dims).__name__} {dims!r}"
            )
    if isinstance(dims, np.ndarray) and dims.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got an array of shape {dims.shape}")
    if len(dims) < 2:
        raise ValueError(
            f"{name} must hold at least two integers (p0 and p1 for one matrix), got {list(dims)!r}"
        )
    fast = _fast_dims(dims)
    if fast is not None:
        return fast
    return tuple(check_positive_int(p, f"{name}[{i}]") for i, p in enumerate(dims))


def _fast_dims(dims: Any) -> tuple[int, ...] | None:
    """Dims as Python ints in one vectorized pass when they are all machine ints >= 1.

    Returns None (the caller then checks element by element, for exact
    messages) for anything else: bools, floats, huge ints, values < 1.
    """
    try:
        arr = np.asarray(dims)
    except (ValueError, TypeError):
        return None
    if arr.ndim != 1 or arr.dtype.kind not in "iu" or arr.size == 0 or arr.min() < 1:
        return None
    if not isinstance(dims, np.ndarray) and {bool, np.bool_} & set(map(type, dims)):
        return None  # numpy reads True as 1; a bool is no dim
    return tuple(arr.tolist())


def check_arrays(arrays: Any, name: str = "arrays") -> list[np.ndarray]:
    """Return a chain of arrays as 2-D float ndarrays, checking shapes fit.

    As in :func:`numpy.linalg.multi_dot`, a 1-D first array is a row vector
    and a 1-D last array a column vector; every other array must be 2-D.
    """
    if isinstance(arrays, np.ndarray) or not isinstance(arrays, Sequence):
        raise TypeError(
            f"{name} must be a list of arrays, got {type(arrays).__name__}; "
            "wrap a single matrix as [A]"
        )
    if len(arrays) == 0:
        raise ValueError(f"{name} is empty: a chain needs at least one matrix")
    out = []
    last = len(arrays) - 1
    for i, a in enumerate(arrays):
        out.append(_as_matrix(a, i, last, name))
    for i in range(1, len(out)):
        cols, rows = out[i - 1].shape[1], out[i].shape[0]
        if cols != rows:
            raise ValueError(
                f"{name}: matrix {i + 1} has {rows} rows but matrix {i} has {cols} columns "
                f"(shapes {out[i - 1].shape} and {out[i].shape}, 1-based positions)"
            )
    return out


def check_multi_dot_arrays(
    arrays: Any, name: str = "arrays"
) -> tuple[list[np.ndarray], tuple[int, ...]]:
    """The inputs :func:`numpy.linalg.multi_dot` accepts, as arrays and chain dims ``p0..pn``.

    At least two arrays; the first may be 1-D (a row vector) and the last
    1-D (a column vector), every other one is 2-D (see :func:`chain_dims`).
    Arrays are taken as they are (no copy, no dtype change, no scan of the
    values: NaN and Inf are legal); 1-D ends stay 1-D, ``matmul`` treats
    them as vectors.
    """
    if not isinstance(arrays, (list, tuple)):
        arrays = _as_array_list(arrays, name)
    mats = [_as_any_array(a, i, name) for i, a in enumerate(arrays)]
    check_matmul_dtypes(mats, name)
    return mats, chain_dims(tuple(a.shape for a in mats), name)


def chain_dims(shapes: tuple[tuple[int, ...], ...], name: str = "arrays") -> tuple[int, ...]:
    """Dims ``p0..pn`` of a chain of arrays with these shapes, under ``multi_dot``'s rules.

    At least two shapes; the first may be 1-D (a row vector) and the last
    1-D (a column vector), every other one 2-D; neighbours must fit and no
    dim may be 0.

    Examples
    --------
    >>> chain_dims(((3,), (3, 4), (4,)))
    (1, 3, 4, 1)
    """
    n = len(shapes)
    if n < 2:
        raise ValueError(
            f"{name} holds {n} array{'' if n == 1 else 's'}; a chain needs at least two "
            "(as for numpy.linalg.multi_dot)"
        )
    as_2d = [_as_2d(s, i, n, name) for i, s in enumerate(shapes)]
    for i in range(1, n):
        cols, rows = as_2d[i - 1][1], as_2d[i][0]
        if cols != rows:
            raise ValueError(
                f"{name}: matrix {i + 1} has {rows} rows but matrix {i} has {cols} columns "
                f"(shapes {shapes[i - 1]} and {shapes[i]}, 1-based positions)"
            )
    for i, s in enumerate(shapes):
        if 0 in s:
            raise ValueError(
                f"{name}[{i}] has an empty dimension, shape {s}; a chain's dims are >= 1"
            )
    return (as_2d[0][0], *(s[1] for s in as_2d))


def _as_2d(shape: tuple[int, ...], i: int, n: int, name: str) -> tuple[int, int]:
    if len(shape) == 2:
        return (shape[0], shape[1])
    if len(shape) == 1 and i == 0:
        return (1, shape[0])
    if len(shape) == 1 and i == n - 1:
        return (shape[0], 1)
    end = i in (0, n - 1)
    want = "a 1-D vector or a 2-D matrix" if end else "a 2-D matrix"
    hint = " (only the first or last array may be 1-D)" if len(shape) == 1 else ""
    raise ValueError(f"{name}[{i}] must be {want}{hint}, got {len(shape)}-D with shape {shape}")


def check_matmul_dtypes(mats: Sequence[np.ndarray], name: str = "arrays") -> None:
    """Raise a TypeError naming the first array whose dtype ``matmul`` cannot multiply."""
    for i, a in enumerate(mats):
        if a.dtype.kind not in _MATMUL_KINDS:
            raise TypeError(f"{name}[{i}] must hold numbers, got dtype {a.dtype}")


#: dtype kinds numpy's matmul multiplies: bool, ints, floats, complex, objects.
_MATMUL_KINDS = frozenset("biufcO")


def _as_array_list(arrays: Any, name: str) -> list[Any]:
    if isinstance(arrays, np.ndarray) and arrays.ndim == 3:
        return list(arrays)  # a stack of matrices, as multi_dot reads it
    if isinstance(arrays, np.ndarray) or not isinstance(arrays, Sequence) or isinstance(
        arrays, (str, bytes)
    ):
        raise TypeError(
            f"{name} must be a list of arrays, got {type(arrays).__name__}; "
            "wrap matrices as [A, B, ...]"
        )
    return list(arrays)


def _as_any_array(a: Any, i: int, name: str) -> np.ndarray:
    try:
        return np.asanyarray(a)
    except Exception as exc:  # ragged nested lists and the like
        raise TypeError(f"{name}[{i}] cannot be read as an array: {exc}") from None


def _as_matrix(a: Any, i: int, last: int, name: str) -> np.ndarray:
    try:
        arr = np.asarray(a)
    except Exception as exc:  # ragged nested lists and the like
        raise TypeError(f"{name}[{i}] cannot be read as an array: {exc}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name}[{i}] must hold numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        arr = arr.astype(np.complex128, copy=False)
    elif not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if arr.ndim == 1 and i == 0:
        arr = arr[np.newaxis, :]
    elif arr.ndim == 1 and i == last:
        arr = arr[:, np.newaxis]
    if arr.ndim != 2:
        hint = " (only the first or last array may be 1-D)" if arr.ndim == 1 else ""
        raise ValueError(
            f"{name}[{i}] must be a 2-D matrix{hint}, got {arr.ndim}-D with shape {arr.shape}"
        )
    if 0 in arr.shape:
        raise ValueError(f"{name}[{i}] has an empty dimension, shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name}[{i}] has a non-finite entry {arr[tuple(bad)].item()!r} "
            f"at index {tuple(int(b) for b in bad)}"
        )
    return arr


def as_real_array(value: Any, name: str) -> np.ndarray:
    if type(value) is np.ndarray and value.dtype == np.float64:  # the common case, checked
        return value.copy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested lists and the like
        raise TypeError(f"{name} cannot be read as an array: {exc}") from None
    is_number = np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
    if arr.dtype == object or not is_number or np.iscomplexobj(arr):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return np.array(arr, dtype=np.float64)  # an own copy: later edits by the caller do not leak in


def check_finite(arr: np.ndarray, name: str) -> np.ndarray:
    # an inf or nan entry makes the sum inf or nan, so a finite sum clears every entry
    if not math.isfinite(arr.sum()) and not np.isfinite(arr).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(
            f"{name} has a non-finite entry {float(arr[bad])} at index {bad} (shape {arr.shape}); "
            "expected finite numbers"
        )
    return arr


def check_vector(value: Any, name: str, size: int | None = None) -> np.ndarray:
    """``value`` as a finite float64 vector, of length ``size`` if given."""
    arr = as_real_array(value, name)
    if arr.ndim != 1:
        column = arr.ndim == 2 and 1 in arr.shape
        hint = f"; pass {name}.ravel() for a single example" if column else ""
        want = f" of length {size}" if size is not None else ""
        raise ValueError(f"{name} must be a 1-D array{want}, got shape {arr.shape}{hint}")
    if size is not None and arr.shape[0] != size:
        raise ValueError(f"{name} must have length {size}, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    return check_finite(arr, name)


def check_batch(value: Any, name: str, batch: int | None, width: int) -> np.ndarray:
    """``value`` as a finite float64 ``batch x width`` array, one example per row.

    ``batch`` None takes any number of rows (at least one).
    """
    arr = as_real_array(value, name)
    rows = "B" if batch is None else str(batch)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] != width or (
        batch is not None and arr.shape[0] != batch
    ):
        raise ValueError(
            f"{name} must have shape ({rows}, {width}), one example per row, "
            f"got {name} of shape {arr.shape}"
        )
    return check_finite(arr, name)


def check_matrix(value: Any, name: str, what: str) -> np.ndarray:
    arr = as_real_array(value, name)
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"{name} must be a non-empty 2-D array ({what}), got shape {arr.shape}")
    return check_finite(arr, name)


# ----------------------------------------------------------------------------- memory guard

#: Share of the available memory (MemAvailable) dense Jacobians may take by default.
MEMORY_FRACTION = 0.5

#: The environment variable that sets the budget for every entry point at once.
MEMORY_ENV = "CHAINORDER_MAX_MEMORY"

_BYTE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_bytes(text: Any, name: str = "max_bytes") -> int:
    """A size such as ``'8GB'``, ``'500 MiB'``, ``'1e9'`` or ``123456`` as bytes.

    Examples
    --------
    >>> parse_bytes("8GB"), parse_bytes("512 MiB"), parse_bytes(1000)
    (8000000000, 536870912, 1000)
    """
    if isinstance(text, numbers.Integral) and not isinstance(text, bool):
        if text < 1:
            raise ValueError(f"{name} must be at least 1 byte, got {text!r}")
        return int(text)
    else:
        raw = str(text).strip().lower().replace("_", "").replace(",", "")
        number = raw.rstrip("kmgtib ")
        try:
            value = float(number) * _BYTE_UNITS[raw[len(number):].strip()]
        except (ValueError, KeyError):
            raise ValueError(
                f"{name} must be a size such as 8GB, 500MB or 1000000, got {text!r}"
            ) from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite size such as 8GB, got {text!r}")
    if not value >= 1:
        raise ValueError(f"{name} must be at least 1 byte, got {text!r}")
    return int(value)


def format_bytes(n: int) -> str:
    """Bytes for people: ``'16.7 GB'`` (powers of 1000).

    Examples
    --------
    >>> format_bytes(16_700_000_000), format_bytes(512)
    ('16.7 GB', '512 B')
    """
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def memory_budget(max_bytes: Any = None) -> int:
    """Bytes dense Jacobians may take: ``max_bytes``, else ``$CHAINORDER_MAX_MEMORY``,
    else :data:`MEMORY_FRACTION` of the available memory.

    Available memory is ``MemAvailable`` from ``/proc/meminfo`` (Linux), else
    the free physical pages the OS reports.
    """
    if max_bytes is not None:
        return parse_bytes(max_bytes, "max_bytes")
    if os.environ.get(MEMORY_ENV):
        return parse_bytes(os.environ[MEMORY_ENV], MEMORY_ENV)
    return int(MEMORY_FRACTION * _available_memory())


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 4 * 2**30


def check_memory(nbytes: int, what: str, max_bytes: Any = None) -> None:
    """Refuse up front to allocate ``nbytes`` for ``what`` past the :func:`memory_budget`.

    Examples
    --------
    >>> check_memory(10**6, "the dense chain", max_bytes="1MB")
    >>> check_memory(10**9, "the dense chain", max_bytes="1MB")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: the dense chain would need 1.0 GB (1,000,000,000 bytes), over the memory ...
    """
    budget = memory_budget(max_bytes)
    if nbytes > budget:
        raise ValueError(
            f"{what} would need {format_bytes(nbytes)} ({nbytes:,} bytes), over the memory "
            f"budget of {format_bytes(budget)}; raise it with max_bytes=... (CLI: --max-memory) "
            f"or {MEMORY_ENV}=32GB, or keep the Jacobians structured"
        )


# ----------------------------------------------------------------------------- paths


def check_input_file(path: Any, name: str, expected: str = "a readable file") -> Path:
    """``path`` as a Path once checked to be an existing, readable regular file.

    A FIFO or device is refused rather than opened (reading it could wait
    forever); the message names ``name`` (the argument or option), the path
    and ``expected``.

    Examples
    --------
    >>> check_input_file(".", "--sweep", "a sweep file")
    Traceback (most recent call last):
    ...
    ValueError: --sweep .: is a directory; expected a sweep file
    """
    path = Path(path)
    where = f"{name} {path}"
    try:
        if not path.exists():
            raise ValueError(f"{where}: no such file; expected {expected}")
        if not path.is_file():
            raise ValueError(f"{where}: {_not_regular(path)}; expected {expected}")
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise ValueError(f"{where}: cannot be read ({exc.strerror}); expected {expected}"
                         ) from None
    return path


def check_output_file(path: Any, name: str, expected: str = "a file that can be written"
                      ) -> Path:
    """``path`` as a Path once checked that a file can be written there, before any work.

    The path may be new (its missing folders are made by the writer) or an
    existing regular file; a directory, a FIFO or device, a path under a file
    or a folder that cannot be written is refused, naming ``name`` and the path.
    Whether an existing file may be replaced or appended to is the caller's
    decision.

    Examples
    --------
    >>> check_output_file(".", "--out", "a JSON Lines file")
    Traceback (most recent call last):
    ...
    ValueError: --out .: is a directory; expected a JSON Lines file
    """
    path = Path(path)
    where = f"{name} {path}"
    try:
        if path.exists() and not path.is_file():
            raise ValueError(f"{where}: {_not_regular(path)}; expected {expected}")
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise ValueError(f"{where}: {folder} is a file, not a folder; expected {expected}")
        target = path if path.exists() else folder
        if not os.access(target, os.W_OK):
            raise ValueError(f"{where}: {target} is not writable; expected {expected}")
    except OSError as exc:
        raise ValueError(f"{where}: cannot be checked ({exc.strerror}); expected {expected}"
                         ) from None
    return path


def _not_regular(path: Path) -> str:
    return "is a directory" if path.is_dir() else "is not a regular file (a FIFO, device or socket)"
