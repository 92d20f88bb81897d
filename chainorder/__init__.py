"""chainorder: the order in which a chain of Jacobians is multiplied.

Three parts, each a subpackage::

    algebra   costs -> plans (orders, optimizers) -> execution with counted cost
    ad        a program cut into factors -> the fastest schedule -> jacobian(f), per engine
    networks  layers, losses -> networks and their explicit Jacobians -> gradients, the article
    lab       cases -> machine -> sweeps -> results -> studies -> report

``chainorder`` re-exports what a library user calls; the laboratory is
imported from :mod:`chainorder.lab`. ``import chainorder`` loads numpy only.
"""

from __future__ import annotations

from .ad.transform import jacobian, plan_jacobian, recommend
from .algebra.chain import Chain
from .algebra.costmodels import CostModel
from .algebra.costs import flops
from .algebra.execute import Trace, multiply
from .algebra.orders import available_orders, optimize, plan, register_order
from .algebra.plan import Plan, parse_bracketing
from .networks.article import article_costs, article_table
from .networks.gradients import (
    Gradients,
    finite_difference_gradients,
    input_first_gradients,
    loss_first_gradients,
    sgd_step,
    train,
)
from .networks.layers import Activation, Affine, Softmax
from .networks.losses import MSELoss, SoftmaxCrossEntropy
from .networks.network import Network, article_network
from .networks.recurrent import RecurrentNetwork, recurrent_chain
from .version import __version__

__all__ = [
    "Activation",
    "Affine",
    "Chain",
    "CostModel",
    "Gradients",
    "MSELoss",
    "Network",
    "Plan",
    "RecurrentNetwork",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Trace",
    "article_costs",
    "article_network",
    "article_table",
    "available_orders",
    "finite_difference_gradients",
    "flops",
    "input_first_gradients",
    "jacobian",
    "loss_first_gradients",
    "multiply",
    "optimize",
    "parse_bracketing",
    "plan",
    "plan_jacobian",
    "recommend",
    "recurrent_chain",
    "register_order",
    "sgd_step",
    "train",
    "__version__",
]

# Names ``chainorder`` exported before the three subpackages, and where they live now.
_MOVED = {
    "ORDERS": "chainorder.algebra.orders",
    "Step": "chainorder.algebra.plan",
    "TraceStep": "chainorder.algebra.execute",
    "input_first_cost": "chainorder.algebra.costs",
    "loss_first_cost": "chainorder.algebra.costs",
    "matmul_cost": "chainorder.algebra.costs",
    "ForwardPass": "chainorder.networks.network",
    "TrainingHistory": "chainorder.networks.gradients",
    "mean_loss": "chainorder.networks.gradients",
    "numerical_gradient": "chainorder.networks.gradients",
    "article_dims": "chainorder.networks.article",
    "recurrent_example": "chainorder.networks.recurrent",
    "CASES": "chainorder.lab.cases",
    "Case": "chainorder.lab.cases",
    "get_case": "chainorder.lab.cases",
    "select_cases": "chainorder.lab.cases",
    "machine_info": "chainorder.lab.machine",
    "measure_peak": "chainorder.lab.machine",
    "run_sweep": "chainorder.lab.sweep",
    "ReportSettings": "chainorder.lab.report",
    "generate_report": "chainorder.lab.report",
    "Study": "chainorder.lab.studies.base",
    "StudyPage": "chainorder.lab.studies.base",
    "register_study": "chainorder.lab.studies.base",
}


def __getattr__(name: str) -> object:
    """Old top-level names keep working, with a warning naming their new home."""
    if name not in _MOVED:
        raise AttributeError(f"module 'chainorder' has no attribute {name!r}")
    import importlib
    import warnings

    home = _MOVED[name]
    warnings.warn(
        f"chainorder.{name} moved to {home}.{name}; import it from there "
        "(the top-level name is removed in chainorder 0.4.0; see CHANGELOG.md)",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(home), name)
