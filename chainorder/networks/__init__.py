"""Networks and their Jacobians: layers, losses, networks, the recurrent and convolutional
variants, gradients, and the article's analysis.

Data flow::

    layers, losses  ->  network / recurrent (explicit Jacobians, their chains)
                    ->  gradients (loss-first and input-first)  ->  article (the article's costs)
"""

from __future__ import annotations

from .article import article_costs, article_dims, article_table
from .conv import (
    AvgPool1D,
    AvgPool2D,
    Conv1D,
    Conv2D,
    MaxPool1D,
    MaxPool2D,
    conv_article_network,
)
from .factors import network_factors, order_costs, order_schedules, recurrent_factors
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
from .layers import ACTIVATIONS, Activation, Affine, Layer, Softmax
from .losses import LOSSES, Loss, MSELoss, SoftmaxCrossEntropy
from .network import ForwardPass, Network, article_network
from .recurrent import RecurrentNetwork, recurrent_chain, recurrent_example

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "Activation",
    "Affine",
    "AvgPool1D",
    "AvgPool2D",
    "Conv1D",
    "Conv2D",
    "ForwardPass",
    "Gradients",
    "Layer",
    "Loss",
    "MSELoss",
    "MaxPool1D",
    "MaxPool2D",
    "Network",
    "RecurrentNetwork",
    "Softmax",
    "SoftmaxCrossEntropy",
    "TrainingHistory",
    "article_costs",
    "article_dims",
    "article_network",
    "article_table",
    "conv_article_network",
    "finite_difference_gradients",
    "input_first_gradients",
    "loss_first_gradients",
    "mean_loss",
    "network_factors",
    "numerical_gradient",
    "order_costs",
    "order_schedules",
    "recurrent_chain",
    "recurrent_example",
    "recurrent_factors",
    "sgd_step",
    "train",
]
