"""Gradients in the article's two orders with counted multiplications; finite differences; SGD."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..algebra.chain import Chain
from ..algebra.costmodels import as_cost_model, cost_from_flags, reads_kinds
from ..algebra.kinds import (
    Dense,
    Kind,
    KindSig,
    as_kind,
    densify_cost,
    kind_matmul,
    structured_product,
)
from ..validation import as_real_array, check_finite, check_positive_int, check_real
from .network import ForwardPass, Network

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

    ``x, y`` are one example, or a mini-batch ``X`` (``B x |x|``) and ``Y``
    (one target per row, see :meth:`~chainorder.networks.network.Network.forward`):
    then the gradients are those of the mean of the ``B`` losses, ``dx`` is
    ``dl/dX`` of that mean (``B x |x|``), and the sweep runs as matrix
    products, one ``G @ W`` and one ``Gᵀ @ Z`` per affine layer; its count is
    ``B`` times one example's (the batch's block-diagonal chain, summed over
    the batch by additions).

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
    if fp.batch is not None:
        return _loss_first_batch(net, fp, dense)
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


def _loss_first_batch(net: Network, fp: ForwardPass, dense: bool) -> Gradients:
    """The loss-first sweep of a batch as matrix products: one ``G @ W`` and ``Gᵀ @ Z`` a layer.

    ``G`` (``B x |z|``) holds the rows ``dl/dz`` of the mean loss, one per
    example; the seed ``dl/dZ_L`` is each example's divided by ``B`` (given,
    as a single example's is, uncounted). The count is ``B`` times the
    single example's (:func:`_single_count`): the sums over the batch are
    additions.
    """
    B = fp.batch
    assert B is not None  # a batch's pass, by the caller
    G = net.loss_fn._gradients(fp.zs[-1], fp.y) / B
    grads: dict[ParamKey, np.ndarray] = {}
    for k in range(len(net.layers) - 1, -1, -1):
        layer, Z_in = net.layers[k], fp.zs[k]
        for name, g in layer._param_gradients_batch(G, Z_in).items():
            grads[(k, name)] = g.reshape(layer.params[name].shape)
        G = layer._backward_batch(G, Z_in, fp.zs[k + 1])
    return Gradients(grads, G, B * _single_count(net, dense), "loss_first", _labels(net))


def _single_count(net: Network, dense: bool) -> int:
    """Multiplications of one example's loss-first sweep, from the Jacobians' kinds alone.

    The same products :func:`loss_first_gradients` counts on a single example
    (kinds and shapes only, so it is cached per network).
    """
    key = "dense" if dense else "structured"
    cache = net._count_cache
    if key not in cache:
        cache[key] = sum(_layer_counts(net, dense))
    return cache[key]


def _layer_counts(net: Network, dense: bool) -> Iterator[int]:
    """Each product's count in one example's loss-first sweep, output side first."""
    row = KindSig.dense(1, net.widths[-1])  # dl/dz_L
    for k in range(len(net.layers) - 1, -1, -1):
        layer, z_in = net.layers[k], np.ones(net.widths[k])
        if dense:
            params = [KindSig.dense(row.cols, p.size) for p in layer.params.values()]
            step = KindSig.dense(net.widths[k + 1], net.widths[k])
        else:
            params = [j.signature for j in layer._param_kinds(z_in).values()]
            step = layer._input_kind(z_in, layer._forward(z_in)).signature
        for sig in params:
            mults, out = structured_product(row, sig)
            yield mults + densify_cost(out)
        mults, row = structured_product(row, step)
        yield mults
    yield densify_cost(row)


def input_first_gradients(net: Network, x: Any, y: Any, *, cost: Any = "structured",
                          **deprecated: Any) -> Gradients:
    """Every gradient from its own chain, multiplied input side first, with no caching.

    On a mini-batch (as in :func:`loss_first_gradients`: the gradients of the
    mean loss) every example's chains are multiplied, each seeded with its
    ``dl/dz_L / B``, and summed; the count is the sum of the examples' counts.

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
    if fp.batch is None:
        grads, dx, count = _input_first_one(net, fp, model)
        return Gradients(grads, dx, count, "input_first", _labels(net))
    if model.reads_kinds:
        grads, dx, count = _input_first_batch(net, fp, model)
        return Gradients(grads, dx.reshape(fp.batch, -1), count, "input_first", _labels(net))
    # dense: each example's chains, seeded with its dl/dz_L / B, summed (additions are free);
    # the batch's block-diagonal Jacobians written out would multiply their zero blocks too
    parts = [_input_first_one(net, fp.example(i), model, 1.0 / fp.batch)
             for i in range(fp.batch)]
    total = {key: np.sum([p[0][key] for p in parts], axis=0) for key in parts[0][0]}
    dx = np.stack([p[1] for p in parts])
    return Gradients(total, dx, sum(p[2] for p in parts), "input_first", _labels(net))


def _input_first_one(net: Network, fp: ForwardPass, model: Any, scale: float = 1.0
                     ) -> tuple[dict[ParamKey, np.ndarray], np.ndarray, int]:
    """One example's gradients, ``dl/dx`` and count, each chain multiplied input side first."""
    grads: dict[ParamKey, np.ndarray] = {}
    count = 0
    for k, name, param in net.parameters():
        chain = net._param_chain(fp, k, name, model.reads_kinds, scale)
        product, trace = chain.multiply("input_first", trace=True, cost=model)
        grads[(k, name)] = product.reshape(param.shape)
        count += trace.multiplications
    mats, names = net._upper_chain(fp, 0, model.reads_kinds, scale)
    product, trace = Chain(mats, names).multiply("input_first", trace=True, cost=model)
    return grads, product[0], count + trace.multiplications


def _input_first_batch(net: Network, fp: ForwardPass, model: Any
                       ) -> tuple[dict[ParamKey, np.ndarray], np.ndarray, int]:
    """A batch's gradients from its block-diagonal chains, each multiplied input side first.

    A parameter's chain ends in the :class:`~chainorder.algebra.kinds.Replicate` factor
    that shares it across the batch; the block-diagonal part before it is multiplied input
    side first (every example's tangents, block by block, in the kinds) and its ``B``
    blocks are then summed by that last factor, additions only.
    """
    grads: dict[ParamKey, np.ndarray] = {}
    count = 0
    for k, name, param in net.parameters():
        chain = net._param_chain(fp, k, name)
        *blocks, shared = chain.factors
        per_example, trace = Chain(blocks, chain.names[:-1]).multiply(
            "input_first", trace=True, cost=model)
        summed, spent = kind_matmul(as_kind(per_example), shared)
        grads[(k, name)] = summed.densify()[0].reshape(param.shape)
        count += trace.multiplications + spent
    mats, names = net._upper_chain(fp, 0)
    dx, trace = Chain(mats, names).multiply("input_first", trace=True, cost=model)
    return grads, dx[0], count + trace.multiplications


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

    On a mini-batch ``X, Y``, of the mean loss (``dx`` is ``B x |x|``).

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
    gradient for every parameter of ``net``, shaped like it (a mini-batch's
    gradients are of its mean loss, so one step follows the batch's mean).

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
    net: Network, X: Any, Y: Sequence[Any], *, alpha: float, epochs: int, order: str = "loss_first",
    batch_size: int = 1,
) -> TrainingHistory:
    """Stochastic gradient descent on mini-batches of consecutive rows of ``X`` (one by default).

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
    batch_size : int
        Examples per step: each step follows the gradient of the batch's mean loss
        (the last batch of an epoch may be smaller). 1: one example at a time.

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
    batch_size = check_positive_int(batch_size, "batch_size")
    initial = mean_loss(_check_net(net), X, Y)
    X = _check_examples(X, Y)
    batches = list(zip(X, Y, strict=True)) if batch_size == 1 else [
        (X[i:i + batch_size], Y[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)]
    losses, counts = [], []
    for _ in range(epochs):
        count = 0
        for x, y in batches:
            g = grad_fn(net, x, y)
            net = sgd_step(net, g, alpha)
            count += g.multiplications
        losses.append(mean_loss(net, X, Y))
        counts.append(count)
    name = grad_fn.__name__.removesuffix("_gradients")
    return TrainingHistory(losses, net, counts, name, initial)
