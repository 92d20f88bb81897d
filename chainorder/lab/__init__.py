"""The laboratory: cases, the machine, sweeps, results, one module per study, the report.

Data flow::

    cases  ->  machine (facts, BLAS threads)  ->  sweep (timed, counted runs)  ->  results (tables)
           ->  studies/ (base: protocol, registry, shared table and figure helpers;
                         one module per report page)  ->  report (orchestration, page frame)
    settings (what a report measures), citations (one home for every reference), verify

Import what you need from its module, e.g. ``from chainorder.lab.report import
generate_report``; this package imports nothing heavy on its own.
"""

from __future__ import annotations

import importlib.util

__all__ = ["REQUIRES", "EXTRA", "missing_requirements", "require_lab"]

#: The modules the laboratory imports beyond numpy: the ``lab`` extra of pyproject.toml.
REQUIRES = ("scipy", "pandas", "matplotlib", "threadpoolctl", "tqdm")

#: How to install them.
EXTRA = "pip install 'chainorder[lab]'"


def missing_requirements() -> list[str]:
    """The modules of :data:`REQUIRES` that are not installed (none with the ``lab`` extra)."""
    return [name for name in REQUIRES if importlib.util.find_spec(name) is None]


def require_lab(what: str) -> None:
    """Raise ``ModuleNotFoundError`` naming the extra when ``what`` cannot run here.

    Examples
    --------
    >>> require_lab("chainorder report")  # with the lab extra installed, nothing happens
    """
    missing = missing_requirements()
    if missing:
        raise ModuleNotFoundError(
            f"{what} needs the laboratory extra (missing: {', '.join(missing)}); "
            f"install it with: {EXTRA}", name=missing[0])
