"""Study 7: chainorder's chain optimizers beside numpy's, opt_einsum's and cotengra's.

Every method plans the same seeded random chains; each answer's cost is
replayed exactly in one convention; Hu–Shing is checked against an
independent dynamic program on many chains. The benchmarks in
``benchmarks/bench_optimizers.py`` time the same :data:`METHODS`.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...algebra.approx import best_fan_steps, greedy_steps
from ...algebra.costs import steps_cost
from ...algebra.dp import dp_steps
from ...timing import time_calls
from ..verify import check_hu_shing
from .base import (
    ReportContext,
    Study,
    StudyPage,
    StudySettings,
    markdown_row,
    ratio_text,
    register_study,
    save_figure,
    setting,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["OptimizerSpeedStudy", "STUDY", "METHODS", "Method", "study_dims"]

#: How every cost in the study is counted, whoever found the bracketing.
CONVENTION = (
    "Costs are scalar multiplications in one convention for every method: a p×q by q×r "
    "product costs p·q·r (FLOPs are twice that). Peers report their own counts differently "
    "(opt_einsum's `opt_cost` counts 2 per multiply-add and its `naive_cost` is one einsum over "
    "all indices, not the left-to-right product), so the cost of each peer's path is recomputed "
    "here by replaying the path on the chain."
)

_DIMS_HIGH = 1000


@dataclass(frozen=True)
class Method:
    """One optimizer in the study.

    Attributes
    ----------
    name : str
        ``'<library>.<method>'``, e.g. ``'opt_einsum.greedy'``.
    library : str
        The package that must import for the method to run.
    setup : callable
        ``setup(dims) -> args``: the method's input, built outside the timed call.
    solve : callable
        ``solve(*args) -> raw``: the timed call.
    cost : callable
        ``cost(dims, raw) -> (cost, answer)``: the exact cost of the method's
        own answer, replayed in our convention, and the answer itself: steps
        ``(i, k, j)`` for chainorder and numpy, a linear contraction path for
        opt_einsum and cotengra.
    max_n, quick_max_n : int
        Longest chain the method is run on (with ``quick=True`` for the second).
    exponent : float
        Its time grows about as ``n ** exponent``; used to forecast the next size.
    why_limited : str
        Why ``max_n`` is where it is, for the skip reason.
    """

    name: str
    library: str
    setup: Callable[[tuple[int, ...]], tuple[Any, ...]]
    solve: Callable[..., Any]
    cost: Callable[[tuple[int, ...], Any], tuple[int, Any]]
    max_n: int
    quick_max_n: int
    exponent: float
    why_limited: str = ""


# ----------------------------------------------------------------------------- paths


def path_cost(dims: Sequence[int], path: Iterable[Sequence[int]]) -> int:
    """Exact cost of a linear contraction path (opt_einsum's format) on the chain ``dims``.

    The chain is the einsum ``'ab,bc,cd,...->a<last>'``: operand ``m`` carries
    chain indices ``m`` and ``m + 1`` of sizes ``p_m, p_(m+1)``. Each entry of
    ``path`` names positions in the current operand list; those operands are
    popped and their product appended. Contracting operands whose indices
    together have sizes ``s_1..s_r`` costs ``(t - 1) * s_1 * ... * s_r``
    multiplications for ``t`` operands, which is ``p_i p_k p_j`` for the
    product of two neighbouring factors; a lone operand costs nothing.

    Examples
    --------
    >>> path_cost([10, 100, 5, 50], [(0, 1), (0, 1)])   # (A1A2)A3
    7500
    >>> path_cost([10, 100, 5, 50], [(1, 2), (0, 1)])   # A1(A2A3)
    75000
    """
    p = [int(d) for d in dims]
    n = len(p) - 1
    operands: list[frozenset[int]] = [frozenset((m, m + 1)) for m in range(n)]
    # uses[x]: operands holding index x, plus one for the output's first and last index
    uses = [2] * (n + 1)
    total = 0
    for entry in path:
        picked = sorted({int(a) for a in entry}, reverse=True)
        if len(picked) != len(entry) or not picked or picked[0] >= len(operands) or picked[-1] < 0:
            raise ValueError(
                f"path entry {tuple(entry)} does not name distinct operands among the "
                f"{len(operands)} left"
            )
        group = [operands.pop(a) for a in picked]
        union = frozenset().union(*group)
        if len(group) > 1:
            total += (len(group) - 1) * math.prod(p[x] for x in union)
        for x in union:  # the product holds x while another operand or the output does
            uses[x] -= sum(x in g for g in group) - 1
        operands.append(frozenset(x for x in union if uses[x] > 1))
    if len(operands) != 1:
        raise ValueError(f"path leaves {len(operands)} operands; a full path leaves one")
    return total


def steps_to_path(steps: np.ndarray | Sequence[Sequence[int]], n: int) -> list[tuple[int, int]]:
    """A bracketing's steps ``(i, k, j)`` as a linear contraction path over ``n`` operands.

    Examples
    --------
    >>> steps_to_path([(1, 2, 3), (0, 1, 3)], 3)
    [(1, 2), (0, 1)]
    """
    live = list(range(n))  # live[a]: first dim of the a-th operand in the list
    path = []
    for i, k, _ in np.asarray(steps, dtype=np.int64).reshape(-1, 3).tolist():
        a, b = live.index(i), live.index(k)
        path.append((a, b))
        for x in sorted((a, b), reverse=True):
            live.pop(x)
        live.append(i)
    return path


def _chainorder_cost(dims: tuple[int, ...], raw: Any) -> tuple[int, np.ndarray]:
    steps, claimed = raw
    cost = steps_cost(dims, steps.tolist())
    if cost != claimed:
        raise RuntimeError(f"a chainorder optimizer claimed cost {claimed}; its steps cost {cost}")
    return cost, steps


def _peer_cost(dims: tuple[int, ...], path: Any) -> tuple[int, list[tuple[int, ...]]]:
    path = [tuple(int(a) for a in entry) for entry in path]
    return path_cost(dims, path), path


# ----------------------------------------------------------------------------- methods


class _Shape:
    """What numpy's chain-order DP reads of an array: its ``shape``."""

    __slots__ = ("shape",)

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape


def _numpy_order() -> Callable[..., Any]:
    for where in ("numpy.linalg._linalg", "numpy.linalg.linalg"):
        try:
            return importlib.import_module(where)._multi_dot_matrix_chain_order
        except (ImportError, AttributeError):
            continue
    raise ImportError("numpy has no _multi_dot_matrix_chain_order in numpy.linalg")


def _numpy_setup(dims: tuple[int, ...]) -> tuple[Any, ...]:
    return _numpy_order(), [_Shape((dims[m], dims[m + 1])) for m in range(len(dims) - 1)]


def _numpy_cost(dims: tuple[int, ...], split: Any) -> tuple[int, list[tuple[int, int, int]]]:
    # split[i, j] = k: matrices i..j (0-based) are split as (A_i..A_k)(A_(k+1)..A_j)
    steps, todo = [], [(0, len(dims) - 2)]
    while todo:
        i, j = todo.pop()
        if i == j:
            continue
        k = int(split[i, j])
        steps.append((i, k + 1, j + 1))
        todo += [(i, k), (k + 1, j)]
    steps.reverse()  # children before parents
    return steps_cost(dims, steps), steps


def _einsum_setup(dims: tuple[int, ...]) -> tuple[Any, ...]:
    import opt_einsum as oe

    n = len(dims) - 1
    sym = [oe.get_symbol(m) for m in range(n + 1)]
    eq = ",".join(sym[m] + sym[m + 1] for m in range(n)) + "->" + sym[0] + sym[n]
    return eq, [(dims[m], dims[m + 1]) for m in range(n)]


def _opt_einsum(strategy: str) -> Callable[..., Any]:
    def solve(eq: str, shapes: list[tuple[int, int]]) -> Any:
        import opt_einsum as oe

        return oe.contract_path(eq, *shapes, shapes=True, optimize=strategy)[0]

    return solve


def _cotengra_setup(dims: tuple[int, ...]) -> tuple[Any, ...]:
    n = len(dims) - 1
    return [(m, m + 1) for m in range(n)], (0, n), dict(enumerate(dims))


def _cotengra(preset: str) -> Callable[..., Any]:
    def solve(inputs: list[tuple[int, int]], output: tuple[int, int], size: dict[int, int]) -> Any:
        import cotengra as ctg

        # a fresh default optimizer each call: the shared one caches paths and would time a lookup
        optimize = ctg.AutoOptimizer() if preset == "auto" else preset
        return ctg.array_contract_path(inputs, output, size, optimize=optimize, cache=False)

    return solve


def _hu_shing(dims: tuple[int, ...]) -> tuple[np.ndarray, int]:
    from ...algebra.hushing import hu_shing_steps

    return hu_shing_steps(dims)


def _own(name: str, solve: Callable[[tuple[int, ...]], Any], max_n: int, exponent: float,
         why: str = "") -> Method:
    return Method(f"chainorder.{name}", "chainorder", lambda d: (d,), solve, _chainorder_cost,
                  max_n, max_n, exponent, why)


_ANY = 10**9

#: Every method of the study, ours first, in table order.
METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        _own("dp", dp_steps, 1000, 3, "the O(n^3) dynamic program"),
        _own("hu-shing", _hu_shing, _ANY, 1.1),
        _own("best_fan", best_fan_steps, _ANY, 1),
        _own("greedy", greedy_steps, _ANY, 1.1),
        Method("numpy.multi_dot", "numpy", _numpy_setup, lambda f, a: f(a), _numpy_cost,
               300, 300, 3, "numpy's multi_dot chain DP: O(n^3) in Python"),
        Method("opt_einsum.optimal", "opt_einsum", _einsum_setup, _opt_einsum("optimal"),
               _peer_cost, 10, 10, 8, "exhaustive search, exponential in n"),
        Method("opt_einsum.dp", "opt_einsum", _einsum_setup, _opt_einsum("dp"), _peer_cost,
               100, 100, 3, "its subset DP takes minutes past 100 tensors (80 s at 200)"),
        Method("opt_einsum.greedy", "opt_einsum", _einsum_setup, _opt_einsum("greedy"),
               _peer_cost, 10_000, 1000, 2, "contract_path's own bookkeeping is O(n^2)"),
        Method("opt_einsum.auto", "opt_einsum", _einsum_setup, _opt_einsum("auto"),
               _peer_cost, 10_000, 1000, 2, "contract_path's own bookkeeping is O(n^2)"),
        Method("cotengra.optimal", "cotengra", _cotengra_setup, _cotengra("optimal"),
               _peer_cost, 100, 100, 3, "its subgraph DP takes minutes past 100 tensors"),
        Method("cotengra.auto", "cotengra", _cotengra_setup, _cotengra("auto"), _peer_cost,
               1000, 100, 1, "hyper-optimization: 20 s at 1000 tensors"),
    ]
}

_QUICK_MAX_N = 10_000

#: How each peer is called, for the page.
PEER_NOTES = (
    "numpy: `numpy.linalg._linalg._multi_dot_matrix_chain_order`, the O(n^3) Python DP "
    "inside `multi_dot`, fed objects that carry only a `.shape`.",
    "opt_einsum: `contract_path(eq, *shapes, shapes=True, optimize=...)` on the einsum "
    "`'ab,bc,cd,...'`, as a user calls it; its own bookkeeping per contraction grows with "
    "the number of operands left, so past about 1,000 matrices it, not the search, "
    "dominates. Its `'auto'` is the exhaustive search up to 4 operands, branch and bound "
    "up to 14 and `'greedy'` beyond.",
    "cotengra: `array_contract_path(inputs, output, size_dict, optimize=...)` with "
    "`cache=False`; its default `'auto'` is run as a fresh `AutoOptimizer()` each time, so "
    "that a cached path is never what is timed. It is exact up to about 13 matrices; beyond, "
    "a hyper-optimized random-greedy search in worker processes that minimizes `'combo'` "
    "(FLOPs and memory writes) and stops early on contractions cheap to execute "
    "(`max_time='rate:1e9'`).",
)


# ----------------------------------------------------------------------------- the study


def study_dims(n: int, seed: int = 0) -> tuple[int, ...]:
    """The study's random chain of ``n`` matrices: dims uniform in 1..1000, seeded by ``(seed, n)``.

    Examples
    --------
    >>> study_dims(3)
    (504, 895, 955, 861)
    """
    rng = np.random.default_rng([seed, n])
    return tuple(int(d) for d in rng.integers(1, _DIMS_HIGH + 1, size=n + 1))


def time_optimizers(
    ns: Sequence[int] = (10, 100, 1000, 10_000, 100_000, 1_000_000),
    *,
    seed: int = 0,
    methods: Sequence[str] | None = None,
    budget_s: float = 60.0,
    quick: bool = False,
    repeats: int = 5,
    keep_paths: bool = False,
) -> list[dict[str, Any]]:
    """Time every optimizer on the same random chains; cost each answer exactly.

    For each length ``n`` one chain is drawn (:func:`study_dims`) and every
    method plans it. A run that takes under 0.1 s is repeated (up to
    ``repeats`` times, about half a second in all) and the best time kept;
    slower runs are timed once. Building a method's input (an einsum string,
    shape objects) is not timed. The optimum of each chain comes from the
    exact Hu–Shing algorithm (the dynamic program when ``chainorder.algebra.hushing``
    is missing, while ``n <= 1000``).

    A method is skipped, with the reason recorded, when its library does not
    import, when ``n`` is past its size limit (see :data:`METHODS`), or when
    its time at the previous size, scaled by its growth rate, forecasts more
    than ``budget_s`` seconds.

    Parameters
    ----------
    ns : sequence of int
        Chain lengths, each >= 2.
    seed : int
        Seed of the chains.
    methods : sequence of str, optional
        Names from :data:`METHODS`; all of them by default.
    budget_s : float
        Longest forecast run time a method may be started with.
    quick : bool
        Drop lengths past 10,000 and use each peer's smaller quick limit,
        for ``chainorder report --quick`` (about 30 s on 2 cores).
    repeats : int
        Most timed runs of a fast method.
    keep_paths : bool
        Also keep each method's answer, to replay it: key ``'path'``, a
        linear contraction path (opt_einsum's format) for every method, and
        key ``'steps'``, the steps ``(i, k, j)`` for chainorder and numpy
        (None for the others).

    Returns
    -------
    list of dict
        One record per method and length, with keys ``method``, ``library``,
        ``version``, ``n``, ``seconds`` (best time, or None if skipped),
        ``seconds_max`` (slowest run: best to slowest is the spread),
        ``repeats``, ``cost`` (exact int, our convention), ``optimum``, ``ratio``
        (``cost / optimum``) and ``skipped_reason`` (None if it ran).

    Examples
    --------
    >>> recs = time_optimizers([10], methods=["chainorder.best_fan", "chainorder.dp"])
    >>> [(r["method"], r["cost"], r["optimum"]) for r in recs]
    [('chainorder.best_fan', 7145613, 7145613), ('chainorder.dp', 7145613, 7145613)]
    """
    chosen = _chosen_methods(methods)
    ns = _checked_ns(ns, quick)
    if not budget_s > 0:
        raise ValueError(f"budget_s must be a positive number of seconds, got {budget_s!r}")
    _warm_up(chosen)
    records: list[dict[str, Any]] = []
    last: dict[str, tuple[int, float]] = {}  # method -> (n, seconds) of its latest run
    for n in ns:
        dims = study_dims(n, seed)
        optimum = _optimum(dims)
        for method in chosen:
            rec = _record(method, n, optimum)
            rec["skipped_reason"] = _skip_reason(method, n, quick, budget_s, last.get(method.name))
            if rec["skipped_reason"] is None:
                _run(method, dims, rec, repeats, keep_paths)
                last[method.name] = (n, rec["seconds"])
            records.append(rec)
    return records


def _chosen_methods(methods: Sequence[str] | None) -> list[Method]:
    if methods is None:
        return list(METHODS.values())
    if isinstance(methods, str):
        raise TypeError(f"methods must be a sequence of names, got the string {methods!r}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; valid: {', '.join(METHODS)}")
    return [METHODS[m] for m in methods]


def _checked_ns(ns: Sequence[int], quick: bool) -> list[int]:
    checked = []
    for n in ns:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise ValueError(f"ns must hold integers >= 2 (chain lengths), got {n!r} in {ns!r}")
        checked.append(int(n))
    return [n for n in checked if n <= _QUICK_MAX_N] if quick else checked


def _warm_up(chosen: list[Method]) -> None:
    """Compile numba kernels before any clock starts (a no-op without numba)."""
    names = {m.name for m in chosen}
    dims = study_dims(5000, seed=1)
    if "chainorder.greedy" in names:
        greedy_steps(dims)
    if "chainorder.hu-shing" in names and _has("chainorder.algebra.hushing"):
        _hu_shing(dims[:20])


def _has(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _optimum(dims: tuple[int, ...]) -> int | None:
    if _has("chainorder.algebra.hushing"):
        return _hu_shing(dims)[1]
    return dp_steps(dims)[1] if len(dims) - 1 <= 1000 else None


def _record(method: Method, n: int, optimum: int | None) -> dict[str, Any]:
    return {
        "method": method.name,
        "library": method.library,
        "version": _version(method.library),
        "n": n,
        "seconds": None,
        "seconds_max": None,
        "repeats": 0,
        "cost": None,
        "optimum": optimum,
        "ratio": None,
        "skipped_reason": None,
    }


def _version(library: str) -> str | None:
    try:
        return str(importlib.import_module(library).__version__)
    except (ImportError, AttributeError):
        return None


def _skip_reason(
    method: Method, n: int, quick: bool, budget_s: float, last: tuple[int, float] | None
) -> str | None:
    if method.library != "chainorder" and not _has(method.library):
        return (f"{method.library} is not installed: pip install {method.library} "
                f"(or pip install -e \".[peers]\" in a chainorder checkout)")
    if method.name == "chainorder.hu-shing" and not _has("chainorder.algebra.hushing"):
        return "chainorder.algebra.hushing is not available in this version"
    if method.name == "numpy.multi_dot":
        try:
            _numpy_order()
        except ImportError as exc:
            return str(exc)
    limit = method.quick_max_n if quick else method.max_n
    if n > limit:
        mode = "quick limit" if quick and limit < method.max_n else "size limit"
        return f"n > {limit:,} ({mode}: {method.why_limited or 'time'})"
    if last is not None:
        last_n, seconds = last
        forecast = seconds * (n / last_n) ** method.exponent
        if forecast > budget_s:
            return (
                f"forecast {forecast:.3g} s (n^{method.exponent:g} from {seconds:.3g} s at "
                f"n={last_n:,}) is over budget_s={budget_s:g}"
            )
    return None


def _run(method: Method, dims: tuple[int, ...], rec: dict[str, Any], repeats: int,
         keep_paths: bool) -> None:
    args = method.setup(dims)
    # up to `repeats` runs within half a second; a run of 0.1 s or more is not repeated
    calls = time_calls(method.solve, *args, max_calls=max(repeats, 1), seconds=0.5, slow=0.1,
                       keep=True)
    times, raw = calls.seconds, calls.result
    cost, answer = method.cost(dims, raw)
    rec.update(seconds=min(times), seconds_max=max(times), repeats=len(times), cost=cost)
    if rec["optimum"] is not None:
        rec["ratio"] = cost / rec["optimum"] if rec["optimum"] else 1.0
    if keep_paths:
        own_steps = method.library in ("chainorder", "numpy")
        rec["steps"] = [tuple(s) for s in np.asarray(answer).tolist()] if own_steps else None
        rec["path"] = steps_to_path(answer, len(dims) - 1) if own_steps else answer


# ----------------------------------------------------------------------------- tables, plots, text


def optimizer_table(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The records as a DataFrame, one row per method and length, paths left out.

    Examples
    --------
    >>> df = optimizer_table(time_optimizers([10], methods=["chainorder.greedy"]))
    >>> df[["method", "n", "cost", "optimum"]].to_dict("records")
    [{'method': 'chainorder.greedy', 'n': 10, 'cost': 697715798, 'optimum': 7145613}]
    """
    import pandas as pd

    columns = ["method", "library", "version", "n", "seconds", "seconds_max", "repeats", "cost",
               "optimum", "ratio", "skipped_reason"]
    df = pd.DataFrame({c: pd.Series([r.get(c) for r in records], dtype=object)
                       for c in columns})
    for c in ("method", "library", "version", "skipped_reason"):
        df[c] = df[c].astype("string")
    for c in ("n", "repeats"):
        df[c] = df[c].astype("Int64")
    for c in ("seconds", "seconds_max", "ratio"):
        df[c] = df[c].astype("Float64")
    # cost and optimum stay object columns of exact Python ints (None where skipped), never floats
    return df


def plot_optimizer_times(records: Sequence[dict[str, Any]], path: str | Path) -> list[Path]:
    """Log-log wall time against chain length, one line per method; saved as PNG and SVG.

    ``path`` is the file stem (a ``.png`` or ``.svg`` suffix is replaced);
    returns the two paths written.
    """
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5.0))
    ax = fig.subplots()
    fig.subplots_adjust(left=0.1, right=0.7, bottom=0.14, top=0.92)
    colors = matplotlib.colormaps["tab20"](np.arange(20))
    for m, name in enumerate(_methods_in(records)):
        ran = sorted((r["n"], r["seconds"]) for r in records
                     if r["method"] == name and r["seconds"] is not None)
        if ran:
            library = name.split(".")[0]
            ax.plot(*zip(*ran, strict=True), "-" if library == "chainorder" else "--",
                    marker=_MARKERS.get(library, "x"), markersize=4, label=name,
                    color=colors[(2 * m) % 20 + (2 * m) // 20 % 2])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("matrices in the chain (n)")
    ax.set_ylabel("time to plan the bracketing (s)")
    ax.set_title("Chain-order optimizers on random chains (dims 1..1000)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    stem = Path(path)
    stem = stem.with_suffix("") if stem.suffix in (".png", ".svg") else stem
    return save_figure(fig, stem.parent, stem.name)


_MARKERS = {"chainorder": "o", "numpy": "s", "opt_einsum": "^", "cotengra": "D"}


def _methods_in(records: Sequence[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["method"] for r in records))


def study_markdown(
    records: Sequence[dict[str, Any]], figure_paths: Sequence[str | Path] = ()
) -> str:
    """The Markdown body of the optimizer study page: figure, timing and ratio tables, skips.

    ``figure_paths`` are shown as images (PNG) or linked (anything else),
    relative to the page as given.

    Examples
    --------
    >>> recs = time_optimizers([10], methods=["chainorder.best_fan"])
    >>> print(study_markdown(recs).splitlines()[2])
    | method | n = 10 |
    """
    parts = [
        "Every optimizer plans the same seeded random chains (dims uniform in 1..1000). "
        "Planning time, best of up to 5 runs for runs under 0.1 s (the slowest run is in the "
        "table's CSV):",
        _grid(records, _time_cell),
        "Cost of the bracketing found, relative to the exact optimum (×1 = optimal). The "
        f"optimum is {REFERENCE}'s cost, so its own column reads *ref.*: that it is exact is "
        "the dynamic program's agreement where both ran and the `verify` check below, "
        "not this table.",
        _grid(records, _ratio_cell),
    ]
    parts += _figures(figure_paths)
    skipped = _skips(records)
    if skipped:
        parts.append("**Not run**, and why:\n\n" + skipped)
    versions = sorted({(r["library"], r["version"]) for r in records if r["version"]})
    if versions:
        parts.append("Versions: " + ", ".join(f"{lib} {v}" for lib, v in versions) + ".")
    parts.append("How the peers are called:\n\n" + "\n".join(f"- {t}" for t in PEER_NOTES))
    parts.append(CONVENTION)
    return "\n\n".join(parts) + "\n"


#: The method whose cost is the optimum every other cost is divided by.
REFERENCE = "chainorder.hu-shing"


def _grid(records: Sequence[dict[str, Any]],
          cell: Callable[[dict[str, Any] | None], str]) -> str:
    ns = sorted({r["n"] for r in records})
    cells = {(r["method"], r["n"]): r for r in records}
    lines = [markdown_row(["method", *(f"n = {n:,}" for n in ns)]), "|---|" + "---:|" * len(ns)]
    for name in _methods_in(records):
        lines.append(markdown_row([name, *(cell(cells.get((name, n))) for n in ns)]))
    return "\n".join(lines)


def _time_cell(rec: dict[str, Any] | None) -> str:
    if rec is None or rec["seconds"] is None:
        return "–"
    return _seconds(rec["seconds"])


def _ratio_cell(rec: dict[str, Any] | None) -> str:
    if rec is None or rec["seconds"] is None or rec["ratio"] is None:
        return "–"
    if rec["method"] == REFERENCE and _has("chainorder.algebra.hushing"):
        return "ref."
    return f"×{ratio_text(rec['ratio']).rstrip('x')}"


def _seconds(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def _skips(records: Sequence[dict[str, Any]]) -> str:
    by_method: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r["skipped_reason"]:
            by_method.setdefault(r["method"], []).append(r)
    lines = []
    for name, recs in by_method.items():
        ns = ", ".join(f"{r['n']:,}" for r in recs)
        reasons = list(dict.fromkeys(r["skipped_reason"] for r in recs))
        lines.append(f"- {name} at n = {ns}: " + "; ".join(reasons))
    return "\n".join(lines)


def _figures(paths: Sequence[str | Path]) -> list[str]:
    out = []
    for p in paths:
        p = Path(p)
        caption = "Planning time against chain length (log-log)"
        out.append(f"![{caption}]({p.as_posix()})" if p.suffix == ".png"
                   else f"[{p.suffix.lstrip('.').upper()} version]({p.as_posix()})")
    return out


# ----------------------------------------------------------------------------- the page


def _speed_headline(ran: pd.DataFrame) -> str:
    """Hu–Shing's and the DP's speed-up over numpy's DP at the longest chain all three planned,
    with the spread of the runs: numpy's best over the other's slowest, and the reverse."""
    t = {m: g.set_index("n") for m, g in ran.groupby("method")}
    hs, dp, npy = (t.get(m) for m in ("chainorder.hu-shing", "chainorder.dp", "numpy.multi_dot"))
    if hs is None or dp is None or npy is None:
        return f"Longest chain each method planned: {ran.groupby('method')['n'].max().to_dict()}."
    n = max(set(hs.index) & set(dp.index) & set(npy.index))

    def speedup(other: pd.DataFrame) -> str:
        lo = npy.at[n, "seconds"] / _slowest(other.loc[n])
        hi = _slowest(npy.loc[n]) / other.at[n, "seconds"]
        mid = ratio_text(npy.at[n, "seconds"] / other.at[n, "seconds"])
        return mid + (f", {ratio_text(lo)} to {ratio_text(hi)} over the runs' spread"
                      if hi > lo * 1.0005 else "")

    return (
        f"At {n:,} matrices numpy's ordering DP took {npy.at[n, 'seconds'] * 1e3:.3g} ms, "
        f"chainorder's vectorized DP {dp.at[n, 'seconds'] * 1e3:.3g} ms (numpy's time / its "
        f"time = {speedup(dp)}) and Hu–Shing {hs.at[n, 'seconds'] * 1e3:.3g} ms "
        f"({speedup(hs)}); best runs. Hu–Shing planned {int(hs.index.max()):,} "
        f"matrices exactly in {hs['seconds'].iloc[-1]:.3g} s."
    )


def _slowest(row: pd.Series) -> float:
    """A record's slowest run (its best where the slowest was not recorded)."""
    import pandas as pd

    worst = row.get("seconds_max")
    return float(row["seconds"] if worst is None or pd.isna(worst) else worst)


def _speed_ratios(ran: pd.DataFrame) -> list[str]:
    """For each approximate method: how far its bracketings were from the optimum."""
    out = []
    for method, grp in ran.groupby("method"):
        worst = grp["ratio"].max()
        if worst > 1:
            out.append(f"`{method}` cost up to {ratio_text(worst)} the optimum "
                       f"(median {ratio_text(grp['ratio'].median())} over {len(grp)} lengths).")
    return out


class OptimizerSpeedStudy(Study):
    """Planning time of every optimizer on the same chains, and Hu–Shing checked at scale."""

    slug = "07-optimizer-speed"
    title = "The chain optimizers' speed, beside numpy, opt_einsum, cotengra"
    question = "How fast is each exact and approximate optimizer, and is Hu–Shing always exact?"
    references = ("cormen2009", "hushing1982", "hushing1984", "numpy", "opt_einsum", "cotengra")

    @dataclass(frozen=True)
    class Settings(StudySettings):
        """What the page times and checks.

        Attributes
        ----------
        sizes : tuple of int
            Chain lengths every optimizer plans.
        quick_limits : bool
            Each method's smaller quick size limit, and no length past 10,000
            (``quick`` of :func:`time_optimizers`).
        check_chains : int
            Chains in the Hu–Shing check against the dynamic program.
        """

        sizes: tuple[int, ...] = setting(quick=(10, 100, 1000, 10_000),
                                         full=(10, 100, 1000, 10_000, 100_000, 1_000_000))
        quick_limits: bool = setting(quick=True, full=False)
        check_chains: int = setting(quick=20_000, full=100_000)

    def collect(self, ctx: ReportContext) -> None:
        s = ctx.settings
        own: OptimizerSpeedStudy.Settings = s.of(self)
        records = time_optimizers(own.sizes, seed=s.seed, quick=own.quick_limits)
        (ctx.data_dir / "optimizer_times.json").write_text(json.dumps(records, indent=1) + "\n")
        # worker processes pay off only on a long check
        check = check_hu_shing(own.check_chains, seed=s.seed,
                               jobs=2 if own.check_chains >= 5000 else 1)
        (ctx.data_dir / "hushing_check.json").write_text(json.dumps(check, indent=1) + "\n")

    def render(self, ctx: ReportContext) -> StudyPage:
        import pandas as pd

        records = json.loads((ctx.data_dir / "optimizer_times.json").read_text())
        check = json.loads((ctx.data_dir / "hushing_check.json").read_text())
        table = optimizer_table(records)
        ran = table[table["skipped_reason"].isna()]
        stem = "optimizer-times"
        plot_optimizer_times(records, ctx.out_dir / "figures" / stem)
        ctx.figures.append((stem, "optimizer wall time vs chain length, one line per method"))
        findings = [_speed_headline(ran), *_speed_ratios(ran)]
        missing = sorted({r["library"] for r in records
                          if "is not installed" in (r["skipped_reason"] or "")})
        if missing:
            findings.insert(0, f"Not measured: {', '.join(missing)} did not import on this "
                               "machine, so its methods are missing from this page; "
                               "`pip install -e \".[peers]\"` adds them.")
        findings.append(
            f"Hu–Shing matched an independent dynamic program on {check['chains']:,} seeded chains "
            f"({', '.join(check['paths'])} paths; {len(check['families'])} families of dims, "
            f"1 to {check['max_matrices']} matrices): {check['mismatches']} mismatches."
        )
        families = pd.DataFrame(
            sorted(check["families"].items()), columns=["family", "chains"]
        )
        body = [
            "## Optimizers side by side",
            "",
            study_markdown(records, [f"figures/{stem}.png"]),
            "",
            ctx.table(table.drop(columns=["version"], errors="ignore"), "optimizer-times",
                      counted=False, embed=False),
            "## Correctness at scale: Hu–Shing against the dynamic program",
            "",
            f"`chainorder verify --chains {check['chains']} --seed {check['seed']}` draws each "
            "chain's family uniformly, then its length and dims; a chain is a mismatch if any "
            "Hu–Shing path "
            "differs from the DP's cost, the paths disagree with each other, or the returned steps "
            f"are not a valid bracketing costing what was returned. Mismatches: "
            f"**{check['mismatches']}** of {check['chains']:,}.",
            "",
            ctx.table(families, "hushing-check-families", counted=True),
        ]
        return StudyPage(findings, "\n".join(body))


STUDY = OptimizerSpeedStudy()
register_study(STUDY)
