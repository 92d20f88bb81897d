"""Layers on one example vector, each with its explicit input and parameter Jacobians."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from ..algebra.kinds import Dense, Diagonal, DiagonalPlusRankOne, Identity, Kind, Kronecker
from ..validation import as_real_array, check_finite, check_matrix, check_vector

__all__ = [
    "Layer",
    "Affine",
    "Activation",
    "Softmax",
    "ACTIVATIONS",
    "softmax",
    "logsumexp",
    "softmax_rows",
    "logsumexp_rows",
    "freeze",
    "glorot_uniform",
]


def freeze(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def glorot_uniform(rng: np.random.Generator, fan_out: int, fan_in: int) -> np.ndarray:
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

    def with_params(self, *arrays: Any) -> Layer:
        """The same layer with new parameters, in :attr:`params` order (layers that have any
        override this)."""
        if arrays:
            raise TypeError(f"{self.label()} has no parameters, got {len(arrays)} arrays")
        return self

    def out_width(self, in_width: int) -> int:
        """Width of the output for an input of width ``in_width``."""
        return in_width

    def forward(self, z: Any) -> np.ndarray:
        """The layer's output for one input vector ``z``."""
        return self._forward(self._check_input(z))

    def input_jacobian(self, z_in: Any, z_out: Any = None) -> np.ndarray:
        """``dz_out/dz_in`` as a dense ``out_width x in_width`` array."""
        z_in = self._check_input(z_in, "z_in")
        z_out = self._forward(z_in) if z_out is None else check_vector(z_out, "z_out")
        return self._input_jacobian(z_in, z_out)

    def param_jacobians(self, z_in: Any) -> dict[str, np.ndarray]:
        """``dz_out/dparam`` for each parameter, dense, parameters flattened row by row."""
        return self._param_jacobians(self._check_input(z_in, "z_in"))

    def input_kind(self, z_in: Any, z_out: Any = None) -> Kind:
        """``dz_out/dz_in`` in its kind (diagonal for an elementwise layer, ...)."""
        z_in = self._check_input(z_in, "z_in")
        z_out = self._forward(z_in) if z_out is None else check_vector(z_out, "z_out")
        return self._input_kind(z_in, z_out)

    def param_kinds(self, z_in: Any) -> dict[str, Kind]:
        """``dz_out/dparam`` for each parameter in its kind (``I ⊗ xᵀ`` for weights, ...)."""
        return self._param_kinds(self._check_input(z_in, "z_in"))

    def label(self) -> str:
        """A short name for network diagrams, e.g. ``'Affine(10x100)'``."""
        return repr(self)

    def _check_input(self, z: Any, name: str = "z") -> np.ndarray:
        return check_vector(z, name, self.in_width)

    @abstractmethod
    def _forward(self, z: np.ndarray) -> np.ndarray:
        """The output for a checked input vector."""

    @abstractmethod
    def _input_jacobian(self, z_in: np.ndarray, z_out: np.ndarray) -> np.ndarray:
        """``dz_out/dz_in`` for checked vectors."""

    def _param_jacobians(self, z_in: np.ndarray) -> dict[str, np.ndarray]:
        return {}

    # A batch: ``B x width`` arrays, one example per row; subclasses override with array code.

    def _forward_batch(self, Z: np.ndarray) -> np.ndarray:
        """The outputs, row by row, for a checked ``B x in_width`` input."""
        return np.stack([self._forward(z) for z in Z])

    def _backward_batch(
        self, G: np.ndarray, Z_in: np.ndarray, Z_out: np.ndarray
    ) -> np.ndarray:
        """Row ``i`` of ``G`` times example ``i``'s input Jacobian: ``B x in_width``."""
        return np.stack([g @ self._input_jacobian(z, o) for g, z, o in zip(G, Z_in, Z_out,
                                                                            strict=True)])

    def _param_gradients_batch(self, G: np.ndarray, Z_in: np.ndarray) -> dict[str, np.ndarray]:
        """``sum_i G[i] · dz_out/dparam (z_in = Z_in[i])`` for each parameter, flat."""
        return {}

    def _input_kind(self, z_in: np.ndarray, z_out: np.ndarray) -> Kind:
        return Dense(self._input_jacobian(z_in, z_out))

    def _param_kinds(self, z_in: np.ndarray) -> dict[str, Kind]:
        return {name: Dense(j) for name, j in self._param_jacobians(z_in).items()}


class Affine(Layer):
    """``z -> W z + b`` with ``W`` of shape ``m x n`` and ``b`` of length ``m``.

    The arrays are copied and made read-only: a network never changes under
    its user's feet (:func:`chainorder.networks.gradients.sgd_step` builds a new one).

    Examples
    --------
    >>> import numpy as np
    >>> lay = Affine([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [0.0, 0.0, 1.0])
    >>> lay, lay.forward([1.0, 1.0])
    (Affine(W: 3x2, b: 3), array([ 3.,  7., 12.]))
    >>> {k: J.shape for k, J in lay.param_jacobians([1.0, 1.0]).items()}
    {'W': (3, 6), 'b': (3, 3)}
    >>> lay.param_kinds([1.0, 1.0])
    {'W': Kronecker(Identity(3x3) ⊗ x[2]: 3x6, 16 bytes), 'b': Identity(3x3, 0 bytes)}
    """

    def __init__(self, W: Any, b: Any) -> None:
        W = check_matrix(W, "W", "out_width x in_width")
        b = check_finite(as_real_array(b, "b"), "b")
        if b.shape != (W.shape[0],):
            hint = "; pass b.ravel()" if b.size == W.shape[0] else ""
            raise ValueError(
                f"b must have shape ({W.shape[0]},) to match W of shape {W.shape}, "
                f"got b of shape {b.shape}{hint}"
            )
        self.W = freeze(W)
        self.b = freeze(b)
        self.in_width = W.shape[1]

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {"W": self.W, "b": self.b}

    def with_params(self, W: Any, b: Any) -> Affine:
        """The same layer with new weights (what a training step makes)."""
        return Affine(W, b)

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

    def _input_kind(self, z_in: np.ndarray, z_out: np.ndarray) -> Kind:
        return Dense(self.W)

    def _forward_batch(self, Z: np.ndarray) -> np.ndarray:
        return Z @ self.W.T + self.b

    def _backward_batch(
        self, G: np.ndarray, Z_in: np.ndarray, Z_out: np.ndarray
    ) -> np.ndarray:
        return G @ self.W

    def _param_gradients_batch(self, G: np.ndarray, Z_in: np.ndarray) -> dict[str, np.ndarray]:
        # sum_i G[i] ⊗ Z_in[i]: the B outer products as one matrix product; for one example
        # a broadcast product forms the same products without BLAS's call overhead
        dW = G.T * Z_in if G.shape[0] == 1 else G.T @ Z_in
        return {"W": dW.ravel(), "b": G.sum(axis=0)}

    def _param_kinds(self, z_in: np.ndarray) -> dict[str, Kind]:
        m = self.W.shape[0]
        return {"W": Kronecker(Identity(m), z_in), "b": Identity(m)}

    def label(self) -> str:
        return f"Affine({self.W.shape[0]}x{self.W.shape[1]})"

    def __repr__(self) -> str:
        return f"Affine(W: {self.W.shape[0]}x{self.W.shape[1]}, b: {self.b.shape[0]})"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    if z.size and z.min() > -700.0:  # exp(-z) stays finite: the plain form is exact enough
        return 1.0 / (1.0 + np.exp(-z))
    e = np.exp(-np.abs(z))  # never overflows
    s = 1.0 / (1.0 + e)
    return np.where(z >= 0, s, e * s)


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

#: sigma' as a function of sigma(z), where that is cheaper than from z.
_PRIME_FROM_OUTPUT: dict[str, ArrayFn] = {
    "sigmoid": lambda s: s * (1.0 - s),
    "tanh": lambda t: 1.0 - t * t,
}


class Activation(Layer):
    """An elementwise non-linearity ``sigma``; its Jacobian is ``diag(sigma'(z_in))``.

    :meth:`input_kind` keeps it as a :class:`~chainorder.algebra.kinds.Diagonal`
    (an :class:`~chainorder.algebra.kinds.Identity` for ``'identity'``).

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

    def _input_kind(self, z_in: np.ndarray, z_out: np.ndarray) -> Kind:
        if self.name == "identity":
            return Identity(z_in.shape[0])
        from_output = _PRIME_FROM_OUTPUT.get(self.name)
        # sigma' from the output where it is a cheap function of it (no second exp)
        return Diagonal(from_output(z_out) if from_output else self._sigma_prime(z_in))

    def _forward_batch(self, Z: np.ndarray) -> np.ndarray:
        return self._sigma(Z)

    def _backward_batch(
        self, G: np.ndarray, Z_in: np.ndarray, Z_out: np.ndarray
    ) -> np.ndarray:
        if self.name == "identity":
            return G
        from_output = _PRIME_FROM_OUTPUT.get(self.name)
        return G * (from_output(Z_out) if from_output else self._sigma_prime(Z_in))

    def label(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def logsumexp(z: np.ndarray) -> float:
    top = z.max()
    return float(top + np.log(np.exp(z - top).sum()))


def softmax_rows(Z: np.ndarray) -> np.ndarray:
    """:func:`softmax` of each row of ``Z``."""
    e = np.exp(Z - Z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def logsumexp_rows(Z: np.ndarray) -> np.ndarray:
    """:func:`logsumexp` of each row of ``Z``."""
    top = Z.max(axis=1)
    return top + np.log(np.exp(Z - top[:, np.newaxis]).sum(axis=1))


class Softmax(Layer):
    """``z -> exp(z) / sum(exp(z))``; its Jacobian is ``diag(s) - s s^T``.

    Examples
    --------
    >>> Softmax().input_jacobian([0.0, 0.0])
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """

    def _forward(self, z: np.ndarray) -> np.ndarray:
        return softmax(z)

    def _input_jacobian(self, z_in: np.ndarray, z_out: np.ndarray) -> np.ndarray:
        s = z_out
        return np.diag(s) - np.outer(s, s)

    def _input_kind(self, z_in: np.ndarray, z_out: np.ndarray) -> Kind:
        return DiagonalPlusRankOne.softmax(z_out)

    def _forward_batch(self, Z: np.ndarray) -> np.ndarray:
        return softmax_rows(Z)

    def _backward_batch(
        self, G: np.ndarray, Z_in: np.ndarray, Z_out: np.ndarray
    ) -> np.ndarray:
        # g (diag(s) - s sᵀ) = s * g - (g·s) s, per row
        S = Z_out
        return S * G - np.einsum("ij,ij->i", G, S)[:, np.newaxis] * S

    def label(self) -> str:
        return "softmax"

    def __repr__(self) -> str:
        return "Softmax()"
