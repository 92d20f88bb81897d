"""Networks as factor chains of the matrix-free Jacobian problem, costs counted per layer kind.

A network's layers, input side first, are the factors ``F_0, F_1, ...`` of
:mod:`chainorder.algebra.gjc` (factor 0 applied first); with ``loss=True`` the
loss is the last factor (``m = 1``: the chain of the gradient ``dl/dx``),
without it the chain of the full Jacobian ``dz_L/dx``. Costs are fused
multiply-adds of one tangent (``T``) or one adjoint (``A``); the tape is
what an adjoint sweep over the factor keeps:

=====================================  ===========  =========  =========  =========
factor (``n`` inputs, ``m`` outputs)   Jacobian     ``T``      ``A``      tape
=====================================  ===========  =========  =========  =========
``Affine`` ``W`` (``m x n``)           ``W``        ``m·n``    ``m·n``    ``m·n``
``Activation`` (elementwise, ``m``)    diagonal     ``m``      ``m``      ``m``
``Softmax`` (``m``)                    ``m x m``    ``2m``     ``2m``     ``2m``
conv / pool (``nnz`` stored entries)   sparse       ``nnz``    ``nnz``    ``nnz``
``MSELoss`` (``m -> 1``)               ``1 x m``    ``m``      ``m``      ``m``
``SoftmaxCrossEntropy`` (``m -> 1``)   ``1 x m``    ``2m``     ``2m``     ``2m``
RNN step ``h_(t-1) -> h_t`` (``H``)    ``H x H``    ``H²+H``   ``H²+H``   ``H²+H``
RNN first step ``x_1 -> h_1``          ``H x I``    ``H·I+H``  ``H·I+H``  ``H·I+H``
=====================================  ===========  =========  =========  =========

(a convolution's ``nnz`` is ``C_out · C_in`` times the in-range kernel taps of
each output position, an average pool's the in-range taps, a max pool's ``m``:
one selected input per output; an RNN step ``tanh(W h + U x_t + b)`` is a
product with ``W`` or ``U`` and an elementwise ``tanh'``; a softmax tangent is
``s*v - s*(s·v)``.)

The article's two orders are two schedules of this larger space:
loss-first (its "forwards computation", AD reverse mode) is homogeneous
adjoint mode, input-first (its "backwards computation", forward mode) is
homogeneous tangent mode. Their matrix-free costs differ from the
article's dense counts (111,000 and 11,010,000 for ``|x| = 1000, |z1| = 100,
|z3| = 10``): there the Jacobians are given, here building them is paid
for, and an elementwise layer costs ``m``, not a dense ``m x m`` product.
"""

from __future__ import annotations

from ..algebra.gjc import (
    Factor,
    Schedule,
    homogeneous_adjoint_schedule,
    homogeneous_tangent_schedule,
    optimize_gjc,
    preaccumulation_schedule,
)
from ..validation import check_positive_int
from .conv import WindowLayer
from .layers import Activation, Affine, Layer, Softmax
from .losses import Loss, MSELoss, SoftmaxCrossEntropy
from .network import Network, article_network
from .recurrent import RecurrentNetwork

__all__ = [
    "layer_factor",
    "loss_factor",
    "network_factors",
    "recurrent_factors",
    "article_factors",
    "order_schedules",
    "order_costs",
]


def _counted(m: int, n: int, work: int) -> Factor:
    return Factor(m, n, work, work, work)


def layer_factor(layer: Layer, width: int) -> Factor:
    """The factor of one layer fed a vector of ``width`` entries (costs: module table).

    Examples
    --------
    >>> import numpy as np
    >>> layer_factor(Affine(np.ones((3, 4)), np.zeros(3)), 4)
    Factor(m=3, n=4, tangent_cost=12, adjoint_cost=12, tape=12)
    >>> layer_factor(Softmax(), 5).tangent_cost
    10
    """
    width = check_positive_int(width, "width")
    if isinstance(layer, Affine):
        m = layer.out_width(width)
        return _counted(m, width, m * width)
    if isinstance(layer, Activation):
        return _counted(width, width, width)
    if isinstance(layer, Softmax):
        return _counted(width, width, 2 * width)
    if isinstance(layer, WindowLayer):  # conv or pool: one multiply-add per stored Jacobian entry
        return _counted(layer.out_width(width), width, layer.edges)
    raise TypeError(
        f"layer must be an Affine, Activation, Softmax, convolution or pooling layer "
        f"(their costs are counted), got {type(layer).__name__}"
    )


def loss_factor(loss: Loss, width: int) -> Factor:
    """The factor ``R^width -> R`` of a loss (``MSELoss``: ``m``; cross-entropy: ``2m``)."""
    width = check_positive_int(width, "width")
    if isinstance(loss, SoftmaxCrossEntropy):
        return _counted(1, width, 2 * width)
    if isinstance(loss, MSELoss):
        return _counted(1, width, width)
    raise TypeError(
        f"loss must be an MSELoss or SoftmaxCrossEntropy (their costs are counted), "
        f"got {type(loss).__name__}"
    )


def network_factors(net: Network, *, loss: bool = True) -> tuple[Factor, ...]:
    """A network's factor chain, first layer first; the loss last when ``loss`` is true.

    Examples
    --------
    >>> [f.shape for f in network_factors(article_network(4, 3, 2))]
    [(3, 4), (3, 3), (2, 3), (1, 2)]
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a Network, got {type(net).__name__}")
    out = [layer_factor(lay, w) for lay, w in zip(net.layers, net.widths[:-1], strict=True)]
    if loss:
        out.append(loss_factor(net.loss_fn, net.widths[-1]))
    return tuple(out)


def recurrent_factors(
    rnn: RecurrentNetwork, steps: int, *, loss: bool = True
) -> tuple[Factor, ...]:
    """The factor chain of ``dl/dx_1`` (or ``dh_T/dx_1``) of an RNN unrolled over ``steps``.

    Factor 0 is ``x_1 -> h_1``, factors ``1..T-1`` the steps ``h_(t-1) -> h_t``,
    and with ``loss`` the loss of ``h_T`` last: the chain of
    :meth:`~chainorder.networks.recurrent.RecurrentNetwork.input_chain`, input side first.

    Examples
    --------
    >>> rnn = RecurrentNetwork.from_sizes(4, 3)
    >>> [f.shape for f in recurrent_factors(rnn, 3)]
    [(4, 3), (4, 4), (4, 4), (1, 4)]
    """
    if not isinstance(rnn, RecurrentNetwork):
        raise TypeError(f"rnn must be a RecurrentNetwork, got {type(rnn).__name__}")
    steps = check_positive_int(steps, "steps")
    H, inputs = rnn.hidden, rnn.inputs
    out = [_counted(H, inputs, H * inputs + H)]
    out += [_counted(H, H, H * H + H)] * (steps - 1)
    if loss:
        out.append(loss_factor(rnn.loss_fn, H))
    return tuple(out)


def article_factors(x: int, z1: int, z3: int, *, loss: bool = True) -> tuple[Factor, ...]:
    """The factors of the article's network ``x -> W1 -> sigmoid -> W2 (-> loss)``.

    Examples
    --------
    >>> [f.tangent_cost for f in article_factors(1000, 100, 10)]
    [100000, 100, 1000, 10]
    """
    return network_factors(article_network(x, z1, z3), loss=loss)


def order_schedules(factors: tuple[Factor, ...], memory: int | None = None) -> dict[str, Schedule]:
    """The article's two orders, global preaccumulation and the optimum, as schedules.

    ``loss_first`` is homogeneous adjoint mode, ``input_first`` homogeneous
    tangent mode (neither is bound by ``memory``), ``preaccumulation`` and
    ``optimal`` keep the bound.
    """
    return {
        "loss_first": homogeneous_adjoint_schedule(factors),
        "input_first": homogeneous_tangent_schedule(factors),
        "preaccumulation": preaccumulation_schedule(factors, memory),
        "optimal": optimize_gjc(factors, memory),
    }


def order_costs(factors: tuple[Factor, ...], memory: int | None = None) -> dict[str, int]:
    """The fused multiply-adds of each schedule of :func:`order_schedules`.

    Examples
    --------
    The gradient of the article's network (loss last, ``m = 1``): one adjoint
    sweep is optimal, input-first pays 1000 tangents through ``W1``:

    >>> order_costs(article_factors(1000, 100, 10))
    {'loss_first': 101110, 'input_first': 101110000, 'preaccumulation': 10131010, \
'optimal': 101110}

    The full Jacobian ``dz3/dx`` (no loss, 10 rows):

    >>> order_costs(article_factors(1000, 100, 10, loss=False))
    {'loss_first': 1011000, 'input_first': 101100000, 'preaccumulation': 11120000, \
'optimal': 1011000}

    An hourglass ``1000 -> 10 -> 1000`` beats both modes: 10 adjoints build
    ``W1``, 10 tangents ``W2``, and one ``1000 x 10 x 1000`` product joins them:

    >>> hourglass = Network.from_widths([1000, 10, 1000])
    >>> order_costs(network_factors(hourglass, loss=False))
    {'loss_first': 20010000, 'input_first': 20010000, 'preaccumulation': 10300100, \
'optimal': 10100100}
    """
    return {name: s.cost for name, s in order_schedules(factors, memory).items()}
