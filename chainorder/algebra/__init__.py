"""The chain algebra: cost models, plans, the order registry and its strategies, execution.

Data flow, one module each::

    costs  ->  plan (Plan, Step)  ->  orders (registry; strategies dp, hushing, approx)
           ->  execute (multiply, counted)  ->  chain (a Chain of matrices)

    gjc (the matrix-free generalized chain: Factor, Schedule, optimize_gjc)  ->  gjc_format

Planning reads dims only; :mod:`~chainorder.algebra.execute` is the only module
that multiplies.
"""

from __future__ import annotations

from .chain import Chain
from .costs import flops, input_first_cost, loss_first_cost, matmul_cost, steps_cost
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
from .orders import ORDERS, available_orders, optimize, plan, register_order
from .plan import Plan, Step, parse_bracketing

__all__ = [
    "Chain",
    "Factor",
    "GJC_COST_UNIT",
    "ORDERS",
    "Op",
    "Plan",
    "Schedule",
    "Step",
    "Trace",
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
