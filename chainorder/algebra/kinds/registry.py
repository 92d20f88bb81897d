"""The kind registry: every kind's class and every kind pair's rule, in one place.

A kind module defines its :class:`~chainorder.algebra.kinds.base.Kind`
subclass and its :class:`PairRule` objects and calls :func:`register_kind`;
the registry refuses a second rule for a pair, and a kind that leaves a pair
of registered kinds without a rule (``'*'`` in a rule matches any kind).
Everything the structured model reads of a kind goes through here:
:func:`densify_cost`, :func:`stored_elements` and :func:`structured_product`
(planning, on :class:`~chainorder.algebra.kinds.base.KindSig` alone), and
:func:`kind_matmul` (execution, on the data).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, overload

from .base import Kind, KindSig

__all__ = [
    "WILDCARD",
    "CountRule",
    "ProductRule",
    "PairRule",
    "by_dims",
    "KINDS",
    "KIND_NAMES",
    "KindNames",
    "PAIR_RULES",
    "register_kind",
    "unregister_kind",
    "missing_pairs",
    "kind_class",
    "rule_for",
    "densify_cost",
    "stored_elements",
    "structured_product",
    "kind_matmul",
    "span_signature",
    "structured_steps_cost",
]

#: The kind name in a :class:`PairRule` that matches any kind.
WILDCARD = "*"

#: A count rule: ``(left, right) -> (multiplications, kind of the product)``, from kinds alone.
CountRule = Callable[[KindSig, KindSig], "tuple[int, KindSig]"]
#: A product rule: ``(left, right) -> the product``, performing what the count rule counts.
ProductRule = Callable[[Any, Any], Kind]


@dataclass(frozen=True)
class PairRule:
    """How a factor of kind ``left`` times one of kind ``right`` is counted and performed.

    Attributes
    ----------
    left, right : str
        Kind names (:data:`KIND_NAMES`), or ``'*'`` for any kind.
    count : callable
        ``(left_sig, right_sig) -> (multiplications, product_sig)`` on
        :class:`~chainorder.algebra.kinds.base.KindSig` descriptors: what planning reads.
    product : callable
        ``(left, right) -> product`` on :class:`~chainorder.algebra.kinds.base.Kind`
        objects: what execution runs; it performs exactly the multiplications
        ``count`` counts.

    Examples
    --------
    >>> import numpy as np
    >>> from chainorder.algebra.kinds import Dense, Diagonal
    >>> rule = rule_for("dense", "diagonal")
    >>> rule.count(KindSig.dense(1, 3), KindSig.diagonal(3))
    (3, KindSig('dense', 1x3))
    >>> rule.product(Dense(np.ones((1, 3))), Diagonal([1.0, 2.0, 3.0])).a
    array([[1., 2., 3.]])
    """

    left: str
    right: str
    count: CountRule
    product: ProductRule

    def __repr__(self) -> str:
        return f"PairRule({self.left!r} @ {self.right!r})"


def by_dims(left: str, right: str, result: str, count: Callable[[int, int, int], int],
            product: ProductRule) -> PairRule:
    """A rule whose count depends on ``p, q, r`` only and whose product has kind ``result``.

    Examples
    --------
    >>> rule = by_dims("dense", "dense", "dense", lambda p, q, r: p * q * r, None)
    >>> rule.count(KindSig.dense(2, 3), KindSig.dense(3, 4))
    (24, KindSig('dense', 2x4))
    """

    def counted(a: KindSig, b: KindSig) -> tuple[int, KindSig]:
        return count(a.rows, a.cols, b.cols), KindSig(result, a.rows, b.cols)

    return PairRule(left, right, counted, product)


# ----------------------------------------------------------------------------- the registry

_KINDS: dict[str, type[Kind]] = {}  # name -> class, in registration order
_BUILT_IN = __name__.rpartition(".")[0] + "."  # the package whose modules define the built-ins
_RULES: dict[tuple[str, str], PairRule] = {}

#: Registered kind name -> its :class:`~chainorder.algebra.kinds.base.Kind` class (read-only).
KINDS: Mapping[str, type[Kind]] = MappingProxyType(_KINDS)

#: (left kind, right kind) -> its :class:`PairRule` (read-only; :func:`register_kind` adds
#: rules); ``'*'`` matches any kind. Looked up by :func:`rule_for`: the exact pair first, then
#: any left kind with this right kind, then this left kind with any right kind.
PAIR_RULES: Mapping[tuple[str, str], PairRule] = MappingProxyType(_RULES)


class KindNames(Sequence[str]):
    """The registered kinds' names in registration order: a live, read-only view.

    Examples
    --------
    >>> KIND_NAMES[:5]
    ('dense', 'diagonal', 'diag_rank_one', 'identity', 'kronecker')
    >>> "diagonal" in KIND_NAMES, "tridiagonal" in KIND_NAMES
    (True, False)
    """

    __slots__ = ()

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return tuple(_KINDS)[index]

    def __len__(self) -> int:
        return len(_KINDS)

    def __contains__(self, name: object) -> bool:
        return name in _KINDS

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(_KINDS))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (KindNames, tuple, list)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __repr__(self) -> str:
        return repr(tuple(_KINDS))


#: The kinds the structured model knows (a live view of the registry).
KIND_NAMES = KindNames()


def _names() -> str:
    return ", ".join(map(repr, _KINDS))


def _check_class(cls: Any) -> str:
    """The name of kind class ``cls``, or a TypeError/ValueError saying what it lacks."""
    if not (isinstance(cls, type) and issubclass(cls, Kind)):
        raise TypeError(f"cls must be a Kind subclass, got {cls!r}")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise TypeError(f"{cls.__name__} does not define {missing}; a kind defines them all")
    name = cls.kind
    if not isinstance(name, str) or not name or name == WILDCARD:
        raise ValueError(f"{cls.__name__}.kind must be a non-empty name other than "
                         f"{WILDCARD!r}, got {name!r}")
    if name in _KINDS:
        raise ValueError(f"kind {name!r} is registered already (by {_KINDS[name].__name__}); "
                         f"unregister_kind({name!r}) first to replace it")
    return name


def _check_rules(name: str, rules: Sequence[PairRule]) -> None:
    """Refuse rules that name another kind only, an unknown kind, or an already ruled pair."""
    seen: set[tuple[str, str]] = set()
    for rule in rules:
        if not isinstance(rule, PairRule):
            raise TypeError(f"rules must be PairRule objects, got {rule!r}")
        pair = (rule.left, rule.right)
        if name not in pair:
            raise ValueError(f"{rule!r} does not name kind {name!r}: a kind registers its own "
                             "pairs only")
        for side in pair:
            if side not in (name, WILDCARD) and side not in _KINDS:
                raise ValueError(f"{rule!r} names kind {side!r}, which is not registered; "
                                 f"register {side!r} first (registered: {_names()})")
        if pair in seen or pair in _RULES:
            raise ValueError(f"a rule for {rule.left!r} @ {rule.right!r} exists already "
                             f"({_RULES.get(pair, rule)!r}); a pair has one rule")
        seen.add(pair)


def register_kind(cls: type[Kind], rules: Iterable[PairRule]) -> None:
    """Add a kind to the structured model: its class and its rules with the registered kinds.

    ``cls`` is a :class:`~chainorder.algebra.kinds.base.Kind` subclass
    (its ``kind`` name, data methods and signature facts); ``rules`` are the
    :class:`PairRule` objects of every pair it makes with the kinds
    registered before it and with itself, in both orders. A pair covered by
    a wildcard rule (the identity's and the Kronecker kind's, both sides)
    needs none; :func:`~chainorder.algebra.kinds.densify_left` and
    :func:`~chainorder.algebra.kinds.densify_right` make a rule that writes
    one side out dense. Refused, leaving the registry as it was: a name
    registered already, a rule that does not name the kind, a second rule
    for a pair, and a kind that leaves a pair without a rule (listed).
    """
    name = _check_class(cls)
    rules = list(rules)
    _check_rules(name, rules)
    _KINDS[name] = cls
    _RULES.update(((r.left, r.right), r) for r in rules)
    missing = missing_pairs()
    if missing:
        _drop(name)
        pairs = ", ".join(f"{a!r} @ {b!r}" for a, b in missing)
        raise ValueError(f"kind {name!r} leaves {len(missing)} pair(s) without a rule: {pairs}; "
                         "add a PairRule for each (densify_left or densify_right make one that "
                         "writes a side out dense)")


def _drop(name: str) -> None:
    del _KINDS[name]
    for pair in [p for p in _RULES if name in p]:
        del _RULES[pair]


def unregister_kind(name: str) -> None:
    """Remove a kind registered with :func:`register_kind`, and every rule that names it.

    The built-in kinds (defined in :mod:`chainorder.algebra.kinds`) stay.
    """
    cls = kind_class(name)
    if cls.__module__.startswith(_BUILT_IN):
        raise ValueError(f"kind {name!r} is built in and cannot be unregistered")
    _drop(name)


def missing_pairs() -> list[tuple[str, str]]:
    """Pairs of registered kinds that no rule multiplies (none while the registry is whole).

    Examples
    --------
    >>> missing_pairs()
    []
    """
    return [(a, b) for a in _KINDS for b in _KINDS if _lookup(a, b) is None]


def kind_class(name: str) -> type[Kind]:
    """The registered :class:`~chainorder.algebra.kinds.base.Kind` class of kind ``name``.

    Examples
    --------
    >>> kind_class("diagonal").__name__
    'Diagonal'
    """
    cls = _KINDS.get(name)
    if cls is None:
        raise ValueError(f"unknown kind {name!r}; expected one of {_names()} (a new kind is "
                         "added with register_kind)")
    return cls


def _lookup(left: str, right: str) -> PairRule | None:
    return (_RULES.get((left, right)) or _RULES.get((WILDCARD, right))
            or _RULES.get((left, WILDCARD)))


def rule_for(left: str, right: str) -> PairRule:
    """The :class:`PairRule` for a ``left`` kind times a ``right`` kind (see :data:`PAIR_RULES`).

    Examples
    --------
    >>> rule_for("kronecker", "identity"), rule_for("dense", "kronecker")
    (PairRule('*' @ 'identity'), PairRule('*' @ 'kronecker'))
    """
    rule = _lookup(left, right)
    if rule is None:
        unknown = [k for k in (left, right) if k not in _KINDS]
        why = (f"{unknown[0]!r} is not a registered kind (registered: {_names()})" if unknown
               else "register the kind with a PairRule for the pair (register_kind)")
        raise ValueError(f"no rule multiplies a {left!r} factor by a {right!r} one; {why}")
    return rule


# ----------------------------------------------------------------------------- reading kinds


def densify_cost(sig: KindSig) -> int:
    """Multiplications to write a factor of kind ``sig`` out as a dense array.

    Each kind's own fact (its class's ``densify_cost``).

    Examples
    --------
    >>> densify_cost(KindSig.diag_rank_one(10)), densify_cost(KindSig.dense(3, 4))
    (100, 0)
    >>> densify_cost(KindSig.kronecker(KindSig.dense(1, 100), 1000))   # an outer product
    100000
    """
    return kind_class(sig.kind).densify_cost(sig)


def stored_elements(sig: KindSig) -> int:
    """Numbers a factor of kind ``sig`` stores (a dense one all ``rows * cols``).

    Examples
    --------
    >>> stored_elements(KindSig.kronecker(KindSig.identity(100), 1000))   # just x
    1000
    """
    return kind_class(sig.kind).stored_elements(sig)


def structured_product(left: KindSig, right: KindSig) -> tuple[int, KindSig]:
    """The count and the kind of ``left · right`` under the structured model (the pair's rule).

    Examples
    --------
    >>> structured_product(KindSig.dense(1, 100), KindSig.diagonal(100))
    (100, KindSig('dense', 1x100))
    >>> structured_product(KindSig.dense(1, 10), KindSig.kronecker(KindSig.identity(10), 100))
    (0, KindSig('kronecker', KindSig('dense', 1x10) ⊗ x[100]))
    """
    if left.cols != right.rows:
        raise ValueError(f"left is {left.rows}x{left.cols} but right is {right.rows}x{right.cols}")
    return rule_for(left.kind, right.kind).count(left, right)


def kind_matmul(left: Kind, right: Kind) -> tuple[Kind, int]:
    """``left @ right`` kept in the cheapest kind, with the multiplications performed.

    The pair's :class:`PairRule` performs the product and counts it.

    Examples
    --------
    >>> import numpy as np
    >>> from chainorder.algebra.kinds import Dense, Diagonal, Identity, Kronecker
    >>> out, count = kind_matmul(Dense(np.ones((1, 3))), Kronecker(Identity(3), np.ones(4)))
    >>> out, count
    (Kronecker(Dense(1x3) ⊗ x[4]: 1x12, 56 bytes), 0)
    >>> kind_matmul(Diagonal([1.0, 2.0]), Diagonal([3.0, 4.0]))[1]
    2
    """
    if left.shape[1] != right.shape[0]:
        raise ValueError(
            f"left is {left._dims()} but right is {right._dims()}: inner dimensions differ"
        )
    rule = rule_for(left.kind, right.kind)
    return rule.product(left, right), rule.count(left.signature, right.signature)[0]


def span_signature(sigs: Sequence[KindSig]) -> KindSig:
    """The kind of the product of ``sigs``; it does not depend on the bracketing.

    Why, for the built-in kinds: ``identity`` is neutral; a product is
    ``dense`` as soon as it holds a dense factor or two diag_rank_one factors
    (whatever the brackets); ``L · (A ⊗ xᵀ) = (L·A) ⊗ xᵀ`` keeps a trailing
    Kronecker factor's form and puts the rest in its ``A``; anything to the
    right of a Kronecker factor other than the identity makes it dense first.
    So folding left to right gives the kind every bracketing gives (tested
    over all bracketings, for every registered kind).

    Examples
    --------
    >>> span_signature([KindSig.diagonal(3), KindSig.diag_rank_one(3)])
    KindSig('diag_rank_one', 3x3)
    """
    out = sigs[0]
    for sig in sigs[1:]:
        out = structured_product(out, sig)[1]
    return out


def structured_steps_cost(sigs: Sequence[KindSig], steps: Sequence[Sequence[int]]) -> int:
    """Multiplications of a bracketing under the structured model, densifying the result.

    ``steps`` are ``(i, k, j)`` as in :func:`~chainorder.algebra.costs.steps_cost`;
    the total adds, once, :func:`densify_cost` of the chain's product (a
    product is delivered dense).

    Examples
    --------
    >>> sigs = [KindSig.dense(1, 10), KindSig.dense(10, 100), KindSig.diagonal(100),
    ...         KindSig.dense(100, 1000)]          # the article's chain, |x| = 1000
    >>> structured_steps_cost(sigs, [(0, 1, 2), (0, 2, 3), (0, 3, 4)])
    101100
    >>> structured_steps_cost(sigs, [(2, 3, 4), (1, 2, 4), (0, 1, 4)])
    1110000
    """
    span = dict(enumerate(sigs))  # span[i]: kind of the product built at i
    total = 0
    for i, k, _ in steps:
        cost, span[int(i)] = structured_product(span[int(i)], span.pop(int(k)))
        total += cost
    return total + densify_cost(span[0])
