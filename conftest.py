"""Root pytest configuration: skip the doctests of JAX modules when JAX is not installed."""

from __future__ import annotations

import importlib.util

#: modules whose docstring examples need JAX (the optional ``jax`` extra)
collect_ignore = (
    [] if importlib.util.find_spec("jax") else ["chainorder/algebra/jax_chain.py"]
)
