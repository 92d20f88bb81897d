"""Sparsity detection: the Jacobian pattern of a jaxpr, by index sets through its primitives.

Every value of the jaxpr gets a pattern: for each of its (flattened) elements, the set of
input elements it may depend on, as a 0/1 :mod:`scipy.sparse` CSR matrix ``size x n``
(None: it depends on no input). The rules, each an over-approximation that is exact for
the usual stencil and convolution code (no numerical cancellation is assumed, like
asdex's and SparseConnectivityTracer.jl's global patterns):

* elementwise primitives (``add``, ``mul``, ``sin``, ``select_n`` ...): the union of the
  operands' sets, a scalar operand broadcast;
* structural primitives that move elements (``reshape``, ``slice``, ``pad``,
  ``concatenate``, ``transpose``, ``broadcast_in_dim``, ``rev``, ``squeeze``,
  ``expand_dims``, ``convert_element_type``, ``copy``): each output element's source is
  found by running the primitive on the element indices (``index + 1``, 0 for padding);
* reductions over axes (``reduce_sum``, ``reduce_max``, ``reduce_min``, ``reduce_prod``):
  the union over the reduced elements;
* ``dot_general``: an output element depends on the contracted rows (or columns) of its
  operands;
* ``conv_general_dilated`` with an active input: the input Jacobian's pattern from the
  convolution's index arithmetic (strides, padding, both dilations, feature groups, any
  dimension numbers); with ``batch_group_count > 1``, probed with a kernel of ones on
  one-hot inputs in blocks of 512, one input channel per feature group (exact: nothing
  can cancel, and a group's channels reach the same outputs);
* ``scan``: the body's rules step by step (up to 256 steps; longer scans and ``while``
  loops: to a fixed point of the carries' sets, a superset);
  ``pjit``, ``closed_call``, ``remat``, ``custom_jvp_call`` and ``custom_vjp_call``: their
  inner jaxpr;
* anything else: every output element depends on every input element its operands
  depend on (dense over their union).

A factor whose pattern would hold more than :data:`MAX_DETECTED` entries is reported dense
(None): its coloring could not beat a plain accumulation by much, and its pattern alone
would cost more than it saves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jcore

from ..algebra.kinds.sparse import SparsityPattern

__all__ = ["MAX_DETECTED", "detect_pattern", "jaxpr_pattern"]

#: A detected pattern with more entries than this is reported dense.
MAX_DETECTED = 4_000_000

_ELEMENTWISE = frozenset(
    "abs acos acosh add add_any asin asinh atan atan2 atanh cbrt clamp cos cosh div erf "
    "erf_inv erfc exp exp2 expm1 integer_pow log log1p logistic max min mul neg nextafter "
    "pow rem round rsqrt select_n sign sin sinh sqrt square sub tan tanh "
    "floor ceil is_finite stop_gradient".split())
_MOVES = frozenset(
    "reshape slice pad concatenate transpose broadcast_in_dim rev squeeze expand_dims".split())
_IDENTITY = frozenset("convert_element_type copy copy_p reduce_precision".split())
_REDUCE = frozenset("reduce_sum reduce_max reduce_min reduce_prod".split())
_CALLS = ("jaxpr", "call_jaxpr", "fun_jaxpr")
#: One-hot inputs per call when probing a convolution.
_PROBE = 512
#: Scans up to this length are followed step by step (exact); longer ones to a fixed point.
_EXACT_SCAN = 256


class _TooDense(Exception):
    """A pattern passed :data:`MAX_DETECTED` entries."""


def _sp() -> Any:
    import scipy.sparse as sp

    return sp


def _size(v: Any) -> int:
    return math.prod(getattr(v.aval, "shape", ()))


def _norm(p: Any) -> Any:
    p = p.tocsr()
    p.sum_duplicates()
    p.data[:] = 1
    if p.nnz > MAX_DETECTED:
        raise _TooDense
    return p


def _gather(p: Any, rows: np.ndarray) -> Any:
    """Rows ``rows`` of ``p``; a row index -1 is an empty row."""
    sp = _sp()
    ok = rows >= 0
    pick = sp.csr_matrix((np.ones(int(ok.sum()), np.int64), (np.nonzero(ok)[0], rows[ok])),
                         shape=(rows.size, p.shape[0]))
    return _norm(pick @ p)


def _union(parts: Sequence[Any], size: int, n: int) -> Any:
    live = [q for q in parts if q is not None]
    if not live:
        return None
    out = live[0]
    for q in live[1:]:
        out = out + q
    return _norm(out)


def _broadcast(p: Any, v: Any, size: int) -> Any:
    """The pattern of operand ``v`` seen by an elementwise op of ``size`` elements."""
    if p is None:
        return None
    if _size(v) == size:
        return p
    return _gather(p, np.zeros(size, np.int64))  # a scalar operand


def _elementwise(e: Any, pats: list[Any], n: int) -> list[Any]:
    size = _size(e.outvars[0])
    parts = [_broadcast(p, v, size) for p, v in zip(pats, e.invars, strict=True)]
    return [_union(parts, size, n) for _ in e.outvars]


def _moves(e: Any, pats: list[Any], n: int) -> list[Any]:
    """Run the primitive on element indices (``1 + index``, 0 where nothing is read)."""
    stacked, offset, operands = [], 0, []
    for v, p in zip(e.invars, pats, strict=True):
        shape = tuple(getattr(v.aval, "shape", ()))
        k = math.prod(shape)
        if p is None or not jnp.issubdtype(v.aval.dtype, jnp.floating):
            operands.append(np.zeros(shape, np.int32))
        else:
            operands.append((np.arange(k, dtype=np.int32) + offset + 1).reshape(shape))
            stacked.append(p)
            offset += k
    if not stacked:
        return [None for _ in e.outvars]
    params = dict(e.params)
    if "new_dtype" in params:
        params["new_dtype"] = np.int32
    with jax.ensure_compile_time_eval():
        out = np.asarray(e.primitive.bind(*map(jnp.asarray, operands), **params)).ravel()
    return [_gather(_sp().vstack(stacked).tocsr(), out.astype(np.int64) - 1)]


def _reduce(e: Any, pats: list[Any], n: int) -> list[Any]:
    (p,), v = pats, e.invars[0]
    if p is None:
        return [None]
    shape = v.aval.shape
    kept = [d for d in range(len(shape)) if d not in e.params["axes"]]
    coords = np.indices(shape).reshape(len(shape), -1)
    target = np.ravel_multi_index(coords[kept], [shape[d] for d in kept]) if kept \
        else np.zeros(coords.shape[1], np.int64)
    sp = _sp()
    size = _size(e.outvars[0])
    s = sp.csr_matrix((np.ones(target.size, np.int64), (target, np.arange(target.size))),
                      shape=(size, target.size))
    return [_norm(s @ p)]


def _dot_side(pat: Any, shape: tuple[int, ...], contract: Sequence[int],
              batch: Sequence[int], out_index: np.ndarray) -> Any:
    """Pattern of ``dot_general``'s output through one operand; ``out_index[b, f]`` groups."""
    free = [d for d in range(len(shape)) if d not in contract and d not in batch]
    idx = np.arange(math.prod(shape)).reshape(shape).transpose([*batch, *free, *contract])
    groups = idx.reshape(-1, math.prod(shape[d] for d in contract) if contract else 1)
    sp = _sp()
    rows = np.repeat(np.arange(groups.shape[0]), groups.shape[1])
    s = sp.csr_matrix((np.ones(rows.size, np.int64), (rows, groups.ravel())),
                      shape=(groups.shape[0], idx.size))
    return _gather(_norm(s @ pat), out_index.ravel())


def _dot_general(e: Any, pats: list[Any], n: int) -> list[Any]:
    (lc, rc), (lb, rb) = e.params["dimension_numbers"]
    ls, rs = e.invars[0].aval.shape, e.invars[1].aval.shape
    nb = math.prod(ls[d] for d in lb)
    lf = math.prod(ls[d] for d in range(len(ls)) if d not in lc and d not in lb)
    rf = math.prod(rs[d] for d in range(len(rs)) if d not in rc and d not in rb)
    b, i, j = np.meshgrid(np.arange(nb), np.arange(lf), np.arange(rf), indexing="ij")
    parts = []
    if pats[0] is not None:
        parts.append(_dot_side(pats[0], ls, lc, lb, b * lf + i))
    if pats[1] is not None:
        parts.append(_dot_side(pats[1], rs, rc, rb, b * rf + j))
    return [_union(parts, _size(e.outvars[0]), n)]


def _conv(e: Any, pats: list[Any], n: int) -> list[Any]:
    """The input Jacobian's pattern by the convolution's index arithmetic (or by probing).

    An output element reads, in each input channel of its feature group, the input
    positions its window covers: ``o * stride + k * rhs_dilation - pad_low`` on the
    dilated input, an input element where that falls on one (``lhs_dilation``). A
    ``batch_group_count`` above 1 is probed instead (:func:`_probe_conv`).
    """
    if pats[1] is not None:
        return _dense(e, pats, n)
    lhs = e.invars[0].aval
    k = math.prod(lhs.shape)
    if e.params.get("batch_group_count", 1) == 1:
        s = _conv_index_pattern(e)
    else:
        rep = _channel_representatives(e, lhs.shape)
        probed = np.unique(rep)
        r, c = _probe_conv(e, probed, k)
        s = _sp().csc_matrix((np.ones(r.size, np.int64), (r, c)),
                             shape=(_size(e.outvars[0]), k))[:, rep]
    return [_norm(s.tocsr() @ pats[0])]


def _conv_index_pattern(e: Any) -> Any:
    """``out x in`` 0/1 CSR of a ``conv_general_dilated`` with ``batch_group_count == 1``."""
    lhs, rhs, out = (v.aval.shape for v in (e.invars[0], e.invars[1], e.outvars[0]))
    dn = e.params["dimension_numbers"]
    lspec, rspec, ospec = (tuple(int(a) for a in spec) for spec in dn)
    spatial = len(lspec) - 2
    strides = tuple(e.params.get("window_strides") or (1,) * spatial)
    lhs_dil = tuple(e.params.get("lhs_dilation") or (1,) * spatial)
    rhs_dil = tuple(e.params.get("rhs_dilation") or (1,) * spatial)
    pads = [int(lo) for lo, _ in e.params["padding"]]
    groups = int(e.params.get("feature_group_count", 1))
    per_group_in = rhs[rspec[1]]
    per_group_out = out[ospec[1]] // groups
    kernel = [rhs[rspec[2 + d]] for d in range(spatial)]
    if math.prod(out) * per_group_in * math.prod(kernel) > 2 * MAX_DETECTED:
        raise _TooDense  # at least MAX_DETECTED entries, whatever the padding drops
    coords = np.indices(out).reshape(len(out), -1)
    rows_all = np.arange(math.prod(out), dtype=np.int64)
    batch, feature = coords[ospec[0]], coords[ospec[1]]
    first_channel = feature // per_group_out * per_group_in
    at = [coords[ospec[2 + d]] * strides[d] - pads[d] for d in range(spatial)]
    rows, cols = [], []
    for offset in np.ndindex(*kernel, per_group_in):
        ok = np.ones(rows_all.size, bool)
        where: list[Any] = [None] * len(lhs)
        where[lspec[0]] = batch
        where[lspec[1]] = first_channel + offset[-1]
        for d in range(spatial):
            p = at[d] + offset[d] * rhs_dil[d]
            i, r = np.divmod(p, lhs_dil[d])
            ok &= (r == 0) & (i >= 0) & (i < lhs[lspec[2 + d]])
            where[lspec[2 + d]] = i
        rows.append(rows_all[ok])
        cols.append(np.ravel_multi_index(tuple(w[ok] for w in where), lhs))
    r, c = np.concatenate(rows), np.concatenate(cols)
    return _sp().csr_matrix((np.ones(r.size, np.int64), (r, c)),
                            shape=(rows_all.size, math.prod(lhs)))


def _channel_representatives(e: Any, shape: tuple[int, ...]) -> np.ndarray:
    """For each input element, the element of its feature group's first channel."""
    flat = np.arange(math.prod(shape))
    groups = e.params.get("feature_group_count", 1)
    if e.params.get("batch_group_count", 1) != 1:
        return flat
    feature = e.params["dimension_numbers"].lhs_spec[1]
    per = shape[feature] // groups
    coords = np.indices(shape).reshape(len(shape), -1)
    coords[feature] = coords[feature] // per * per
    return np.asarray(np.ravel_multi_index(tuple(coords), shape), dtype=np.int64)


def _probe_conv(e: Any, probed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the input Jacobian's entries in the columns ``probed``."""
    lhs, rhs = e.invars[0].aval, e.invars[1].aval
    ones = np.ones(rhs.shape, np.float32)

    def conv(x: Any) -> Any:
        return e.primitive.bind(x.reshape(lhs.shape), jnp.asarray(ones), **e.params).ravel()

    rows, cols = [], []
    size = min(_PROBE, probed.size)  # one compiled probe of a fixed block size
    with jax.ensure_compile_time_eval():
        probe = jax.jit(jax.vmap(conv))
        for start in range(0, probed.size, size):
            which = probed[start : start + size]
            block = np.zeros((size, k), np.float32)
            block[np.arange(which.size), which] = 1
            c, r = np.nonzero(np.asarray(probe(jnp.asarray(block)))[: which.size])
            rows.append(r)
            cols.append(which[c])
    return np.concatenate(rows), np.concatenate(cols)


def _dense(e: Any, pats: list[Any], n: int) -> list[Any]:
    """Every output element depends on the union of what the operands depend on."""
    live = [p for p in pats if p is not None]
    if not live:
        return [None for _ in e.outvars]
    hits = np.zeros(n, np.int64)
    for p in live:
        hits += np.asarray(p.sum(axis=0)).ravel()
    union = _norm(_sp().csr_matrix(hits.reshape(1, -1) > 0))
    return [None if isinstance(o, jcore.DropVar) or not _floating(o)
            else _gather(union, np.zeros(_size(o), np.int64)) for o in e.outvars]


def _floating(v: Any) -> bool:
    dtype = getattr(v.aval, "dtype", None)
    return dtype is not None and jnp.issubdtype(dtype, jnp.floating)


def _inner(j: Any) -> tuple[Any, list[Any]]:
    return (j.jaxpr, list(j.consts)) if hasattr(j, "consts") else (j, [])


def _call(e: Any, pats: list[Any], n: int) -> list[Any] | None:
    for key in _CALLS:
        if key in e.params and hasattr(_inner(e.params[key])[0], "eqns"):
            jaxpr, _ = _inner(e.params[key])
            if len(jaxpr.invars) == len(pats):
                return _propagate(jaxpr, pats, n)
    return None


def _same(a: list[Any], b: list[Any]) -> bool:
    return all((x is None) == (y is None) and (x is None or x.nnz == y.nnz)
               for x, y in zip(a, b, strict=True))


def _scan(e: Any, pats: list[Any], n: int) -> list[Any]:
    jaxpr, consts = _inner(e.params["jaxpr"])
    nc, nk, length = e.params["num_consts"], e.params["num_carry"], e.params["length"]
    const_p, carry, xs = pats[:nc], pats[nc : nc + nk], pats[nc + nk :]
    slices = [None if p is None else _fold(p, length) for p in xs]
    ys: list[Any] = [None] * (len(e.outvars) - nk)
    exact = length <= _EXACT_SCAN  # step by step; beyond it, the union to a fixed point
    for _ in range(length if exact else length + 1):
        out = _propagate(jaxpr, [*const_p, *carry, *slices], n)
        ys = [_union([a, b], 0, n) for a, b in zip(ys, out[nk:], strict=True)]
        new = out[:nk] if exact else [
            _union([a, b], 0, n) for a, b in zip(carry, out[:nk], strict=True)]
        if not exact and _same(new, carry):
            break
        carry = new
    return [*carry, *(None if y is None else _tile(y, length) for y in ys)]


def _fold(p: Any, length: int) -> Any:
    """The union over ``t`` of the slices ``t`` of a stacked pattern (rows ``length x k``)."""
    k = p.shape[0] // length
    rows = np.arange(p.shape[0]) % k
    sp = _sp()
    s = sp.csr_matrix((np.ones(rows.size, np.int64), (rows, np.arange(rows.size))),
                      shape=(k, p.shape[0]))
    return _norm(s @ p)


def _tile(p: Any, length: int) -> Any:
    return _gather(p, np.tile(np.arange(p.shape[0]), length))


def _while(e: Any, pats: list[Any], n: int) -> list[Any]:
    body, _ = _inner(e.params["body_jaxpr"])
    cn, bn = e.params["cond_nconsts"], e.params["body_nconsts"]
    const_p, carry = pats[cn : cn + bn], pats[cn + bn :]
    for _ in range(n + 2):
        out = _propagate(body, [*const_p, *carry], n)
        new = [_union([a, b], 0, n) for a, b in zip(carry, out, strict=True)]
        if _same(new, carry):
            break
        carry = new
    return carry


_RULES = {"dot_general": _dot_general, "conv_general_dilated": _conv, "scan": _scan,
          "while": _while}


def _eqn(e: Any, pats: list[Any], n: int) -> list[Any]:
    name = e.primitive.name
    if all(p is None for p in pats):
        return [None for _ in e.outvars]
    if name in _ELEMENTWISE:
        return _elementwise(e, pats, n)
    if name in _IDENTITY:
        return [pats[0]]
    if name in _MOVES:
        return _moves(e, pats, n)
    if name in _REDUCE:
        return _reduce(e, pats, n)
    if name in _RULES:
        return _RULES[name](e, pats, n)
    inner = _call(e, pats, n)
    return inner if inner is not None else _dense(e, pats, n)


def _propagate(jaxpr: Any, pats: list[Any], n: int) -> list[Any]:
    """The patterns of ``jaxpr``'s outputs given its inputs' (constvars depend on nothing)."""
    env: dict[Any, Any] = dict(zip(jaxpr.invars, pats, strict=True))

    def read(v: Any) -> Any:
        return None if isinstance(v, jcore.Literal) else env.get(v)

    for e in jaxpr.eqns:
        outs = _eqn(e, [read(v) for v in e.invars], n)
        for o, p in zip(e.outvars, outs, strict=True):
            if not isinstance(o, jcore.DropVar):
                env[o] = p if _floating(o) else None
    return [read(v) for v in jaxpr.outvars]


def _to_pattern(p: Any, m: int, n: int) -> SparsityPattern:
    if p is None:
        return SparsityPattern(m, n, np.zeros(m + 1, np.int64), [])
    p = p.tocsr()
    p.sort_indices()
    return SparsityPattern(m, n, p.indptr, p.indices)


def jaxpr_pattern(eqns: Sequence[Any], inputs: Sequence[Any],
                  outputs: Sequence[Any]) -> SparsityPattern | None:
    """The pattern of the map from ``inputs`` (flattened, concatenated) to ``outputs``.

    None when it would hold more than :data:`MAX_DETECTED` entries or is full (dense).
    """
    sp = _sp()
    n = sum(_size(v) for v in inputs)
    m = sum(_size(v) for v in outputs)
    env_inputs, start = [], 0
    for v in inputs:
        k = _size(v)
        env_inputs.append(sp.csr_matrix(
            (np.ones(k, np.int64), (np.arange(k), start + np.arange(k))), shape=(k, n)))
        start += k
    try:
        outs = _propagate(_Jaxpr(list(inputs), list(eqns), list(outputs)), env_inputs, n)
        blocks = [sp.csr_matrix((_size(v), n)) if p is None else p
                  for v, p in zip(outputs, outs, strict=True)]
        total = _norm(sp.vstack(blocks))
    except _TooDense:
        return None
    if total.nnz == m * n:
        return None
    return _to_pattern(total, m, n)


class _Jaxpr:
    """A segment of equations seen as a jaxpr (``invars``, ``eqns``, ``outvars``)."""

    def __init__(self, invars: list[Any], eqns: list[Any], outvars: list[Any]) -> None:
        self.invars, self.eqns, self.outvars = invars, eqns, outvars


def detect_pattern(f: Any, x: Any) -> SparsityPattern | None:
    """The detected Jacobian pattern of ``f: R^n -> R^m`` (flat arrays) at ``x``'s shape.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> detect_pattern(lambda u: u[1:] - u[:-1], jnp.zeros(4)).to_mask().tolist()
    [[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]
    """
    closed = jax.make_jaxpr(f)(jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x)))
    j = closed.jaxpr
    return jaxpr_pattern(j.eqns, j.invars, j.outvars)
