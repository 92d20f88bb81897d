"""Study 14: the article's claims for a convolutional network, counted three ways and timed."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ...algebra.kinds.sparse import SparsityPattern
from ...hardware import XLA_ONE_THREAD, blas_threads
from ...networks.conv import Conv1D, WindowLayer, conv_article_network
from ...networks.gradients import input_first_gradients, loss_first_gradients
from ...networks.layers import Affine
from ...networks.network import Network
from ...timing import interleave, wall
from .base import (
    ReportContext,
    Study,
    StudyPage,
    StudySettings,
    markdown_table,
    ratio_text,
    register_study,
    seconds_text,
    setting,
)
from .base import jax_version as _jax_version

__all__ = ["ConvolutionStudy", "STUDY"]

ORDERS = ("loss_first", "input_first", "optimal")
#: The generalized chain's schedules compared on the JAX program, by name.
SCHEDULES = ("adjoint", "tangent", "compressed adjoint", "compressed tangent", "optimal")


def count_rows(net: Network, x: np.ndarray, y: np.ndarray, length: int,
               gradients: bool) -> list[dict[str, Any]]:
    """Multiplications of dl/dx in each order and convention, and of all gradients if asked.

    ``dense`` counts every Jacobian as a dense matrix (the article's convention),
    ``structured`` on its kind: the convolution's and the pool's sparsity patterns,
    diagonal activations. dl/dx comes from planning its chain; all the gradients
    from multiplying, loss-first cached and input-first.

    Examples
    --------
    >>> net = conv_article_network(16, 2, 3, 2, seed=0)
    >>> rows = count_rows(net, np.ones(16), np.zeros(2), 16, True)
    >>> [(r["convention"], r["order"], r["multiplications"]) for r in rows][:2]
    [('dense', 'loss_first', 1656), ('dense', 'input_first', 19360)]
    """
    chain = net.input_chain(x, y)
    rows = [dict(length=length, target="dl/dx", convention=conv, order=order,
                 multiplications=chain.plan(order, cost=conv).cost)
            for conv in ("dense", "structured") for order in ORDERS]
    if gradients:
        for conv in ("dense", "structured"):
            for order, fn in (("loss_first", loss_first_gradients),
                              ("input_first", input_first_gradients)):
                rows.append(dict(length=length, target="all gradients", convention=conv,
                                 order=order, multiplications=fn(net, x, y,
                                                                 cost=conv).multiplications))
    return rows


def _median_seconds(sides: dict[str, Any], rounds: int) -> dict[str, list[float]]:
    """Each side's median call per round, the sides interleaved call by call."""
    out: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(rounds):
        spent = interleave({k: wall(f) for k, f in sides.items()}, rounds=5)
        for k in out:
            out[k].append(statistics.median(spent[k]))
    return out


def time_rows(net: Network, x: np.ndarray, y: np.ndarray, length: int,
              rounds: int) -> list[dict[str, Any]]:
    """numpy wall time of all gradients, loss-first and input-first, structured, 1 BLAS thread."""
    with blas_threads(1):
        sides = {"loss_first": lambda: loss_first_gradients(net, x, y),
                 "input_first": lambda: input_first_gradients(net, x, y)}
        got = _median_seconds(sides, rounds)
    return [dict(length=length, engine="numpy", mode=k, median_s=statistics.median(v),
                 min_s=min(v), max_s=max(v)) for k, v in got.items()]


def jax_function(net: Network) -> Any:
    """``x -> z5`` of :func:`conv_article_network`'s network in JAX (float64), same weights."""
    import jax
    import jax.numpy as jnp

    conv, pool, affine = net.layers[0], net.layers[2], net.layers[3]
    if not (isinstance(conv, Conv1D) and isinstance(pool, WindowLayer)
            and isinstance(affine, Affine)):
        raise TypeError(f"net must come from conv_article_network, got {net!r}")
    K, c, W, b = (jnp.asarray(a, jnp.float64) for a in
                  (conv.W, conv.b, affine.W, affine.b))
    window = int(pool.kernel[0])

    def f(v: Any) -> Any:
        z = jax.lax.conv_general_dilated(v.reshape(1, conv.channels, -1), K, (1,), "VALID")[0]
        z = jax.nn.sigmoid(z + c[:, None])
        z = jax.lax.reduce_window(z, -jnp.inf, jax.lax.max, (1, window), (1, window), "VALID")
        return jax.nn.sigmoid(z.reshape(-1) @ W.T + b)

    return f


def jax_rows(net: Network, x: np.ndarray, length: int, rounds: int
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The JAX program's schedules (multiply-adds) and its Jacobian timed three ways."""
    import jax

    from ...ad.sparsity import detect_pattern
    from ...ad.transform import jacobian, plan_jacobian
    from ...algebra.coloring import column_coloring, row_coloring

    with jax.enable_x64(True):
        f, xj = jax_function(net), jax.numpy.asarray(x)
        plan = plan_jacobian(f, xj, sparsity="detect", cost="multiply-adds")
        pattern = detect_pattern(f, xj) or SparsityPattern.from_mask(
            np.ones((net.widths[-1], length)))  # nothing detected: dense
        T, A = (sum(getattr(g, k) for g in plan.factors) for k in ("tangent", "adjoint"))
        costs = {"adjoint": plan.costs["adjoint"], "tangent": plan.costs["tangent"],
                 "compressed adjoint": row_coloring(pattern).count * A,
                 "compressed tangent": column_coloring(pattern).count * T,
                 "optimal": plan.costs["optimal"]}
        label = "; ".join(op.label for op in plan.schedules["optimal"].ops)
        counted = [dict(length=length, schedule=k, multiply_adds=v, nnz=pattern.nnz,
                        optimal_schedule=label) for k, v in costs.items()]
        ours = jacobian(f, sparsity="detect")
        chosen = ours.plan(xj).mode
        fns = {"co.jacobian": jax.jit(ours),
               "jacrev": jax.jit(jax.jacrev(f)), "jacfwd": jax.jit(jax.jacfwd(f))}
        for g in fns.values():
            g(xj).block_until_ready()
        got = _median_seconds({k: (lambda g=g: g(xj).block_until_ready())
                               for k, g in fns.items()}, rounds)
    timed = []
    for k, v in got.items():
        # per round, this side's median over co.jacobian's in the same round
        ratios = [a / b for a, b in zip(v, got["co.jacobian"], strict=True)]
        timed.append(dict(length=length, engine="jax", mode=k, median_s=statistics.median(v),
                          min_s=min(v), max_s=max(v), ratio_median=statistics.median(ratios),
                          ratio_low=min(ratios), ratio_high=max(ratios), rounds=len(ratios),
                          chosen=chosen if k == "co.jacobian" else ""))
    return counted, timed


class ConvolutionStudy(Study):
    """The article's network with a convolution and a pool in front: counted and timed."""

    slug = "14-convolution"
    title = "A convolutional network"
    question = ("Does loss-first still win for a convolutional network, counted dense, "
                "structured (sparse) and in a sparse generalized chain, and timed?")
    references = ("jax2018",)

    @dataclass(frozen=True)
    class Settings(StudySettings):
        """What the page measures.

        Attributes
        ----------
        lengths : tuple of int
            Input lengths ``|x|`` of the one-channel signal.
        channels, kernel, outputs : int
            The convolution's channels and width, the outputs ``|z_5|``.
        gradients_upto : int
            All gradients are counted and timed up to this length (dense counts multiply
            dense Jacobians).
        rounds : int
            Interleaved timing rounds.
        """

        lengths: tuple[int, ...] = setting(quick=(64, 256), full=(64, 256, 1024, 4096))
        channels: int = setting(quick=8, full=8)
        kernel: int = setting(quick=5, full=5)
        outputs: int = setting(quick=10, full=10)
        gradients_upto: int = setting(quick=256, full=1024)
        rounds: int = setting(quick=3, full=7)

    def collect(self, ctx: ReportContext) -> None:
        own: ConvolutionStudy.Settings = ctx.settings.of(self)
        counts, timed, schedules = [], [], []
        with_jax = _jax_version() is not None
        if with_jax:
            os.environ.setdefault("XLA_FLAGS", XLA_ONE_THREAD)
        for length in own.lengths:
            net = conv_article_network(length, own.channels, own.kernel, own.outputs,
                                       seed=ctx.settings.seed)
            rng = np.random.default_rng([ctx.settings.seed, length])
            x, y = rng.standard_normal(length), rng.standard_normal(own.outputs)
            small = length <= own.gradients_upto
            counts += count_rows(net, x, y, length, small)
            if small:
                timed += time_rows(net, x, y, length, own.rounds)
            if with_jax:
                c, t = jax_rows(net, x, length, own.rounds)
                schedules += c
                timed += t
        for rows, name in ((counts, "counts"), (timed, "times"), (schedules, "schedules")):
            pd.DataFrame(rows).to_csv(ctx.data_dir / f"convolution-{name}.csv", index=False,
                                      lineterminator="\n")

    def render(self, ctx: ReportContext) -> StudyPage:
        counts = pd.read_csv(ctx.data_dir / "convolution-counts.csv")
        timed = _read(ctx.data_dir / "convolution-times.csv")
        schedules = _read(ctx.data_dir / "convolution-schedules.csv")
        findings = [_dx_finding(counts), *_gradient_findings(counts, timed)]
        findings += _jax_findings(schedules, timed)
        body = ["## What is counted", "",
                "`conv_article_network(|x|, 8, 5, 10)`: Conv1D (1 to 8 channels, kernel 5, "
                "stride 1) -> sigmoid -> MaxPool1D(2) -> Affine -> sigmoid, squared loss. "
                "Counts are scalar multiplications; *dense* writes every Jacobian as a full "
                "matrix (the article's convention), *structured* counts products on the "
                "convolution's and pool's sparsity patterns (the `sparse` kind) and on "
                "diagonal activations.", "",
                ctx.table(counts, "convolution-counts", counted=True), ""]
        if not schedules.empty:
            body += ["## The sparse generalized chain in JAX", "",
                     "The program `x -> z5` cut into factors with their patterns detected "
                     "from the jaxpr: plain adjoint and tangent mode, the whole Jacobian "
                     "compressed by a row or column coloring (colors × the sweep), and the "
                     "optimum over spans (multiply-adds); `nnz` is the number of nonzeros "
                     "of the Jacobian.", "",
                     ctx.table(schedules, "convolution-schedules", counted=True), ""]
        if not timed.empty:
            shown = timed.assign(median=timed["median_s"].map(seconds_text),
                                 fastest=timed["min_s"].map(seconds_text))
            body += ["## Timed", "",
                     "Medians of interleaved rounds, 1 BLAS thread, XLA on one thread; "
                     "numpy: all gradients; JAX: the Jacobian of `z5`, jitted, float64.", "",
                     markdown_table(shown[["length", "engine", "mode", "median", "fastest"]]),
                     "", ctx.table(timed, "convolution-times", counted=False, embed=False), ""]
        else:
            body += ["JAX is not installed: `pip install 'chainorder[jax]'` adds the sparse "
                     "chain and its timings.", ""]
        return StudyPage(findings, "\n".join(body))


def _read(path: Any) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:  # a run without JAX or without timed lengths
        return pd.DataFrame()


def _ratio(df: pd.DataFrame, conv: str, target: str) -> pd.Series:
    g = df[(df["convention"] == conv) & (df["target"] == target)]
    wide = g.pivot(index="length", columns="order", values="multiplications")
    return wide["input_first"] / wide["loss_first"]


def _dx_finding(counts: pd.DataFrame) -> str:
    dense, structured = _ratio(counts, "dense", "dl/dx"), _ratio(counts, "structured", "dl/dx")
    g = counts[(counts["target"] == "dl/dx") & (counts["order"] == "loss_first")]
    over = g.pivot(index="length", columns="convention", values="multiplications")
    big = int(over.index.max())
    parts = "; ".join(f"|x| = {n:,}: {ratio_text(dense[n])} dense, "
                      f"{ratio_text(structured[n])} structured" for n in dense.index)
    excess = ratio_text(over.loc[big, "dense"] / over.loc[big, "structured"])
    return (f"dl/dx, counted: input-first / loss-first is {parts}. Counting the convolution "
            f"and the pool dense overstates loss-first's own cost {excess} at |x| = {big:,}.")


def _gradient_findings(counts: pd.DataFrame, timed: pd.DataFrame) -> list[str]:
    if "all gradients" not in set(counts["target"]):
        return []
    structured = _ratio(counts, "structured", "all gradients")
    dense = _ratio(counts, "dense", "all gradients")
    out = ["All parameter gradients and dl/dx, counted: input-first / loss-first (cached) is "
           + "; ".join(f"|x| = {n:,}: {ratio_text(dense[n])} dense, "
                       f"{ratio_text(structured[n])} structured" for n in structured.index)
           + "."]
    numpy = timed[timed["engine"] == "numpy"] if not timed.empty else timed
    if not numpy.empty:
        w = numpy.pivot(index="length", columns="mode", values=["median_s", "min_s", "max_s"])
        slower = [n for n in w.index
                  if w.loc[n, ("min_s", "input_first")] > w.loc[n, ("max_s", "loss_first")]]
        med = w["median_s"]
        out.append("numpy, structured, in wall time: input-first / loss-first is "
                   + "; ".join(f"|x| = {n:,}: "
                               f"{ratio_text(med.loc[n, 'input_first'] / med.loc[n, 'loss_first'])}"
                               for n in w.index)
                   + f"; input-first is slower in every round at {len(slower)} of "
                   f"{len(w.index)} lengths.")
    return out


def _jax_findings(schedules: pd.DataFrame, timed: pd.DataFrame) -> list[str]:
    if schedules.empty:
        return ["JAX is not installed: the sparse chain was not planned or timed."]
    out = []
    for n, g in schedules.groupby("length"):
        c = g.set_index("schedule")["multiply_adds"]
        best_mode = min(("adjoint", "tangent", "compressed adjoint", "compressed tangent"),
                        key=c.__getitem__)
        out.append(f"JAX, |x| = {int(n):,} (Jacobian of z5, {int(g['nnz'].iloc[0]):,} "
                   f"nonzeros): the sparse chain's optimum costs {int(c['optimal']):,} "
                   f"multiply-adds, {ratio_text(c[best_mode] / c['optimal'])} below the best "
                   f"homogeneous mode ({best_mode}); compressed tangents "
                   f"{ratio_text(c['compressed tangent'] / c['optimal'])}, adjoints "
                   f"{ratio_text(c['adjoint'] / c['optimal'])} of it. Schedule: "
                   f"{g['optimal_schedule'].iloc[0]}.")
    j = timed[timed["engine"] == "jax"] if not timed.empty else timed
    if not j.empty and "ratio_median" in j:
        parts = []
        for n, g in j.groupby("length"):
            g = g.set_index("mode")
            peers = []
            for peer in ("jacrev", "jacfwd"):
                lo, mid, hi = (g.loc[peer, c] for c in ("ratio_low", "ratio_median",
                                                         "ratio_high"))
                verdict = ("co.jacobian faster" if lo > 1 else
                           "co.jacobian slower" if hi < 1 else "tied")
                peers.append(f"{peer} {ratio_text(mid)} ({ratio_text(lo)} to "
                             f"{ratio_text(hi)}, {verdict})")
            parts.append(f"|x| = {int(n):,} (co.jacobian ran '{g.loc['co.jacobian', 'chosen']}'"
                         f"): " + ", ".join(peers))
        out.append("JAX, wall time of the Jacobian over co.jacobian's, median of the per-round "
                   f"ratios (lowest to highest of {int(j['rounds'].max())} rounds): "
                   + "; ".join(parts) + ".")
        if (j["chosen"] == "adjoint").any():
            from ...ad.planner import AUTO_MARGIN
            out.append("Where co.jacobian ran 'adjoint' it ran jacrev's own program, so that "
                       "ratio is 1 up to noise: the sparse chain's optimum was less than "
                       f"{AUTO_MARGIN:.0%} below adjoint mode, the planner's margin for a "
                       "mixed schedule.")
    return out


STUDY = ConvolutionStudy()
register_study(STUDY)
