"""The chain algebra: cost models, plans, the order registry and its strategies, execution.

Data flow, one module each::

    costs  ->  plan (Plan, Step)  ->  orders (registry; strategies dp, hushing, approx)
           ->  execute (multiply, counted)  ->  chain (a Chain of matrices)

    kinds (Jacobian kinds, counted products)  ->  structured (structured plans, their
    optimizer and execution; ``structure='structured'`` on plan, optimize, multiply)

Planning reads dims only; :mod:`~chainorder.algebra.execute` is the only module
that multiplies.
"""

from __future__ import annotations

from .chain import Chain
from .costs import KindSig, flops, input_first_cost, loss_first_cost, matmul_cost, steps_cost
from .execute import Trace, TraceStep, multiply
from .kinds import Dense, Diagonal, DiagonalPlusRankOne, Identity, Kind, Kronecker
from .orders import ORDERS, available_orders, optimize, plan, register_order
from .plan import Plan, Step, parse_bracketing
from .structured import StructuredPlan, StructuredTrace

__all__ = [
    "Chain",
    "Dense",
    "Diagonal",
    "DiagonalPlusRankOne",
    "Identity",
    "Kind",
    "KindSig",
    "Kronecker",
    "StructuredPlan",
    "StructuredTrace",
    "ORDERS",
    "Plan",
    "Step",
    "Trace",
    "TraceStep",
    "available_orders",
    "flops",
    "input_first_cost",
    "loss_first_cost",
    "matmul_cost",
    "multiply",
    "optimize",
    "parse_bracketing",
    "plan",
    "register_order",
    "steps_cost",
]
