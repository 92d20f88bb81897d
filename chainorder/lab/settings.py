"""What a report measures: :class:`ReportSettings`, with a quick and a full preset."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .cases import get_case, select_cases

__all__ = ["ReportSettings"]


@dataclass(frozen=True)
class ReportSettings:
    """What a report measures. :meth:`preset` gives the quick and the full grid.

    Attributes
    ----------
    quick : bool
        The quick case set (``Case.quick``) or every case.
    cases : tuple of str or None
        Case ids to measure instead of the preset's set.
    repeats, warmup, min_seconds, threads : int, int, float, int
        Sweep timing (see :class:`chainorder.lab.sweep.Timing`).
    peak_seconds : float
        Budget for measuring peak GFLOP/s and bandwidth (0: skip).
    random_chains : int
        Random chains per length and kind (scalar loss or not) in the optimizer study.
    random_lengths : tuple of int
        Chain lengths (matrices) of those random chains.
    random_high : int
        Largest dim of a random chain (dims are log-uniform in ``1..random_high``).
    caching_depths : tuple of int
        Depths (affine layers) of the caching study's MLPs.
    caching_width : int
        Width of those MLPs.
    article_sizes : int
        Random sizes of the article's network checked against its formulas.
    optimizer_ns : tuple of int or None
        Chain lengths of the optimizer-speed study (None: its quick or full default).
    check_chains : int
        Chains in the Hu–Shing check against the dynamic program.
    calibration_threads : tuple of int
        BLAS thread counts the time model is calibrated and checked at (the
        first is the one its goal is stated for); quick calibration in the quick preset.
    time_repeats : int
        Interleaved rounds of each timed check of the time model.
    differing_chains : int
        Random chains, chosen where the time-optimal and FLOP-optimal plans
        differ most, timed beside the grid on the time-optimal page.
    jax_cases : tuple of str or None
        Ids of :data:`chainorder.lab.jax_cases.JAX_CASES` the generalized-chain study
        times on JAX (None: its quick or full default; ``()``: none).
    seed : int
        Seed of the random chains and random article sizes.
    """

    quick: bool = True
    cases: tuple[str, ...] | None = None
    repeats: int = 5
    warmup: int = 1
    min_seconds: float = 0.05
    threads: int = 1
    peak_seconds: float = 1.0
    random_chains: int = 100
    random_lengths: tuple[int, ...] = (2, 3, 4, 6, 8, 12, 16, 24, 32)
    random_high: int = 1024
    caching_depths: tuple[int, ...] = (2, 4, 8, 16, 32)
    caching_width: int = 16
    article_sizes: int = 24
    optimizer_ns: tuple[int, ...] | None = None
    check_chains: int = 20_000
    calibration_threads: tuple[int, ...] = (1, 2)
    time_repeats: int = 7
    differing_chains: int = 6
    jax_cases: tuple[str, ...] | None = None
    seed: int = 0

    @classmethod
    def preset(cls, quick: bool = True, **overrides: Any) -> ReportSettings:
        """The quick or the full settings, with ``overrides`` applied."""
        base = cls() if quick else cls(
            quick=False, repeats=9, warmup=2, min_seconds=0.2, peak_seconds=3.0,
            random_chains=500, random_lengths=(2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64),
            caching_depths=(2, 4, 8, 16, 32, 64), caching_width=24, article_sizes=100,
            check_chains=100_000, time_repeats=15, differing_chains=12,
        )
        return replace(base, **overrides)

    def grid(self) -> list[Any]:
        """The cases to sweep."""
        if self.cases is not None:
            return [get_case(c) for c in self.cases]
        return select_cases(quick=self.quick)

    def threads_text(self) -> str:
        """BLAS threads while timing, as text, e.g. ``'1 BLAS thread'``."""
        if not self.threads:
            return "BLAS default threads"
        return f"{self.threads} BLAS thread" + ("s" if self.threads > 1 else "")

    def describe(self) -> str:
        """One line: grid, timing and study sizes."""
        grid = (f"{len(self.cases)} chosen cases" if self.cases is not None
                else ("quick grid" if self.quick else "full grid"))
        return (f"{grid}; timing: warm-up {self.warmup}, at least {self.repeats} runs and "
                f"{self.min_seconds:g} s per point, median kept, {self.threads_text()}; "
                f"{self.random_chains} random chains per length; caching depths "
                f"{list(self.caching_depths)} at width {self.caching_width}; "
                f"{self.article_sizes} random article sizes; optimizer lengths "
                f"{'default' if self.optimizer_ns is None else list(self.optimizer_ns)}; "
                f"Hu–Shing check on {self.check_chains:,} chains; time model at "
                f"{'/'.join(map(str, self.calibration_threads))} BLAS threads "
                f"({'quick' if self.quick else 'full'} calibration), {self.time_repeats} "
                f"interleaved rounds per check, {self.differing_chains} differing chains; "
                f"JAX cases "
                f"{'default' if self.jax_cases is None else list(self.jax_cases)}; "
                f"seed {self.seed}")
