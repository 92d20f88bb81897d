"""Jacobian kinds: dense, diagonal, identity, diagonal-plus-rank-one, Kronecker, and their products.

A Jacobian of a known kind stores only what it needs: an elementwise
activation's ``diag(σ'(z))`` its diagonal, a bias Jacobian nothing, an affine
layer's weight Jacobian ``I ⊗ xᵀ`` the vector ``x``, softmax's
``diag(s) − s sᵀ`` three vectors. Every kind converts to a dense array on
request (``np.asarray(kind)``).

One module per kind holds its :class:`Kind` subclass (the data, and what
planning reads of it: :meth:`Kind.densify_cost`, :meth:`Kind.stored_elements`)
and its :class:`PairRule` objects, one per pair it makes with the kinds
registered before it: each pair's *count rule* (the multiplications and the
kind of the product, from kinds and shapes alone: what the structured cost
model plans with, :func:`structured_product`) beside its *product rule* (the
product itself, on the data: what :func:`kind_matmul` executes). The module
calls :func:`register_kind`, which checks that every pair of registered kinds
has one rule; :data:`PAIR_RULES` and :data:`KIND_NAMES` are read from the
registry (:mod:`~chainorder.algebra.kinds.registry`). A kind module imports
the modules of the kinds its rules name, so it registers after them. A new
kind is one module, and its rows in ``tests/test_kinds.py``.

Left ``p x q`` times right ``q x r``, scalar multiplications (additions are
free), and the kind of the product (each module's docstring says where its
counts come from):

==============  ==========  ==========  ===============  ==========  ===============
left \\ right    identity    diagonal    diag_rank_one    dense       kronecker(A,x)
==============  ==========  ==========  ===============  ==========  ===============
identity        0, I        0, right    0, right         0, right    0, right
diagonal        0, left     q, diag     2q, dro          q·r, D      c(L·A), K(L·A)
diag_rank_one   0, left     2q, dro     2q²+5q, D        3q·r, D     c(L·A), K(L·A)
dense           0, left     p·q, D      3p·q, D          p·q·r, D    c(L·A), K(L·A)
kronecker       0, left     densify(left) + the dense row's count, kind as that row
==============  ==========  ==========  ===============  ==========  ===============

(D dense, dro diag_rank_one, K kronecker; ``c(L·A)`` is the table's own
count for ``L`` times ``A``.)

The kind of a product does not depend on its bracketing
(:func:`span_signature`), which makes the structured optimizer exact
(:class:`~chainorder.algebra.costmodels.StructuredCost`).
"""

from __future__ import annotations

from .base import Kind, KindSig, check_factors, signature_of
from .block_diagonal import BlockDiagonal
from .dense import Dense, as_kind, densify_left, densify_right
from .diag_rank_one import DiagonalPlusRankOne
from .diagonal import Diagonal
from .identity import Identity
from .kronecker import Kronecker
from .registry import (
    KIND_NAMES,
    KINDS,
    PAIR_RULES,
    WILDCARD,
    PairRule,
    by_dims,
    densify_cost,
    kind_class,
    kind_matmul,
    missing_pairs,
    register_kind,
    rule_for,
    span_signature,
    stored_elements,
    structured_product,
    structured_steps_cost,
    unregister_kind,
)
from .replicate import Replicate
from .sparse import Sparse, SparsityPattern

__all__ = [
    "Kind",
    "KindSig",
    "Dense",
    "Diagonal",
    "Identity",
    "DiagonalPlusRankOne",
    "Kronecker",
    "BlockDiagonal",
    "Sparse",
    "Replicate",
    "SparsityPattern",
    "PairRule",
    "PAIR_RULES",
    "KINDS",
    "KIND_NAMES",
    "WILDCARD",
    "register_kind",
    "unregister_kind",
    "missing_pairs",
    "kind_class",
    "by_dims",
    "densify_left",
    "densify_right",
    "rule_for",
    "kind_matmul",
    "structured_product",
    "span_signature",
    "structured_steps_cost",
    "densify_cost",
    "stored_elements",
    "as_kind",
    "check_factors",
    "signature_of",
]
