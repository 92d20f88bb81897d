"""A chain of explicit matrices (e.g. Jacobians, loss side first) with its dims and names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..validation import check_arrays
from .execute import Trace, multiply
from .orders import plan as make_plan
from .plan import Plan

__all__ = ["Chain"]


class Chain:
    """An ordered list of 2-D matrices whose product is wanted, loss side on the left.

    Parameters
    ----------
    matrices : sequence of array_like
        2-D arrays with fitting shapes (a 1-D first array is a row vector).
    names : sequence of str, optional
        One label per matrix, e.g. ``'dl/dz3'``; defaults to ``A1..An``.

    Examples
    --------
    >>> import numpy as np, chainorder as co
    >>> c = co.Chain([np.ones((1, 3)), np.ones((3, 4))], names=["dl/dz", "dz/dx"])
    >>> c.dims, c.plan("loss_first").cost
    ((1, 3, 4), 12)
    """

    def __init__(self, matrices: Sequence[Any], names: Sequence[str] | None = None) -> None:
        self.matrices: list[np.ndarray] = check_arrays(matrices, "matrices")
        if names is None:
            names = [f"A{m}" for m in range(1, len(self.matrices) + 1)]
        names = [str(s) for s in names]
        if len(names) != len(self.matrices):
            raise ValueError(
                f"names has {len(names)} labels but the chain has {len(self.matrices)} matrices"
            )
        self.names: list[str] = names

    @property
    def dims(self) -> tuple[int, ...]:
        """``p0..pn``: rows of the first matrix, then the columns of each."""
        return (self.matrices[0].shape[0], *(m.shape[1] for m in self.matrices))

    def __len__(self) -> int:
        return len(self.matrices)

    def plan(self, order: str = "optimal") -> Plan:
        """Plan this chain's product in ``order`` (see :func:`chainorder.plan`)."""
        return make_plan(self.dims, order)

    def multiply(
        self, order: str | Plan = "optimal", *, trace: bool = False
    ) -> np.ndarray | tuple[np.ndarray, Trace]:
        """The product of the chain (see :func:`chainorder.multiply`)."""
        if trace:
            return multiply(self.matrices, order, trace=True)
        return multiply(self.matrices, order)

    def __repr__(self) -> str:
        shown = " · ".join(
            f"{nm}[{m.shape[0]}x{m.shape[1]}]"
            for nm, m in zip(self.names[:8], self.matrices, strict=False)
        )
        more = f" · ... ({len(self) - 8} more)" if len(self) > 8 else ""
        return f"<Chain of {len(self)}: {shown}{more}>"
