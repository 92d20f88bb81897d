"""One module per report study; :data:`MODULES` is the registry's list of them.

A new page is one module here (a :class:`~chainorder.lab.studies.base.Study`
subclass that it registers with
:func:`~chainorder.lab.studies.base.register_study`) and one line in
:data:`MODULES`. Importing this package imports no study (nor pandas or
matplotlib); :func:`load_studies` does.
"""

from __future__ import annotations

import importlib

from . import base
from .base import ReportContext, Study, StudyPage, register_study

__all__ = ["MODULES", "load_studies", "Study", "StudyPage", "ReportContext", "register_study"]

#: The study modules, each registering one page; add a line to add a page.
MODULES: tuple[str, ...] = (
    "article",
    "when_loss_first_wins",
    "flops_vs_time",
    "growth",
    "caching",
    "optimizer",
    "optimizer_speed",
    "time_model",
    "time_optimal",
    "structured_article",
    "generalized_chain",
    "article_jax",
    "minibatch",
    "convolution",
)


def load_studies() -> list[base.Study]:
    """Import every module of :data:`MODULES` (each registers its study once); the pages in order.

    Examples
    --------
    >>> [s.slug for s in load_studies()][:2]
    ['01-article', '02-when-loss-first-wins']
    """
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}")
    return list(base.STUDIES)
