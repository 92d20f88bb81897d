"""The append-only table of JAX function chains that the JAX Jacobian benchmarks and tests share.

Each :class:`JaxCase` builds, deterministically (seeded), a list of JAX-traceable
functions ``f_0..f_(q-1)`` (``f_0`` applied first) and the point ``x``, for
:func:`chainorder.jacobian` and its peers ``jax.jacfwd`` and
``jax.jacrev``. Kinds:

``bottleneck``  ``tanh(W z)`` layers through given widths, e.g. ``500 -> 500 -> 5 -> 500 -> 500``
``article``     the article's network (:func:`chainorder.networks.network.article_network`),
                its Jacobian ``dz3/dx`` or, with ``loss=True``, the gradient of its MSE loss
``mlp``         a deep ``tanh`` MLP through given widths
``random``      seeded random widths and random layer types (dense ``tanh``, dense ``sin``,
                elementwise ``softplus``, a matrix-shaped ``outer`` layer)

:data:`JAX_FUNCTIONS` holds single functions, as a JAX user writes them, for
``chainorder.jacobian(f)`` to cut by itself: a bottleneck MLP, an ODE integrator with an
input embedding and a readout, a square MLP, a residual MLP, a stencil time stepper and a
scalar-valued loss.

JAX is imported when a case is built, never when this module is imported. Add new cases at
the end; never rename or change one, so saved results stay comparable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..networks.layers import Affine
from ..networks.network import article_network

__all__ = ["JaxCase", "JAX_CASES", "JaxFunction", "JAX_FUNCTIONS", "get_jax_case",
           "get_jax_function"]


def _dense(W: np.ndarray, b: np.ndarray | None, act: str) -> Callable[[Any], Any]:
    import jax
    import jax.numpy as jnp

    sigma = {"tanh": jnp.tanh, "sin": jnp.sin, "sigmoid": jax.nn.sigmoid, "id": lambda v: v}[act]
    if b is None:
        return lambda z: sigma(W @ z)
    return lambda z: sigma(W @ z + b)


def _layers(widths: tuple[int, ...], seed: int) -> list[Callable[[Any], Any]]:
    rng = np.random.default_rng(seed)
    return [
        _dense(rng.standard_normal((b, a)) / np.sqrt(a), None, "tanh")
        for a, b in zip(widths[:-1], widths[1:], strict=False)
    ]


def _article(loss: bool, seed: int) -> list[Callable[[Any], Any]]:
    import jax
    import jax.numpy as jnp

    net = article_network(1000, 100, 10, seed=seed)
    first, second = net.layers[0], net.layers[2]
    assert isinstance(first, Affine) and isinstance(second, Affine)  # the article's layers
    fs = [_dense(first.W, first.b, "id"), jax.nn.sigmoid, _dense(second.W, second.b, "id")]
    if loss:
        y = np.zeros(10)
        fs.append(lambda z: jnp.mean((z - y) ** 2))
    return fs


def _random_layer(rng: np.random.Generator, a: int, b: int) -> Callable[[Any], Any]:
    import jax.numpy as jnp

    kind = rng.choice(["tanh", "sin", "softplus", "outer"]) if a == b else "tanh"
    if kind == "softplus":
        return lambda z: jnp.logaddexp(z, 0.0)
    if kind == "outer":  # R^a -> R^a through an a x 2 matrix: non-vector shapes on the way
        u = rng.standard_normal(2)
        return lambda z: jnp.tanh(jnp.outer(z, jnp.asarray(u))) @ u
    return _dense(rng.standard_normal((b, a)) / np.sqrt(a), None, str(kind))


def _random(seed: int) -> tuple[list[Callable[[Any], Any]], int]:
    rng = np.random.default_rng(seed)
    q = int(rng.integers(3, 7))
    widths = [int(w) for w in rng.choice([2, 8, 30, 100, 300], size=q + 1)]
    fs = []
    for a, b in zip(widths[:-1], widths[1:], strict=False):
        if rng.random() < 0.3:  # an elementwise layer keeps the width
            fs.append(_random_layer(rng, a, a))
        fs.append(_random_layer(rng, a, b))
    return fs, widths[0]


@dataclass(frozen=True)
class JaxCase:
    """A named, seeded chain of JAX functions; :meth:`build` returns ``(functions, x)``."""

    id: str
    kind: str
    widths: tuple[int, ...] = ()
    loss: bool = False
    seed: int = 0
    bottleneck: bool = False

    def build(self) -> tuple[list[Callable[[Any], Any]], np.ndarray]:
        """The functions ``f_0..f_(q-1)`` and the point ``x`` (float64, seeded)."""
        rng = np.random.default_rng(self.seed + 1)
        if self.kind in ("bottleneck", "mlp"):
            fs, n = _layers(self.widths, self.seed), self.widths[0]
        elif self.kind == "article":
            fs, n = _article(self.loss, self.seed), 1000
        elif self.kind == "random":
            fs, n = _random(self.seed)
        else:
            raise ValueError(f"unknown case kind {self.kind!r}")
        return fs, rng.standard_normal(n)

    def __repr__(self) -> str:
        return f"<JaxCase {self.id}>"


#: The cases, append-only.
JAX_CASES: tuple[JaxCase, ...] = (
    JaxCase("bottleneck-500-5-500", "bottleneck", (500, 500, 5, 500, 500), bottleneck=True),
    JaxCase("bottleneck-300-2-300", "bottleneck", (300, 300, 300, 2, 300, 300), bottleneck=True),
    JaxCase("bottleneck-800-10-800", "bottleneck", (800, 10, 800), bottleneck=True),
    JaxCase("bottleneck-double", "bottleneck", (400, 400, 4, 400, 400, 4, 400),
            bottleneck=True),
    JaxCase("article-jacobian", "article"),
    JaxCase("article-gradient", "article", loss=True),
    JaxCase("mlp-deep-128x12", "mlp", (128,) * 13),
    JaxCase("mlp-wide-to-narrow", "mlp", (512, 256, 128, 64, 32, 16, 8)),
    JaxCase("mlp-narrow-to-wide", "mlp", (8, 16, 32, 64, 128, 256, 512)),
    *(JaxCase(f"random-{s}", "random", seed=s) for s in range(6)),
)


def get_jax_case(case_id: str) -> JaxCase:
    """The case with this id.

    Examples
    --------
    >>> get_jax_case("article-gradient").loss
    True
    """
    for case in JAX_CASES:
        if case.id == case_id:
            return case
    raise ValueError(
        f"unknown JAX case {case_id!r}; known: {', '.join(c.id for c in JAX_CASES)}"
    )


# ----------------------------------------------------------------------------- single functions


def _mlp(widths: tuple[int, ...], rng: np.random.Generator) -> Callable[[Any], Any]:
    import jax.numpy as jnp

    weights = [rng.standard_normal((b, a)) / np.sqrt(a)
               for a, b in zip(widths[:-1], widths[1:], strict=False)]

    def mlp(x: Any) -> Any:
        for W in weights:
            x = jnp.tanh(W @ x)
        return x

    return mlp


def _ode(n: int, d: int, steps: int, rng: np.random.Generator) -> Callable[[Any], Any]:
    """Embed ``R^n -> R^d``, integrate ``y' = tanh(A y)`` by RK4 (``fori_loop``), read out."""
    import jax
    import jax.numpy as jnp

    E = rng.standard_normal((d, n)) / np.sqrt(n)
    A = rng.standard_normal((d, d)) / np.sqrt(d)
    R = rng.standard_normal((n, d)) / np.sqrt(d)
    h = 1.0 / steps

    def field(y: Any) -> Any:
        return jnp.tanh(A @ y)

    def rk4(_: Any, y: Any) -> Any:
        k1 = field(y)
        k2 = field(y + h / 2 * k1)
        k3 = field(y + h / 2 * k2)
        k4 = field(y + h * k3)
        return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    def ode(x: Any) -> Any:
        y = jnp.tanh(E @ x)
        y = jax.lax.fori_loop(0, steps, rk4, y)
        return R @ y

    return ode


def _residual(n: int, blocks: int, rng: np.random.Generator) -> Callable[[Any], Any]:
    import jax.numpy as jnp

    weights = [rng.standard_normal((n, n)) / np.sqrt(n) / 2 for _ in range(blocks)]

    def residual(x: Any) -> Any:
        for W in weights:
            x = x + jnp.tanh(W @ x)
        return x

    return residual


def _stencil(n: int, steps: int) -> Callable[[Any], Any]:
    """Explicit steps of ``u_t = u_xx - u^3`` on a periodic grid of ``n`` points."""
    import jax.numpy as jnp

    dt = 0.2

    def stencil(u: Any) -> Any:
        for _ in range(steps):
            u = u + dt * (jnp.roll(u, 1) + jnp.roll(u, -1) - 2 * u) - dt * u**3
        return u

    return stencil


def _loss(widths: tuple[int, ...], rng: np.random.Generator) -> Callable[[Any], Any]:
    import jax.numpy as jnp

    net = _mlp(widths, rng)
    target = rng.standard_normal(widths[-1])

    def loss(x: Any) -> Any:
        return jnp.mean((net(x) - target) ** 2)

    return loss


@dataclass(frozen=True)
class JaxFunction:
    """A named, seeded single JAX function; :meth:`build` returns ``(f, x)``.

    ``narrow``: the function's computation passes through a narrow value (the cases where
    a mixed schedule should win by 3x or more).
    """

    id: str
    kind: str
    size: tuple[int, ...] = ()
    narrow: bool = False
    seed: int = 0

    def build(self) -> tuple[Callable[[Any], Any], np.ndarray]:
        """The function and its point ``x`` (float64 numpy; seeded)."""
        rng = np.random.default_rng(self.seed)
        makers: dict[str, Callable[[], Callable[[Any], Any]]] = {
            "mlp": lambda: _mlp(self.size, rng),
            "ode": lambda: _ode(self.size[0], self.size[1], self.size[2], rng),
            "residual": lambda: _residual(self.size[0], self.size[1], rng),
            "stencil": lambda: _stencil(*self.size),
            "loss": lambda: _loss(self.size, rng),
        }
        if self.kind not in makers:
            raise ValueError(f"unknown function kind {self.kind!r}; known: {', '.join(makers)}")
        f = makers[self.kind]()
        x = np.random.default_rng(self.seed + 1).standard_normal(self.size[0])
        return f, x * (0.3 if self.kind == "stencil" else 1.0)  # u^3 stays bounded

    def __repr__(self) -> str:
        return f"<JaxFunction {self.id}>"


#: The single functions, append-only.
JAX_FUNCTIONS: tuple[JaxFunction, ...] = (
    JaxFunction("bottleneck-mlp-512-8-512", "mlp", (512, 512, 8, 512, 512), narrow=True),
    JaxFunction("ode-embedded-512-16-512", "ode", (512, 16, 40), narrow=True),
    JaxFunction("square-mlp-256x4", "mlp", (256,) * 5),
    JaxFunction("residual-mlp-256x4", "residual", (256, 4)),
    JaxFunction("stencil-256x20", "stencil", (256, 20)),
    JaxFunction("loss-mlp-512-256-64", "loss", (512, 256, 64)),
)


def get_jax_function(case_id: str) -> JaxFunction:
    """The single-function case with this id.

    Examples
    --------
    >>> get_jax_function("stencil-256x20").kind
    'stencil'
    """
    for case in JAX_FUNCTIONS:
        if case.id == case_id:
            return case
    raise ValueError(
        f"unknown JAX function {case_id!r}; known: {', '.join(c.id for c in JAX_FUNCTIONS)}"
    )
