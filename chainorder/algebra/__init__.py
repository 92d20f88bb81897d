"""The chain algebra: cost models, plans, the order registry and its strategies, execution.

Data flow, one module each::

    costs, kinds (Jacobian kinds; each kind pair's count and product rule)  ->  costmodels
    (DenseCost, StructuredCost; ``cost=`` on plan, optimize, multiply), timemodel (a
    TimeModel is a cost model too)  ->  plan (Plan, Step)  ->  orders (registry; strategies
    dp, hushing, approx)  ->  execute (multiply, counted; structured: products in kinds)
    ->  chain (a Chain of matrices)

    gjc (the matrix-free generalized chain: Factor, Schedule, optimize_gjc)  ->  gjc_format

Planning reads dims only; :mod:`~chainorder.algebra.execute` is the only module
that multiplies.
"""

from __future__ import annotations

from .chain import Chain
from .costmodels import ChainShape, CostModel, DenseCost, StructuredCost
from .costs import KindSig, flops, input_first_cost, loss_first_cost, matmul_cost, steps_cost
from .execute import Trace, TraceStep, multiply
from .gjc import (
    GJC_COST_UNIT,
    Factor,
    Op,
    Schedule,
    check_factors,
    homogeneous_adjoint_cost,
    homogeneous_adjoint_schedule,
    homogeneous_tangent_cost,
    homogeneous_tangent_schedule,
    optimize_gjc,
    preaccumulation_cost,
    preaccumulation_schedule,
)
from .gjc_format import read_chain, write_chain
from .kinds import Dense, Diagonal, DiagonalPlusRankOne, Identity, Kind, Kronecker
from .orders import ORDERS, available_orders, optimize, plan, register_order
from .plan import Plan, Step, parse_bracketing
from .structured import StructuredTrace
from .timemodel import TimeModel

__all__ = [
    "Chain",
    "ChainShape",
    "CostModel",
    "DenseCost",
    "StructuredCost",
    "Dense",
    "Diagonal",
    "DiagonalPlusRankOne",
    "Identity",
    "Kind",
    "KindSig",
    "Kronecker",
    "StructuredTrace",
    "Factor",
    "GJC_COST_UNIT",
    "ORDERS",
    "Op",
    "Plan",
    "Schedule",
    "Step",
    "Trace",
    "TimeModel",
    "TraceStep",
    "available_orders",
    "check_factors",
    "flops",
    "homogeneous_adjoint_cost",
    "homogeneous_adjoint_schedule",
    "homogeneous_tangent_cost",
    "homogeneous_tangent_schedule",
    "input_first_cost",
    "loss_first_cost",
    "matmul_cost",
    "multiply",
    "optimize",
    "optimize_gjc",
    "parse_bracketing",
    "plan",
    "preaccumulation_cost",
    "preaccumulation_schedule",
    "read_chain",
    "register_order",
    "steps_cost",
    "write_chain",
]


def __getattr__(name: str) -> object:
    """``StructuredPlan`` is one :class:`Plan` now; the old name warns (see
    :mod:`chainorder.algebra.structured`)."""
    if name != "StructuredPlan":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import structured

    return getattr(structured, name)
