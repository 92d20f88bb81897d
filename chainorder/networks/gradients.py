"""Gradients in the article's two orders with counted multiplications; finite differences; SGD."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..algebra.costmodels import as_cost_model, cost_from_flags, reads_kinds
from ..algebra.kinds import Dense, Kind, kind_matmul
from ..validation import as_real_array, check_finite, check_positive_int, check_real
from .network import Network

__all__ = [
    "Gradients",
    "loss_first_gradients",
    "input_first_gradients",
    "gradients",
    "numerical_gradient",
    "finite_difference_gradients",
    "sgd_step",
    "mean_loss",
    "train",
    "TrainingHistory",
    "GRADIENT_ORDERS",
]

ParamKey = tuple[int, str]


class Gradients(Mapping[ParamKey, np.ndarray]):
    """Gradients of the loss: ``(layer, name) -> dl/dparam`` shaped like the parameter.

    Attributes
    ----------
    dx : ndarray
        ``dl/dx``, shaped like ``x``.
    multiplications : int
        Scalar multiplications performed in the Jacobian products, exactly
        (the forward pass is not counted).
    order : str
        How they were computed: ``'loss_first'``, ``'input_first'`` or
        ``'central_differences'``.
    labels : dict
        ``(layer, name) -> 'W1'``, ... (the article's names).
    """

    def __init__(
        self,
        grads: Mapping[ParamKey, np.ndarray],
        dx: np.ndarray,
        multiplications: int,
        order: str,
        labels: Mapping[ParamKey, str] | None = None,
    ) -> None:
        self._grads = {key: grads[key] for key in sorted(grads)}
        self.dx = dx
        self.multiplications = int(multiplications)
        self.order = order
        self.labels = dict(labels) if labels is not None else {k: f"{k[1]}@{k[0]}" for k in grads}

    def __getitem__(self, key: ParamKey) -> np.ndarray:
        return self._grads[key]

    def __iter__(self) -> Iterator[ParamKey]:
        return iter(self._grads)

    def __len__(self) -> int:
        return len(self._grads)

    def by_label(self) -> dict[str, np.ndarray]:
        """The gradients keyed by the article's names, e.g. ``{'W1': ..., 'b1': ...}``."""
        return {self.labels[k]: g for k, g in self._grads.items()}

    def __repr__(self) -> str:
        parts = [f"d{self.labels[k]}[{_shape(g)}]" for k, g in self._grads.items()]
        parts.append(f"dx[{_shape(self.dx)}]")
        count = f"{self.multiplications:,} multiplications"
        return f"<Gradients {self.order!r}: {', '.join(parts)}; {count}>"


def _shape(a: np.ndarray) -> str:
    return "x".join(map(str, a.shape))


def _check_net(net: Any) -> Network:
    if not isinstance(net, Network):
        raise TypeError(f"net must be a chainorder Network, got {type(net).__name__}")
    return net


def _labels(net: Network) -> dict[ParamKey, str]:
    return net.param_labels


def loss_first_gradients(net: Network, x: Any, y: Any, *, cost: Any = "structured",
                         **deprecated: Any) -> Gradients:
    """All gradients in one loss-first sweep, caching each ``dl/dz_i`` (the article's forwards).

    Starting from the ``1 x |z_L|`` row ``dl/dz_L``, the sweep multiplies the
    row through each layer's input Jacobian. Before leaving layer ``k`` it
    reuses the cached row ``dl/dz_(k+1)`` for that layer's parameters,
    ``dl/dW = dl/dz_(k+1) · dz_(k+1)/dW`` and likewise for ``b``.

    With ``cost='structured'`` (the default) every Jacobian is kept in
    its kind (:mod:`chainorder.algebra.kinds`): a row times ``diag(σ')``
    costs ``|z|``, a row times ``I ⊗ xᵀ`` is kept as ``row ⊗ xᵀ`` and written
    out as the outer product (``|z|·|x|`` multiplications), ``I ⊗ xᵀ`` is
    never materialized. With ``'dense'`` (or any cost model that does not
    read kinds) the explicit dense Jacobians are multiplied (the article's
    convention). Every product is counted. ``structure=`` still works, with
    a ``DeprecationWarning``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainorder.networks.network import article_network
    >>> net = article_network(4, 3, 2, seed=0)
    >>> loss_first_gradients(net, np.ones(4), np.zeros(2))
    <Gradients 'loss_first': dW1[3x4], db1[3], dW2[2x3], db2[2], dx[4]; 39 multiplications>
    >>> loss_first_gradients(net, np.ones(4), np.zeros(2), cost="dense").multiplications
    88
    """
    dense = not reads_kinds(cost_from_flags(cost, deprecated, "loss_first_gradients",
                                            default="structured")[0])
    fp = _check_net(net).forward(x, y)
    row: Kind = Dense(net.loss_fn._gradient(fp.zs[-1], fp.y))  # dl/dz_L, 1 x |z_L|
    grads: dict[ParamKey, np.ndarray] = {}
    count = 0
    for k in range(len(net.layers) - 1, -1, -1):
        layer, z_in, z_out = net.layers[k], fp.zs[k], fp.zs[k + 1]
        params: dict[str, Kind]
        if dense:  # the article's convention: every Jacobian a full matrix, p*q*r a product
            params = {n: Dense(j) for n, j in layer._param_jacobians(z_in).items()}
            step: Kind = Dense(layer._input_jacobian(z_in, z_out))
        else:
            params, step = layer._param_kinds(z_in), layer._input_kind(z_in, z_out)
        # row is dl/dz_(k+1): cached, and reused by each parameter of layer k
        for name, jac in params.items():
            product, mults = kind_matmul(row, jac)
            grad, spent = product.densify()
            grads[(k, name)] = grad.reshape(layer.params[name].shape)
            count += mults + spent
        row, mults = kind_matmul(row, step)
        count += mults
    dx, spent = row.densify()
    return Gradients(grads, dx[0], count + spent, "loss_first", _labels(net))


def input_first_gradients(net: Network, x: Any, y: Any, *, cost: Any = "structured",
                          **deprecated: Any) -> Gradients:
    """Every gradient from its own chain, multiplied input side first, with no caching.

    For each parameter the chain ``dl/dz_L ··· dz_(k+1)/dparam`` of
    :meth:`~chainorder.networks.network.Network.param_chain` is multiplied right to left
    (order ``'input_first'``, the article's backwards computation, AD forward
    mode) by :func:`chainorder.multiply`; so is the chain of ``dl/dx``. The
    counted multiplications of all these products are summed, under
    ``cost`` (``'structured'``: each Jacobian in its kind; ``'dense'``:
    the article's convention). ``structure=`` still works, with a
    ``DeprecationWarning``.

    Examples
    --------
    >>> import numpy as np
    >>> from chainorder.networks.network import article_network
    >>> net = article_network(4, 3, 2, seed=0)
    >>> input_first_gradients(net, np.ones(4), np.zeros(2), cost="dense").multiplications
    339
    >>> input_first_gradients(net, np.ones(4), np.zeros(2)).multiplications
    86
    """
    model = as_cost_model(cost_from_flags(cost, deprecated, "input_first_gradients",
                                          default="structured")[0])
    fp = _check_net(net).forward(x, y)
    grads: dict[ParamKey, np.ndarray] = {}
    count = 0
    for k, name, param in net.parameters():
        chain = net._param_chain(fp, k, name, model.reads_kinds)
        product, trace = chain.multiply("input_first", trace=True, cost=model)
        grads[(k, name)] = product.reshape(param.shape)
        count += trace.multiplications
    chain = net.input_chain(fp.x, fp.y, cost=model)
    product, trace = chain.multiply("input_first", trace=True, cost=model)
    return Gradients(grads, product[0], count + trace.multiplications, "input_first", _labels(net))


#: order name -> gradient function, for :func:`gradients` and :func:`train`.
GRADIENT_ORDERS: dict[str, Callable[[Network, Any, Any], Gradients]] = {
    "loss_first": loss_first_gradients,
    "forward": loss_first_gradients,
    "input_first": input_first_gradients,
    "backward": input_first_gradients,
}


def gradients(net: Network, x: Any, y: Any, order: str = "loss_first") -> Gradients:
    """Gradients of ``net``'s loss in the named order (see :data:`GRADIENT_ORDERS`)."""
    return _gradient_fn(order)(net, x, y)


def _gradient_fn(order: Any) -> Callable[[Network, Any, Any], Gradients]:
    key = order.strip().lower().replace("-", "_") if isinstance(order, str) else order
    if key not in GRADIENT_ORDERS:
        raise ValueError(f"unknown order {order!r}; valid orders: {', '.join(GRADIENT_ORDERS)}")
    return GRADIENT_ORDERS[key]


def numerical_gradient(
    f: Callable[[np.ndarray], float], theta: Any, eps: float = 1e-6
) -> np.ndarray:
    """Central finite differences ``(f(theta + eps e_i) - f(theta - eps e_i)) / (2 eps)``.

    Parameters
    ----------
    f : callable
        Scalar function of an array shaped like ``theta``; it receives a copy.
    theta : array_like
        Point of evaluation (float64). The result has its shape.
    eps : float
        Step; the error is ``O(eps**2)`` plus rounding ``O(1e-16 / eps)``.

    Examples
    --------
    >>> numerical_gradient(lambda t: float(t[0] * t[1]), [2.0, -6.0]).round(6)
    array([-6.,  2.])
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    eps = check_real(eps, "eps", positive=True)
    theta = check_finite(as_real_array(theta, "theta"), "theta")
    flat = theta.reshape(-1)  # a view: editing flat moves theta
    grad = np.empty_like(flat)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        up = float(f(theta.copy()))
        flat[i] = orig - eps
        down = float(f(theta.copy()))
        flat[i] = orig
        grad[i] = (up - down) / (2.0 * eps)
    return grad.reshape(theta.shape)


def finite_difference_gradients(net: Network, x: Any, y: Any, eps: float = 1e-6) -> Gradients:
    """Every gradient of ``net.loss``, and ``dl/dx``, by :func:`numerical_gradient` (a reference).

    Examples
    --------
    >>> import numpy as np
    >>> from chainorder.networks.network import article_network
    >>> net = article_network(4, 3, 2, seed=0)
    >>> x, y = np.ones(4), np.zeros(2)
    >>> fd, lf = finite_difference_gradients(net, x, y), loss_first_gradients(net, x, y)
    >>> bool(np.allclose(fd.dx, lf.dx, rtol=1e-6, atol=1e-9))
    True
    """
    _check_net(net)
    grads = {}
    for k, nm, a in net.parameters():
        def loss_at(t: np.ndarray, key: ParamKey = (k, nm)) -> float:
            return net.with_parameters({key: t}).loss(x, y)

        grads[(k, nm)] = numerical_gradient(loss_at, a, eps)
    dx = numerical_gradient(lambda t: net.loss(t, y), x, eps)
    return Gradients(grads, dx, 0, "central_differences", _labels(net))


def sgd_step(net: Network, grads: Mapping[ParamKey, Any], alpha: float) -> Network:
    """One gradient-descent step ``theta <- theta - alpha dl/dtheta``, as a NEW network.

    ``net`` is left unchanged (its arrays are read-only). ``grads`` must hold a
    gradient for every parameter of ``net``, shaped like it.

    Examples
    --------
    >>> import numpy as np
    >>> from chainorder.networks.network import article_network
    >>> net = article_network(4, 3, 2, seed=0)
    >>> x, y = np.ones(4), np.zeros(2)
    >>> new = sgd_step(net, loss_first_gradients(net, x, y), alpha=0.5)
    >>> new.loss(x, y) < net.loss(x, y)
    True
    """
    alpha = check_real(alpha, "alpha", positive=True)
    params = {(k, nm): a for k, nm, a in _check_net(net).parameters()}
    if not isinstance(grads, Mapping) or set(grads) != set(params):
        got = sorted(grads) if isinstance(grads, Mapping) else type(grads).__name__
        raise ValueError(
            f"grads must map every parameter key {sorted(params)} to a gradient, got {got}"
        )
    updates = {}
    for key, theta in params.items():
        g = check_finite(as_real_array(grads[key], f"grads[{key!r}]"), f"grads[{key!r}]")
        if g.shape != theta.shape:
            raise ValueError(f"grads[{key!r}] has shape {g.shape}, expected {theta.shape}")
        updates[key] = theta - alpha * g
    return net.with_parameters(updates)


def mean_loss(net: Network, X: Any, Y: Sequence[Any]) -> float:
    """The loss averaged over the examples ``X[i], Y[i]``."""
    _check_net(net)
    X = _check_examples(X, Y)
    return float(np.mean([net.loss(x, y) for x, y in zip(X, Y, strict=True)]))


def _check_examples(X: Any, Y: Any) -> np.ndarray:
    X = as_real_array(X, "X")
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(
            f"X must be a non-empty 2-D array, one example per row, got shape {X.shape}"
        )
    if len(Y) != X.shape[0]:
        raise ValueError(f"Y must hold one target per row of X ({X.shape[0]}), got {len(Y)}")
    return X


class TrainingHistory(list[float]):
    """Mean training loss after each epoch (a list of floats), plus what training did.

    Attributes
    ----------
    network : Network
        The trained network.
    multiplications : list of int
        Scalar multiplications of the gradient products, per epoch.
    order : str
    initial_loss : float
        Mean loss before the first step.
    """

    def __init__(self, losses: Sequence[float], network: Network, multiplications: Sequence[int],
                 order: str, initial_loss: float) -> None:
        super().__init__(losses)
        self.network = network
        self.multiplications = list(multiplications)
        self.order = order
        self.initial_loss = initial_loss

    def __repr__(self) -> str:
        last = f"{self[-1]:.4g}" if self else "-"
        return (
            f"<TrainingHistory {self.order!r}: {len(self)} epochs, loss {self.initial_loss:.4g} -> "
            f"{last}, {sum(self.multiplications):,} multiplications>"
        )


def train(
    net: Network, X: Any, Y: Sequence[Any], *, alpha: float, epochs: int, order: str = "loss_first"
) -> TrainingHistory:
    """Stochastic gradient descent, one example at a time, in the order of the rows of ``X``.

    Parameters
    ----------
    net : Network
        The starting point; it is not modified.
    X : array_like, shape (N, |x|)
    Y : sequence of N targets
    alpha : float
        Learning rate, > 0.
    epochs : int
    order : {'loss_first', 'input_first'}
        How every gradient is computed; both give the same steps, at different costs.

    Returns
    -------
    TrainingHistory
        The mean loss over all examples after each epoch (a ``list[float]``),
        with ``.network`` (the trained network) and ``.multiplications`` per epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from chainorder.networks.network import article_network
    >>> net = article_network(4, 3, 2, activation="tanh", seed=0)
    >>> X, Y = np.eye(4), np.full((4, 2), 0.5)
    >>> h = train(net, X, Y, alpha=0.1, epochs=3)
    >>> h[-1] < h.initial_loss, h.multiplications
    (True, [156, 156, 156])
    """
    grad_fn = _gradient_fn(order)
    alpha = check_real(alpha, "alpha", positive=True)
    epochs = check_positive_int(epochs, "epochs")
    initial = mean_loss(_check_net(net), X, Y)
    X = _check_examples(X, Y)
    losses, counts = [], []
    for _ in range(epochs):
        count = 0
        for x, y in zip(X, Y, strict=True):
            g = grad_fn(net, x, y)
            net = sgd_step(net, g, alpha)
            count += g.multiplications
        losses.append(mean_loss(net, X, Y))
        counts.append(count)
    name = grad_fn.__name__.removesuffix("_gradients")
    return TrainingHistory(losses, net, counts, name, initial)
