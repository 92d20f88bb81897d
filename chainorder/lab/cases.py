"""The append-only table of benchmark and sweep cases: seeded Jacobian chains with stable ids.

Every case names a *kind* (how its chain is built) and the parameters of
that builder; :meth:`Case.build` returns the explicit Jacobian chain, loss
side first, and is deterministic (all randomness is seeded). Benchmarks,
``chainorder sweep`` and ``chainorder report`` all draw from :data:`CASES`;
``quick`` cases are small enough that the whole quick set runs in a few
minutes on two cores.

The table is append-only: add new cases at the end, never rename, reorder
or change an existing one, so saved results stay comparable.

Mini-batches (kind ``'minibatch'``) are modelled as ``B`` loss-gradient rows
sharing one Jacobian chain: the chain starts with a ``B x |z_L|`` block
instead of ``1 x |z_L|`` and its product is the ``B x |x|`` matrix of the
per-example input gradients. That is exact only when the Jacobians do not
depend on the example, so these cases use the article's network with the
identity activation (a linear network). It is the case most favourable to
input-first, which then shares its matrix-matrix products across the batch;
with example-dependent Jacobians each example needs its own chain, both
orders cost ``B`` times their single-example cost, and the ratio between
them is the ``B = 1`` ratio.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from ..algebra.chain import Chain

__all__ = ["Case", "CASES", "KINDS", "get_case", "select_cases", "random_dims"]


# ----------------------------------------------------------------------------- builders


def _rng(seed: int, stream: int) -> np.random.Generator:
    """An independent seeded stream per purpose (weights use ``seed``, data ``[seed, 1]``...)."""
    return np.random.default_rng([int(seed), int(stream)])


def _network_chain(net: Any, seed: int) -> Chain:
    """``net.input_chain`` at a seeded input ``x ~ N(0, 1)`` and target ``y ~ N(0, 1/4)``."""
    rng = _rng(seed, 1)
    x = rng.standard_normal(net.widths[0])
    y = 0.5 * rng.standard_normal(net.widths[-1])
    return net.input_chain(x, y)


def _article(x: int, z1: int, z3: int, activation: str = "sigmoid", seed: int = 0) -> Chain:
    from ..networks.network import article_network

    return _network_chain(article_network(x, z1, z3, activation=activation, seed=seed), seed)


def _mlp(widths: tuple[int, ...], activation: str = "tanh", seed: int = 0) -> Chain:
    from ..networks.network import Network

    return _network_chain(Network.from_widths(list(widths), activation=activation, seed=seed), seed)


def _recurrent(T: int, hidden: int, inputs: int, seed: int = 0) -> Chain:
    from ..networks.recurrent import recurrent_chain

    return recurrent_chain(T, hidden, inputs, seed=seed)


def random_dims(n: int, high: int, seed: int, scalar_loss: bool = True) -> list[int]:
    """Seeded chain dims ``p0..pn``, log-uniform in ``1..high``; ``p0 = 1`` for a scalar loss.

    Examples
    --------
    >>> random_dims(4, 1024, seed=79)
    [1, 2, 601, 1, 2]
    """
    rng = np.random.default_rng(seed)
    dims = np.maximum(1, np.rint(np.exp(rng.uniform(0.0, np.log(high), n + 1)))).astype(int)
    if scalar_loss:
        dims[0] = 1
    return [int(d) for d in dims]


def _random(n: int, high: int, seed: int, scalar_loss: bool = True) -> Chain:
    dims = random_dims(n, high, seed, scalar_loss)
    rng = _rng(seed, 1)
    shapes = zip(dims[:-1], dims[1:], strict=True)
    mats = [rng.standard_normal((p, q)) / np.sqrt(q) for p, q in shapes]
    return Chain(mats)


def _minibatch(batch: int, x: int, z1: int, z3: int, seed: int = 0) -> Chain:
    """``B`` rows ``dl_b/dz3`` of a linear article network, then its (shared) Jacobians."""
    from ..networks.network import article_network

    net = article_network(x, z1, z3, activation="identity", seed=seed)
    rng = _rng(seed, 1)
    X = rng.standard_normal((batch, x))
    Y = 0.5 * rng.standard_normal((batch, z3))
    grad = net.loss_fn.gradient
    rows = [grad(net.forward(xb, yb).output, yb) for xb, yb in zip(X, Y, strict=True)]
    chain = net.input_chain(X[0], Y[0])
    names = [f"dl/dz3 ({batch} rows)", *chain.names[1:]]
    return Chain([np.vstack(rows), *chain.matrices[1:]], names)


_BUILDERS: dict[str, Callable[..., Chain]] = {
    "article": _article,
    "deep_mlp": _mlp,
    "wide_to_narrow": _mlp,
    "narrow_to_wide": _mlp,
    "scalar_input": _mlp,
    "bottleneck": _mlp,
    "recurrent": _recurrent,
    "random": _random,
    "minibatch": _minibatch,
}

#: The chain kinds a :class:`Case` may name.
KINDS: tuple[str, ...] = tuple(_BUILDERS)


# ----------------------------------------------------------------------------- the case type


def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, (list, tuple)) else value


@dataclass(frozen=True)
class Case:
    """One benchmark/sweep case: a stable id, a chain kind and the builder's parameters.

    Parameters
    ----------
    id : str
        Stable name, used as the key of saved results and as the pytest id.
    kind : str
        One of :data:`KINDS`.
    params : mapping
        Keyword arguments of the kind's builder (lists are stored as tuples).
    description : str
        One line for tables and reports.
    quick : bool
        Part of the quick set (benchmarks by default, ``report --quick``).

    Examples
    --------
    >>> case = get_case("article-x1000")
    >>> case
    Case('article-x1000', kind='article', x=1000, z1=100, z3=10, quick=True)
    >>> case.build().dims
    (1, 10, 100, 100, 1000)
    """

    id: str
    kind: str
    params: Mapping[str, Any]
    description: str = ""
    quick: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _BUILDERS:
            raise ValueError(
                f"case {self.id!r}: unknown kind {self.kind!r}; expected one of {KINDS}"
            )
        if not isinstance(self.params, Mapping):
            raise TypeError(f"case {self.id!r}: params must be a mapping, got {self.params!r}")
        frozen = MappingProxyType({str(k): _freeze(v) for k, v in self.params.items()})
        object.__setattr__(self, "params", frozen)

    def __hash__(self) -> int:
        return hash((self.id, self.kind))

    def build(self) -> Chain:
        """The case's explicit Jacobian chain (loss side first), built from its seeds."""
        return _BUILDERS[self.kind](**self.params)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: id, kind, params (tuples as lists), description, quick."""
        params = {k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()}
        return {"id": self.id, "kind": self.kind, "params": params,
                "description": self.description, "quick": self.quick}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items() if k != "seed" or v)
        return f"Case({self.id!r}, kind={self.kind!r}, {args}, quick={self.quick})"


# ----------------------------------------------------------------------------- the table


def _article_case(x: int, z1: int = 100, z3: int = 10, quick: bool = True) -> Case:
    tail = "" if (z1, z3) == (100, 10) else f"-z1_{z1}-z3_{z3}"
    return Case(
        f"article-x{x}{tail}", "article", {"x": x, "z1": z1, "z3": z3},
        f"the article's network, |x|={x:,}, |z1|=|z2|={z1}, |z3|={z3}", quick,
    )


def _deep_case(depth: int, width: int, x: int, quick: bool) -> Case:
    widths = (x, *([width] * (depth - 1)), 10)
    return Case(
        f"mlp-d{depth}-w{width}-x{x}", "deep_mlp", {"widths": widths},
        f"deep MLP: {depth} affine layers of width {width} with tanh, |x|={x}, 10 outputs", quick,
    )


def _mlp_case(kind: str, name: str, widths: tuple[int, ...], what: str, quick: bool) -> Case:
    text = " -> ".join(map(str, widths))
    return Case(f"{name}-{'-'.join(map(str, widths))}", kind, {"widths": widths},
                f"{what}: widths {text} with tanh", quick)


def _rnn_case(T: int, hidden: int, inputs: int, quick: bool) -> Case:
    return Case(
        f"rnn-T{T}-h{hidden}-i{inputs}", "recurrent", {"T": T, "hidden": hidden, "inputs": inputs},
        f"Elman RNN unrolled over T={T} steps, hidden {hidden}, inputs {inputs}: dl/dx_1", quick,
    )


def _random_case(n: int, seed: int, high: int, quick: bool, scalar_loss: bool = True,
                 note: str = "") -> Case:
    tail = "" if scalar_loss else "-free"
    what = "scalar loss (p0 = 1)" if scalar_loss else "random p0"
    return Case(
        f"random-n{n}-s{seed}{tail}", "random",
        {"n": n, "high": high, "seed": seed, "scalar_loss": scalar_loss},
        f"random chain of {n} matrices, dims log-uniform in 1..{high}, {what}{note}", quick,
    )


def _batch_case(batch: int, x: int, quick: bool) -> Case:
    return Case(
        f"batch-B{batch}-x{x}", "minibatch", {"batch": batch, "x": x, "z1": 100, "z3": 10},
        f"mini-batch of {batch}: linear article network, |x|={x:,}, |z1|=100, |z3|=10, "
        f"chain starts with a {batch} x 10 block", quick,
    )


CASES: list[Case] = [
    # the article's network along |x| (|z1| = |z2| = 100, |z3| = 10, the worked example's sizes)
    *(_article_case(x) for x in (10, 100, 1_000, 10_000, 100_000)),
    _article_case(1_000, 30, 3),
    _article_case(1_000, 300, 30),
    # deep MLPs, depth 2..32
    *(_deep_case(d, 64, 256, quick=True) for d in (2, 4, 8, 16, 32)),
    _mlp_case("wide_to_narrow", "funnel", (1024, 256, 64, 16, 4), "wide to narrow", True),
    _mlp_case("narrow_to_wide", "decoder", (8, 64, 512, 2048), "narrow to wide (decoder)", True),
    _mlp_case("scalar_input", "scalar-input", (1, 256, 256, 16), "scalar input |x| = 1", True),
    _mlp_case("bottleneck", "autoencoder", (1024, 256, 32, 256, 1024), "bottleneck autoencoder",
              True),
    *(_rnn_case(T, 64, 32, quick=True) for T in (4, 16, 64)),
    *(_random_case(n, s, 512, quick=True) for n in (4, 8, 16) for s in (0, 1)),
    _random_case(8, 92, 1024, True, note="; loss-first is 1.65x the optimal cost"),
    _random_case(8, 0, 512, True, scalar_loss=False),
    *(_batch_case(b, 1_000, quick=True) for b in (1, 8, 64, 512)),
    # the full grid adds larger sizes
    *(_article_case(x, quick=False) for x in (300_000, 1_000_000)),
    *(_article_case(x, z1, z3, quick=False) for x, z1, z3 in
      ((10_000, 30, 3), (10_000, 300, 30), (10_000, 1000, 10), (100, 10, 100))),
    *(_deep_case(d, 256, 1024, quick=False) for d in (2, 4, 8, 16, 32)),
    _mlp_case("wide_to_narrow", "funnel", (4096, 1024, 256, 64, 16, 4), "wide to narrow", False),
    _mlp_case("narrow_to_wide", "decoder", (16, 256, 2048, 8192), "narrow to wide (decoder)",
              False),
    _mlp_case("scalar_input", "scalar-input", (1, 1024, 1024, 64), "scalar input |x| = 1", False),
    _mlp_case("bottleneck", "autoencoder", (4096, 1024, 64, 1024, 4096),
              "bottleneck autoencoder", False),
    *(_rnn_case(T, 256, 64, quick=False) for T in (16, 64, 256)),
    _rnn_case(1024, 64, 32, quick=False),
    *(_random_case(n, s, 1024, quick=False) for n in (32, 64) for s in (0, 1)),
    *(_batch_case(b, 10_000, quick=False) for b in (1, 16, 128, 1024)),
]


def get_case(case_id: str) -> Case:
    """The case with this id; an unknown id lists close matches."""
    for case in CASES:
        if case.id == case_id:
            return case
    import difflib

    close = difflib.get_close_matches(case_id, [c.id for c in CASES], n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise KeyError(f"no case {case_id!r} in chainorder.lab.cases.CASES{hint}")


def select_cases(
    *,
    quick: bool | None = None,
    kinds: Iterable[str] | None = None,
    patterns: Iterable[str] | None = None,
    cases: Iterable[Case] | None = None,
) -> list[Case]:
    """Cases in table order, filtered.

    Parameters
    ----------
    quick : bool or None
        True: the quick set only; False or None: every case.
    kinds : iterable of str, optional
        Keep these kinds (see :data:`KINDS`).
    patterns : iterable of str, optional
        Keep ids matching any of these shell patterns, e.g. ``'article-*'``.
    cases : iterable of Case, optional
        Filter this list instead of :data:`CASES`.

    Examples
    --------
    >>> [c.id for c in select_cases(quick=True, patterns=["rnn-*"])]
    ['rnn-T4-h64-i32', 'rnn-T16-h64-i32', 'rnn-T64-h64-i32']
    """
    pool = list(CASES if cases is None else cases)
    if quick:
        pool = [c for c in pool if c.quick]
    if kinds is not None:
        kinds = list(kinds)
        bad = sorted(set(kinds) - set(KINDS))
        if bad:
            raise ValueError(f"unknown kind(s) {bad}; expected some of {list(KINDS)}")
        pool = [c for c in pool if c.kind in kinds]
    if patterns is not None:
        pats = list(patterns)
        pool = [c for c in pool if any(fnmatch.fnmatchcase(c.id, p) for p in pats)]
    return pool
