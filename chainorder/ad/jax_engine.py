"""The JAX engine: trace a function, cut its jaxpr into a chain, measure, execute, time.

Pipeline, one function each::

    f, args -> trace_program   jax.make_jaxpr of f on the flattened arguments, the
                               equations that depend on the differentiated input cut where
                               one narrow value (or a few, flattened) crosses; each segment
                               is a factor, measured from its equations (no compilation)
            -> program         a traceable schedule: segments' jvp/vjp via vmap, products;
                               tangent and adjoint mode are jax.jacfwd / jax.jacrev of f
            -> time_calls      the one timing loop (tuning, calibration, benchmarks)
            -> calibrate       this machine's TimeModel, cached per jax/jaxlib/device

Importing this module imports JAX; :mod:`chainorder.ad` imports it on first use.

What a factor costs is read from its equations: a ``dot_general`` costs its multiply-adds
per direction and per active operand, an elementwise op one per element (a segment of
elementwise ops only is a *diagonal* factor), structural ops (reshape, broadcast,
slices) move bytes only. ``scan`` counts its body times its length, ``while`` its body
times its trip count where the loop is a counted one (else once), ``cond`` its dearest
branch, nested ``jit``, ``custom_jvp`` and ``checkpoint`` their inner jaxpr. Those are
never cut inside: each is opaque. A ``custom_vjp`` factor allows adjoints only (its rule
is all there is) and a ``while`` factor tangents only (JAX cannot reverse it), and the
schedules respect that.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
from collections import ChainMap
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial, reduce
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jcore

from ..algebra.coloring import column_coloring, row_coloring
from ..algebra.gjc import Op, Schedule, span_pattern
from ..algebra.timemodel import machine_fingerprint
from ..version import __version__
from .costmodel import TimeModel, op_features, time_model_path
from .planner import ADFactor
from .sparsity import jaxpr_pattern

__all__ = [
    "DEFAULT_MODEL",
    "MAX_FACTORS",
    "MAX_LIVE",
    "SHARD_FROM",
    "JaxEngine",
    "Program",
    "calibrate",
    "fingerprint",
    "load_model",
    "signature",
    "time_calls",
    "trace_program",
    "with_sparsity",
]

#: A cut may carry at most this many values of the forward computation (flattened into one).
MAX_LIVE = 4

#: At most this many factors per chain: the widest cuts go first.
MAX_FACTORS = 24

#: A sweep of at least this many directions shards its batch across ``jax.devices()``.
SHARD_FROM = 64

#: A CPU's typical rates, used until this machine is calibrated (:func:`calibrate`).
DEFAULT_MODEL = TimeModel(call_seconds=8e-6, kernel_seconds=2e-6, madd_seconds=1 / 6e9,
                          byte_seconds=1 / 8e9)

_ELEMENTWISE = frozenset(
    "abs acos acosh add asin asinh atan atan2 atanh cbrt clamp cos cosh div erf erf_inv "
    "erfc exp exp2 expm1 integer_pow log log1p logistic max min mul neg nextafter pow "
    "rem round rsqrt select_n sign sin sinh sqrt square sub tan tanh".split()
)
_LINEAR_ELEMENTWISE = frozenset("add sub neg select_n".split())
#: ops XLA fuses away or that only relabel memory
_FREE = frozenset("reshape squeeze expand_dims convert_element_type copy copy_p "
                  "broadcast_in_dim".split())
_REDUCTIONS = frozenset("reduce_sum reduce_max reduce_min reduce_prod argmax argmin "
                        "cumsum cumprod cummax cumlogsumexp".split())


# ----------------------------------------------------------------------------- signature


def _dtype(x: Any) -> Any:
    d = getattr(x, "dtype", None)
    return jax.dtypes.canonicalize_dtype(d if d is not None else jnp.result_type(x))


def _is_array(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype")


def signature(args: Sequence[Any]) -> Hashable:
    """The key a plan is cached under: the arguments' tree, shapes and dtypes.

    Leaves that are not arrays (Python numbers, strings) are keyed by value, as
    ``jax.jacfwd`` passes them to ``f`` unchanged.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> signature((jnp.ones(3), 2)) == signature((jnp.zeros(3), 2))
    True
    """
    leaves, tree = jax.tree_util.tree_flatten(tuple(args))
    key: list[tuple[Any, ...]] = []
    for x in leaves:
        if _is_array(x) or isinstance(x, (float, complex)):
            key.append((tuple(np.shape(x)), _dtype(x)))
        else:
            key.append(("static", type(x), x))
    return tree, tuple(key)


# ----------------------------------------------------------------------------- layout


@dataclass
class Layout:
    """How ``f``'s arguments and outputs become the chain's ``R^N -> R^M`` and back."""

    argnums: int | tuple[int, ...]
    has_aux: bool
    in_tree: Any
    in_shapes: list[tuple[int, ...]]
    in_dtypes: list[Any]
    rest_tree: Any
    rest_static: list[Any]  # per leaf of the other arguments: a value, or None if dynamic
    out_tree: Any = None
    out_shapes: list[tuple[int, ...]] = field(default_factory=list)
    out_dtypes: list[Any] = field(default_factory=list)

    @property
    def nums(self) -> tuple[int, ...]:
        return (self.argnums,) if isinstance(self.argnums, int) else tuple(self.argnums)

    @property
    def in_dtype(self) -> Any:
        return jnp.result_type(*self.in_dtypes)

    @property
    def out_dtype(self) -> Any:
        return jnp.result_type(*self.out_dtypes)

    @property
    def n(self) -> int:
        return sum(math.prod(s) for s in self.in_shapes)

    @property
    def m(self) -> int:
        return sum(math.prod(s) for s in self.out_shapes)

    def split(self, args: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        """The differentiated leaves and the other arguments' dynamic (array) leaves."""
        dyn = args[self.argnums] if isinstance(self.argnums, int) else tuple(
            args[i] for i in self.nums)
        rest = [None if i in self.nums else a for i, a in enumerate(args)]
        rest_leaves = jax.tree_util.tree_leaves(rest)
        return (jax.tree_util.tree_leaves(dyn),
                [x for x, s in zip(rest_leaves, self.rest_static, strict=True) if s is None])

    def rebuild(self, dyn: Sequence[Any], rest_dynamic: Sequence[Any]) -> tuple[Any, ...]:
        """``f``'s arguments from the leaves :meth:`split` made."""
        it = iter(rest_dynamic)
        rest = [next(it) if s is None else s for s in self.rest_static]
        args = list(jax.tree_util.tree_unflatten(self.rest_tree, rest))
        tree = jax.tree_util.tree_unflatten(self.in_tree, list(dyn))
        if isinstance(self.argnums, int):
            args[self.argnums] = tree
        else:
            for k, i in enumerate(self.nums):
                args[i] = tree[k]
        return tuple(args)

    def ravel_in(self, dyn: Sequence[Any]) -> Any:
        return _concat(dyn, self.in_dtype)

    def unravel_in(self, x: Any) -> list[Any]:
        return [part.reshape(shape).astype(dtype) for part, shape, dtype in zip(
            _split(x, [math.prod(s) for s in self.in_shapes]), self.in_shapes,
            self.in_dtypes, strict=True)]

    def unravel_jacobian(self, jac: Any, rule: str) -> Any:
        """The ``(M, N)`` Jacobian as ``jax.jacfwd`` shapes it (``rule='jacrev'``: its dtypes)."""
        rows = _split(jac, [math.prod(s) for s in self.out_shapes], axis=0)
        blocks = []
        for row, oshape, odtype in zip(rows, self.out_shapes, self.out_dtypes, strict=True):
            parts = _split(row, [math.prod(s) for s in self.in_shapes], axis=1)
            inner = [
                p.reshape(oshape + ishape).astype(odtype if rule == "jacfwd" else idtype)
                for p, ishape, idtype in zip(parts, self.in_shapes, self.in_dtypes, strict=True)
            ]
            blocks.append(jax.tree_util.tree_unflatten(self.in_tree, inner))
        return jax.tree_util.tree_unflatten(self.out_tree, blocks)


def _split(x: Any, sizes: Sequence[int], axis: int = 0) -> list[Any]:
    if len(sizes) == 1:
        return [x]
    cuts = np.cumsum(sizes)[:-1].tolist()
    return list(jnp.split(x, cuts, axis=axis))


def _concat(parts: Sequence[Any], dtype: Any) -> Any:
    flat = [jnp.ravel(p).astype(dtype) for p in parts]
    return flat[0] if len(flat) == 1 else jnp.concatenate(flat)


def make_layout(args: Sequence[Any], argnums: int | tuple[int, ...], has_aux: bool) -> Layout:
    """The layout of ``args`` (checked: the differentiated leaves must be real floats)."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not -len(args) <= i < len(args):
            raise ValueError(
                f"argnums={argnums!r} names argument {i}, but f was called with "
                f"{len(args)} positional argument(s)")
    nums = tuple(i % len(args) for i in nums)
    argnums = nums[0] if isinstance(argnums, int) else nums
    dyn = args[nums[0]] if isinstance(argnums, int) else tuple(args[i] for i in nums)
    leaves, in_tree = jax.tree_util.tree_flatten(dyn)
    if not leaves:
        raise ValueError(f"the arguments argnums={argnums!r} names hold no arrays")
    for x in leaves:
        d = _dtype(x)
        if not jnp.issubdtype(d, jnp.floating):
            raise TypeError(
                f"co.jacobian differentiates real floating inputs, but argument(s) "
                f"argnums={argnums!r} hold a leaf of dtype {d} (shape {np.shape(x)}); "
                "pass floats, or leave that argument out of argnums")
    rest = [None if i in nums else a for i, a in enumerate(args)]
    rest_leaves, rest_tree = jax.tree_util.tree_flatten(rest)
    static = [None if _is_array(x) else x for x in rest_leaves]
    return Layout(argnums, has_aux, in_tree, [tuple(np.shape(x)) for x in leaves],
                  [_dtype(x) for x in leaves], rest_tree, static)


# ----------------------------------------------------------------------------- cutting


@dataclass
class Segment:
    """Consecutive equations of the jaxpr: one factor, from its input values to its outputs."""

    eqns: list[Any]
    inputs: list[Any]
    outputs: list[Any]


@dataclass
class Program:
    """``f`` cut into a chain: its jaxpr, the segments, their measured factors.

    ``reusable`` is False when ``f`` closed over values of an enclosing trace: then the
    program holds that trace's values and is not cached.
    """

    layout: Layout
    jaxpr: Any
    consts: list[Any]
    prelude: list[Any]
    segments: list[Segment]
    factors: list[ADFactor]
    cut: str
    reusable: bool
    rule: str = "jacfwd"

    @property
    def widths(self) -> list[int]:
        return [self.factors[0].n, *(f.m for f in self.factors)]


def _size(v: Any) -> int:
    return math.prod(getattr(v.aval, "shape", ()))


def _itemsize(v: Any) -> int:
    dtype = getattr(v.aval, "dtype", None)
    return int(np.dtype(dtype).itemsize) if dtype is not None and dtype != jax.dtypes.float0 \
        else 4


def _is_var(v: Any) -> bool:
    return not isinstance(v, jcore.Literal)


def _floating(v: Any) -> bool:
    dtype = getattr(v.aval, "dtype", None)
    return dtype is not None and jnp.issubdtype(dtype, jnp.floating)


def _flat_function(f: Callable[..., Any], layout: Layout) -> Callable[..., Any]:
    """``(x, rest) -> y``: ``f`` on the flattened differentiated input; records the output."""

    def g(x: Any, rest: list[Any]) -> Any:
        out = f(*layout.rebuild(layout.unravel_in(x), rest))
        if layout.has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError(
                    "has_aux=True needs f to return a pair (output, aux), got "
                    f"{type(out).__name__}")
            out = out[0]
        leaves, tree = jax.tree_util.tree_flatten(out)
        layout.out_tree = tree
        layout.out_shapes = [tuple(np.shape(o)) for o in leaves]
        layout.out_dtypes = [_dtype(o) for o in leaves]
        if not leaves or not all(jnp.issubdtype(d, jnp.floating) for d in layout.out_dtypes):
            raise _NotCut("f's output is not all real floating arrays")
        return _concat(leaves, layout.out_dtype)

    return g


class _NotCut(Exception):
    """The program cannot be cut: the peers' programs run it."""


def _live_sets(eqns: list[Any], x: Any, y: Any) -> tuple[dict[int, list[Any]], dict[Any, int]]:
    """For each cut p (between eqns[p-1] and eqns[p]), the values that cross it, where they
    are few and floating; and the index of the last equation that reads each value."""
    last: dict[Any, int] = {}
    for j, e in enumerate(eqns):
        for v in e.invars:
            if _is_var(v):
                last[v] = j
    last[y] = len(eqns)
    dies: dict[int, list[Any]] = {}
    for v, j in last.items():
        dies.setdefault(j, []).append(v)
    live: dict[Any, None] = {x: None} if x in last else {}
    out: dict[int, list[Any]] = {}
    for p in range(1, len(eqns)):
        for o in eqns[p - 1].outvars:
            if not isinstance(o, jcore.DropVar) and last.get(o, -1) >= p:
                live[o] = None
        for v in dies.get(p - 1, ()):
            live.pop(v, None)
        if 0 < len(live) <= MAX_LIVE and all(_floating(v) for v in live):
            out[p] = list(live)
    return out, last


def _choose_cuts(cuts: dict[int, list[Any]], eqns: list[Any], n: int, m: int) -> list[int]:
    """The cuts kept: every single value; a set only where narrower than both neighbours;
    no segment of free ops alone; at most :data:`MAX_FACTORS` factors (widest dropped)."""
    width = {p: sum(_size(v) for v in vs) for p, vs in cuts.items()}
    single = sorted(p for p, vs in cuts.items() if len(vs) == 1)
    kept = list(single)
    for p, vs in cuts.items():
        if len(vs) > 1:
            left = [width[q] for q in single if q < p]
            right = [width[q] for q in single if q > p]
            if width[p] < min(left[-1:] or [n]) and width[p] < min(right[:1] or [m]):
                kept.append(p)
    kept.sort()

    def free(a: int, b: int) -> bool:
        return all(e.primitive.name in _FREE for e in eqns[a:b])

    changed = True
    while changed:  # merge segments of free ops into a neighbour
        changed = False
        bounds = [0, *kept, len(eqns)]
        for k in range(len(bounds) - 1):
            if len(bounds) > 2 and free(bounds[k], bounds[k + 1]):
                kept.remove(bounds[k] if k > 0 else bounds[k + 1])
                changed = True
                break
    while len(kept) + 1 > MAX_FACTORS:
        kept.remove(max(kept, key=lambda p: (width[p], -p)))
    return kept


def trace_program(f: Callable[..., Any], args: Sequence[Any], layout: Layout) -> Program:
    """``f`` at ``args``' shapes, traced and cut into a measured chain (see the module).

    Raises an internal error the transform catches when the program cannot be cut (its
    output does not depend on the input, or is not floating): the peers then run it.
    """
    dyn, rest = layout.split(args)
    x_spec = jax.ShapeDtypeStruct((layout.n,), layout.in_dtype)
    rest_specs = [jax.ShapeDtypeStruct(np.shape(r), _dtype(r)) for r in rest]
    closed = jax.make_jaxpr(_flat_function(f, layout))(x_spec, rest_specs)
    return _cut_program(closed, layout)


def trace_chain(functions: Sequence[Callable[..., Any]], x: Any, layout: Layout) -> Program:
    """A chain given as stage functions: each stage traced on its own is one factor."""
    eqns: list[Any] = []
    constvars: list[Any] = []
    consts: list[Any] = []
    segments: list[Segment] = []
    spec: Any = jax.ShapeDtypeStruct(np.shape(x), layout.in_dtype)
    first = None
    for fn in functions:
        closed = jax.make_jaxpr(fn)(spec)
        jaxpr = closed.jaxpr
        if len(jaxpr.invars) != 1 or len(jaxpr.outvars) != 1 or not _is_var(jaxpr.outvars[0]):
            raise _NotCut("a stage must map one array to one array that depends on it")
        first = jaxpr.invars[0] if first is None else first
        constvars += jaxpr.constvars
        consts += list(closed.consts)
        segments.append(Segment(list(jaxpr.eqns), list(jaxpr.invars), list(jaxpr.outvars)))
        eqns += jaxpr.eqns
        out = jaxpr.outvars[0].aval
        spec = jax.ShapeDtypeStruct(out.shape, out.dtype)
    layout.out_tree = jax.tree_util.tree_structure(0)
    layout.out_shapes, layout.out_dtypes = [tuple(spec.shape)], [_dtype(spec)]
    jaxpr = _Variables(constvars, [first])
    return _measure(layout, jaxpr, consts, [], segments, "the given stages")


@dataclass
class _Variables:
    """The variables of a chain's stages that :func:`schedule_function` binds."""

    constvars: list[Any]
    invars: list[Any]


def _cut_program(closed: Any, layout: Layout) -> Program:
    jaxpr = closed.jaxpr
    x, y = jaxpr.invars[0], jaxpr.outvars[0]
    active, eqns, prelude = {x}, [], []
    for e in jaxpr.eqns:
        if any(_is_var(v) and v in active for v in e.invars):
            eqns.append(e)
            active.update(o for o in e.outvars if not isinstance(o, jcore.DropVar))
        else:
            prelude.append(e)
    if not _is_var(y) or y not in active or not eqns:
        raise _NotCut("f's output does not depend on the differentiated input")
    cuts, _ = _live_sets(eqns, x, y)
    kept = _choose_cuts(cuts, eqns, layout.n, layout.m)
    bounds = [0, *kept, len(eqns)]
    segments = []
    for k in range(len(bounds) - 1):
        inputs = [x] if k == 0 else cuts[bounds[k]]
        outputs = [y] if k == len(bounds) - 2 else cuts[bounds[k + 1]]
        segments.append(Segment(eqns[bounds[k] : bounds[k + 1]], inputs, outputs))
    reusable = not any(isinstance(c, jax.core.Tracer) for c in closed.consts)
    return _measure(layout, jaxpr, list(closed.consts), prelude, segments, "automatically",
                    reusable=reusable)


def _measure(layout: Layout, jaxpr: Any, consts: list[Any], prelude: list[Any],
             segments: list[Segment], how: str, reusable: bool = True) -> Program:
    factors = [_factor(i, seg) for i, seg in enumerate(segments)]
    rule = "jacrev" if any(f.modes == ("adjoint",) for f in factors) else "jacfwd"
    widths = [factors[0].n, *(f.m for f in factors)]
    parts = [f"{f.label or f.kind}" + (" (diagonal)" if f.kind == "diagonal" else "")
             for f in factors]
    path = " -> ".join(f"{w}" + (f" [{p}]" if p else "") for w, p in
                       zip(widths, [*parts, ""], strict=True))
    cut = f"cut {how} into {len(factors)} factor{'s' * (len(factors) != 1)}: {path}"
    return Program(layout, jaxpr, consts, prelude, segments, factors, cut, reusable, rule)


# ----------------------------------------------------------------------------- measuring


@dataclass
class _Counts:
    """What a run of equations costs per sweep (see :class:`chainorder.ad.planner.ADFactor`)."""

    tangent: int = 0
    adjoint: int = 0
    primal: int = 0
    tape: int = 0
    kernels: int = 0
    fixed: int = 0
    per_direction: int = 0
    elementwise: bool = True
    adjoint_only: bool = False
    tangent_only: bool = False
    opaque: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def add(self, o: _Counts, times: int = 1) -> None:
        for k in ("tangent", "adjoint", "primal", "tape", "kernels", "fixed", "per_direction"):
            setattr(self, k, getattr(self, k) + times * getattr(o, k))
        self.elementwise &= o.elementwise
        self.adjoint_only |= o.adjoint_only
        self.tangent_only |= o.tangent_only
        self.opaque += o.opaque
        self.names += o.names


def _jaxpr_counts(jaxpr: Any, act: Sequence[bool]) -> tuple[_Counts, list[bool]]:
    """Counts of the equations of ``jaxpr`` that depend on its active inputs."""
    active = {v for v, a in zip(jaxpr.invars, act, strict=True) if a}
    total = _Counts()
    fused = False
    for e in jaxpr.eqns:
        flags = [_is_var(v) and v in active for v in e.invars]
        if not any(flags):
            continue
        c = _eqn_counts(e, flags)
        fused |= c.elementwise and c.kernels == 0
        total.add(c)
        active.update(o for o in e.outvars if not isinstance(o, jcore.DropVar))
    total.kernels += fused
    return total, [_is_var(v) and v in active for v in jaxpr.outvars]


def _eqn_counts(e: Any, act: list[bool]) -> _Counts:
    name = e.primitive.name
    size = sum(_size(o) for o in e.outvars)
    isz = max((_itemsize(o) for o in e.outvars), default=4)
    if name == "dot_general":
        return _dot_counts(e, act, size, isz)
    if name == "conv_general_dilated":
        return _conv_counts(e, act, size, isz)
    if name in _ELEMENTWISE:
        per = size * max(1, sum(act))  # one multiply per element and active operand
        nonlinear = name not in _LINEAR_ELEMENTWISE
        same = all(_size(v) == size for v, a in zip(e.invars, act, strict=True) if a)
        return _Counts(per, per, size * (4 if nonlinear else 1), size * nonlinear, 0,
                       isz * size * nonlinear, isz * size, elementwise=same, names=[name])
    inner = _inner_counts(e, act)
    if inner is not None:
        return inner
    moved = isz * size
    madds = sum(_size(v) for v, a in zip(e.invars, act, strict=True) if a) \
        if name in _REDUCTIONS else 0
    free = name in _FREE
    return _Counts(madds, madds, madds, 0, 0 if free else 1, 0, 0 if free else moved,
                   elementwise=free and all(
                       _size(v) == size for v, a in zip(e.invars, act, strict=True) if a),
                   names=[name])


def _dot_counts(e: Any, act: list[bool], size: int, isz: int) -> _Counts:
    lhs = e.invars[0]
    (contract, _), _ = e.params["dimension_numbers"]
    depth = math.prod(lhs.aval.shape[d] for d in contract)
    return _product_counts(e, act, size * depth, isz, "dot_general")


def _conv_counts(e: Any, act: list[bool], size: int, isz: int) -> _Counts:
    """A convolution as a dot: each output entry is ``(C_in / groups) · prod(kernel)`` madds."""
    rhs = e.invars[1]
    out_dim = e.params["dimension_numbers"].rhs_spec[0]
    depth = _size(rhs) // max(1, rhs.aval.shape[out_dim])
    return _product_counts(e, act, size * depth, isz, "conv_general_dilated")


def _product_counts(e: Any, act: list[bool], madds: int, isz: int, name: str) -> _Counts:
    """A bilinear op of ``madds`` per evaluation: each active operand's sweep costs as much."""
    lhs, rhs = e.invars
    size = sum(_size(o) for o in e.outvars)
    n_act = sum(act)
    sizes = [_size(lhs), _size(rhs)]
    fixed = sum(s for s, a in zip(sizes, act, strict=True) if not a or n_act == 2)
    tape = (sizes[1] if act[0] else 0) + (sizes[0] if act[1] else 0)
    moved = size + sum(s for s, a in zip(sizes, act, strict=True) if a)
    return _Counts(n_act * madds, n_act * madds, madds, tape, n_act + 1, isz * fixed,
                   isz * moved, elementwise=False, names=[name])


def _closed(j: Any) -> Any:
    return getattr(j, "jaxpr", j)


def _inner_counts(e: Any, act: list[bool]) -> _Counts | None:
    """Counts of an op holding jaxprs (loops, branches, calls); None for any other op."""
    name, p = e.primitive.name, e.params
    if name == "scan":
        body, nc, ncar = _closed(p["jaxpr"]), p["num_consts"], p["num_carry"]
        c, length = _loop(body, list(act[:nc]), list(act[nc : nc + ncar]),
                          list(act[nc + ncar :])), int(p["length"])
        out = _Counts(elementwise=False, opaque=[f"scan(length={length})"], names=["scan"])
        out.add(c, length)
        return out
    if name == "while":
        cn, bn = p["cond_nconsts"], p["body_nconsts"]
        body = _closed(p["body_jaxpr"])
        c = _loop(body, list(act[cn : cn + bn]), list(act[cn + bn :]), [])
        trips = _trip_count(e)
        what = f"while({trips} trips)" if trips else "while(trip count unknown: costed once)"
        out = _Counts(elementwise=False, tangent_only=True, opaque=[what], names=["while"])
        out.add(c, trips or 1)
        return out
    if name == "cond":
        branches = [_jaxpr_counts(_closed(b), act[1:])[0] for b in p["branches"]]
        dearest = max(branches, key=lambda c: (c.tangent, c.adjoint))
        out = _Counts(kernels=1, elementwise=False, opaque=["cond"], names=["cond"])
        out.add(dearest)
        out.elementwise = False
        return out
    for key, label in (("jaxpr", name), ("call_jaxpr", name)):
        if key in p and hasattr(_closed(p[key]), "eqns"):
            c, _ = _jaxpr_counts(_closed(p[key]), act)
            kind = {"custom_vjp_call": "custom_vjp", "custom_jvp_call": "custom_jvp",
                    "pjit": "jit"}.get(label, label)
            c.opaque.append(kind + (f"({p['name']})" if "name" in p else ""))
            c.names = [kind]
            c.elementwise = False
            if name.startswith("custom_vjp"):
                c.adjoint_only = True
            return c
    return None


def _loop(body: Any, consts: list[bool], carry: list[bool], xs: list[bool]) -> _Counts:
    """One iteration of a loop body, its carries made active until nothing changes."""
    while True:
        c, out = _jaxpr_counts(body, consts + carry + xs)
        new = [a or b for a, b in zip(carry, out[: len(carry)], strict=True)]
        if new == carry:
            return c
        carry = new


def _trip_count(e: Any) -> int | None:
    """The trips of a counted ``while`` (``i < N`` from a literal start), else None."""
    cond = _closed(e.params["cond_jaxpr"])
    if len(cond.eqns) != 1 or cond.eqns[0].primitive.name != "lt":
        return None
    a, b = cond.eqns[0].invars
    carries = e.invars[e.params["cond_nconsts"] + e.params["body_nconsts"] :]
    cvars = cond.invars[e.params["cond_nconsts"] :]
    if not (_is_var(a) and a in cvars and isinstance(b, jcore.Literal)):
        return None
    start = carries[cvars.index(a)]
    if not isinstance(start, jcore.Literal):
        return None
    return max(0, int(b.val) - int(start.val)) or None


def _factor(index: int, seg: Segment) -> ADFactor:
    active = set(seg.inputs)
    total = _Counts()
    fused = False
    for e in seg.eqns:
        flags = [_is_var(v) and v in active for v in e.invars]
        c = _eqn_counts(e, flags)
        fused |= c.elementwise and c.kernels == 0
        total.add(c)
        active.update(o for o in e.outvars if not isinstance(o, jcore.DropVar))
    total.kernels += fused
    n = sum(_size(v) for v in seg.inputs)
    m = sum(_size(v) for v in seg.outputs)
    diagonal = (total.elementwise and len(seg.inputs) == len(seg.outputs) == 1 and n == m
                and any(name in _ELEMENTWISE for name in total.names))
    kind = "opaque" if total.opaque else ("diagonal" if diagonal else "dense")
    names = total.opaque or [k for k in dict.fromkeys(total.names) if k not in _FREE]
    label = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    isz = max(_itemsize(v) for v in seg.inputs)
    if total.adjoint_only and total.tangent_only:
        raise _NotCut(f"factor {index} ({label}) allows neither tangents nor adjoints")
    modes = ("adjoint",) if total.adjoint_only else (
        ("tangent",) if total.tangent_only else ("tangent", "adjoint"))
    return ADFactor(
        index, n, m, total.tangent, total.adjoint, total.tape, total.primal, total.kernels,
        total.fixed + isz * n, total.per_direction + isz * (n + m), modes, kind, isz, label,
    )


# ----------------------------------------------------------------------------- execution


def _read(env: Mapping[Any, Any], v: Any) -> Any:
    return v.val if isinstance(v, jcore.Literal) else env[v]


def _eval(eqns: Sequence[Any], env: Any) -> None:
    """Evaluate ``eqns`` in ``env`` (a mapping of jaxpr variables to values), in order."""
    for e in eqns:
        bound = e.primitive.get_bind_params(e.params)
        subfuns, params = (bound if isinstance(bound, tuple) else ([], bound))  # older jax: pair
        ctx = getattr(getattr(e, "ctx", None), "manager", None)
        with ctx if ctx is not None else contextlib.nullcontext():
            ans = e.primitive.bind(*subfuns, *(_read(env, v) for v in e.invars), **params)
        outs = ans if e.primitive.multiple_results else [ans]
        for v, val in zip(e.outvars, outs, strict=True):
            if not isinstance(v, jcore.DropVar):
                env[v] = val


def _segment_function(seg: Segment, env: Mapping[Any, Any]) -> Callable[[Any], Any]:
    """The segment as a map of flat state vectors (its constants read from ``env``)."""
    sizes = [_size(v) for v in seg.inputs]
    dtype = jnp.result_type(*(v.aval.dtype for v in seg.outputs))

    def fn(z: Any) -> Any:
        local: ChainMap[Any, Any] = ChainMap({}, dict(env))
        for v, part in zip(seg.inputs, _split(z, sizes), strict=True):
            local[v] = part.reshape(v.aval.shape).astype(v.aval.dtype)
        _eval(seg.eqns, local)
        return _concat([_read(local, v) for v in seg.outputs], dtype)

    return fn


def _compose(fs: Sequence[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    return lambda v: reduce(lambda z, f: f(z), fs, v)


def _shard(seeds: Any, axis: int) -> Any:
    """Spread a large batch of seeds (batch on ``axis``) across the devices JAX sees."""
    devices = jax.devices()
    b = seeds.shape[axis]
    if len(devices) < 2 or b < SHARD_FROM or b % len(devices):
        return seeds
    mesh = jax.sharding.Mesh(np.array(devices), ("batch",))
    spec: list[str | None] = [None, None]
    spec[axis] = "batch"
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*spec))
    return jax.lax.with_sharding_constraint(seeds, sharding)


def _tangent_batch(f: Callable[[Any], Any], z: Any, seeds: Any) -> Any:
    """``F'(z) @ seeds`` for an ``(n, b)`` block of tangents, by vmapped ``jvp``."""
    seeds = _shard(seeds.astype(z.dtype), 1)
    return jax.vmap(lambda v: jax.jvp(f, (z,), (v,))[1], in_axes=1, out_axes=1)(seeds)


def _adjoint_batch(f: Callable[[Any], Any], z: Any, seeds: Any) -> Any:
    """``seeds @ F'(z)`` for a ``(b, m)`` block of adjoints, by vmapped ``vjp``."""
    out, pullback = jax.vjp(f, z)
    seeds = _shard(seeds.astype(out.dtype), 0)
    return jax.vmap(lambda u: pullback(u)[0])(seeds)


def _run_ops(schedule: Schedule, fs: Sequence[Callable[[Any], Any]], zs: Sequence[Any],
             values: bool = False) -> Any:
    """Execute the schedule's ops in order; ``zs[i]`` is the flat input of factor ``i``.

    ``values=True``: a last op that compresses the whole chain returns the Jacobian's
    values on its pattern (CSR order) instead of the dense Jacobian.
    """
    built: dict[int, Any] = {}  # built[first] = J(first..last), made and not yet consumed
    last = schedule.ops[-1]
    if values and last.kind == "compress" and len(schedule.ops) == 1:
        return _compressed(schedule, last, _compose(fs), zs[0], values_only=True)
    for op in schedule.ops:
        a, b, s = op.first, op.last, op.split
        if op.kind == "accumulate" and op.mode == "tangent":
            eye = jnp.eye(schedule.factors[a].n, dtype=zs[a].dtype)
            jac = _tangent_batch(_compose(fs[a : b + 1]), zs[a], eye)
        elif op.kind == "accumulate":
            eye = jnp.eye(schedule.factors[b].m, dtype=zs[a].dtype)
            jac = _adjoint_batch(_compose(fs[a : b + 1]), zs[a], eye)
        elif op.kind == "tangent":
            assert s is not None
            jac = _tangent_batch(_compose(fs[s + 1 : b + 1]), zs[s + 1], built.pop(a))
        elif op.kind == "adjoint":
            assert s is not None
            jac = _adjoint_batch(_compose(fs[a : s + 1]), zs[a], built.pop(s + 1))
        elif op.kind == "compress":
            jac = _compressed(schedule, op, _compose(fs[a : b + 1]), zs[a])
        else:
            assert s is not None
            jac = built.pop(s + 1) @ built.pop(a)
        built[a] = jac
    return built[0]


def _compressed(schedule: Schedule, op: Op, f: Callable[[Any], Any], z: Any,
                values_only: bool = False) -> Any:
    """``J(first..last)`` from compressed tangents (adjoints) of its span's coloring, gathered
    onto the span's pattern (the seeds and the gather are constants of the traced program);
    ``values_only=True``: only the values on the pattern, CSR order."""
    pattern = span_pattern(schedule.factors, op.first, op.last)
    assert pattern is not None
    coloring = (column_coloring if op.mode == "tangent" else row_coloring)(pattern)
    dtype = z.dtype
    rows, cols = pattern.row_ids(), pattern.indices
    out = jnp.zeros(pattern.shape, dtype)
    if coloring.count == 0 or pattern.nnz == 0:
        return jnp.zeros(pattern.nnz, dtype) if values_only else out
    # seeds one per row (count x width): each compressed direction is contiguous
    seeds = jnp.asarray(coloring.seed(np.dtype(dtype)).T)
    if op.mode == "tangent":
        compressed = jax.vmap(lambda v: jax.jvp(f, (z,), (v,))[1])(seeds)  # count x m
        a, c = coloring.gather_index()
        values = compressed[c, a]
    else:
        compressed = _adjoint_batch(f, z, seeds)  # count x n
        a, c = coloring.gather_index()
        values = compressed[a, c]
    return values.astype(dtype) if values_only else out.at[rows, cols].set(values.astype(dtype))


def with_sparsity(program: Program, sparsity: Any) -> Program:
    """``program`` with sparsity patterns: ``'detect'`` each factor's, or one pattern given
    for the whole function (the program then is one factor carrying it)."""
    if sparsity == "detect":
        factors = [replace(f, pattern=jaxpr_pattern(seg.eqns, seg.inputs, seg.outputs))
                   for f, seg in zip(program.factors, program.segments, strict=True)]
        return replace(program, factors=factors,
                       cut=program.cut + "; patterns detected from the jaxpr")
    m, n = program.factors[-1].m, program.factors[0].n
    if sparsity.shape != (m, n):
        raise ValueError(
            f"sparsity is a {sparsity.rows}x{sparsity.cols} pattern but the Jacobian is "
            f"{m}x{n} (outputs x inputs, each flattened)")
    segs = program.segments
    whole = Segment([e for seg in segs for e in seg.eqns], segs[0].inputs, segs[-1].outputs)
    one = _measure(program.layout, program.jaxpr, program.consts, program.prelude, [whole],
                   "as one factor (sparsity given for the whole function)", program.reusable)
    return replace(one, factors=[replace(one.factors[0], pattern=sparsity)])


def schedule_function(program: Program, schedule: Schedule,
                      f: Callable[..., Any], values: bool = False) -> Callable[..., Any]:
    """The schedule as a traceable ``(consts, dyn, rest) -> jacobian`` (``, aux`` with has_aux).

    ``dyn`` and ``rest`` are the leaves :meth:`Layout.split` makes of ``f``'s arguments.
    ``values=True``: the flat Jacobian's values on the whole chain's pattern (every entry
    where a factor has none), CSR order, instead of the Jacobian.
    """
    layout, jaxpr = program.layout, program.jaxpr
    rest_vars = list(jaxpr.invars[1:])

    def run(consts: Sequence[Any], dyn: Sequence[Any], rest: Sequence[Any]) -> Any:
        env: dict[Any, Any] = dict(zip(jaxpr.constvars, consts, strict=True))
        env.update(zip(rest_vars, jax.tree_util.tree_leaves(list(rest)), strict=True))
        _eval(program.prelude, env)
        fs = [_segment_function(seg, env) for seg in program.segments]
        zs = [layout.ravel_in(dyn)]
        for fn in fs[:-1]:
            zs.append(fn(zs[-1]))
        if values:
            jac = _values(schedule, _run_ops(schedule, fs, zs, values=True), layout,
                          program.rule)
        else:
            jac = layout.unravel_jacobian(_run_ops(schedule, fs, zs), program.rule)
        if layout.has_aux:
            return jac, f(*layout.rebuild(dyn, rest))[1]
        return jac

    return run


def _values(schedule: Schedule, out: Any, layout: Layout, rule: str) -> Any:
    """``out`` (values on the whole pattern, or the dense flat Jacobian) as those values."""
    dtype = layout.out_dtype if rule == "jacfwd" else layout.in_dtype
    if out.ndim == 2:
        pattern = span_pattern(schedule.factors, 0, schedule.q - 1)
        out = out.ravel() if pattern is None else out[pattern.row_ids(), pattern.indices]
    return out.astype(dtype)


def peer_function(layout: Layout, f: Callable[..., Any], mode: str) -> Callable[..., Any]:
    """``jax.jacfwd`` (``mode='tangent'``) or ``jax.jacrev`` of ``f``, as ``(dyn, rest) -> ...``."""
    transform = jax.jacfwd if mode == "tangent" else jax.jacrev
    whole = transform(f, argnums=layout.argnums, has_aux=layout.has_aux)
    cast = layout.out_tree is not None

    def run(dyn: Sequence[Any], rest: Sequence[Any]) -> Any:
        out = whole(*layout.rebuild(dyn, rest))
        if not cast or mode == "tangent":
            return out
        jac = out[0] if layout.has_aux else out
        dtypes = [d for d in layout.out_dtypes for _ in layout.in_dtypes]
        jac = jax.tree_util.tree_unflatten(
            jax.tree_util.tree_structure(jac),
            [j.astype(d) for j, d in zip(jax.tree_util.tree_leaves(jac), dtypes, strict=True)])
        return (jac, out[1]) if layout.has_aux else jac

    return run


# ----------------------------------------------------------------------------- timing


def time_calls(calls: Mapping[str, Callable[[], Any]], rounds: int = 5,
               block_seconds: float = 0.02) -> dict[str, list[float]]:
    """Seconds of each call, interleaved: per round, each call's fastest run in a block.

    The one timing loop of the JAX engine (tuning, calibration and the benchmarks use it).
    Each round runs every call for ``block_seconds`` (at least three runs) and keeps its
    fastest, the rounds in :func:`chainorder.timing.interleave`'s orders (each call goes
    first, and follows each other one, as often). Results are waited for
    (``jax.block_until_ready``).

    Examples
    --------
    >>> times = time_calls({"sin": lambda: jnp.sin(1.0)}, rounds=2, block_seconds=0.0)
    >>> len(times["sin"])
    2
    """
    from ..timing import fastest, interleave

    blocked = {name: (lambda run=run: jax.block_until_ready(run())) for name, run in calls.items()}
    return interleave({name: fastest(fn, seconds=block_seconds) for name, fn in blocked.items()},
                      rounds=rounds) if calls else {}


# ----------------------------------------------------------------------------- time model


def fingerprint() -> dict[str, Any]:
    """What a JAX time model holds for: CPU, cores, jax, jaxlib, devices, XLA_FLAGS, versions.

    Examples
    --------
    >>> fp = fingerprint()
    >>> fp["jax"] == jax.__version__, fp["device_count"] >= 1
    (True, True)
    """
    import jaxlib

    machine = machine_fingerprint()
    device = jax.devices()[0]
    return {
        "cpu_model": machine["cpu_model"], "cores": machine["cores"],
        "machine": platform.machine(), "jax": jax.__version__,
        "jaxlib": jaxlib.__version__, "platform": device.platform,
        "device_kind": device.device_kind, "device_count": jax.device_count(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "x64": bool(jnp.result_type(float) == jnp.float64),
        "chainorder": __version__,
    }


_LOADED: dict[str, TimeModel] = {}


def load_model(directory: str | None = None) -> TimeModel:
    """This machine's cached JAX time model, read once per process; :data:`DEFAULT_MODEL`
    when none is cached (``calibrate()`` makes one)."""
    path = time_model_path(fingerprint(), "jax", directory)
    key = str(path)
    if key not in _LOADED:
        try:
            _LOADED[key] = TimeModel.load(path) if path.exists() else DEFAULT_MODEL
        except ValueError:
            _LOADED[key] = DEFAULT_MODEL
    return _LOADED[key]


def _calibration_programs(
    seed: int, widths: Sequence[int] = (8, 64, 256, 512),
    batches: Sequence[int] = (1, 8, 64, 256),
) -> list[tuple[Callable[[], Any], tuple[int, int, int]]]:
    """Small programs whose features are known: sweeps through tanh layers, products."""
    rng = np.random.default_rng(seed)
    out: list[tuple[Callable[[], Any], tuple[int, int, int]]] = []
    dtype = jnp.result_type(float)
    for width in widths:
        weights = [jnp.asarray(rng.standard_normal((width, width)) / np.sqrt(width), dtype)
                   for _ in range(3)]

        def chain(z: Any, ws: Sequence[Any] = weights) -> Any:
            for w in ws:
                z = jnp.tanh(w @ z)
            return z

        z = jnp.asarray(rng.standard_normal(width), dtype)
        layout = make_layout((z,), 0, False)
        program = trace_program(chain, (z,), layout)
        fs = program.factors
        for batch in batches:
            for mode in ("tangent", "adjoint"):
                shape = (width, batch) if mode == "tangent" else (batch, width)
                seeds = jnp.asarray(rng.standard_normal(shape), dtype)
                sweep = _tangent_batch if mode == "tangent" else _adjoint_batch
                call = jax.jit(partial(sweep, chain)).lower(z, seeds).compile()
                op = Op("accumulate", mode, 0, len(fs) - 1, None, batch, 0, 0)
                out.append((partial(call, z, seeds), op_features(op, fs)))
    products = ((8, 8, 8), (64, 8, 64), (256, 256, 256), (512, 16, 512), (512, 512, 64))
    for m, k, n in products[: len(widths) + 1]:
        a = jnp.asarray(rng.standard_normal((m, k)), dtype)
        b = jnp.asarray(rng.standard_normal((k, n)), dtype)
        call = jax.jit(jnp.matmul).lower(a, b).compile()
        isz = np.dtype(dtype).itemsize
        out.append((partial(call, a, b), (1, m * k * n, isz * (m * k + k * n + m * n))))
    return out


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares with non-negative coefficients, by trying every set of free columns."""
    best, best_x = math.inf, np.zeros(a.shape[1])
    cols = range(a.shape[1])
    for k in range(1, a.shape[1] + 1):
        for free in _subsets(cols, k):
            x_free, *_ = np.linalg.lstsq(a[:, free], b, rcond=None)
            if np.all(x_free >= 0):
                x = np.zeros(a.shape[1])
                x[list(free)] = x_free
                r = float(np.sum((a @ x - b) ** 2))
                if r < best:
                    best, best_x = r, x
    return best_x


def _subsets(cols: range, k: int) -> list[list[int]]:
    from itertools import combinations

    return [list(c) for c in combinations(cols, k)]


def calibrate(rounds: int = 5, block_seconds: float = 0.01, save: bool = True,
              directory: str | None = None, seed: int = 0, quick: bool = False) -> TimeModel:
    """Fit this machine's JAX time model (about half a minute) and cache it (``save=True``).

    Times 37 compiled programs with known features (sweeps of 1 to 256 tangents or
    adjoints through tanh layers 8 to 512 wide, dense products), interleaved, and fits
    the call, kernel, multiply-add and byte coefficients (non-negative) to relative
    error. The fit's median and largest errors land in ``model.errors``. ``quick=True``
    times 7 small programs (a smoke test, not a model to keep).
    """
    programs = (_calibration_programs(seed, (8,), (1, 16)) if quick
                else _calibration_programs(seed))
    calls = {str(i): run for i, (run, _) in enumerate(programs)}
    calls["call"] = jax.jit(lambda: jnp.zeros(())).lower().compile()
    times = time_calls(calls, rounds, block_seconds)
    t = np.array([np.median(times[str(i)]) for i in range(len(programs))])
    feats = np.array([[1.0, *map(float, fx)] for _, fx in programs])
    call = float(np.median(times["call"]))
    weights = 1 / t
    coef = _nnls(feats * weights[:, None], t * weights)
    coef[0] = max(coef[0], call)
    errors = np.abs(feats @ coef - t) / t
    call_s, kernel_s, madd_s, byte_s = (float(c) for c in coef)
    model = TimeModel(call_s, kernel_s, madd_s, byte_s, fingerprint=fingerprint(), errors={
        "median": round(float(np.median(errors)), 4), "max": round(float(errors.max()), 4),
        "programs": len(programs)})
    if save:
        path = time_model_path(model.fingerprint, "jax", directory)
        model.save(path)
        _LOADED[str(path)] = model
    return model


# ----------------------------------------------------------------------------- the engine


class JaxEngine:
    """The JAX engine behind :func:`chainorder.ad.jacobian` (see :mod:`chainorder.ad.engine`)."""

    name = "jax"
    signature = staticmethod(signature)
    make_layout = staticmethod(make_layout)
    trace_program = staticmethod(trace_program)
    trace_chain = staticmethod(trace_chain)
    schedule_function = staticmethod(schedule_function)
    with_sparsity = staticmethod(with_sparsity)
    peer_function = staticmethod(peer_function)
    time_calls = staticmethod(time_calls)
    device_count = staticmethod(jax.device_count)
    shard_from = SHARD_FROM
    not_cut = _NotCut

    @staticmethod
    def default_cost() -> TimeModel:
        return load_model()

    @staticmethod
    def jit(fn: Callable[..., Any]) -> Callable[..., Any]:
        return jax.jit(fn)

    @staticmethod
    def specs(values: Any) -> Any:
        return jax.tree_util.tree_map(lambda v: jax.ShapeDtypeStruct(np.shape(v), _dtype(v)),
                                      values)

    @staticmethod
    def is_traced(values: Any) -> bool:
        return any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(values))

    @staticmethod
    def compose(functions: Sequence[Callable[..., Any]]) -> Callable[..., Any]:
        return _compose(list(functions))

    def __repr__(self) -> str:
        return f"<JaxEngine jax {jax.__version__} on {jax.devices()[0].device_kind}>"


ENGINE = JaxEngine()
