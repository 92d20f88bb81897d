"""Feed-forward networks as explicit Jacobians: the chains of dl/dx and dl/dtheta."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ..algebra.chain import Chain
from ..algebra.costmodels import cost_from_flags, reads_kinds
from ..algebra.kinds import BlockDiagonal, Dense, Kind, Replicate, Sparse
from ..validation import (
    as_real_array,
    check_dims,
    check_finite,
    check_memory,
    check_positive_int,
    check_vector,
)
from .layers import Activation, Affine, Layer, Softmax, glorot_uniform
from .losses import Loss, SoftmaxCrossEntropy, make_loss

__all__ = ["ForwardPass", "Network", "article_network"]

ParamKey = tuple[int, str]


@dataclass(frozen=True)
class ForwardPass:
    """Every activation of one forward pass, ``zs = (z_0 = x, z_1, ..., z_L)``, and the loss."""

    zs: tuple[np.ndarray, ...]
    loss: float
    y: Any

    @property
    def x(self) -> np.ndarray:
        """The input ``z_0``."""
        return self.zs[0]

    @property
    def output(self) -> np.ndarray:
        """The last activation ``z_L``, the loss's input."""
        return self.zs[-1]

    @property
    def batch(self) -> int | None:
        """``B`` for a batch (every ``z_i`` is ``B x |z_i|``), None for a single example."""
        return self.zs[0].shape[0] if self.zs[0].ndim == 2 else None

    def example(self, i: int) -> ForwardPass:
        """Example ``i`` of a batch as a single example's pass (its own loss, not the mean)."""
        zs = tuple(z[i] for z in self.zs)
        y = self.y[i]
        return ForwardPass(zs, float("nan"), y.item() if np.ndim(y) == 0 else y)

    def __repr__(self) -> str:
        widths = " -> ".join(f"{_zname(i)}[{z.shape[-1]}]" for i, z in enumerate(self.zs))
        if self.batch is not None:
            return f"<ForwardPass batch of {self.batch}: {widths}, mean loss {self.loss:.6g}>"
        return f"<ForwardPass {widths}, loss {self.loss:.6g}>"


def _zname(i: int) -> str:
    return "x" if i == 0 else f"z{i}"


class Network:
    """A feed-forward network ``l(f_L(... f_1(x)))`` whose Jacobians are explicit matrices.

    Layer ``k`` (0-based) maps ``z_k`` to ``z_(k+1)``, with ``z_0 = x``.

    Parameters
    ----------
    layers : sequence of Layer
        At least one :class:`Affine` (it fixes the input width); widths must fit.
    loss : Loss or str
        A :class:`Loss` or a name in :data:`LOSSES` (``'mse'``, ``'cross_entropy'``).

    Examples
    --------
    >>> import numpy as np
    >>> net = Network([Affine(np.ones((2, 3)), np.zeros(2)), Activation("tanh")], "mse")
    >>> net
    <Network x[3] -> Affine(2x3) -> z1[2] -> tanh -> z2[2] -> MSELoss>
    >>> net.input_chain([0.1, 0.2, 0.3], [0.0, 1.0]).dims
    (1, 2, 2, 3)
    """

    def __init__(self, layers: Sequence[Layer], loss: Loss | str = "mse") -> None:
        self.layers: tuple[Layer, ...] = _check_layers(layers)
        self.loss_fn: Loss = make_loss(loss)
        self.widths: tuple[int, ...] = _widths(self.layers)
        # counts that read kinds and shapes only (gradients._single_count)
        self._count_cache: dict[str, int] = {}
        if isinstance(self.layers[-1], Softmax) and isinstance(self.loss_fn, SoftmaxCrossEntropy):
            warnings.warn(
                "the last layer is Softmax and the loss SoftmaxCrossEntropy applies softmax "
                "again; drop the Softmax layer to train on logits",
                stacklevel=2,
            )

    @classmethod
    def from_widths(
        cls,
        widths: Sequence[int],
        activation: str | None = "tanh",
        loss: Loss | str = "mse",
        seed: int | None = 0,
        output_activation: str | None = None,
    ) -> Network:
        """Affine layers of the given widths with ``activation`` between them, Glorot-initialised.

        Parameters
        ----------
        widths : sequence of int
            ``|x|, |h_1|, ..., |output|``: one :class:`Affine` per consecutive pair.
        activation : str or None
            Elementwise layer between affine layers (None: none).
        loss : Loss or str
        seed : int or None
            For ``np.random.default_rng``; weights are Glorot-uniform, biases zero.
        output_activation : str or None
            ``'softmax'`` or an activation name, applied after the last affine layer.

        Examples
        --------
        >>> Network.from_widths([4, 3, 2], activation="relu", seed=1)
        <Network x[4] -> Affine(3x4) -> z1[3] -> relu -> z2[3] -> Affine(2x3) -> z3[2] -> MSELoss>
        """
        widths = check_dims(widths, "widths")
        rng = np.random.default_rng(seed)
        layers: list[Layer] = []
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
            if layers and activation is not None:
                layers.append(Activation(activation))
            layers.append(Affine(glorot_uniform(rng, n_out, n_in), np.zeros(n_out)))
        if output_activation is not None:
            layers.append(_output_layer(output_activation))
        return cls(layers, loss)

    # --- passes and losses

    def forward(self, x: Any, y: Any) -> ForwardPass:
        """Run ``x`` through every layer, keeping ``z_0 = x, ..., z_L`` and the loss.

        ``x`` is one example (a vector of length ``|x|``, ``y`` its target)
        or a mini-batch ``X`` of shape ``(B, |x|)``, one example per row,
        with ``Y`` one target per row (``(B, |z_L|)``, or ``B`` class
        indices for cross-entropy); then every ``z_i`` is ``B x |z_i|`` and
        the loss is the mean of the ``B`` examples' losses.

        Examples
        --------
        >>> import numpy as np
        >>> net = article_network(4, 3, 2, seed=0)
        >>> net.forward(np.ones((5, 4)), np.zeros((5, 2)))
        <ForwardPass batch of 5: x[4] -> z1[3] -> z2[3] -> z3[2], mean loss 0.334619>
        """
        if np.ndim(x) == 2:
            return self._forward_batch(x, y)
        zs = [check_vector(x, "x", self.widths[0])]
        y = self.loss_fn.check_target(y, self.widths[-1])
        for layer in self.layers:
            zs.append(layer._forward(zs[-1]))
        return ForwardPass(tuple(zs), self.loss_fn._value(zs[-1], y), y)

    def _forward_batch(self, X: Any, Y: Any) -> ForwardPass:
        arr = as_real_array(X, "X")  # 2-D: the caller's test
        if arr.shape == (self.widths[0], 1):
            check_vector(X, "x", self.widths[0])  # a column: one example, said so
        if arr.shape[1] != self.widths[0] or arr.shape[0] == 0:
            hint = "; pass X.T, one example per row" if arr.shape[0] == self.widths[0] else ""
            raise ValueError(
                f"X of shape {arr.shape} for a network of input width {self.widths[0]}: "
                f"expected shape (B, {self.widths[0]}), one example per row{hint}"
            )
        zs = [check_finite(arr, "X")]
        Y = self.loss_fn.check_targets(Y, arr.shape[0], self.widths[-1])
        for layer in self.layers:
            zs.append(layer._forward_batch(zs[-1]))
        return ForwardPass(tuple(zs), float(self.loss_fn._values(zs[-1], Y).sum()) / len(arr), Y)

    def loss(self, x: Any, y: Any) -> float:
        """The scalar loss at input ``x`` and target ``y``; of a batch, the examples' mean."""
        return self.forward(x, y).loss

    # --- chains

    def input_chain(
        self, x: Any, y: Any, *, cost: Any = "structured", max_bytes: Any = None,
        **deprecated: Any,
    ) -> Chain:
        """The chain ``dl/dz_L · dz_L/dz_(L-1) ··· dz_1/dx``; its product is ``dl/dx`` (1 x |x|).

        For a cost model that reads kinds (``cost='structured'``, the
        default) each Jacobian is kept in its kind (diagonal for an
        elementwise activation, ...); for any other (``'dense'``, a time
        model, ...) every one is a dense array. ``chain.matrices`` is dense
        either way. Dense chains past the memory budget are refused up front
        (``max_bytes``; see :func:`chainorder.validation.memory_budget`).
        ``structure=`` still works, with a ``DeprecationWarning``.

        On a mini-batch ``X`` (``B x |x|``, see :meth:`forward`) the chain is the
        batch's: ``dl/dZ_L`` is ``1 x B·|z_L|`` (each example's row divided by
        ``B``, the mean loss), every Jacobian is block-diagonal with one block
        per example (:class:`~chainorder.algebra.kinds.BlockDiagonal`: each
        example its own ``diag(σ'(z))``), and the product is ``dl/dX``
        flattened row by row (``1 x B·|x|``).

        Examples
        --------
        >>> net = article_network(4, 3, 2, seed=0)
        >>> chain = net.input_chain(np.ones((5, 4)), np.zeros((5, 2)))
        >>> chain.dims, [s.kind for s in chain.signatures]
        ((1, 10, 15, 15, 20), ['dense', 'block_diagonal', 'block_diagonal', 'block_diagonal'])
        """
        kinds = _kinds(cost, deprecated, "input_chain")
        fp = self.forward(x, y)
        if not kinds:
            self._check_dense_bytes(fp, 0, None, max_bytes)
        mats, names = self._upper_chain(fp, 0, kinds)
        return Chain(mats, names)

    def param_chain(
        self,
        x: Any,
        y: Any,
        layer: int,
        name: str,
        *,
        cost: Any = "structured",
        max_bytes: Any = None,
        **deprecated: Any,
    ) -> Chain:
        """The chain ``dl/dz_L ··· dz_(k+2)/dz_(k+1) · dz_(k+1)/dparam`` of layer ``k``'s param.

        Its product is ``1 x (#params)``, ``W`` flattened row by row (``W.ravel()`` order).
        ``cost`` as in :meth:`input_chain`; in kinds, ``dz/dW`` is ``I ⊗ xᵀ``. On a
        mini-batch the Jacobians are block-diagonal as in :meth:`input_chain` (the
        parameter's one block per example, a private copy each) and the chain ends in
        ``dparam[b]/dparam`` (:class:`~chainorder.algebra.kinds.Replicate`: ``B`` stacked
        identities, the copies shared), whose product sums the examples' rows, additions
        only.

        Examples
        --------
        >>> net = article_network(4, 3, 2, seed=0)
        >>> net.param_chain([1.0, 2.0, 3.0, 4.0], [0.0, 0.0], 0, "W")
        <Chain of 4: dl/dz3[1x2] · dz3/dz2[2x3] · dz2/dz1[3x3 diagonal] · dz1/dW1[3x12 kronecker]>
        """
        kinds = _kinds(cost, deprecated, "param_chain")
        fp = self.forward(x, y)
        if not kinds:
            self._check_param(layer, name)
            self._check_dense_bytes(fp, layer + 1, (layer, name), max_bytes)
        return self._param_chain(fp, layer, name, kinds)

    def _check_dense_bytes(
        self, fp: ForwardPass, stop: int, param: tuple[int, str] | None, max_bytes: Any
    ) -> None:
        """Refuse a dense chain whose Jacobians would not fit the memory budget."""
        if param is None:
            kinds = self._upper_chain(fp, stop, True)[0]
        else:
            kinds = self._param_chain(fp, *param).factors
        needed = sum(8 * k.shape[0] * k.shape[1] for k in kinds)
        check_memory(needed, f"the dense chain of {len(kinds)} Jacobians", max_bytes)

    def _param_chain(self, fp: ForwardPass, layer: int, name: str, kinds: bool = True,
                     scale: float = 1.0) -> Chain:
        self._check_param(layer, name)
        mats, names = self._upper_chain(fp, layer + 1, kinds, scale)
        lay, label = self.layers[layer], self.param_label(layer, name)
        names.append(f"d{_zname(layer + 1)}/d{label}")
        if fp.batch is not None:  # one private copy of the parameter per example, then shared
            mats.append(_batch_kind([lay._param_kinds(z)[name] for z in fp.zs[layer]], kinds))
            shared = Replicate(lay.params[name].size, fp.batch)
            mats.append(shared if kinds else shared.densify()[0])
            names.append(f"d{label}[b]/d{label}")
        elif kinds:
            mats.append(lay._param_kinds(fp.zs[layer])[name])
        else:
            mats.append(lay._param_jacobians(fp.zs[layer])[name])
        return Chain(mats, names)

    def _upper_chain(
        self, fp: ForwardPass, stop: int, kinds: bool = True, scale: float = 1.0
    ) -> tuple[list[Any], list[str]]:
        """``dl/dz_L`` (times ``scale``: ``1/B`` in a batch's mean) and the input Jacobians
        ``dz_i/dz_(i-1)`` for ``i = L .. stop+1``, in their kinds or (``kinds=False``) dense."""
        L = len(self.layers)
        if fp.batch is None:
            seed = self.loss_fn._gradient(fp.zs[-1], fp.y)
        else:  # the mean loss: every example's row divided by B, side by side
            seed = self.loss_fn._gradients(fp.zs[-1], fp.y).reshape(1, -1) / fp.batch
        mats: list[Any] = [seed if scale == 1.0 else seed * scale]
        names = [f"dl/d{_zname(L)}"]
        for i in range(L, stop, -1):
            lay, z_in, z_out = self.layers[i - 1], fp.zs[i - 1], fp.zs[i]
            if fp.batch is not None:
                blocks = [lay._input_kind(a, b) for a, b in zip(z_in, z_out, strict=True)]
                mats.append(_batch_kind(blocks, kinds))
            elif kinds:
                mats.append(lay._input_kind(z_in, z_out))
            else:
                mats.append(lay._input_jacobian(z_in, z_out))
            names.append(f"d{_zname(i)}/d{_zname(i - 1)}")
        return mats, names

    # --- parameters

    def parameters(self) -> list[tuple[int, str, np.ndarray]]:
        """``(layer index, name, array)`` for every trainable array, input side first."""
        return [(k, nm, a) for k, lay in enumerate(self.layers) for nm, a in lay.params.items()]

    @cached_property
    def param_labels(self) -> dict[ParamKey, str]:
        """``(layer, name) -> 'W1'``, ... for every parameter (see :meth:`param_label`)."""
        return {(k, nm): self.param_label(k, nm) for k, nm, _ in self.parameters()}

    def param_label(self, layer: int, name: str) -> str:
        """The article's name of a parameter: ``'W1'`` for the first affine layer's weights."""
        self._check_param(layer, name)
        return f"{name}{self._param_ordinals[layer]}"

    @cached_property
    def _param_ordinals(self) -> dict[int, int]:
        """Layer index -> 1-based ordinal among the layers with parameters (labels in O(1))."""
        owners = [k for k, lay in enumerate(self.layers) if lay.params]
        return {k: n for n, k in enumerate(owners, 1)}

    def with_parameters(self, updates: Mapping[ParamKey, Any]) -> Network:
        """A new network with the arrays in ``updates`` (keys ``(layer, name)``) replaced."""
        new = {(k, nm): a for k, nm, a in self.parameters()}
        for key, value in updates.items():
            if key not in new:
                raise ValueError(f"no parameter {key!r}; valid keys: {sorted(new)}")
            arr = as_real_array(value, f"updates[{key!r}]")
            if arr.shape != new[key].shape:
                raise ValueError(
                    f"updates[{key!r}] has shape {arr.shape}, expected {new[key].shape}"
                )
            new[key] = arr
        layers = [
            lay.with_params(*(new[(k, nm)] for nm in lay.params)) if lay.params else lay
            for k, lay in enumerate(self.layers)
        ]
        return type(self)(layers, self.loss_fn)

    def _check_param(self, layer: Any, name: Any) -> None:
        is_int = isinstance(layer, numbers.Integral) and not isinstance(layer, bool)
        if not is_int or layer not in self._param_ordinals:
            owners = list(self._param_ordinals)
            what = f" ({self.layers[layer]!r})" if is_int and 0 <= layer < len(self.layers) else ""
            raise ValueError(
                f"layer must be the index of a layer with parameters (Affine, Conv1D, ...), "
                f"one of {owners}; got {layer!r}{what}"
            )
        names = list(self.layers[layer].params)
        if name not in names:
            raise ValueError(f"name must be one of {names}, got {name!r}")

    def __repr__(self) -> str:
        parts = [f"x[{self.widths[0]}]"]
        for i, lay in enumerate(self.layers[:8], 1):
            parts += [lay.label(), f"{_zname(i)}[{self.widths[i]}]"]
        if len(self.layers) > 8:
            parts.append(f"... ({len(self.layers) - 8} more layers) -> z{len(self.layers)}"
                         f"[{self.widths[-1]}]")
        return f"<Network {' -> '.join(parts)} -> {type(self.loss_fn).__name__}>"


def _kinds(cost: Any, flags: Mapping[str, Any], where: str) -> bool:
    """Whether the chain is built in kinds: the cost model reads them."""
    return reads_kinds(cost_from_flags(cost, flags, where, default="structured")[0])


def _check_layers(layers: Any) -> tuple[Layer, ...]:
    if isinstance(layers, Layer) or not isinstance(layers, Sequence):
        raise TypeError(f"layers must be a list of Layer objects, got {type(layers).__name__}")
    for k, lay in enumerate(layers):
        if not isinstance(lay, Layer):
            raise TypeError(
                f"layers[{k}] must be a Layer (Affine, Activation, Softmax, Conv1D, ...), "
                f"got {type(lay).__name__}"
            )
    if all(lay.in_width is None for lay in layers):
        raise ValueError("layers must include one that fixes the input width "
                         "(an Affine layer, a convolution or a pool)")
    return tuple(layers)


def _widths(layers: tuple[Layer, ...]) -> tuple[int, ...]:
    """``|z_0|, ..., |z_L|``: the first width-fixing layer's input width, carried forward and
    checked against each layer's."""
    width: int = next(lay.in_width for lay in layers if lay.in_width is not None)
    widths = [width]
    for k, lay in enumerate(layers):
        try:
            width = lay.out_width(width)
        except ValueError as exc:
            raise ValueError(f"layers[{k}]: {exc} from the layers before it") from None
        widths.append(width)
    return tuple(widths)


def _output_layer(name: str) -> Layer:
    if isinstance(name, str) and name.strip().lower() == "softmax":
        return Softmax()
    return Activation(name)


def article_network(
    x: int,
    z1: int,
    z3: int,
    *,
    activation: str = "sigmoid",
    loss: Loss | str = "mse",
    seed: int | None = 0,
) -> Network:
    """The article's network: ``z1 = W1 x + b1, z2 = sigma(z1), z3 = W2 z2 + b2``, loss ``l(z3)``.

    Its :meth:`Network.input_chain` has dims ``(1, |z3|, |z2|, |z1|, |x|)``
    with ``|z2| = |z1|``, exactly the chain the article costs out.

    Parameters
    ----------
    x, z1, z3 : int
        Widths ``|x|``, ``|z1|`` (= ``|z2|``) and ``|z3|``.
    activation, loss, seed
        As in :meth:`Network.from_widths`.

    Examples
    --------
    >>> import numpy as np
    >>> article_network(4, 3, 2)
    <Network x[4] -> Affine(3x4) -> z1[3] -> sigmoid -> z2[3] -> Affine(2x3) -> z3[2] -> MSELoss>
    >>> article_network(1000, 100, 10).input_chain(np.ones(1000), np.zeros(10)).dims
    (1, 10, 100, 100, 1000)
    """
    widths = [check_positive_int(v, nm) for v, nm in ((x, "x"), (z1, "z1"), (z3, "z3"))]
    return Network.from_widths(widths, activation=activation, loss=loss, seed=seed)


def _batch_kind(blocks: list[Kind], kinds: bool) -> Any:
    """A batch's Jacobian: the examples' ``blocks`` on the diagonal, in its kind or dense.

    Blocks of one signature make a :class:`BlockDiagonal`; sparse blocks whose patterns
    differ (a max pool selects per example) one :class:`Sparse` of the block-diagonal
    pattern; any other mix is written out dense.
    """
    sig = blocks[0].signature
    if all(b.signature == sig for b in blocks):
        out: Kind = BlockDiagonal(blocks)
    elif all(isinstance(b, Sparse) for b in blocks):
        import scipy.sparse  # a sparse block exists, so scipy is installed

        out = Sparse(scipy.sparse.block_diag([b.m for b in blocks if isinstance(b, Sparse)],
                                             format="csr"))
    else:
        dense = [b.densify()[0] for b in blocks]
        full = np.zeros((sum(d.shape[0] for d in dense), sum(d.shape[1] for d in dense)))
        r = c = 0
        for d in dense:
            full[r:r + d.shape[0], c:c + d.shape[1]] = d
            r, c = r + d.shape[0], c + d.shape[1]
        out = Dense(full)
    return out if kinds else out.densify()[0]
