"""Study: mini-batches with per-example Jacobians, loss-first vs input-first, counted and timed.

A batch of ``B`` inputs of the article's network has a ``diag(σ'(z1))`` per
example, so the batch's Jacobians are block-diagonal, one block per
example: nothing of the chain is shared across the batch. Both orders of
the mean loss's parameter gradient are counted (dense and structured;
loss-first from :func:`~chainorder.networks.gradients.loss_first_gradients`
on the batch, input-first from each example's chains), timed in numpy (the
batched gradient functions) and in JAX (``jax.grad`` of the mean loss
against ``jax.jacfwd`` per example), and set beside the shared-chain model
of :mod:`~chainorder.lab.studies.structured_article`, whose crossover a
sigmoid network does not have.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...algebra.costs import KindSig
from ...algebra.orders import plan
from ...hardware import XLA_ONE_THREAD, blas_threads
from ...networks.article import article_signature
from ...networks.gradients import input_first_gradients, loss_first_gradients
from ...networks.network import article_network
from ...timing import fastest, interleave
from ...validation import format_bytes
from .base import (
    ReportContext,
    Study,
    StudyPage,
    StudySettings,
    ints_text,
    loglog,
    new_figure,
    note,
    number_text,
    ratio_text,
    register_study,
    seconds_text,
    setting,
)
from .base import jax_version as _jax_version
from .conventions import CONVENTIONS, convention_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["MinibatchStudy", "STUDY"]

#: ``|z1| = |z2|`` and ``|z3|`` of the article's network.
Z1, Z3 = 100, 10
#: How to get the optional JAX dependency.
JAX_INSTALL = "pip install 'chainorder[jax]'"
_FLOAT = 8
_JAX_SECONDS = ("grad_median_s", "jacrev_median_s", "jacfwd_median_s")


def _batch(x: int, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, batch])
    return rng.standard_normal((batch, x)), rng.standard_normal((batch, Z3))


def single_input_first(x: int, structure: str, seed: int = 0) -> int:
    """One example's input-first multiplications of every gradient (``dl/dθ`` and ``dl/dx``).

    Read from the plans of its chains (kinds and shapes only): every example
    of a batch has chains of the same kinds and shapes, so a batch costs
    ``B`` times this.

    Examples
    --------
    >>> single_input_first(10, "structured"), single_input_first(10, "dense")
    (17100, 12231200)
    """
    net = article_network(x, Z1, Z3, seed=seed)
    xv, yv = np.ones(x), np.zeros(Z3)
    chains = [net.param_chain(xv, yv, k, name) for k, name, _ in net.parameters()]
    chains.append(net.input_chain(xv, yv))
    return int(sum(c.plan("input_first", cost=structure).cost for c in chains))


def counted_costs(x: int, batches: tuple[int, ...], check_upto: int, seed: int = 0
                  ) -> pd.DataFrame:
    """Multiplications of the mean loss's gradients on a batch of ``B``, per convention.

    ``loss_first`` is what :func:`~chainorder.networks.gradients.loss_first_gradients`
    counts on the batch; ``input_first`` is ``B`` times
    :func:`single_input_first`, and, for ``B <= check_upto`` under the
    structured convention, also counted by
    :func:`~chainorder.networks.gradients.input_first_gradients`
    (``input_first_counted``). ``shared_chain_ratio`` is the ratio the
    shared-chain model (``B`` rows in front of one chain,
    :func:`~chainorder.lab.studies.structured_article.batch_crossover_exact`)
    gives for ``dl/dx``.

    Returns
    -------
    DataFrame
        ``batch, convention, loss_first, input_first, input_first_counted, ratio,
        shared_chain_ratio``.
    """
    net = article_network(x, Z1, Z3, seed=seed)
    rows = []
    for conv in CONVENTIONS:
        single = single_input_first(x, conv, seed)
        for b in batches:
            X, Y = _batch(x, b, seed)
            lf = loss_first_gradients(net, X, Y, cost=conv).multiplications
            checked = (input_first_gradients(net, X, Y, cost=conv).multiplications
                       if conv == "structured" and b <= check_upto else None)
            rows.append({"batch": b, "convention": conv, "loss_first": int(lf),
                         "input_first": b * single, "input_first_counted": checked,
                         "ratio": b * single / lf, "shared_chain_ratio": _shared(conv, x, b)})
    df = pd.DataFrame(rows)
    df["input_first_counted"] = df["input_first_counted"].astype("Int64")
    return df


def shared_chain_cost(structure: str, x: int, b: int, order: str) -> int:
    """An order's cost of ``dl/dx`` with ``b`` loss-gradient rows in front of one shared chain.

    The model of a batch as one ``b x |z3|`` block before the network's
    ``dz3/dz2 · dz2/dz1 · dz1/dx``: right only for a chain the batch shares.

    Examples
    --------
    >>> shared_chain_cost("dense", 1000, 109, "input_first")
    12090000
    """
    sigs = [KindSig.dense(b, Z3), *article_signature(x, Z1, Z3)[1:]]
    return int(plan(sigs, order, cost=structure).cost)


def _shared(structure: str, x: int, b: int) -> float:
    """input-first / loss-first of ``dl/dx`` under :func:`shared_chain_cost`."""
    return (shared_chain_cost(structure, x, b, "input_first")
            / shared_chain_cost(structure, x, b, "loss_first"))


def shared_chain_crossover(structure: str, x: int) -> Fraction | None:
    """``B`` above which input-first is the cheaper under :func:`shared_chain_cost` (None: never).

    Both orders' costs are affine in ``B`` at a fixed ``|x|``; the line is read
    at ``B = 1, 2`` and checked at ``B = 7``.

    Examples
    --------
    >>> float(shared_chain_crossover("dense", 1000))
    108.91089108910892
    """
    def line(order: str) -> tuple[int, int]:
        c1, c2 = (shared_chain_cost(structure, x, b, order) for b in (1, 2))
        if shared_chain_cost(structure, x, 7, order) != c1 + 6 * (c2 - c1):
            raise ValueError(f"{order} under {structure} is not affine in B")
        return c1 - (c2 - c1), c2 - c1

    (a_l, s_l), (a_i, s_i) = line("loss_first"), line("input_first")
    return Fraction(a_i - a_l, s_l - s_i) if s_l > s_i else None


def crossover_text(ratios: pd.Series, batches: pd.Series) -> str:
    """Where input-first is cheaper (ratio below 1), as text: ``'none'`` or the batch sizes.

    Examples
    --------
    >>> crossover_text(pd.Series([3.0, 0.5]), pd.Series([1, 64]))
    'B = 64'
    """
    wins = [int(b) for r, b in zip(ratios, batches, strict=True) if r < 1]
    return f"B = {ints_text(wins)}" if wins else "none"


# ----------------------------------------------------------------------------- timing


def time_numpy(x: int, batches: tuple[int, ...], rounds: int, block_seconds: float,
               seed: int = 0) -> pd.DataFrame:
    """The batched gradient functions, loss-first vs input-first (structured), interleaved.

    Returns
    -------
    DataFrame
        ``batch, order, median_s, min_s, rounds``.
    """
    net = article_network(x, Z1, Z3, seed=seed)
    rows = []
    for b in batches:
        X, Y = _batch(x, b, seed)
        fns = {"loss_first": loss_first_gradients, "input_first": input_first_gradients}
        times = interleave({k: fastest(f, net, X, Y, seconds=block_seconds, min_calls=1)
                            for k, f in fns.items()}, rounds=rounds, warmup=1)
        rows += [{"batch": b, "order": k, "median_s": float(np.median(t)), "min_s": min(t),
                  "rounds": len(t)} for k, t in times.items()]
    return pd.DataFrame(rows)


def jacfwd_bytes(x: int) -> int:
    """Bytes of one example's ``jax.jacfwd`` over every parameter: its ``n x n`` basis and more.

    ``n = |θ|``; as :func:`chainorder.lab.studies.article_jax.model_bytes`
    (examples run one after another, so one example's is the batch's peak).

    Examples
    --------
    >>> format_bytes(jacfwd_bytes(10))
    '39.2 MB'
    """
    n = Z1 * x + Z1 + Z3 * Z1 + Z3
    return _FLOAT * (n * n + n * (2 * Z1 + Z3) + 2 * n + x)


def _jax_functions(x: int, seed: int) -> tuple[dict[str, Callable[..., Any]], Any]:
    """``jit(grad(mean loss))``, ``jit`` of the mean of per-example jacrev and of jacfwd
    (examples one after another, ``lax.map``), and the parameters."""
    import jax
    import jax.numpy as jnp

    net = article_network(x, Z1, Z3, seed=seed)
    first, second = net.layers[0], net.layers[2]
    params = {"W1": jnp.asarray(first.params["W"]), "b1": jnp.asarray(first.params["b"]),
              "W2": jnp.asarray(second.params["W"]), "b2": jnp.asarray(second.params["b"])}

    def one(p: Any, v: Any, y: Any) -> Any:
        z = p["W2"] @ jax.nn.sigmoid(p["W1"] @ v + p["b1"]) + p["b2"]
        return jnp.mean((z - y) ** 2)

    def mean_loss(p: Any, X: Any, Y: Any) -> Any:
        return jnp.mean(jax.vmap(one, in_axes=(None, 0, 0))(p, X, Y))

    def per_example(transform: Callable[..., Any]) -> Callable[..., Any]:
        def mean_of(p: Any, X: Any, Y: Any) -> Any:
            grads = jax.lax.map(lambda xy: transform(one)(p, xy[0], xy[1]), (X, Y))
            return jax.tree_util.tree_map(lambda g: jnp.mean(g, axis=0), grads)
        return jax.jit(mean_of)

    return {"grad": jax.jit(jax.grad(mean_loss)), "jacrev": per_example(jax.jacrev),
            "jacfwd": per_example(jax.jacfwd)}, params


def _blocked(f: Callable[..., Any]) -> Callable[..., Any]:
    """``f`` returning only once its result is computed (JAX dispatches asynchronously)."""
    import jax

    return lambda *args: jax.block_until_ready(f(*args))


def time_jax(x: int, batches: tuple[int, ...], rounds: int, block_seconds: float,
             max_seconds: float, seed: int = 0) -> pd.DataFrame:
    """``jax.grad`` of the mean loss vs ``jax.jacfwd`` per example, per ``B``, interleaved.

    A ``B`` whose jacfwd call is predicted (from the last timed ``B``, linearly)
    to take over ``max_seconds`` is skipped: ``skipped`` says so.
    """
    import jax

    rows: list[dict[str, Any]] = []
    last: tuple[int, float] | None = None
    with jax.enable_x64(True):
        fns, params = _jax_functions(x, seed)
        for b in batches:
            if last is not None and last[1] * b / last[0] > max_seconds:
                rows.append({"batch": b, "skipped": True})
                continue
            X, Y = (jax.numpy.asarray(a) for a in _batch(x, b, seed))
            got = {k: jax.block_until_ready(f(params, X, Y)) for k, f in fns.items()}
            err = max(float(np.max(np.abs(np.asarray(got["grad"][k]) -
                                          np.asarray(got[m][k]))))
                      for k in params for m in ("jacrev", "jacfwd"))
            times = interleave({k: fastest(_blocked(f), params, X, Y, seconds=block_seconds,
                                           min_calls=1)
                                for k, f in fns.items()}, rounds=rounds, warmup=0)
            med = {k: float(np.median(t)) for k, t in times.items()}
            last = (b, med["jacfwd"])
            rows.append({"batch": b, "skipped": False, "grad_median_s": med["grad"],
                         "jacrev_median_s": med["jacrev"], "jacfwd_median_s": med["jacfwd"],
                         "ratio": med["jacfwd"] / med["grad"],
                         "mode_ratio": med["jacfwd"] / med["jacrev"],
                         "rounds": len(times["grad"]), "max_abs_difference": err})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- findings


def counted_findings(costs: pd.DataFrame, x: int) -> list[str]:
    """What the counts say: loss-first linear in B, the ratio per B, and no crossover."""
    out = []
    for conv in CONVENTIONS:
        c = costs[costs["convention"] == conv].sort_values("batch")
        per = c["loss_first"] / c["batch"]
        linear = per.nunique() == 1
        cross = shared_chain_crossover(conv, x)
        shared = f"B > {number_text(float(cross))}" if cross is not None else "at no B"
        out.append(
            f"Counted, {convention_label(conv)}, |x| = {x:,}: loss-first on a batch costs "
            + (f"exactly B × {int(per.iloc[0]):,} at every B" if linear else
               f"{number_text(per.min())} to {number_text(per.max())} per example")
            + f"; input-first / loss-first is {_span(c['ratio'])} over B = "
            f"{ints_text(list(c['batch']))}, so "
            f"input-first is cheaper at {crossover_text(c['ratio'], c['batch'])}. The "
            f"shared-chain model (one chain behind B rows) would have input-first cheaper "
            f"for dl/dx from {shared}; with one diag(σ') per example both orders are B times "
            "one example's, and their ratio cannot change with B.")
    checked = costs.dropna(subset=["input_first_counted"])
    if len(checked):
        same = int((checked["input_first_counted"] == checked["input_first"]).sum())
        out.append(f"Check: input_first_gradients on the batch counts B × one example's "
                   f"input-first cost in {same} of {len(checked)} batch sizes.")
    return out


def _span(values: pd.Series) -> str:
    lo, hi = ratio_text(values.min()), ratio_text(values.max())
    return f"{lo} at every B" if lo == hi else f"{lo} to {hi}"


def timed_findings(nump: pd.DataFrame, jaxt: pd.DataFrame, x_np: int, x_jax: int
                   ) -> list[str]:
    """What the wall times say: the ratio per B and whether it ever falls below 1."""
    out = []
    if len(nump):
        w = nump.pivot_table(index="batch", columns="order", values="median_s")
        r = (w["input_first"] / w["loss_first"]).sort_index()
        out.append(f"numpy, |x| = {x_np:,}: input_first_gradients / loss_first_gradients "
                   f"in wall time is {_span(r)} over B = "
                   f"{ints_text(list(r.index))}; input-first is faster at "
                   f"{crossover_text(r, pd.Series(r.index))}.")
    timed = jaxt[~jaxt["skipped"].astype(bool)] if len(jaxt) else jaxt
    if len(timed):
        skipped = jaxt[jaxt["skipped"].astype(bool)]["batch"].tolist()
        out.append(f"JAX, |x| = {x_jax:,}: per-example jax.jacfwd / jax.grad of the mean loss "
                   f"is {_span(timed['ratio'])} over B = {ints_text(list(timed['batch']))}; "
                   f"forward mode is faster at "
                   f"{crossover_text(timed['ratio'], timed['batch'])}"
                   + (f" (B = {ints_text(skipped)} skipped: predicted too long)"
                      if skipped else "")
                   + f". Both per example (lax.map), jacfwd / jacrev is "
                   f"{_span(timed['mode_ratio'])}: the mode's own share, batching aside; "
                   f"largest difference from jax.grad's gradient "
                   f"{timed['max_abs_difference'].max():.2g}.")
    return out


def plot_ratios(costs: pd.DataFrame, nump: pd.DataFrame, jaxt: pd.DataFrame) -> Figure:
    """input-first / loss-first vs B: counted (both conventions), numpy and JAX wall times."""
    fig, ax = new_figure()
    for conv, style in zip(CONVENTIONS, ("-", "--"), strict=True):
        c = costs[costs["convention"] == conv].sort_values("batch")
        ax.plot(c["batch"], c["ratio"], style, color="0.3", label=f"counted, {conv}")
        ax.plot(c["batch"], c["shared_chain_ratio"], style, color="#9467bd",
                label=f"shared-chain model (dl/dx), {conv}")
    if len(nump):
        w = nump.pivot_table(index="batch", columns="order", values="median_s")
        ax.plot(w.index, w["input_first"] / w["loss_first"], "o-", color="#d62728",
                label="numpy wall time")
    timed = jaxt[~jaxt["skipped"].astype(bool)] if len(jaxt) else jaxt
    if len(timed):
        ax.plot(timed["batch"], timed["ratio"], "s-", color="#1f77b4",
                label="JAX wall time (jacfwd per example / grad)")
    ax.axhline(1.0, color="k", lw=0.8)
    loglog(ax, "batch size B", "input-first / loss-first", "mini-batches, per-example Jacobians")
    ax.legend(fontsize=7)
    note(fig, "counts: scalar multiplications; below 1 input-first is cheaper")
    return fig


# ----------------------------------------------------------------------------- the study



class MinibatchStudy(Study):
    """Mini-batches with one diag(σ') per example: counted, timed in numpy and in JAX."""

    slug = "13-mini-batches"
    title = "Mini-batches"
    question = ("With per-example Jacobians, does input-first ever beat loss-first on a "
                "mini-batch, counted or timed?")
    references = ("desai2018",)

    @dataclass(frozen=True)
    class Settings(StudySettings):
        """What the page measures.

        Attributes
        ----------
        x : int
            ``|x|`` of the counted and numpy-timed network.
        batches : tuple of int
            Batch sizes ``B``.
        check_upto : int
            ``input_first_gradients`` counts batches up to this ``B`` (a check).
        jax_x : int
            ``|x|`` of the JAX runs (per-example jacfwd needs ``|θ|²`` floats).
        jax_max_seconds : float
            A JAX batch predicted to take longer per jacfwd call is skipped.
        rounds, block_seconds
            Interleaved rounds; a sample is the fastest call within ``block_seconds``.
        """

        x: int = setting(quick=100, full=1000)
        batches: tuple[int, ...] = setting(quick=(1, 4, 16, 64, 256),
                                           full=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
        check_upto: int = setting(quick=16, full=64)
        jax_x: int = setting(quick=10, full=100)
        jax_max_seconds: float = setting(quick=0.5, full=20.0)
        rounds: int = setting(quick=3, full=5)
        block_seconds: float = setting(quick=0.002, full=0.05)

    def collect(self, ctx: ReportContext) -> None:
        own: MinibatchStudy.Settings = ctx.settings.of(self)
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        status: dict[str, Any] = {"jax": None, "jacfwd_bytes": jacfwd_bytes(own.jax_x)}
        if "jax" not in sys.modules:  # XLA reads its flags once, when JAX is first imported
            os.environ.setdefault("XLA_FLAGS", XLA_ONE_THREAD)
        status["jax"] = _jax_version()
        with blas_threads(ctx.settings.threads):
            time_numpy(own.x, own.batches, own.rounds, own.block_seconds).to_csv(
                ctx.data_dir / "minibatch_numpy.csv", index=False, lineterminator="\n")
            jaxt = pd.DataFrame()
            if status["jax"] is not None:
                status["xla_flags"] = os.environ.get("XLA_FLAGS", "")
                jaxt = time_jax(own.jax_x, own.batches, own.rounds, own.block_seconds,
                                own.jax_max_seconds)
        jaxt.to_csv(ctx.data_dir / "minibatch_jax.csv", index=False, lineterminator="\n")
        (ctx.data_dir / "minibatch.json").write_text(json.dumps(status, indent=1))

    def render(self, ctx: ReportContext) -> StudyPage:
        own: MinibatchStudy.Settings = ctx.settings.of(self)
        status = json.loads((ctx.data_dir / "minibatch.json").read_text())
        costs = counted_costs(own.x, own.batches, own.check_upto)
        nump = _read(ctx.data_dir / "minibatch_numpy.csv")
        jaxt = _read(ctx.data_dir / "minibatch_jax.csv")
        findings = counted_findings(costs, own.x) + timed_findings(nump, jaxt, own.x,
                                                                   own.jax_x)
        body = [
            "## Per-example Jacobians", "",
            "The article: \"separating the training set into mini-batches certainly helps "
            "with the complexity, but the forwards computation is still far more efficient\". "
            f"Its network at |x| = {own.x:,} (|z1| = {Z1}, |z3| = {Z3}), a batch of B examples, "
            "the gradients of the mean loss. Each example has its own `diag(σ'(z1))`, so the "
            "batch's Jacobians are block-diagonal (`chainorder.algebra.kinds.block_diagonal`) "
            "and nothing is shared. Costs: scalar multiplications (= multiply-adds; FLOPs "
            f"twice that), {convention_label('dense')} and {convention_label('structured')}. "
            "`shared_chain_ratio`: the old model's dl/dx ratio with B rows in front of one "
            "shared chain.", "",
            ctx.table(costs, "minibatch-costs", counted=True,
                      formats={"ratio": "{:.4g}", "shared_chain_ratio": "{:.4g}"}), "",
            "## Timed", "",
            f"numpy: `loss_first_gradients(net, X, Y)` (batched matrix products) and "
            f"`input_first_gradients(net, X, Y)` (each example's chains), structured, "
            f"{ctx.settings.threads_text()}, {own.rounds} interleaved rounds.", "",
            ctx.table(_in_units(nump, ("median_s", "min_s")), "minibatch-numpy",
                      counted=False), "",
        ]
        if status["jax"] is None:
            findings.append(f"JAX is not installed, so nothing was timed in JAX; install it "
                            f"with `{JAX_INSTALL}`.")
            body.append(f"JAX is not installed here: install it with `{JAX_INSTALL}` and "
                        "rerun `chainorder report --quick --out DIR`.")
        else:
            body += [
                f"JAX {status['jax']}, float64, `XLA_FLAGS={status.get('xla_flags', '')}`, "
                f"|x| = {own.jax_x:,}: `jit(grad(mean loss))` against `jit` of "
                "`lax.map(jacfwd(loss of one example))` averaged (`ratio`), and "
                "`lax.map(jacrev(...))` beside it (`mode_ratio`: jacfwd / jacrev, both per "
                "example) (one example at a time: one "
                f"example's jacfwd holds about {format_bytes(status['jacfwd_bytes'])} by the "
                "model, its `|θ| x |θ|` basis most of it); times are medians of the rounds; "
                "`max_diff` is the largest difference of the per-example gradient from "
                "`jax.grad`'s.", "",
                ctx.table(_in_units(jaxt, _JAX_SECONDS).rename(
                    columns={"max_abs_difference": "max_diff", "grad_median": "grad",
                             "jacrev_median": "jacrev", "jacfwd_median": "jacfwd"}),
                          "minibatch-jax", counted=False,
                          formats={"ratio": "{:.3g}", "mode_ratio": "{:.3g}",
                                   "max_diff": "{:.2g}"}), ""]
        body.append(ctx.figure(plot_ratios(costs, nump, jaxt), "minibatch-ratios",
                               "input-first / loss-first vs batch size: counted and timed"))
        return StudyPage(findings, "\n".join(body))



def _in_units(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """``df`` with each of ``columns`` (seconds) as text in µs, ms or s, ``_s`` dropped."""
    present = [c for c in columns if c in df]
    return df.assign(**{c[:-2]: df[c].map(seconds_text) for c in present}).drop(columns=present)


def _read(path: Any) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame()


STUDY = MinibatchStudy()
register_study(STUDY)
