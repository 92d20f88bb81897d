"""Automatic differentiation by the cheapest schedule: a neutral planner, one module per engine.

Data flow, one module each::

    engine (jax_engine)  trace f, cut it into factors, measure them  -> ADFactor
    planner              candidate gjc schedules on the factors, the choice
    costmodel            what a schedule costs: multiply-adds, or seconds (calibrated)
    engine (jax_engine)  execute the chosen schedule; time calls; calibrate
    transform            jacobian(f): the plan cached per signature, run as a transform
    sparsity             Jacobian patterns of the cut factors, detected from the jaxpr
    sparse_output        sparsity arguments checked; BCOO results

Nothing here imports an AD engine until a Jacobian is asked for, so ``import chainorder``
stays light; :mod:`chainorder.algebra` imports no engine at all.
"""

from __future__ import annotations

from .costmodel import MultiplyAdds, TimeModel
from .engine import ENGINES, get_engine
from .planner import AUTO_MARGIN, MODES, ADFactor, candidate_schedules, choose
from .transform import (
    CompiledJacobian,
    Jacobian,
    JacobianPlan,
    Recommendation,
    jacobian,
    plan_jacobian,
    recommend,
)

__all__ = [
    "ADFactor",
    "AUTO_MARGIN",
    "CompiledJacobian",
    "ENGINES",
    "Jacobian",
    "JacobianPlan",
    "MODES",
    "MultiplyAdds",
    "Recommendation",
    "TimeModel",
    "candidate_schedules",
    "choose",
    "get_engine",
    "jacobian",
    "plan_jacobian",
    "recommend",
]
