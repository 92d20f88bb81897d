"""An unrolled Elman RNN: the long chain of dl/dx_1 through T recurrent steps."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..algebra.chain import Chain
from ..validation import as_real_array, check_finite, check_matrix, check_positive_int, check_vector
from .layers import freeze, glorot_uniform
from .losses import Loss, make_loss

__all__ = ["RecurrentNetwork", "recurrent_example", "recurrent_chain"]


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
        W = check_matrix(W, "W", "hidden x hidden")
        if W.shape[0] != W.shape[1]:
            raise ValueError(f"W must be square (hidden x hidden), got shape {W.shape}")
        U = check_matrix(U, "U", "hidden x inputs")
        if U.shape[0] != W.shape[0]:
            raise ValueError(
                f"U must have {W.shape[0]} rows to match W of shape {W.shape}, got shape {U.shape}"
            )
        b = check_vector(b, "b", W.shape[0])
        self.W, self.U, self.b = freeze(W), freeze(U), freeze(b)
        self.loss_fn: Loss = make_loss(loss)

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
        return cls(W, glorot_uniform(rng, hidden, inputs), np.zeros(hidden))

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
        arr = as_real_array(xs, "xs")
        if arr.ndim != 2 or arr.shape[1] != self.inputs or arr.shape[0] == 0:
            raise ValueError(
                f"xs must be a T x {self.inputs} array (one input per time step, T >= 1), "
                f"got shape {arr.shape}"
            )
        return check_finite(arr, "xs")

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
