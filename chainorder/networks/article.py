"""The article's analysis: its chain's dims, its two cost formulas, and a table checking them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..algebra.chain import Chain
from ..algebra.costmodels import (
    CostModel,
    StructuredCost,
    as_cost_model,
    cost_from_flags,
    is_dense,
)
from ..algebra.costs import KindSig, flops
from ..algebra.orders import plan as make_plan
from ..algebra.plan import Plan
from ..validation import check_positive_int, format_bytes, memory_budget
from .network import article_network

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "article_dims",
    "article_signature",
    "article_costs",
    "article_table",
    "article_bytes",
    "ARTICLE_NAMES",
]

#: order -> (the article's name, the automatic-differentiation name).
ARTICLE_NAMES: dict[str, tuple[str, str]] = {
    "loss_first": ("forwards computation", "reverse mode (VJP)"),
    "input_first": ("backwards computation", "forward mode (JVP)"),
    "optimal": ("—", "—"),
}


def _sizes(x: int, z1: int, z3: int, z2: int | None) -> tuple[int, int, int, int]:
    x = check_positive_int(x, "x")
    z1 = check_positive_int(z1, "z1")
    z3 = check_positive_int(z3, "z3")
    z2 = z1 if z2 is None else check_positive_int(z2, "z2")
    return x, z1, z2, z3


def article_dims(x: int, z1: int, z3: int, z2: int | None = None) -> tuple[int, int, int, int, int]:
    """Dims of the chain ``dl/dz3 · dz3/dz2 · dz2/dz1 · dz1/dx``: ``(1, |z3|, |z2|, |z1|, |x|)``.

    Parameters
    ----------
    x, z1, z3 : int
        ``|x|``, ``|z1|``, ``|z3|``.
    z2 : int, optional
        ``|z2|``; defaults to ``|z1|`` (an elementwise activation keeps the width).

    Examples
    --------
    >>> article_dims(1000, 100, 10)
    (1, 10, 100, 100, 1000)
    """
    x, z1, z2, z3 = _sizes(x, z1, z3, z2)
    return (1, z3, z2, z1, x)


def article_signature(
    x: int, z1: int, z3: int, z2: int | None = None
) -> tuple[KindSig, KindSig, KindSig, KindSig]:
    """Kinds of ``dl/dz3 · dz3/dz2 · dz2/dz1 · dz1/dx``: dz2/dz1 is diagonal when ``z2 == z1``.

    Examples
    --------
    >>> article_signature(1000, 100, 10)[2]
    KindSig('diagonal', 100x100)
    """
    x, z1, z2, z3 = _sizes(x, z1, z3, z2)
    middle = KindSig.diagonal(z1) if z2 == z1 else KindSig.dense(z2, z1)
    return (KindSig.dense(1, z3), KindSig.dense(z3, z2), middle, KindSig.dense(z1, x))


def _model(cost: Any, flags: dict[str, Any], where: str) -> CostModel:
    """The cost model of ``cost=`` (or the deprecated ``structure=``), one the formulas count."""
    model = as_cost_model(cost_from_flags(cost, flags, where)[0])
    if not (is_dense(model.counting) or isinstance(model.counting, StructuredCost)):
        raise ValueError(f"the article's formulas count under cost='dense' or 'structured', "
                         f"got cost model {model.name!r}")
    return model


def _convention(model: CostModel) -> str:
    return "structured" if isinstance(model.counting, StructuredCost) else "dense"


def article_costs(
    x: int, z1: int, z3: int, z2: int | None = None, *, cost: Any = "dense", **deprecated: Any
) -> dict[str, int]:
    """The article's two cost formulas, term by term, as exact ints.

    ``cost='dense'`` (the article's convention): ``loss_first`` (its
    "forwards computation") is ``1|z3||z2| + 1|z2||z1| + 1|z1||x|`` and
    ``input_first`` (its "backwards computation") is
    ``|z2||z1||x| + |z3||z2||x| + 1|z3||x|``.

    ``cost='structured'``: ``dz2/dz1 = diag(σ'(z1))`` is counted as the
    diagonal it is, so a row times it costs ``|z2|`` and it times ``W1``
    costs ``|z1||x|``: ``loss_first = 1|z3||z2| + |z2| + 1|z1||x|`` and
    ``input_first = |z1||x| + |z3||z2||x| + 1|z3||x|``. With ``z2 != z1`` no
    elementwise layer fits, the middle factor is dense and both conventions agree.
    A time model counts as the dense convention (its plans count
    multiplications); ``structure=`` still works, with a ``DeprecationWarning``.

    Examples
    --------
    >>> article_costs(1000, 100, 10)
    {'loss_first': 111000, 'input_first': 11010000}
    >>> article_costs(1000, 100, 10, cost="structured")
    {'loss_first': 101100, 'input_first': 1110000}
    """
    convention = _convention(_model(cost, deprecated, "article_costs"))
    x, z1, z2, z3 = _sizes(x, z1, z3, z2)
    if convention == "structured" and z2 == z1:
        return {
            "loss_first": 1 * z3 * z2 + z2 + 1 * z1 * x,
            "input_first": z1 * x + z3 * z2 * x + 1 * z3 * x,
        }
    return {
        "loss_first": 1 * z3 * z2 + 1 * z2 * z1 + 1 * z1 * x,
        "input_first": z2 * z1 * x + z3 * z2 * x + 1 * z3 * x,
    }


def article_bytes(
    x: int, z1: int, z3: int, z2: int | None = None, *, order: str = "loss_first",
    cost: Any = "dense", **deprecated: Any,
) -> int:
    """Bytes (float64) counting one order of the article's chain by multiplying needs, at most.

    The network's weights (or, with ``z2 != z1``, the four random matrices),
    the Jacobians it builds beside them (a dense ``diag(σ')`` is ``|z1|²``
    entries, a structured one ``|z1|``), and the most intermediate products
    alive at once under the order's plan (each counted dense). Read from the
    sizes only; nothing is allocated.

    Examples
    --------
    >>> format_bytes(article_bytes(10**7, 100, 10, order="input_first"))
    '16.9 GB'
    """
    model = as_cost_model(cost_from_flags(cost, deprecated, "article_bytes")[0])
    x, z1, z2, z3 = _sizes(x, z1, z3, z2)
    if z2 == z1:
        held = z1 * x + z3 * z2 + z1 + z3 + x + z3  # W1, W2, b1, b2, x, y
        held += z1 if model.reads_kinds else z1 * z1
    else:
        held = z3 + z3 * z2 + z2 * z1 + z1 * x
    return 8 * (held + _peak_intermediates(make_plan(article_dims(x, z1, z3, z2), order)))


def _peak_intermediates(plan: Plan) -> int:
    """Most elements of intermediate products alive at once while ``plan`` runs."""
    p = plan.dims
    live: dict[int, int] = {}  # live[i]: elements of the product built at dim i
    peak = 0
    for i, k, j in plan.step_array.tolist():
        peak = max(peak, sum(live.values()) + p[i] * p[j])
        live.pop(k, None)
        live[i] = p[i] * p[j]
    return peak


def _article_chain(
    x: int, z1: int, z2: int, z3: int, seed: int, model: CostModel
) -> tuple[Chain, str]:
    """The chain from the article's network, or random matrices of its dims when ``z2 != z1``."""
    if z2 == z1:
        net = article_network(x, z1, z3, seed=seed)
        rng = np.random.default_rng(seed)
        xv, y = rng.standard_normal(x), rng.standard_normal(z3)
        return net.input_chain(xv, y, cost=model), _source(z1, z2)
    rng = np.random.default_rng(seed)
    dims = (1, z3, z2, z1, x)
    mats = [rng.standard_normal((p, q)) for p, q in zip(dims[:-1], dims[1:], strict=True)]
    names = ["dl/dz3", "dz3/dz2", "dz2/dz1", "dz1/dx"]
    return Chain(mats, names), _source(z1, z2)


def article_table(
    x: int, z1: int, z3: int, z2: int | None = None, *, seed: int = 0,
    cost: Any = "dense", max_bytes: int | None = None, **deprecated: Any,
) -> pd.DataFrame:
    """The article's formulas next to the multiplications counted by executing its chain.

    Builds :func:`~chainorder.networks.network.article_network`, takes the chain of
    ``dl/dx`` and multiplies it in each order with a counted trace. With
    ``z2 != z1`` no network with an elementwise activation fits, so random
    matrices of those dims stand in; the ``source`` column (and
    ``table.attrs['source']``) says which was used.

    Parameters
    ----------
    x, z1, z3, z2 : int
        The sizes, as in :func:`article_costs`.
    seed : int
        Seed of the weights, input and target.
    cost : {'dense', 'structured'} or CostModel
        The cost convention of :func:`article_costs`: ``'dense'`` (the
        article's) or ``'structured'`` (``diag(σ')`` counted as diagonal).
        ``structure=`` still works, with a ``DeprecationWarning``.
    max_bytes : int, optional
        Memory budget for counting (default: half of the available memory,
        see :func:`memory_budget`). The predicted costs come from the formulas
        at any size; a row whose counting would need more than the budget
        (:func:`article_bytes`) is not counted: its ``counted`` says
        ``'not counted (needs N GB)'`` and its ratio and FLOPs are empty.

    Returns
    -------
    pandas.DataFrame
        One row per order (``loss_first``, ``input_first``, ``optimal``), columns
        ``order, article_name, ad_name, predicted, counted, ratio, flops,
        parenthesization, source``; ``attrs`` holds ``dims``, ``source``,
        ``structure`` (the convention, ``'dense'`` or ``'structured'``), ``cost``
        (the cost model's name) and ``max_bytes``.

    Examples
    --------
    >>> t = article_table(1000, 100, 10)
    >>> t.set_index("order")["counted"].to_dict()
    {'loss_first': 111000, 'input_first': 11010000, 'optimal': 111000}
    >>> t["ratio"].tolist()
    [1.0, 1.0, 1.0]
    >>> article_table(1000, 100, 10, cost="structured")["counted"].tolist()
    [101100, 1110000, 101100]
    >>> article_table(1000, 100, 10, max_bytes=10**6)["counted"].tolist()
    [111000, 'not counted (needs 1.8 MB)', 111000]
    """
    try:
        import pandas as pd
    except ImportError:
        raise ModuleNotFoundError("article_table returns a pandas table: install the laboratory "
                                  "extra, pip install 'chainorder[lab]' (article_costs needs "
                                  "numpy only)", name="pandas") from None

    model = _model(cost, deprecated, "article_table")
    x, z1, z2, z3 = _sizes(x, z1, z3, z2)
    budget = memory_budget(max_bytes)
    sigs = article_signature(x, z1, z3, z2)
    plans = {order: make_plan(sigs, order, cost=model) for order in ARTICLE_NAMES}
    predicted = {**article_costs(x, z1, z3, z2, cost=model), "optimal": plans["optimal"].cost}
    needs = {o: article_bytes(x, z1, z3, z2, order=o, cost=model) for o in plans}
    chain, source = (None, _source(z1, z2))
    if min(needs.values()) <= budget:
        chain, source = _article_chain(x, z1, z2, z3, seed, model)
    rows = []
    for order, pl in plans.items():
        counted = None
        if chain is not None and needs[order] <= budget:
            _, trace = chain.multiply(pl, trace=True, cost=model)
            counted = trace.multiplications
        rows.append(_row(order, pl, predicted[order], counted, needs[order], source))
    table = pd.DataFrame(rows)
    table["flops"] = table["flops"].astype("Int64")  # exact ints; <NA> where not counted
    table.attrs.update(dims=pl.dims, source=source, structure=_convention(model),
                       cost=model.name, max_bytes=budget)
    return table


def _source(z1: int, z2: int) -> str:
    if z2 == z1:
        return "article_network"
    return "random matrices (z2 != z1: no elementwise network fits)"


def _row(
    order: str, plan: Plan, predicted: int, counted: int | None, needs: int, source: str
) -> dict[str, object]:
    article_name, ad_name = ARTICLE_NAMES[order]
    return {
        "order": order,
        "article_name": article_name,
        "ad_name": ad_name,
        "predicted": predicted,
        "counted": counted if counted is not None else f"not counted (needs {format_bytes(needs)})",
        "ratio": counted / predicted if counted is not None else None,
        "flops": flops(counted) if counted is not None else None,
        "parenthesization": plan.parenthesization,
        "source": source,
    }
