"""The settings of the reports tests build: the smallest that still give every page its checks."""

from __future__ import annotations

from chainorder.lab.report import ReportSettings
from chainorder.lab.studies.base import ReportContext, Study, StudyPage

#: Every page with something to check: 7 cases (21 sweep rows), the time model at 1 and 2
#: BLAS threads, random chains of 3 and 5 matrices, one JAX case.
TINY = ReportSettings.preset(
    True,
    cases=("article-x10", "article-x100", "article-x1000", "batch-B1-x1000", "batch-B512-x1000",
           "random-n8-s92", "random-n4-s0"),
    repeats=2, warmup=0, min_seconds=0.0, peak_seconds=0.05,
    study={
        "article": {"random_sizes": 2},
        "caching": {"depths": (2, 3, 4), "width": 3},
        "optimizer": {"chains": 6, "lengths": (3, 5)},
        "optimizer-speed": {"sizes": (5, 10), "check_chains": 200},
        "time-model": {"repeats": 3},
        "time-optimal": {"chains": 3, "sampled": 2, "trials_per_chain": 30, "repeats": 6},
        "structured-article": {"count_limit": 1000},
        "generalized-chain": {"random_instances": 2, "memory_points": 4,
                              "jax_cases": ("bottleneck-800-10-800",), "chaining_instances": 10},
        "article-in-jax": {"xs": (10, 100), "depths": (1,), "rounds": 1, "numpy_max_x": 100},
        "mini-batches": {"x": 10, "batches": (1, 4), "check_upto": 4, "jax_x": 3, "rounds": 1},
        "convolution": {"lengths": (16,), "channels": 2, "kernel": 3, "outputs": 2,
                        "gradients_upto": 16, "rounds": 1},
    },
)
#: Smaller still, for the runs that are interrupted in a subprocess.
TINIER = ReportSettings.preset(
    True, cases=("article-x10", "article-x100"), repeats=1, warmup=0, min_seconds=0.0,
    peak_seconds=0,
    study={
        "article": {"random_sizes": 1},
        "caching": {"depths": (2, 3), "width": 3},
        "optimizer": {"chains": 2, "lengths": (3,)},
        "optimizer-speed": {"sizes": (5,), "check_chains": 20},
        "time-model": {"threads": (1,), "repeats": 2},
        "time-optimal": {"chains": 1, "sampled": 1, "trials_per_chain": 30, "repeats": 5},
        "structured-article": {"count_limit": 100},
        "generalized-chain": {"random_instances": 1, "memory_points": 3, "jax_cases": (),
                              "chaining_instances": 5},
        "article-in-jax": {"xs": (10,), "depths": (1,), "rounds": 1, "numpy_max_x": 10},
        "mini-batches": {"x": 10, "batches": (1, 2), "check_upto": 2, "jax_x": 3, "rounds": 1},
        "convolution": {"lengths": (8,), "channels": 1, "kernel": 3, "outputs": 2,
                        "gradients_upto": 8, "rounds": 1},
    },
)


def extra_page(ctx: ReportContext) -> StudyPage:
    n = len(ctx.require_sweep())
    return StudyPage([f"The sweep holds {n} rows."], "An appended study.")


#: A page registered by a test, to check that an appended study is written like the rest.
EXTRA = Study("99-extra", "An extra study", "Does the hook work?", extra_page)
