"""Root pytest configuration: skip the doctests of JAX modules when JAX is not installed."""

from __future__ import annotations

import importlib.util

#: modules whose docstring examples need JAX (the optional ``jax`` extra)
collect_ignore = (
    [] if importlib.util.find_spec("jax") else ["chainorder/ad/jax_engine.py",
                                                "chainorder/ad/transform.py",
                                                "chainorder/ad/planner.py",
                                                "chainorder/ad/costmodel.py",
                                                "chainorder/ad/engine.py"]
)
