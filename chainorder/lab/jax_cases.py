"""The append-only table of JAX function chains that the JAX Jacobian benchmarks and tests share.

Each :class:`JaxCase` builds, deterministically (seeded), a list of JAX-traceable
functions ``f_0..f_(q-1)`` (``f_0`` applied first) and the point ``x``, for
:func:`chainorder.algebra.jax_chain.jacobian` and its peers ``jax.jacfwd`` and
``jax.jacrev``. Kinds:

``bottleneck``  ``tanh(W z)`` layers through given widths, e.g. ``500 -> 500 -> 5 -> 500 -> 500``
``article``     the article's network (:func:`chainorder.networks.network.article_network`),
                its Jacobian ``dz3/dx`` or, with ``loss=True``, the gradient of its MSE loss
``mlp``         a deep ``tanh`` MLP through given widths
``random``      seeded random widths and random layer types (dense ``tanh``, dense ``sin``,
                elementwise ``softplus``, a matrix-shaped ``outer`` layer)

JAX is imported when a case is built, never when this module is imported. Add new cases at
the end; never rename or change one, so saved results stay comparable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..networks.network import article_network

__all__ = ["JaxCase", "JAX_CASES", "get_jax_case"]


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
        return lambda z: jnp.tanh(jnp.outer(z, u)) @ u
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
