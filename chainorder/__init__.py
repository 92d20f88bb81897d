"""chainorder: the order in which a chain of Jacobians is multiplied.

The pipeline, one module each::

    network  ->  chain  ->  plan / orders  ->  execute  ->  results -> plots -> report
    (explicit     (matrices,  (a bracketing,    (counted
     Jacobians)    dims)       exact cost)       product)

``import chainorder`` loads numpy only; pandas and matplotlib are imported by
the table, plot and report modules when they are used.
"""

from __future__ import annotations

from .article import article_costs, article_dims, article_table
from .cases import CASES, Case, get_case, select_cases
from .chain import Chain
from .costs import flops, input_first_cost, loss_first_cost, matmul_cost
from .execute import Trace, TraceStep, multiply
from .gradients import (
    Gradients,
    TrainingHistory,
    finite_difference_gradients,
    input_first_gradients,
    loss_first_gradients,
    mean_loss,
    numerical_gradient,
    sgd_step,
    train,
)
from .machine import machine_info, measure_peak
from .network import (
    Activation,
    Affine,
    ForwardPass,
    MSELoss,
    Network,
    RecurrentNetwork,
    Softmax,
    SoftmaxCrossEntropy,
    article_network,
    recurrent_chain,
    recurrent_example,
)
from .orders import ORDERS, available_orders, optimize, plan, register_order
from .plan import Plan, Step, parse_bracketing
from .report import ReportSettings, Study, StudyPage, generate_report, register_study
from .sweep import run_sweep

__version__ = "0.1.0"

__all__ = [
    "CASES",
    "Case",
    "ReportSettings",
    "Study",
    "StudyPage",
    "generate_report",
    "get_case",
    "machine_info",
    "measure_peak",
    "register_study",
    "run_sweep",
    "select_cases",
    "Activation",
    "Affine",
    "Chain",
    "ForwardPass",
    "Gradients",
    "MSELoss",
    "Network",
    "RecurrentNetwork",
    "Softmax",
    "SoftmaxCrossEntropy",
    "TrainingHistory",
    "article_costs",
    "article_dims",
    "article_network",
    "article_table",
    "finite_difference_gradients",
    "input_first_gradients",
    "loss_first_gradients",
    "mean_loss",
    "numerical_gradient",
    "recurrent_chain",
    "recurrent_example",
    "sgd_step",
    "train",
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
    "__version__",
]
