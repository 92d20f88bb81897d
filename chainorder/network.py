"""Networks as explicit Jacobians: layers, losses, and the chains of dl/dx and dl/dtheta."""

from __future__ import annotations

import numbers
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._checks import check_dims, check_positive_int
from .chain import Chain

__all__ = [
    "Layer",
    "Affine",
    "Activation",
    "Softmax",
    "Loss",
    "MSELoss",
    "SoftmaxCrossEntropy",
    "ACTIVATIONS",
    "LOSSES",
    "ForwardPass",
    "Network",
    "article_network",
    "RecurrentNetwork",
    "recurrent_example",
    "recurrent_chain",
]

ParamKey = tuple[int, str]


# ----------------------------------------------------------------------------- input checks


def _as_real_array(value: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested lists and the like
        raise TypeError(f"{name} cannot be read as an array: {exc}") from None
    is_number = np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
    if arr.dtype == object or not is_number or np.iscomplexobj(arr):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return np.array(arr, dtype=np.float64)  # an own copy: later edits by the caller do not leak in


def _check_finite(arr: np.ndarray, name: str) -> np.ndarray:
    if not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(
            f"{name} has a non-finite entry {float(arr[bad])} at index {bad} (shape {arr.shape}); "
            "expected finite numbers"
        )
    return arr


def _check_vector(value: Any, name: str, size: int | None = None) -> np.ndarray:
    """``value`` as a finite float64 vector, of length ``size`` if given."""
    arr = _as_real_array(value, name)
    if arr.ndim != 1:
        column = arr.ndim == 2 and 1 in arr.shape
        hint = f"; pass {name}.ravel() for a single example" if column else ""
        want = f" of length {size}" if size is not None else ""
        raise ValueError(f"{name} must be a 1-D array{want}, got shape {arr.shape}{hint}")
    if size is not None and arr.shape[0] != size:
        raise ValueError(f"{name} must have length {size}, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    return _check_finite(arr, name)


def _check_matrix(value: Any, name: str, what: str) -> np.ndarray:
    arr = _as_real_array(value, name)
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"{name} must be a non-empty 2-D array ({what}), got shape {arr.shape}")
    return _check_finite(arr, name)


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def _glorot(rng: np.random.Generator, fan_out: int, fan_in: int) -> np.ndarray:
    """Glorot-uniform weights: variance 2 / (fan_in + fan_out) keeps long chains finite."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_out, fan_in))


# ----------------------------------------------------------------------------- layers


class Layer(ABC):
    """A layer ``z_out = f(z_in)`` on one example vector, with its explicit Jacobians.

    Subclasses implement ``_forward``, ``_input_jacobian`` and, if they have
    trainable parameters, ``params`` and ``_param_jacobians``; the public
    methods add input checks.
    """

    #: Width the layer expects, or None if it keeps any width (elementwise layers).
    in_width: int | None = None

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Trainable arrays by name (empty for layers without parameters)."""
        return {}

    def out_width(self, in_width: int) -> int:
        """Width of the output for an input of width ``in_width``."""
        return in_width

    def forward(self, z: Any) -> np.ndarray:
        """The layer's output for one input vector ``z``."""
        return self._forward(self._check_input(z))

    def input_jacobian(self, z_in: Any, z_out: Any = None) -> np.ndarray:
        """``dz_out/dz_in`` as a dense ``out_width x in_width`` array."""
        z_in = self._check_input(z_in, "z_in")
        z_out = self._forward(z_in) if z_out is None else _check_vector(z_out, "z_out")
        return self._input_jacobian(z_in, z_out)

    def param_jacobians(self, z_in: Any) -> dict[str, np.ndarray]:
        """``dz_out/dparam`` for each parameter, dense, parameters flattened row by row."""
        return self._param_jacobians(self._check_input(z_in, "z_in"))

    def label(self) -> str:
        """A short name for network diagrams, e.g. ``'Affine(10x100)'``."""
        return repr(self)

    def _check_input(self, z: Any, name: str = "z") -> np.ndarray:
        return _check_vector(z, name, self.in_width)

    @abstractmethod
    def _forward(self, z: np.ndarray) -> np.ndarray:
        """The output for a checked input vector."""

    @abstractmethod
    def _input_jacobian(self, z_in: np.ndarray, z_out: np.ndarray) -> np.ndarray:
        """``dz_out/dz_in`` for checked vectors."""

    def _param_jacobians(self, z_in: np.ndarray) -> dict[str, np.ndarray]:
        return {}


class Affine(Layer):
    """``z -> W z + b`` with ``W`` of shape ``m x n`` and ``b`` of length ``m``.

    The arrays are copied and made read-only: a network never changes under
    its user's feet (:func:`chainorder.gradients.sgd_step` builds a new one).

    Examples
    --------
    >>> import numpy as np
    >>> lay = Affine([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [0.0, 0.0, 1.0])
    >>> lay, lay.forward([1.0, 1.0])
    (Affine(W: 3x2, b: 3), array([ 3.,  7., 12.]))
    >>> {k: J.shape for k, J in lay.param_jacobians([1.0, 1.0]).items()}
    {'W': (3, 6), 'b': (3, 3)}
    """

    def __init__(self, W: Any, b: Any) -> None:
        W = _check_matrix(W, "W", "out_width x in_width")
        b = _check_finite(_as_real_array(b, "b"), "b")
        if b.shape != (W.shape[0],):
            hint = "; pass b.ravel()" if b.size == W.shape[0] else ""
            raise ValueError(
                f"b must have shape ({W.shape[0]},) to match W of shape {W.shape}, "
                f"got b of shape {b.shape}{hint}"
            )
        self.W = _frozen(W)
        self.b = _frozen(b)
        self.in_width = W.shape[1]

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {"W": self.W, "b": self.b}

    def out_width(self, in_width: int) -> int:
        if in_width != self.W.shape[1]:
            raise ValueError(
                f"{self!r} expects input width {self.W.shape[1]} but gets width {in_width}"
            )
        return self.W.shape[0]

    def _forward(self, z: np.ndarray) -> np.ndarray:
        return self.W @ z + self.b

    def _input_jacobian(self, z_in: np.ndarray, z_out: np.ndarray) -> np.ndarray:
        return self.W

    def _param_jacobians(self, z_in: np.ndarray) -> dict[str, np.ndarray]:
        # I_m kron z_in^T: z_k = sum_j W[k, j] z_j, so row k holds z_in in columns k*n .. k*n + n-1
        m, n = self.W.shape
        jac_w = np.zeros((m, m, n))
        jac_w[np.arange(m), np.arange(m)] = z_in
        return {"W": jac_w.reshape(m, m * n), "b": np.eye(m)}

    def label(self) -> str:
        return f"Affine({self.W.shape[0]}x{self.W.shape[1]})"

    def __repr__(self) -> str:
        return f"Affine(W: {self.W.shape[0]}x{self.W.shape[1]}, b: {self.b.shape[0]})"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))  # never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _sigmoid_prime(z: np.ndarray) -> np.ndarray:
    s = _sigmoid(z)
    return s * (1.0 - s)


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def _tanh_prime(z: np.ndarray) -> np.ndarray:
    return 1.0 - np.tanh(z) ** 2


def _relu_prime(z: np.ndarray) -> np.ndarray:
    return (z > 0).astype(np.float64)  # 0 at z = 0: a subgradient


ArrayFn = Callable[[np.ndarray], np.ndarray]

#: name -> (sigma, sigma'): the elementwise non-linearities an :class:`Activation` knows.
ACTIVATIONS: dict[str, tuple[ArrayFn, ArrayFn]] = {
    "identity": (lambda z: z.copy(), np.ones_like),
    "relu": (lambda z: np.maximum(z, 0.0), _relu_prime),
    "tanh": (np.tanh, _tanh_prime),
    "sigmoid": (_sigmoid, _sigmoid_prime),
    "softplus": (_softplus, _sigmoid),
}


class Activation(Layer):
    """An elementwise non-linearity ``sigma``; its Jacobian is ``diag(sigma'(z_in))``.

    Parameters
    ----------
    name : str
        One of :data:`ACTIVATIONS`: ``'identity'``, ``'relu'``, ``'tanh'``,
        ``'sigmoid'``, ``'softplus'`` (sigmoid and softplus in overflow-free forms).

    Examples
    --------
    >>> act = Activation("relu")
    >>> act.forward([-1.0, 2.0]), act.input_jacobian([-1.0, 2.0])
    (array([0., 2.]), array([[0., 0.],
           [0., 1.]]))
    """

    def __init__(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"activation name must be a str, got {type(name).__name__} {name!r}")
        key = name.strip().lower()
        if key not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {name!r}; valid activations: {', '.join(ACTIVATIONS)} "
                "(or use Softmax() for a softmax layer)"
            )
        self.name = key
        self._sigma, self._sigma_prime = ACTIVATIONS[key]

    def _forward(self, z: np.ndarray) -> np.ndarray:
        return self._sigma(z)

    def _input_jacobian(self, z_in: np.ndarray, z_out: np.ndarray) -> np.ndarray:
        return np.diag(self._sigma_prime(z_in))

    def label(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def _logsumexp(z: np.ndarray) -> float:
    top = z.max()
    return float(top + np.log(np.exp(z - top).sum()))


class Softmax(Layer):
    """``z -> exp(z) / sum(exp(z))``; its Jacobian is ``diag(s) - s s^T``.

    Examples
    --------
    >>> Softmax().input_jacobian([0.0, 0.0])
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """

    def _forward(self, z: np.ndarray) -> np.ndarray:
        return _softmax(z)

    def _input_jacobian(self, z_in: np.ndarray, z_out: np.ndarray) -> np.ndarray:
        s = z_out
        return np.diag(s) - np.outer(s, s)

    def label(self) -> str:
        return "softmax"

    def __repr__(self) -> str:
        return "Softmax()"


# ----------------------------------------------------------------------------- losses


class Loss(ABC):
    """A scalar loss ``l(z, y)`` of the network's output ``z`` and a target ``y``."""

    @abstractmethod
    def check_target(self, y: Any, width: int) -> Any:
        """``y`` validated against an output of width ``width``."""

    def value(self, z: Any, y: Any) -> float:
        """The loss, a float."""
        z = _check_vector(z, "z")
        return self._value(z, self.check_target(y, z.shape[0]))

    def gradient(self, z: Any, y: Any) -> np.ndarray:
        """``dl/dz`` as a ``1 x |z|`` row (the first matrix of every chain)."""
        z = _check_vector(z, "z")
        return self._gradient(z, self.check_target(y, z.shape[0]))

    @abstractmethod
    def _value(self, z: np.ndarray, y: Any) -> float:
        """The loss for a checked output and target."""

    @abstractmethod
    def _gradient(self, z: np.ndarray, y: Any) -> np.ndarray:
        """``dl/dz`` as a ``1 x |z|`` row for a checked output and target."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MSELoss(Loss):
    """Mean squared error ``mean((z - y)**2)`` over the output's entries.

    Examples
    --------
    >>> MSELoss().value([1.0, 3.0], [0.0, 0.0]), MSELoss().gradient([1.0, 3.0], [0.0, 0.0])
    (5.0, array([[1., 3.]]))
    """

    def check_target(self, y: Any, width: int) -> np.ndarray:
        return _check_vector(y, "y", width)

    def _value(self, z: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean((z - y) ** 2))

    def _gradient(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (2.0 / z.shape[0]) * (z - y)[np.newaxis, :]


class SoftmaxCrossEntropy(Loss):
    """Cross-entropy of ``softmax(z)`` (``z`` are logits) against a class or a distribution.

    The target ``y`` is a class index ``0 <= y < |z|`` or a probability vector
    of length ``|z|``; ``l = -sum_i y_i log softmax(z)_i`` and
    ``dl/dz = sum(y) softmax(z) - y``.

    Examples
    --------
    >>> ce = SoftmaxCrossEntropy()
    >>> round(ce.value([0.0, 0.0], 1), 6), ce.gradient([0.0, 0.0], 1)
    (0.693147, array([[ 0.5, -0.5]]))
    """

    def check_target(self, y: Any, width: int) -> int | np.ndarray:
        if isinstance(y, np.ndarray) and y.ndim == 0:
            y = y.item()
        if isinstance(y, numbers.Integral) and not isinstance(y, (bool, np.bool_)):
            if not 0 <= int(y) < width:
                raise ValueError(f"y must be a class index in [0, {width}), got {int(y)}")
            return int(y)
        if isinstance(y, (numbers.Number, bool, np.bool_)):
            raise TypeError(
                f"y must be a class index (int) or a probability vector of length {width}, "
                f"got {y!r} ({type(y).__name__})"
            )
        return self._check_distribution(y, width)

    @staticmethod
    def _check_distribution(y: Any, width: int) -> np.ndarray:
        p = _check_vector(y, "y", width)
        if np.any(p < 0):
            raise ValueError(
                f"y must be a probability vector (entries >= 0), got minimum {float(p.min())}"
            )
        if not np.isclose(p.sum(), 1.0):
            warnings.warn(f"target y sums to {float(p.sum())}, not 1", stacklevel=4)
        return p

    def _value(self, z: np.ndarray, y: int | np.ndarray) -> float:
        if isinstance(y, int):
            return _logsumexp(z) - float(z[y])
        return float(y.sum() * _logsumexp(z) - y @ z)

    def _gradient(self, z: np.ndarray, y: int | np.ndarray) -> np.ndarray:
        s = _softmax(z)
        if isinstance(y, int):
            s[y] -= 1.0
            return s[np.newaxis, :]
        return (y.sum() * s - y)[np.newaxis, :]


#: name -> loss class, for ``Network(..., loss='mse')``.
LOSSES: dict[str, type[Loss]] = {
    "mse": MSELoss,
    "cross_entropy": SoftmaxCrossEntropy,
    "softmax_cross_entropy": SoftmaxCrossEntropy,
}


def _make_loss(loss: Loss | str) -> Loss:
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss.strip().lower().replace("-", "_") in LOSSES:
        return LOSSES[loss.strip().lower().replace("-", "_")]()
    raise ValueError(
        f"unknown loss {loss!r}; expected a Loss instance or one of {', '.join(LOSSES)}"
    )


# ----------------------------------------------------------------------------- feed-forward network


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

    def __repr__(self) -> str:
        widths = " -> ".join(f"{_zname(i)}[{z.shape[0]}]" for i, z in enumerate(self.zs))
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
        self.loss_fn: Loss = _make_loss(loss)
        self.widths: tuple[int, ...] = _widths(self.layers)
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
            layers.append(Affine(_glorot(rng, n_out, n_in), np.zeros(n_out)))
        if output_activation is not None:
            layers.append(_output_layer(output_activation))
        return cls(layers, loss)

    # --- passes and losses

    def forward(self, x: Any, y: Any) -> ForwardPass:
        """Run ``x`` through every layer, keeping ``z_0 = x, ..., z_L`` and the loss."""
        zs = [_check_vector(x, "x", self.widths[0])]
        y = self.loss_fn.check_target(y, self.widths[-1])
        for layer in self.layers:
            zs.append(layer._forward(zs[-1]))
        return ForwardPass(tuple(zs), self.loss_fn._value(zs[-1], y), y)

    def loss(self, x: Any, y: Any) -> float:
        """The scalar loss at input ``x`` and target ``y``."""
        return self.forward(x, y).loss

    # --- chains

    def input_chain(self, x: Any, y: Any) -> Chain:
        """The chain ``dl/dz_L · dz_L/dz_(L-1) ··· dz_1/dx``; its product is ``dl/dx`` (1 x |x|)."""
        fp = self.forward(x, y)
        mats, names = self._upper_chain(fp, 0)
        return Chain(mats, names)

    def param_chain(self, x: Any, y: Any, layer: int, name: str) -> Chain:
        """The chain ``dl/dz_L ··· dz_(k+2)/dz_(k+1) · dz_(k+1)/dparam`` of layer ``k``'s param.

        Its product is ``1 x (#params)``, ``W`` flattened row by row (``W.ravel()`` order).

        Examples
        --------
        >>> net = article_network(4, 3, 2, seed=0)
        >>> net.param_chain([1.0, 2.0, 3.0, 4.0], [0.0, 0.0], 0, "W")
        <Chain of 4: dl/dz3[1x2] · dz3/dz2[2x3] · dz2/dz1[3x3] · dz1/dW1[3x12]>
        """
        return self._param_chain(self.forward(x, y), layer, name)

    def _param_chain(self, fp: ForwardPass, layer: int, name: str) -> Chain:
        self._check_param(layer, name)
        mats, names = self._upper_chain(fp, layer + 1)
        mats.append(self.layers[layer]._param_jacobians(fp.zs[layer])[name])
        names.append(f"d{_zname(layer + 1)}/d{self.param_label(layer, name)}")
        return Chain(mats, names)

    def _upper_chain(self, fp: ForwardPass, stop: int) -> tuple[list[np.ndarray], list[str]]:
        """``dl/dz_L`` and the input Jacobians ``dz_i/dz_(i-1)`` for ``i = L .. stop+1``."""
        L = len(self.layers)
        mats = [self.loss_fn._gradient(fp.zs[-1], fp.y)]
        names = [f"dl/d{_zname(L)}"]
        for i in range(L, stop, -1):
            mats.append(self.layers[i - 1]._input_jacobian(fp.zs[i - 1], fp.zs[i]))
            names.append(f"d{_zname(i)}/d{_zname(i - 1)}")
        return mats, names

    # --- parameters

    def parameters(self) -> list[tuple[int, str, np.ndarray]]:
        """``(layer index, name, array)`` for every trainable array, input side first."""
        return [(k, nm, a) for k, lay in enumerate(self.layers) for nm, a in lay.params.items()]

    def param_label(self, layer: int, name: str) -> str:
        """The article's name of a parameter: ``'W1'`` for the first affine layer's weights."""
        self._check_param(layer, name)
        ordinal = sum(isinstance(lay, Affine) for lay in self.layers[: layer + 1])
        return f"{name}{ordinal}"

    def with_parameters(self, updates: Mapping[ParamKey, Any]) -> Network:
        """A new network with the arrays in ``updates`` (keys ``(layer, name)``) replaced."""
        new = {(k, nm): a for k, nm, a in self.parameters()}
        for key, value in updates.items():
            if key not in new:
                raise ValueError(f"no parameter {key!r}; valid keys: {sorted(new)}")
            arr = _as_real_array(value, f"updates[{key!r}]")
            if arr.shape != new[key].shape:
                raise ValueError(
                    f"updates[{key!r}] has shape {arr.shape}, expected {new[key].shape}"
                )
            new[key] = arr
        layers = [
            Affine(new[(k, "W")], new[(k, "b")]) if isinstance(lay, Affine) else lay
            for k, lay in enumerate(self.layers)
        ]
        return Network(layers, self.loss_fn)

    def _check_param(self, layer: Any, name: Any) -> None:
        affine = [k for k, lay in enumerate(self.layers) if isinstance(lay, Affine)]
        is_int = isinstance(layer, numbers.Integral) and not isinstance(layer, bool)
        if not is_int or layer not in affine:
            what = f" ({self.layers[layer]!r})" if is_int and 0 <= layer < len(self.layers) else ""
            raise ValueError(
                f"layer must be the index of an Affine layer, one of {affine}; got {layer!r}{what}"
            )
        if name not in ("W", "b"):
            raise ValueError(f"name must be 'W' or 'b', got {name!r}")

    def __repr__(self) -> str:
        parts = [f"x[{self.widths[0]}]"]
        for i, lay in enumerate(self.layers[:8], 1):
            parts += [lay.label(), f"{_zname(i)}[{self.widths[i]}]"]
        if len(self.layers) > 8:
            parts.append(f"... ({len(self.layers) - 8} more layers) -> z{len(self.layers)}"
                         f"[{self.widths[-1]}]")
        return f"<Network {' -> '.join(parts)} -> {type(self.loss_fn).__name__}>"


def _check_layers(layers: Any) -> tuple[Layer, ...]:
    if isinstance(layers, Layer) or not isinstance(layers, Sequence):
        raise TypeError(f"layers must be a list of Layer objects, got {type(layers).__name__}")
    for k, lay in enumerate(layers):
        if not isinstance(lay, Layer):
            raise TypeError(
                f"layers[{k}] must be a Layer (Affine, Activation, Softmax), "
                f"got {type(lay).__name__}"
            )
    if not any(isinstance(lay, Affine) for lay in layers):
        raise ValueError("layers must include at least one Affine layer (it fixes the input width)")
    return tuple(layers)


def _widths(layers: tuple[Layer, ...]) -> tuple[int, ...]:
    """``|z_0|, ..., |z_L|``, checking each layer's input width against the one before."""
    width: int = next(lay.W.shape[1] for lay in layers if isinstance(lay, Affine))
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


# ----------------------------------------------------------------------------- recurrent network


class RecurrentNetwork:
    """An Elman RNN ``h_t = tanh(W h_(t-1) + U x_t + b)``, ``h_0 = 0``, with a loss on ``h_T``.

    Parameters
    ----------
    W : array_like, shape (H, H)
    U : array_like, shape (H, I)
    b : array_like, shape (H,)
    loss : Loss or str
        Applied to ``h_T`` (``'mse'``: the target is a vector of length ``H``).

    Examples
    --------
    >>> rnn, xs, y = recurrent_example(5, hidden=4, inputs=3, seed=0)
    >>> rnn
    <RecurrentNetwork hidden 4, inputs 3, MSELoss>
    >>> rnn.input_chain(xs, y).dims
    (1, 4, 4, 4, 4, 4, 3)
    """

    def __init__(self, W: Any, U: Any, b: Any, loss: Loss | str = "mse") -> None:
        W = _check_matrix(W, "W", "hidden x hidden")
        if W.shape[0] != W.shape[1]:
            raise ValueError(f"W must be square (hidden x hidden), got shape {W.shape}")
        U = _check_matrix(U, "U", "hidden x inputs")
        if U.shape[0] != W.shape[0]:
            raise ValueError(
                f"U must have {W.shape[0]} rows to match W of shape {W.shape}, got shape {U.shape}"
            )
        b = _check_vector(b, "b", W.shape[0])
        self.W, self.U, self.b = _frozen(W), _frozen(U), _frozen(b)
        self.loss_fn: Loss = _make_loss(loss)

    @classmethod
    def from_sizes(
        cls, hidden: int, inputs: int, *, seed: int | None = 0, radius: float = 0.9
    ) -> RecurrentNetwork:
        """Random weights: ``W`` orthogonal times ``radius`` (< 1 keeps long chains finite).

        ``U`` is Glorot-uniform and ``b`` zero.
        """
        return cls._random(hidden, inputs, np.random.default_rng(seed), radius)

    @classmethod
    def _random(
        cls, hidden: int, inputs: int, rng: np.random.Generator, radius: float = 0.9
    ) -> RecurrentNetwork:
        hidden = check_positive_int(hidden, "hidden")
        inputs = check_positive_int(inputs, "inputs")
        q, r = np.linalg.qr(rng.standard_normal((hidden, hidden)))
        W = radius * q * np.sign(np.diag(r))
        return cls(W, _glorot(rng, hidden, inputs), np.zeros(hidden))

    @property
    def hidden(self) -> int:
        """``H``, the width of every hidden state."""
        return self.W.shape[0]

    @property
    def inputs(self) -> int:
        """``I``, the width of every input ``x_t``."""
        return self.U.shape[1]

    def states(self, xs: Any) -> np.ndarray:
        """Hidden states ``h_0 = 0, h_1, ..., h_T`` as rows (``(T+1) x H``); ``xs`` is ``T x I``."""
        xs = self._check_sequence(xs)
        hs = np.zeros((xs.shape[0] + 1, self.hidden))
        for t, x_t in enumerate(xs, 1):
            hs[t] = np.tanh(self.W @ hs[t - 1] + self.U @ x_t + self.b)
        return hs

    def loss(self, xs: Any, y: Any) -> float:
        """The loss of ``h_T``."""
        return self.loss_fn.value(self.states(xs)[-1], y)

    def input_chain(self, xs: Any, y: Any) -> Chain:
        """The chain ``dl/dh_T · dh_T/dh_(T-1) ··· dh_2/dh_1 · dh_1/dx_1`` (T + 1 matrices)."""
        hs = self.states(xs)
        T = hs.shape[0] - 1
        mats = [self.loss_fn.gradient(hs[-1], y)]
        names = [f"dl/dh{T}"]
        for t in range(T, 1, -1):
            mats.append((1.0 - hs[t] ** 2)[:, np.newaxis] * self.W)  # diag(tanh') W
            names.append(f"dh{t}/dh{t - 1}")
        mats.append((1.0 - hs[1] ** 2)[:, np.newaxis] * self.U)
        names.append("dh1/dx1")
        return Chain(mats, names)

    def _check_sequence(self, xs: Any) -> np.ndarray:
        arr = _as_real_array(xs, "xs")
        if arr.ndim != 2 or arr.shape[1] != self.inputs or arr.shape[0] == 0:
            raise ValueError(
                f"xs must be a T x {self.inputs} array (one input per time step, T >= 1), "
                f"got shape {arr.shape}"
            )
        return _check_finite(arr, "xs")

    def __repr__(self) -> str:
        loss = type(self.loss_fn).__name__
        return f"<RecurrentNetwork hidden {self.hidden}, inputs {self.inputs}, {loss}>"


def recurrent_example(
    T: int, hidden: int, inputs: int, *, seed: int | None = 0
) -> tuple[RecurrentNetwork, np.ndarray, np.ndarray]:
    """A seeded random RNN with an input sequence ``xs`` (``T x inputs``) and a target ``y``.

    Examples
    --------
    >>> rnn, xs, y = recurrent_example(3, 4, 2, seed=0)
    >>> xs.shape, y.shape
    ((3, 2), (4,))
    """
    T = check_positive_int(T, "T")
    rng = np.random.default_rng(seed)
    rnn = RecurrentNetwork._random(hidden, inputs, rng)
    return rnn, rng.standard_normal((T, rnn.inputs)), 0.5 * rng.standard_normal(rnn.hidden)


def recurrent_chain(T: int, hidden: int, inputs: int, *, seed: int | None = 0) -> Chain:
    """The chain of ``dl/dx_1`` for a seeded Elman RNN unrolled over ``T`` steps (T + 1 matrices).

    Dims are ``(1, H, ..., H, I)``: the long-chain benchmark case. The same
    network, inputs and target come from :func:`recurrent_example`, whose
    ``rnn.loss`` lets the product be checked against finite differences.

    Examples
    --------
    >>> c = recurrent_chain(50, hidden=32, inputs=8, seed=0)
    >>> len(c), c.dims[:3], c.dims[-1]
    (51, (1, 32, 32), 8)
    >>> c.plan("loss_first").cost, c.plan("input_first").cost
    (50432, 401664)
    """
    rnn, xs, y = recurrent_example(T, hidden, inputs, seed=seed)
    return rnn.input_chain(xs, y)
