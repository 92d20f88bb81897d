"""A chain of explicit Jacobians (arrays or kinds, loss side first) with its dims and names."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from ..validation import check_memory
from .costmodels import ChainShape, as_cost_model, cost_from_flags
from .costs import KindSig
from .execute import Trace, execute, multiply
from .kinds import Kind, check_factors, signature_of
from .orders import plan as make_plan
from .plan import Plan
from .structured import StructuredTrace

__all__ = ["Chain"]


class Chain:
    """An ordered list of 2-D matrices whose product is wanted, loss side on the left.

    Parameters
    ----------
    matrices : sequence of array_like or Kind
        2-D arrays with fitting shapes (a 1-D first array is a row vector), or
        :class:`~chainorder.algebra.kinds.Kind` objects (a diagonal Jacobian
        stored as its diagonal, ...), or a mix. :attr:`factors` holds them as
        given; :attr:`matrices` their dense forms, made on first use.
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
        self.factors: list[Any] = check_factors(matrices, "matrices")
        if names is None:
            names = [f"A{m}" for m in range(1, len(self.factors) + 1)]
        names = [str(s) for s in names]
        if len(names) != len(self.factors):
            raise ValueError(
                f"names has {len(names)} labels but the chain has {len(self.factors)} matrices"
            )
        self.names: list[str] = names

    @cached_property
    def matrices(self) -> list[np.ndarray]:
        """Every factor as a dense 2-D array (kinds written out on first use).

        Writing kinds out past the memory budget is refused up front (see
        :func:`chainorder.validation.memory_budget`).
        """
        needed = sum(8 * f.shape[0] * f.shape[1] for f in self.factors if isinstance(f, Kind))
        if needed:
            check_memory(needed, "the chain's factors written out densely")
        return [np.asarray(f) for f in self.factors]

    @property
    def signatures(self) -> tuple[KindSig, ...]:
        """Kind and shape of each factor: the chain's structure signature."""
        return tuple(signature_of(f) for f in self.factors)

    @property
    def dims(self) -> tuple[int, ...]:
        """``p0..pn``: rows of the first matrix, then the columns of each."""
        return (self.factors[0].shape[0], *(m.shape[1] for m in self.factors))

    def __len__(self) -> int:
        return len(self.factors)

    def plan(self, order: str = "optimal", *, cost: Any = "dense", **deprecated: Any) -> Plan:
        """Plan this chain's product in ``order`` under ``cost`` (see :func:`chainorder.plan`).

        A cost model that reads kinds (``'structured'``) reads the factors'
        kinds; any other reads the dims alone.
        """
        model = as_cost_model(cost_from_flags(cost, deprecated, "Chain.plan")[0])
        shape = ChainShape.of(self) if model.reads_kinds else ChainShape(self.dims)
        return make_plan(shape, order, cost=model)

    def multiply(
        self, order: str | Plan = "optimal", *, trace: bool = False, cost: Any = "dense",
        **deprecated: Any,
    ) -> np.ndarray | tuple[np.ndarray, Trace | StructuredTrace]:
        """The product of the chain under ``cost`` (see :func:`chainorder.multiply`).

        Under a model that reads kinds (``'structured'``) the factors are
        multiplied in their kinds; under any other, their dense forms.
        """
        model = as_cost_model(cost_from_flags(cost, deprecated, "Chain.multiply")[0])
        mats = self.factors if model.reads_kinds else self.matrices
        if len(mats) == 1 and not model.reads_kinds:  # multiply() wants two, as multi_dot does
            chosen = order if isinstance(order, Plan) else self.plan(order, cost=model)
            product, tr = execute(mats, chosen)
            return (product, tr) if trace else product
        if trace:
            return multiply(mats, order, trace=True, cost=model)
        return multiply(mats, order, cost=model)

    def __repr__(self) -> str:
        shown = " · ".join(
            f"{nm}[{m.shape[0]}x{m.shape[1]}{_kind_tag(m)}]"
            for nm, m in zip(self.names[:8], self.factors, strict=False)
        )
        more = f" · ... ({len(self) - 8} more)" if len(self) > 8 else ""
        return f"<Chain of {len(self)}: {shown}{more}>"


def _kind_tag(factor: Any) -> str:
    return f" {factor.kind}" if isinstance(factor, Kind) and factor.kind != "dense" else ""
