"""The article's analysis: its chain's dims, its two cost formulas, and a table checking them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..algebra.chain import Chain
from ..algebra.costs import flops
from ..algebra.orders import optimize
from ..validation import check_positive_int
from .network import article_network

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["article_dims", "article_costs", "article_table", "ARTICLE_NAMES"]

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


def article_costs(x: int, z1: int, z3: int, z2: int | None = None) -> dict[str, int]:
    """The article's two cost formulas, term by term, as exact ints.

    ``loss_first`` (its "forwards computation") is
    ``1|z3||z2| + 1|z2||z1| + 1|z1||x|``; ``input_first`` (its "backwards
    computation") is ``|z2||z1||x| + |z3||z2||x| + 1|z3||x|``.

    Examples
    --------
    >>> article_costs(1000, 100, 10)
    {'loss_first': 111000, 'input_first': 11010000}
    """
    x, z1, z2, z3 = _sizes(x, z1, z3, z2)
    return {
        "loss_first": 1 * z3 * z2 + 1 * z2 * z1 + 1 * z1 * x,
        "input_first": z2 * z1 * x + z3 * z2 * x + 1 * z3 * x,
    }


def _article_chain(x: int, z1: int, z2: int, z3: int, seed: int) -> tuple[Chain, str]:
    """The chain from the article's network, or random matrices of its dims when ``z2 != z1``."""
    if z2 == z1:
        net = article_network(x, z1, z3, seed=seed)
        rng = np.random.default_rng(seed)
        chain = net.input_chain(rng.standard_normal(x), rng.standard_normal(z3))
        return chain, "article_network"
    rng = np.random.default_rng(seed)
    dims = (1, z3, z2, z1, x)
    mats = [rng.standard_normal((p, q)) for p, q in zip(dims[:-1], dims[1:], strict=True)]
    names = ["dl/dz3", "dz3/dz2", "dz2/dz1", "dz1/dx"]
    return Chain(mats, names), "random matrices (z2 != z1: no elementwise network fits)"


def article_table(
    x: int, z1: int, z3: int, z2: int | None = None, *, seed: int = 0
) -> pd.DataFrame:
    """The article's formulas next to the multiplications counted by executing its chain.

    Builds :func:`~chainorder.networks.network.article_network`, takes the chain of
    ``dl/dx`` and multiplies it in each order with a counted trace. With
    ``z2 != z1`` no network with an elementwise activation fits, so random
    matrices of those dims stand in; the ``source`` column (and
    ``table.attrs['source']``) says which was used.

    Returns
    -------
    pandas.DataFrame
        One row per order (``loss_first``, ``input_first``, ``optimal``), columns
        ``order, article_name, ad_name, predicted, counted, ratio, flops,
        parenthesization, source``; ``attrs`` holds ``dims`` and ``source``.

    Examples
    --------
    >>> t = article_table(1000, 100, 10)
    >>> t.set_index("order")["counted"].to_dict()
    {'loss_first': 111000, 'input_first': 11010000, 'optimal': 111000}
    >>> t["ratio"].tolist()
    [1.0, 1.0, 1.0]
    """
    import pandas as pd

    x, z1, z2, z3 = _sizes(x, z1, z3, z2)
    chain, source = _article_chain(x, z1, z2, z3, seed)
    predicted = {**article_costs(x, z1, z3, z2), "optimal": optimize(chain.dims).cost}
    rows = [_row(chain, order, predicted[order], source) for order in ARTICLE_NAMES]
    table = pd.DataFrame(rows)
    table.attrs.update(dims=chain.dims, source=source)
    return table


def _row(chain: Chain, order: str, predicted: int, source: str) -> dict[str, object]:
    plan = chain.plan(order)
    _, trace = chain.multiply(plan, trace=True)
    article_name, ad_name = ARTICLE_NAMES[order]
    return {
        "order": order,
        "article_name": article_name,
        "ad_name": ad_name,
        "predicted": predicted,
        "counted": trace.multiplications,
        "ratio": trace.multiplications / predicted,
        "flops": flops(trace.multiplications),
        "parenthesization": plan.parenthesization,
        "source": source,
    }
