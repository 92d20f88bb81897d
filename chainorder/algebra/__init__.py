"""The chain algebra: cost models, plans, the order registry and its strategies, execution.

Data flow, one module each::

    costs, timemodel  ->  plan (Plan, Step)  ->  orders (registry; strategies dp, hushing, approx)
           ->  execute (multiply, counted)  ->  chain (a Chain of matrices)

Planning reads dims only; :mod:`~chainorder.algebra.execute` is the only module
that multiplies.
"""

from __future__ import annotations

from .chain import Chain
from .costs import flops, input_first_cost, loss_first_cost, matmul_cost, steps_cost
from .execute import Trace, TraceStep, multiply
from .orders import ORDERS, available_orders, optimize, plan, register_order
from .plan import Plan, Step, parse_bracketing
from .timemodel import TimeModel

__all__ = [
    "Chain",
    "ORDERS",
    "Plan",
    "Step",
    "Trace",
    "TimeModel",
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
