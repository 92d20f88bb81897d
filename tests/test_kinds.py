"""Jacobian kinds: every pair multiplied, counted by hand and by the model, against dense.

A new kind brings its rows here: a name in ``NAMES`` and ``make``, its row and column in
``HAND_TABLE``; the registry tests below fail until it does."""

from __future__ import annotations

import numpy as np
import pytest

from chainorder.algebra.costs import KindSig, densify_cost
from chainorder.algebra.kinds import (
    KIND_NAMES,
    PAIR_RULES,
    BlockDiagonal,
    Dense,
    Diagonal,
    DiagonalPlusRankOne,
    Identity,
    Kind,
    Kronecker,
    Replicate,
    Sparse,
    check_factors,
    kind_matmul,
    missing_pairs,
    rule_for,
    signature_of,
    stored_elements,
    structured_product,
)

NAMES = ["identity", "diagonal", "dro", "dense", "kron_I", "kron_diag", "kron_dense", "kron_dro",
         "sparse"]


def make(name: str, rng: np.random.Generator, *, rows: int | None = None, cols: int = 6) -> Kind:
    """A factor of kind ``name``: with ``rows`` given, that many rows; else ``cols`` columns."""
    v = rng.standard_normal
    sq = rows if rows is not None else cols
    if name == "identity":
        return Identity(sq)
    if name == "diagonal":
        return Diagonal(v(sq))
    if name == "dro":
        return DiagonalPlusRankOne(v(sq), v(sq), v(sq))
    if name == "dense":
        return Dense(v((rows, 4)) if rows is not None else v((2, cols)))
    if name == "sparse":  # the fixed patterns SPARSE_LEFT (3x6) and SPARSE_RIGHT (6x4)
        mask = np.array(SPARSE_RIGHT if rows is not None else SPARSE_LEFT)
        return Sparse(mask * v(mask.shape))
    m = rows if rows is not None else 3  # a right factor has `rows` rows; a left one 6 columns
    inner = {
        "I": Identity(m),
        "diag": Diagonal(v(m)),
        "dro": DiagonalPlusRankOne(v(m), v(m), v(m)),
        "dense": Dense(v((m, 3)) if rows is not None else v((2, 3))),
    }[name.removeprefix("kron_")]
    return Kronecker(inner, v(2))


# Hand counts, left (rows) times right (columns), both in NAMES order. Left factors have 6
# columns: square kinds 6x6, dense 2x6, kron_* = A ⊗ x with A 3x3 (dense: 2x3) and |x| = 2;
# right factors have 6 rows: dense 6x4, kron_* = A ⊗ x with A 6x6 (dense: 6x3), |x| = 2.
# A Kronecker left factor is written out first: 0 (I), 3*2 (diag), 2*3*2 (dense), 9 + 3*3*2 (dro).
# Sparse: left 3x6 with nnz 6 (column counts 1 2 1 1 0 1), right 6x4 with nnz 7 (row counts
# 1 2 1 0 2 1); sparse·sparse = Σ_k 1·1 + 2·2 + 1·1 + 1·0 + 0·2 + 1·1 = 7; sparse·dense = nnz·r,
# dense·sparse = p·nnz, a dro or Kronecker partner written out first (dro 6x6: 36).
HAND_TABLE = """
               identity diagonal dro dense kron_I kron_diag kron_dense kron_dro sparse
    identity          0        0   0     0      0         0          0        0      0
    diagonal          0        6  12    24      0         6         18       12      7
    dro               0       12 102    72      0        12         54      102     78
    dense             0       12  36    48      0        12         36       36     14
    kron_I            0       18  54    72      0        18         54       54     21
    kron_diag         0       24  60    78      6        24         60       60     27
    kron_dense        0       24  48    60     12        24         48       48     26
    kron_dro          0       45  81    99     27        45         81       81     48
    sparse            0        6  72    24      0         6         18       72      7
"""
SPARSE_LEFT = [[1, 1, 0, 0, 0, 0], [0, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 1]]
SPARSE_RIGHT = [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 1],
                [0, 0, 0, 1]]
HAND = {
    (row.split()[0], col): int(n)
    for row in HAND_TABLE.strip().splitlines()[1:]
    for col, n in zip(HAND_TABLE.split()[:len(NAMES)], row.split()[1:], strict=True)
}

# Block-diagonal factors (a mini-batch of B = 2 blocks): left bd_diag = 2 x diag(3) (6x6),
# bd_dense = 2 x dense 1x3 (2x6); right bd_diag = 2 x diag(3), bd_dense = 2 x dense 3x2 (6x4).
# Each pair is B = 2 times the blocks' count; a dense or Kronecker partner is cut into two
# slices of 3 (a Kronecker or dro one written out first, as above); sparse: the block factor
# written out (free), then nnz·r (left sparse) or p·nnz (right sparse).
BLOCK_NAMES = ["bd_diag", "bd_dense"]
BLOCK_COLUMNS = """
               bd_diag bd_dense
    identity         0        0
    diagonal         6       12
    dro             72      108
    dense           12       24
    kron_I          18       36
    kron_diag       24       42
    kron_dense      24       36
    kron_dro        45       63
    sparse          36       24
    bd_diag          6       12
    bd_dense         6       12
"""
BLOCK_ROWS = """
               identity diagonal dro dense kron_I kron_diag kron_dense kron_dro sparse
    bd_diag           0        6  72    24      0         6         18       72     42
    bd_dense          0        6  72    24      0         6         18       72     14
"""
for _table in (BLOCK_COLUMNS, BLOCK_ROWS):
    _lines = _table.strip().splitlines()
    for _row in _lines[1:]:
        HAND.update({(_row.split()[0], col): int(n)
                     for col, n in zip(_lines[0].split(), _row.split()[1:], strict=True)})
NAMES = [*NAMES, *BLOCK_NAMES]

# The replicate factor (a batch's shared parameters, B = 2): left 12x6 (two 6x6 identities),
# right 6x3. On the right it sums the left factor's two column blocks, on the left it copies
# the right factor twice: no multiplication, but writing the other factor out dense first
# (dro 6x6: 36; left kron_*: 0, 3*2, 2*3*2, 9 + 3*3*2 as above); a right kron_* keeps its
# form, replicate · (A ⊗ x) = (replicate · A) ⊗ x: only A is copied (a dro A written out: 36).
REPLICATE_COLUMN = """
    identity 0  diagonal 0  dro 36  dense 0  kron_I 0  kron_diag 6  kron_dense 12  kron_dro 27
    sparse 0  bd_diag 0  bd_dense 0  replicate 0
"""
REPLICATE_ROW = """
    identity 0  diagonal 0  dro 36  dense 0  kron_I 0  kron_diag 0  kron_dense 0
    kron_dro 36  sparse 0  bd_diag 0  bd_dense 0  replicate 0
"""
_cells = REPLICATE_COLUMN.split()
HAND.update({(name, "replicate"): int(n) for name, n in zip(_cells[::2], _cells[1::2],
                                                            strict=True)})
_cells = REPLICATE_ROW.split()
HAND.update({("replicate", name): int(n) for name, n in zip(_cells[::2], _cells[1::2],
                                                            strict=True)})
NAMES = [*NAMES, "replicate"]
_make_one = make


def make(name: str, rng: np.random.Generator, *, rows: int | None = None, cols: int = 6) -> Kind:
    """As the table's ``make``, and the block-diagonal and replicate factors of two blocks."""
    if name == "replicate":  # a right factor 2·3 x 3, a left one 2·6 x 6
        return Replicate(rows // 2, 2) if rows is not None else Replicate(cols, 2)
    if name not in BLOCK_NAMES:
        return _make_one(name, rng, rows=rows, cols=cols)
    q = (rows if rows is not None else cols) // 2
    v = rng.standard_normal
    if name == "bd_diag":
        return BlockDiagonal([Diagonal(v(q)) for _ in range(2)])
    shape = (q, 2) if rows is not None else (1, q)
    return BlockDiagonal([Dense(v(shape)) for _ in range(2)])


@pytest.mark.parametrize("right", NAMES)
@pytest.mark.parametrize("left", NAMES)
def test_every_pair_agrees_with_dense_and_is_counted(left: str, right: str) -> None:
    rng = np.random.default_rng(NAMES.index(left) * 10 + NAMES.index(right))
    a = make(left, rng)
    b = make(right, rng, rows=a.shape[1])
    out, count = kind_matmul(a, b)
    np.testing.assert_allclose(np.asarray(out), np.asarray(a) @ np.asarray(b), atol=1e-12)
    assert out.shape == (a.shape[0], b.shape[1])
    model_count, model_sig = structured_product(a.signature, b.signature)
    assert count == model_count
    assert out.signature == model_sig
    assert count == HAND[left, right]


def test_every_registered_kind_has_rows_and_every_rule_is_exercised() -> None:
    rng = np.random.default_rng(0)
    left = {n: make(n, rng) for n in NAMES}
    right = {n: make(n, rng, rows=6) for n in NAMES}
    kinds = {k.kind for k in left.values()} | {k.inner.kind for k in left.values()
                                               if isinstance(k, Kronecker)}
    assert kinds == set(KIND_NAMES)
    used = {rule_for(a.kind, b.kind) for a in left.values() for b in right.values()}
    assert used == set(PAIR_RULES.values())
    assert missing_pairs() == []


@pytest.mark.parametrize("name", NAMES)
def test_densify_is_counted_and_every_kind_prints(name: str) -> None:
    k = make(name, np.random.default_rng(3))
    dense, count = k.densify()
    assert count == densify_cost(k.signature)
    assert stored_elements(k.signature) == sum(a.size for a in k.stored)
    assert np.asarray(k).shape == k.shape == dense.shape
    assert k.kind in repr(k).lower().replace("diagonalplusrankone", "diag_rank_one") or \
        type(k).__name__ in repr(k)
    assert k.nbytes <= k.dense_nbytes + 8 * 64


def test_affine_weight_jacobian_stores_x_only() -> None:
    x = np.arange(1000.0)
    K = Kronecker(Identity(100), x)
    assert K.shape == (100, 100_000) and K.nbytes == 8000 and K.dense_nbytes == 80_000_000
    row, count = kind_matmul(Dense(np.ones((1, 100))), K)
    assert count == 0 and isinstance(row, Kronecker)
    dense, count = row.densify()
    assert count == 100_000  # the outer product, as counted
    np.testing.assert_array_equal(dense.reshape(100, 1000), np.outer(np.ones(100), x))


def test_softmax_jacobian() -> None:
    s = np.array([0.2, 0.3, 0.5])
    np.testing.assert_allclose(np.asarray(DiagonalPlusRankOne.softmax(s)),
                               np.diag(s) - np.outer(s, s))


def test_signatures_and_errors() -> None:
    assert signature_of(np.ones((2, 3))) == KindSig.dense(2, 3)
    assert signature_of(KindSig.diagonal(4)) == KindSig.diagonal(4)
    with pytest.raises(ValueError, match="inner dimensions"):
        kind_matmul(Diagonal([1.0, 2.0]), Identity(3))
    with pytest.raises(TypeError, match="inner"):
        Kronecker(Kronecker(Identity(2), [1.0]), [1.0])
    with pytest.raises(ValueError, match=r"factors\[1\] has 3 rows but factors\[0\] has 2"):
        check_factors([Diagonal([1.0, 2.0]), np.ones((3, 3))])
    with pytest.raises(ValueError, match=r"factors\[1\]"):
        check_factors([Diagonal([1.0, 2.0]), np.full((2, 2), np.nan)])
    with pytest.raises(ValueError, match="left is"):
        structured_product(KindSig.dense(2, 3), KindSig.diagonal(4))
