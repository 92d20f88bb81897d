"""Convolution and pooling layers, 1-D and 2-D, with their Jacobians as sparse (CSR) kinds.

Every layer here reads a window of its input for each output position. An
example is one flat vector in channel-major order, as PyTorch and JAX lay out
``NCHW``: ``(C, L)`` for 1-D layers, ``(C, H, W)`` for 2-D ones, flattened
row by row (``x.reshape(C, L)`` or ``x.reshape(C, H, W)`` recovers it); a
batch is ``B`` such vectors, one per row. Weights are ``(C_out, C_in, *kernel)``
(PyTorch's ``OIHW``, JAX's ``'OIH'``/``'OIHW'``), a parameter Jacobian's
columns follow ``W.ravel()``. Padding is symmetric: zeros for convolutions and
average pooling (the padded zeros count in the mean, as PyTorch's
``count_include_pad=True``), ``-inf`` for max pooling.

The Jacobians are :class:`~chainorder.algebra.kinds.Sparse`, their patterns
exact: a convolution's input Jacobian is banded block-Toeplitz (one row holds
``C_in`` times the in-range kernel taps), its weight Jacobian the im2col
matrix beside ``C_out - 1`` blocks of zeros per row, its bias Jacobian
``I ⊗ 1``; an average pool's input Jacobian holds ``1 / window`` in each
in-range tap, a max pool's a single 1 per row (the selected input). Padding
taps are structurally zero, so they are not stored.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from ..algebra.kinds import Kind, Sparse
from ..validation import as_real_array, check_finite, check_positive_int
from .layers import Activation, Affine, Layer, freeze, glorot_uniform
from .losses import Loss
from .network import Network

__all__ = [
    "Conv1D",
    "Conv2D",
    "AvgPool1D",
    "AvgPool2D",
    "MaxPool1D",
    "MaxPool2D",
    "WindowLayer",
    "conv_article_network",
]


def _csr(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
         shape: tuple[int, int]) -> Any:
    """A scipy CSR array that keeps explicit zeros (the pattern is structural)."""
    import scipy.sparse  # through Sparse's own dependency: the 'lab' extra

    return scipy.sparse.csr_array((data, indices, indptr), shape=shape)


def _int_tuple(value: Any, name: str, dims: int, minimum: int) -> tuple[int, ...]:
    """``value`` (an int, or ``dims`` ints) as ``dims`` ints, each at least ``minimum``."""
    items = (value,) * dims if isinstance(value, numbers.Integral) else value
    if not isinstance(items, Sequence) or isinstance(items, str) or len(items) != dims or any(
            not isinstance(v, numbers.Integral) or isinstance(v, bool) for v in items):
        raise TypeError(f"{name} must be an int or a sequence of {dims} ints, got {value!r}")
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a sequence of {dims} ints, got {value!r}")
    out = tuple(int(v) for v in items)
    if min(out) < minimum:
        raise ValueError(f"{name} must be at least {minimum} in every dimension, got {value!r}")
    return out


def _window_index(spatial: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
                  padding: tuple[int, ...]) -> tuple[tuple[int, ...], np.ndarray]:
    """The output's spatial shape and ``idx[p, k]``: the flat input position that output
    position ``p`` reads at kernel tap ``k`` (both flattened row by row), or ``prod(spatial)``
    where the tap falls in the padding."""
    dims = len(spatial)
    out = tuple((s + 2 * pd - k) // st + 1
                for s, k, st, pd in zip(spatial, kernel, stride, padding, strict=True))
    flat = np.zeros(out + kernel, dtype=np.int64)
    valid = np.ones(out + kernel, dtype=bool)
    place = int(np.prod(spatial))
    for d in range(dims):
        place //= spatial[d]  # row-major stride of dimension d in the flat input
        pos = np.arange(out[d])[:, None] * stride[d] - padding[d] + np.arange(kernel[d])
        shape = [1] * (2 * dims)
        shape[d], shape[dims + d] = out[d], kernel[d]
        pos = pos.reshape(shape)
        flat = flat + pos * place
        valid = valid & (pos >= 0) & (pos < spatial[d])
    idx = np.where(valid, flat, int(np.prod(spatial)))
    return out, idx.reshape(int(np.prod(out)), int(np.prod(kernel)))


class WindowLayer(Layer):
    """What convolutions and pools share: a window slid over a ``(C, *spatial)`` input.

    Attributes
    ----------
    channels : int
        Input channels ``C_in``.
    spatial, kernel, stride, padding : tuple of int
        Input shape (``(L,)`` or ``(H, W)``), window, step and symmetric padding.
    out_spatial : tuple of int
        Output shape per channel: ``(n + 2 pad - kernel) // stride + 1`` in each dimension.
    width : int
        ``in_width`` (``channels * prod(spatial)``), never None.
    """

    #: 1 or 2: the number of spatial dimensions.
    dims: ClassVar[int] = 1

    def __init__(self, channels: int, spatial: Any, kernel: Any, stride: Any,
                 padding: Any, names: tuple[str, str] = ("length", "kernel")) -> None:
        self.channels = check_positive_int(channels, "channels")
        self.spatial = _int_tuple(spatial, names[0], self.dims, 1)
        self.kernel = _int_tuple(kernel, names[1], self.dims, 1)
        self.stride = _int_tuple(stride, "stride", self.dims, 1)
        self.padding = _int_tuple(padding, "padding", self.dims, 0)
        for n, k, pd in zip(self.spatial, self.kernel, self.padding, strict=True):
            if k > n + 2 * pd:
                raise ValueError(
                    f"{names[1]} {self._show(self.kernel)} does not fit the padded input: "
                    f"{names[0]} {self._show(self.spatial)} with padding "
                    f"{self._show(self.padding)} leaves {n + 2 * pd} < {k} positions; "
                    f"pass a smaller {names[1]} or more padding")
        self.out_spatial, self._idx = _window_index(self.spatial, self.kernel, self.stride,
                                                    self.padding)
        self._valid = self._idx < self.n_in
        self.width = self.channels * self.n_in  # in_width, typed int
        self.in_width = self.width

    @staticmethod
    def _show(t: tuple[int, ...]) -> str:
        return str(t[0]) if len(t) == 1 else "x".join(map(str, t))

    @property
    def n_in(self) -> int:
        """Input positions per channel, ``prod(spatial)``."""
        return int(np.prod(self.spatial))

    @property
    def n_out(self) -> int:
        """Output positions per channel, ``prod(out_spatial)``."""
        return int(np.prod(self.out_spatial))

    @property
    def out_channels(self) -> int:
        """Output channels (a pool keeps its input's)."""
        return self.channels

    @property
    def edges(self) -> int:
        """Stored entries of the input Jacobian: the multiply-adds of one tangent or adjoint."""
        return self._input_csr_pattern()[1].size

    def out_width(self, in_width: int) -> int:
        if in_width != self.in_width:
            raise ValueError(
                f"{self!r} expects input width {self.in_width} "
                f"({self.channels} channels x {self._show(self.spatial)}) but gets width {in_width}"
            )
        return self.out_channels * self.n_out

    def _windows(self, Z: np.ndarray, fill: float) -> np.ndarray:
        """im2col of a ``B x in_width`` batch: ``B x C x n_out x window``, padding ``fill``."""
        X = Z.reshape(Z.shape[0], self.channels, self.n_in)
        pad = np.full((Z.shape[0], self.channels, 1), fill)
        return np.concatenate([X, pad], axis=2)[:, :, self._idx]

    def _input_csr_pattern(self) -> tuple[np.ndarray, np.ndarray]:
        """``indptr, indices`` of a channel-wise window Jacobian (pools; a conv overrides)."""
        # row (c, p) reads channel c's in-range taps of window p, sorted as idx is
        cols = (np.arange(self.channels)[:, None, None] * self.n_in + self._idx[None]
                )[np.broadcast_to(self._valid, (self.channels, *self._valid.shape))]
        counts = np.tile(self._valid.sum(axis=1), self.channels)
        return np.concatenate([[0], np.cumsum(counts)]), cols

    def _input_jacobian(self, z_in: np.ndarray, z_out: np.ndarray) -> np.ndarray:
        return np.asarray(self._input_kind(z_in, z_out).densify()[0])

    def _forward(self, z: np.ndarray) -> np.ndarray:
        return self._forward_batch(z[np.newaxis])[0]

    def _describe(self) -> str:
        name = "length" if self.dims == 1 else "shape"
        return (f"{name}={self._show(self.spatial)}, stride={self._show(self.stride)}, "
                f"padding={self._show(self.padding)}")


class _Conv(WindowLayer):
    """A convolution (cross-correlation, as in PyTorch and JAX) with bias, 1-D or 2-D."""

    def __init__(self, W: Any, b: Any, spatial: Any, stride: Any, padding: Any,
                 size_name: str) -> None:
        W = check_finite(as_real_array(W, "W"), "W")
        if W.ndim != 2 + self.dims or 0 in W.shape:
            raise ValueError(
                f"W must have shape (out_channels, in_channels, {self._kernel_names()}), "
                f"{2 + self.dims} non-empty axes, got shape {W.shape}")
        b = check_finite(as_real_array(b, "b"), "b")
        if b.shape != (W.shape[0],):
            raise ValueError(f"b must have shape ({W.shape[0]},) to match W of shape "
                             f"{W.shape} (one bias per output channel), got shape {b.shape}")
        super().__init__(W.shape[1], spatial, W.shape[2:], stride, padding, (size_name, "kernel"))
        self.W, self.b = freeze(W.copy()), freeze(b.copy())
        self._jac_indptr, self._jac_indices = self._input_csr_pattern()
        values = self.W.reshape(self.out_channels, 1, self.channels, -1)
        taps = np.broadcast_to(self._valid[None, :, None, :],
                               (self.out_channels, self.n_out, self.channels, self._idx.shape[1]))
        self._jac = _csr(np.broadcast_to(values, taps.shape)[taps], self._jac_indices,
                         self._jac_indptr, (self.out_channels * self.n_out, self.width))

    def _kernel_names(self) -> str:
        return "kernel" if self.dims == 1 else "kernel_h, kernel_w"

    @classmethod
    def _from_sizes(cls, in_channels: int, out_channels: int, kernel: Any,
                    seed: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Glorot-uniform weights (fans ``C * window``) and zero biases."""
        in_channels = check_positive_int(in_channels, "in_channels")
        out_channels = check_positive_int(out_channels, "out_channels")
        kernel = _int_tuple(kernel, "kernel", cls.dims, 1)
        window = int(np.prod(kernel))
        # Glorot's limit with the fans a convolution's unit sees: channels x window
        limit = np.sqrt(6.0 / ((in_channels + out_channels) * window))
        rng = np.random.default_rng(seed)
        W = rng.uniform(-limit, limit, size=(out_channels, in_channels, *kernel))
        return W, np.zeros(out_channels)

    @property
    def out_channels(self) -> int:
        return int(self.W.shape[0])

    @property
    def params(self) -> dict[str, np.ndarray]:
        return {"W": self.W, "b": self.b}

    def with_params(self, W: Any, b: Any) -> _Conv:
        """The same convolution with weights ``W`` and biases ``b``."""
        return type(self)(W, b, self.spatial, stride=self.stride,  # type: ignore[call-arg]
                          padding=self.padding)

    def _input_csr_pattern(self) -> tuple[np.ndarray, np.ndarray]:
        # row (o, p): for each input channel i, window p's in-range taps of channel i
        K = self._idx.shape[1]
        per_row = self.channels * self._valid.sum(axis=1)
        cols = np.arange(self.channels)[None, :, None] * self.n_in + self._idx[:, None, :]
        mask = np.broadcast_to(self._valid[:, None, :], (self.n_out, self.channels, K))
        one = cols[mask]
        counts = np.tile(per_row, self.out_channels)
        return np.concatenate([[0], np.cumsum(counts)]), np.tile(one, self.out_channels)

    def _forward_batch(self, Z: np.ndarray) -> np.ndarray:
        cols = self._windows(Z, 0.0)
        W = self.W.reshape(self.out_channels, self.channels, -1)
        out = np.einsum("oik,bipk->bop", W, cols, optimize=True) + self.b[:, None]
        return out.reshape(Z.shape[0], -1)

    def _backward_batch(self, G: np.ndarray, Z_in: np.ndarray, Z_out: np.ndarray
                        ) -> np.ndarray:
        return np.asarray((self._jac.T @ G.T).T)  # the transposed convolution

    def _param_gradients_batch(self, G: np.ndarray, Z_in: np.ndarray) -> dict[str, np.ndarray]:
        G3 = G.reshape(G.shape[0], self.out_channels, self.n_out)
        dW = np.einsum("bop,bipk->oik", G3, self._windows(Z_in, 0.0), optimize=True)
        return {"W": dW.ravel(), "b": G3.sum(axis=(0, 2))}

    def _input_kind(self, z_in: np.ndarray, z_out: np.ndarray) -> Kind:
        return Sparse(self._jac)

    @cached_property
    def _weight_pattern(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``indptr, indices`` of ``dz/dW`` and, per entry, where its value sits in im2col."""
        C, K = self.channels, self._idx.shape[1]
        # row (o, p) holds x at columns (o, i, k) for every channel i and in-range tap k
        mask = np.broadcast_to(self._valid[:, None, :], (self.n_out, C, K))
        local = (np.arange(C)[:, None] * K + np.arange(K))[None].repeat(self.n_out, 0)[mask]
        source = (np.arange(C)[None, :, None] * (self.n_out * K)
                  + np.arange(self.n_out)[:, None, None] * K + np.arange(K))[mask]
        offsets = (np.arange(self.out_channels) * C * K)[:, None]
        per_row = C * self._valid.sum(axis=1)
        indptr = np.concatenate([[0], np.cumsum(np.tile(per_row, self.out_channels))])
        return indptr, (offsets + local).ravel(), np.tile(source, self.out_channels)

    def _param_kinds(self, z_in: np.ndarray) -> dict[str, Kind]:
        indptr, indices, source = self._weight_pattern
        values = self._windows(z_in[np.newaxis], 0.0)[0].ravel()[source]
        m = self.out_channels * self.n_out
        jac_w = _csr(values, indices, indptr, (m, self.W.size))
        bias = _csr(np.ones(m), np.repeat(np.arange(self.out_channels), self.n_out),
                    np.arange(m + 1), (m, self.out_channels))
        return {"W": Sparse(jac_w), "b": Sparse(bias)}

    def _param_jacobians(self, z_in: np.ndarray) -> dict[str, np.ndarray]:
        return {n: k.densify()[0] for n, k in self._param_kinds(z_in).items()}

    def label(self) -> str:
        k = self._show(self.kernel)
        return f"{type(self).__name__}({self.channels}->{self.out_channels}, k{k})"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(W: {'x'.join(map(str, self.W.shape))}, "
                f"b: {self.out_channels}, {self._describe()})")


class Conv1D(_Conv):
    """A 1-D convolution ``z[o, p] = b[o] + Σ_i Σ_k W[o, i, k] x[i, p·stride + k - padding]``.

    Input ``(C_in, length)`` and output ``(C_out, L_out)`` are flat channel-major
    vectors (see the module docstring), ``L_out = (length + 2 padding - kernel)
    // stride + 1``. Its Jacobians are :class:`~chainorder.algebra.kinds.Sparse`:
    banded block-Toeplitz for the input, im2col for ``W``.

    Parameters
    ----------
    W : array_like, shape (out_channels, in_channels, kernel)
    b : array_like, shape (out_channels,)
    length : int
        Input positions per channel.
    stride : int
    padding : int
        Zeros on each side.

    Examples
    --------
    >>> import numpy as np
    >>> conv = Conv1D(np.ones((1, 1, 2)), [0.5], length=4)
    >>> conv, conv.forward([1.0, 2.0, 3.0, 4.0])
    (Conv1D(W: 1x1x2, b: 1, length=4, stride=1, padding=0), array([3.5, 5.5, 7.5]))
    >>> conv.input_kind(np.ones(4)), conv.input_jacobian(np.ones(4))
    (Sparse(3x4, nnz=6, 128 bytes), array([[1., 1., 0., 0.],
           [0., 1., 1., 0.],
           [0., 0., 1., 1.]]))
    """

    dims = 1

    def __init__(self, W: Any, b: Any, length: int, *, stride: Any = 1,
                 padding: Any = 0) -> None:
        super().__init__(W, b, length, stride, padding, "length")

    @classmethod
    def from_sizes(cls, in_channels: int, out_channels: int, kernel: int, length: int, *,
                   stride: int = 1, padding: int = 0, seed: int | None = 0) -> Conv1D:
        """Glorot-uniform weights (fans ``channels x kernel``) and zero biases."""
        W, b = cls._from_sizes(in_channels, out_channels, kernel, seed)
        return cls(W, b, length, stride=stride, padding=padding)


class Conv2D(_Conv):
    """A 2-D convolution on ``(C_in, H, W)`` inputs, weights ``(C_out, C_in, kH, kW)``.

    As :class:`Conv1D`, per dimension; ``stride`` and ``padding`` are an int or a pair.

    Examples
    --------
    >>> import numpy as np
    >>> conv = Conv2D(np.ones((2, 1, 2, 2)), np.zeros(2), shape=(3, 3), padding=1)
    >>> conv
    Conv2D(W: 2x1x2x2, b: 2, shape=3x3, stride=1x1, padding=1x1)
    >>> conv.out_width(9), conv.input_kind(np.ones(9))
    (32, Sparse(32x9, nnz=72, 1,416 bytes))
    """

    dims = 2

    def __init__(self, W: Any, b: Any, shape: Any, *, stride: Any = 1,
                 padding: Any = 0) -> None:
        super().__init__(W, b, shape, stride, padding, "shape")

    @classmethod
    def from_sizes(cls, in_channels: int, out_channels: int, kernel: Any, shape: Any, *,
                   stride: Any = 1, padding: Any = 0, seed: int | None = 0) -> Conv2D:
        """Glorot-uniform weights (fans ``channels x kH x kW``) and zero biases."""
        W, b = cls._from_sizes(in_channels, out_channels, kernel, seed)
        return cls(W, b, shape, stride=stride, padding=padding)


class _Pool(WindowLayer):
    """A pool over each channel's windows; ``stride`` defaults to the window."""

    def __init__(self, channels: int, spatial: Any, window: Any, stride: Any, padding: Any,
                 size_name: str) -> None:
        window_t = _int_tuple(window, "window", self.dims, 1)
        pad = _int_tuple(padding, "padding", self.dims, 0)
        if any(2 * p > w for p, w in zip(pad, window_t, strict=True)):
            # a wider padding could make a window all padding (PyTorch's rule too)
            raise ValueError(f"padding must be at most half the window, got padding {padding!r} "
                             f"for window {window!r}")
        super().__init__(channels, spatial, window_t, window_t if stride is None else stride,
                         pad, (size_name, "window"))
        self._indptr, self._indices = self._input_csr_pattern()

    def label(self) -> str:
        return f"{type(self).__name__}({self._show(self.kernel)})"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(channels={self.channels}, window="
                f"{self._show(self.kernel)}, {self._describe()})")


class _AvgPool(_Pool):
    """The mean of each window, padded zeros included; its Jacobian is constant."""

    def _forward_batch(self, Z: np.ndarray) -> np.ndarray:
        return self._windows(Z, 0.0).mean(axis=3).reshape(Z.shape[0], -1)

    @cached_property
    def _jac(self) -> Any:
        m = self.channels * self.n_out
        weight = np.full(self._indices.size, 1.0 / self._idx.shape[1])
        return _csr(weight, self._indices, self._indptr, (m, self.width))

    def _backward_batch(self, G: np.ndarray, Z_in: np.ndarray, Z_out: np.ndarray
                        ) -> np.ndarray:
        return np.asarray((self._jac.T @ G.T).T)

    def _input_kind(self, z_in: np.ndarray, z_out: np.ndarray) -> Kind:
        return Sparse(self._jac)


class _MaxPool(_Pool):
    """The largest entry of each window; its Jacobian selects it (the first, on ties)."""

    @property
    def edges(self) -> int:
        return self.channels * self.n_out  # one selected input per output

    def _forward_batch(self, Z: np.ndarray) -> np.ndarray:
        return self._windows(Z, -np.inf).max(axis=3).reshape(Z.shape[0], -1)

    def _selected(self, Z: np.ndarray) -> np.ndarray:
        """``B x C x n_out``: the flat input index (within the example) each output copies."""
        taps = self._windows(Z, -np.inf).argmax(axis=3)
        pos = np.take_along_axis(self._idx[None, None], taps[..., None], axis=3)[..., 0]
        return np.arange(self.channels)[None, :, None] * self.n_in + pos

    def _backward_batch(self, G: np.ndarray, Z_in: np.ndarray, Z_out: np.ndarray
                        ) -> np.ndarray:
        # overlapping windows may select one input twice: add, as bincount does
        B = G.shape[0]
        flat = self._selected(Z_in) + np.arange(B)[:, None, None] * self.width
        out = np.bincount(flat.ravel(), weights=G.ravel(), minlength=B * self.width)
        return out.reshape(B, self.width)

    def _input_kind(self, z_in: np.ndarray, z_out: np.ndarray) -> Kind:
        m = self.channels * self.n_out
        cols = self._selected(z_in[np.newaxis]).ravel()
        return Sparse(_csr(np.ones(m), cols, np.arange(m + 1), (m, self.width)))


class AvgPool1D(_AvgPool):
    """Average pooling over ``window`` positions of each channel of a ``(C, length)`` input.

    Parameters
    ----------
    channels, length : int
    window : int
    stride : int, optional
        Defaults to ``window`` (non-overlapping windows).
    padding : int
        Zeros on each side, at most ``window // 2``; they count in the mean.

    Examples
    --------
    >>> pool = AvgPool1D(1, 4, 2)
    >>> pool, pool.forward([1.0, 3.0, 5.0, 9.0]), pool.input_kind([1.0, 3.0, 5.0, 9.0])
    (AvgPool1D(channels=1, window=2, length=4, stride=2, padding=0), array([2., 7.]), \
Sparse(2x4, nnz=4, 88 bytes))
    """

    dims = 1

    def __init__(self, channels: int, length: int, window: int, *, stride: int | None = None,
                 padding: int = 0) -> None:
        super().__init__(channels, length, window, stride, padding, "length")


class AvgPool2D(_AvgPool):
    """Average pooling over ``window`` (an int or a pair) of a ``(C, H, W)`` input."""

    dims = 2

    def __init__(self, channels: int, shape: Any, window: Any, *, stride: Any = None,
                 padding: Any = 0) -> None:
        super().__init__(channels, shape, window, stride, padding, "shape")


class MaxPool1D(_MaxPool):
    """Max pooling over ``window`` positions; its Jacobian holds one 1 per output.

    Parameters as :class:`AvgPool1D` (padding is ``-inf``, never selected).

    Examples
    --------
    >>> pool = MaxPool1D(1, 4, 2)
    >>> pool.forward([1.0, 3.0, 9.0, 5.0]), pool.input_jacobian([1.0, 3.0, 9.0, 5.0])
    (array([3., 9.]), array([[0., 1., 0., 0.],
           [0., 0., 1., 0.]]))
    """

    dims = 1

    def __init__(self, channels: int, length: int, window: int, *, stride: int | None = None,
                 padding: int = 0) -> None:
        super().__init__(channels, length, window, stride, padding, "length")


class MaxPool2D(_MaxPool):
    """Max pooling over ``window`` (an int or a pair) of a ``(C, H, W)`` input."""

    dims = 2

    def __init__(self, channels: int, shape: Any, window: Any, *, stride: Any = None,
                 padding: Any = 0) -> None:
        super().__init__(channels, shape, window, stride, padding, "shape")


# ----------------------------------------------------------------------------- networks


def conv_article_network(
    length: int,
    channels: int,
    kernel: int,
    z3: int,
    *,
    in_channels: int = 1,
    pool: int = 2,
    pooling: str = "max",
    activation: str = "sigmoid",
    loss: Loss | str = "mse",
    seed: int | None = 0,
) -> Network:
    """The article's network with a convolution first: conv, σ, pool, affine, σ, loss.

    ``z1 = conv(x)``, ``z2 = σ(z1)``, ``z3 = pool(z2)``, ``z4 = W z3 + b``,
    ``z5 = σ(z4)``; the loss (squared error by default) reads ``z5``, of
    width ``z3``. The convolution has stride 1 and no padding; the pool's
    windows do not overlap (a tail shorter than ``pool`` is dropped).

    Parameters
    ----------
    length : int
        Input positions per channel; ``|x| = in_channels * length``.
    channels : int
        The convolution's output channels.
    kernel : int
        Its width, at most ``length``.
    z3 : int
        Output width.
    in_channels : int
    pool : int
        Pooling window (and stride).
    pooling : {'max', 'avg'}
    activation, loss, seed
        As in :func:`~chainorder.networks.network.article_network`.

    Examples
    --------
    >>> import numpy as np
    >>> from chainorder.networks.gradients import loss_first_gradients
    >>> net = conv_article_network(16, 4, 3, 2, seed=0)
    >>> net
    <Network x[16] -> Conv1D(1->4, k3) -> z1[56] -> sigmoid -> z2[56] -> MaxPool1D(2) -> z3[28] \
-> Affine(2x28) -> z4[2] -> sigmoid -> z5[2] -> MSELoss>
    >>> net.input_chain(np.ones(16), np.zeros(2))
    <Chain of 6: dl/dz5[1x2] · dz5/dz4[2x2 diagonal] · dz4/dz3[2x28] · \
dz3/dz2[28x56 sparse] · dz2/dz1[56x56 diagonal] · dz1/dx[56x16 sparse]>
    >>> loss_first_gradients(net, np.ones(16), np.zeros(2))
    <Gradients 'loss_first': dW1[4x1x3], db1[4], dW2[2x28], db2[2], dx[16]; 590 multiplications>
    """
    channels = check_positive_int(channels, "channels")
    z3 = check_positive_int(z3, "z3")
    pool = check_positive_int(pool, "pool")
    pools = {"max": MaxPool1D, "avg": AvgPool1D}
    if pooling not in pools:
        raise ValueError(f"unknown pooling {pooling!r}; valid: 'max', 'avg'")
    conv = Conv1D.from_sizes(in_channels, channels, kernel, length, seed=seed)
    pooled = pools[pooling](channels, conv.n_out, pool)
    rng = np.random.default_rng(None if seed is None else seed + 1)
    width = pooled.out_width(pooled.width)
    layers: list[Layer] = [conv, Activation(activation), pooled,
                           Affine(glorot_uniform(rng, z3, width), np.zeros(z3)),
                           Activation(activation)]
    return Network(layers, loss)
