"""Seeded chains and pinned reference answers shared by the test modules."""

from __future__ import annotations

from functools import cache

import numpy as np

from chainorder.algebra.kinds import (
    BlockDiagonal,
    Dense,
    Diagonal,
    DiagonalPlusRankOne,
    Identity,
    Kind,
    Kronecker,
    Replicate,
    Sparse,
)


def random_dims(rng: np.random.Generator, n: int, high: int = 30) -> list[int]:
    """Random chain dims p0..pn in 1..high."""
    return [int(d) for d in rng.integers(1, high + 1, size=n + 1)]


def random_chain(rng: np.random.Generator, dims: list[int]) -> list[np.ndarray]:
    """Matrices of the given dims, scaled so long products stay near unit size."""
    return [
        rng.standard_normal((p, q)) / np.sqrt(q) for p, q in zip(dims[:-1], dims[1:], strict=True)
    ]


#: What ADMission's gdjcpb_solve prints (STCE-at-RWTH/ADMission, commit 9ebfa24, app/
#: gdjcpb_solve.cpp; the numbers as recorded in chainorder/algebra/data/admission/README.md):
#: optimal, homogeneous tangent, homogeneous adjoint, global preaccumulation.
ADMISSION_ANSWERS = {
    "problem_dense10": (296, 296, 2072, 779),
    "problem_dense50": (135228, 839925, 604746, 740518),
    "problem_dense100": (231143, 19160886, 21611697, 9034346),
    "problem_dense150": (852466, 56863838, 47527984, 53425505),
    "problem_dense200": (2041326, 34648499, 381133489, 174604509),
}


def random_sparse(rng: np.random.Generator, rows: int, cols: int, density: float = 0.4) -> Sparse:
    """A ``rows x cols`` sparse factor, each entry stored with probability ``density``."""
    mask = rng.random((rows, cols)) < density
    return Sparse(mask * rng.standard_normal((rows, cols)))


def random_factors(rng: np.random.Generator, n: int) -> list[Kind]:
    """A random chain of ``n`` Jacobians of every kind, shapes fitting."""
    rows = int(rng.integers(1, 4))
    out: list[Kind] = []
    for _ in range(n):
        kind = rng.choice(["dense", "dense", "diagonal", "identity", "dro", "kron", "sparse",
                           "block", "replicate"])
        v = rng.standard_normal
        if kind == "dense":
            f: Kind = Dense(v((rows, int(rng.integers(1, 6)))))
        elif kind == "diagonal":
            f = Diagonal(v(rows))
        elif kind == "identity":
            f = Identity(rows)
        elif kind == "dro":
            f = DiagonalPlusRankOne(v(rows), v(rows), v(rows))
        elif kind == "sparse":
            f = random_sparse(rng, rows, int(rng.integers(1, 6)))
        elif kind == "block":  # a batch of B blocks, B dividing the rows
            B = int(rng.choice([b for b in range(1, rows + 1) if rows % b == 0]))
            q, c = rows // B, int(rng.integers(1, 3))
            f = BlockDiagonal([Diagonal(v(q)) for _ in range(B)] if rng.random() < 0.5
                              else [Dense(v((q, c))) for _ in range(B)])
        elif kind == "replicate":  # B copies of a vector of rows / B, B dividing the rows
            B = int(rng.choice([b for b in range(1, rows + 1) if rows % b == 0]))
            f = Replicate(rows // B, B)
        else:
            inner = rng.choice(["identity", "diagonal", "dense"])
            a = {"identity": Identity(rows), "diagonal": Diagonal(v(rows)),
                 "dense": Dense(v((rows, int(rng.integers(1, 3)))))}[inner]
            f = Kronecker(a, v(int(rng.integers(1, 3))))
        out.append(f)
        rows = f.shape[1]
    return out


@cache
def bracketings(i: int, j: int) -> tuple[tuple[tuple[int, int, int], ...], ...]:
    """Every bracketing of the span i..j as steps in execution order."""
    if j - i == 1:
        return ((),)
    return tuple(
        left + right + ((i, k, j),)
        for k in range(i + 1, j) for left in bracketings(i, k) for right in bracketings(k, j)
    )
