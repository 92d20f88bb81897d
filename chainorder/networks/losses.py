"""Scalar losses of a network's output, with their gradients dl/dz_L."""

from __future__ import annotations

import numbers
import warnings
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from ..validation import check_batch, check_vector
from .layers import logsumexp, logsumexp_rows, softmax, softmax_rows

__all__ = ["Loss", "MSELoss", "SoftmaxCrossEntropy", "LOSSES", "make_loss"]


class Loss(ABC):
    """A scalar loss ``l(z, y)`` of the network's output ``z`` and a target ``y``."""

    @abstractmethod
    def check_target(self, y: Any, width: int) -> Any:
        """``y`` validated against an output of width ``width``."""

    def value(self, z: Any, y: Any) -> float:
        """The loss, a float."""
        z = check_vector(z, "z")
        return self._value(z, self.check_target(y, z.shape[0]))

    def gradient(self, z: Any, y: Any) -> np.ndarray:
        """``dl/dz`` as a ``1 x |z|`` row (the first matrix of every chain)."""
        z = check_vector(z, "z")
        return self._gradient(z, self.check_target(y, z.shape[0]))

    @abstractmethod
    def _value(self, z: np.ndarray, y: Any) -> float:
        """The loss for a checked output and target."""

    @abstractmethod
    def _gradient(self, z: np.ndarray, y: Any) -> np.ndarray:
        """``dl/dz`` as a ``1 x |z|`` row for a checked output and target."""

    # A batch: subclasses may override these three with array code; the defaults loop.

    def check_targets(self, Y: Any, batch: int, width: int) -> Any:
        """``Y``, one target per example of a batch of ``batch``, validated (width ``width``)."""
        if isinstance(Y, (str, bytes)) or not hasattr(Y, "__len__") or len(Y) != batch:
            got = len(Y) if hasattr(Y, "__len__") else type(Y).__name__
            raise ValueError(f"Y must hold one target per row of X ({batch}), got {got}")
        return [self.check_target(y, width) for y in Y]

    def _values(self, Z: np.ndarray, Y: Any) -> np.ndarray:
        """The ``B`` examples' losses for a checked ``B x |z|`` output and its targets."""
        return np.array([self._value(z, y) for z, y in zip(Z, Y, strict=True)])

    def _gradients(self, Z: np.ndarray, Y: Any) -> np.ndarray:
        """Each example's ``dl/dz`` as row ``i`` of a ``B x |z|`` array."""
        return np.concatenate([self._gradient(z, y) for z, y in zip(Z, Y, strict=True)])

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
        return check_vector(y, "y", width)

    def _value(self, z: np.ndarray, y: np.ndarray) -> float:
        d = z - y
        return float(d @ d) / d.size

    def _gradient(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (2.0 / z.shape[0]) * (z - y)[np.newaxis, :]

    def check_targets(self, Y: Any, batch: int, width: int) -> np.ndarray:
        return check_batch(Y, "Y", batch, width)

    def _values(self, Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
        d = Z - Y
        return np.einsum("ij,ij->i", d, d) / d.shape[1]

    def _gradients(self, Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
        return (2.0 / Z.shape[1]) * (Z - Y)


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
        p = check_vector(y, "y", width)
        if np.any(p < 0):
            raise ValueError(
                f"y must be a probability vector (entries >= 0), got minimum {float(p.min())}"
            )
        if not np.isclose(p.sum(), 1.0):
            warnings.warn(f"target y sums to {float(p.sum())}, not 1", stacklevel=4)
        return p

    def _value(self, z: np.ndarray, y: int | np.ndarray) -> float:
        if isinstance(y, int):
            return logsumexp(z) - float(z[y])
        return float(y.sum() * logsumexp(z) - y @ z)

    def _gradient(self, z: np.ndarray, y: int | np.ndarray) -> np.ndarray:
        s = softmax(z)
        if isinstance(y, int):
            s[y] -= 1.0
            return s[np.newaxis, :]
        return (y.sum() * s - y)[np.newaxis, :]

    def check_targets(self, Y: Any, batch: int, width: int) -> np.ndarray:
        """Class indices (``B`` ints) or ``B x width`` probability rows."""
        arr = np.asarray(Y)
        if arr.ndim == 1 and arr.shape[0] == batch and np.issubdtype(arr.dtype, np.integer):
            if arr.min() < 0 or arr.max() >= width:
                bad = int(arr[(arr < 0) | (arr >= width)][0])
                raise ValueError(f"Y must hold class indices in [0, {width}), got {bad}")
            return arr.astype(np.intp)
        P = check_batch(Y, "Y", batch, width)
        if np.any(P < 0):
            raise ValueError(
                f"Y must hold probability rows (entries >= 0), got minimum {float(P.min())}"
            )
        return P

    def _values(self, Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
        lse = logsumexp_rows(Z)
        if Y.ndim == 1:
            return lse - Z[np.arange(Z.shape[0]), Y]
        return Y.sum(axis=1) * lse - np.einsum("ij,ij->i", Y, Z)

    def _gradients(self, Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
        S = softmax_rows(Z)
        if Y.ndim == 1:
            S[np.arange(Z.shape[0]), Y] -= 1.0
            return S
        return Y.sum(axis=1, keepdims=True) * S - Y


#: name -> loss class, for ``Network(..., loss='mse')``.
LOSSES: dict[str, type[Loss]] = {
    "mse": MSELoss,
    "cross_entropy": SoftmaxCrossEntropy,
    "softmax_cross_entropy": SoftmaxCrossEntropy,
}


def make_loss(loss: Loss | str) -> Loss:
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss.strip().lower().replace("-", "_") in LOSSES:
        return LOSSES[loss.strip().lower().replace("-", "_")]()
    raise ValueError(
        f"unknown loss {loss!r}; expected a Loss instance or one of {', '.join(LOSSES)}"
    )
