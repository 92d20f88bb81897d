"""The identity kind: a bias Jacobian; multiplying by it is free, from either side, any kind."""

from __future__ import annotations

import numpy as np

from .base import Kind, KindSig
from .registry import WILDCARD, PairRule, register_kind

__all__ = ["Identity"]


class Identity(Kind):
    """The ``n x n`` identity: a bias Jacobian, or the ``identity`` activation's.

    Examples
    --------
    >>> Identity(3), Identity(3).nbytes
    (Identity(3x3, 0 bytes), 0)
    """

    kind = "identity"

    def __init__(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        self.n = int(n)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, self.n)

    @property
    def stored(self) -> tuple[np.ndarray, ...]:
        return ()

    def densify(self) -> tuple[np.ndarray, int]:
        return np.eye(self.n), 0

    @classmethod
    def densify_cost(cls, sig: KindSig) -> int:
        return 0

    @classmethod
    def stored_elements(cls, sig: KindSig) -> int:
        return 0


register_kind(Identity, [
    # 0 multiplications, the other factor unchanged: rules for every kind, present and future
    PairRule(WILDCARD, "identity", lambda a, b: (0, a), lambda a, b: a),
    PairRule("identity", WILDCARD, lambda a, b: (0, b), lambda a, b: b),
])
