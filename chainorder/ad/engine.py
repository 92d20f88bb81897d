"""The protocol an AD engine implements, and the registry that finds one by name.

An engine is one module (JAX: :mod:`chainorder.ad.jax_engine`) exposing ``ENGINE``, an
object with these members; :mod:`chainorder.ad.transform` calls nothing else, and the
planner (:mod:`chainorder.ad.planner`) sees only the factors it measured. A second
engine (``torch.func``) would be one module and one line of :data:`ENGINES`.

``make_layout(args, argnums, has_aux)``   how arguments and outputs flatten to ``R^N -> R^M``
``signature(args)``                       the key plans are cached under (shapes, dtypes)
``trace_program(f, args, layout)``        ``f`` cut into a measured chain (a program)
``trace_chain(functions, x, layout)``     a chain given as stage functions
``schedule_function(program, s, f)``      a schedule as ``(consts, dyn, rest) -> jacobian``
``with_sparsity(program, sparsity)``      the program with patterns: detected, or given
``peer_function(layout, f, mode)``        the engine's own forward/reverse Jacobian
``jit(fn)``, ``specs(values)``            compile a function; abstract values of arguments
``is_traced(values)``                     whether values belong to an enclosing trace
``time_calls(calls, rounds, block)``      the engine's one timing loop
``default_cost()``                        this machine's time model (cached), or a default
``not_cut``                               the exception meaning "run the peer instead"
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ENGINES", "get_engine"]

#: Engines by name: the module that holds each one's ``ENGINE``.
ENGINES = {"jax": "chainorder.ad.jax_engine"}


def get_engine(name: Any) -> Any:
    """The engine called ``name`` (its module imported on first use).

    Examples
    --------
    >>> get_engine("torch")
    Traceback (most recent call last):
    ...
    ValueError: engine must be one of 'jax', got 'torch'
    """
    if isinstance(name, str) and name in ENGINES:
        try:
            module = importlib.import_module(ENGINES[name])
        except ImportError as err:  # pragma: no cover - exercised only without the engine
            raise ImportError(
                f"engine {name!r} needs its library: pip install 'chainorder[{name}]'"
            ) from err
        return module.ENGINE
    if not isinstance(name, str) and hasattr(name, "trace_program"):
        return name
    raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {name!r}")
