"""The two cost conventions as the report pages name and draw them: dense and structured.

Not a page: the names, line styles and the sentence that every page
comparing the conventions prints beside its numbers.
"""

from __future__ import annotations

from ...algebra.structured import STRUCTURES

__all__ = ["CONVENTIONS", "CONVENTION_LINE", "CONVENTION_TEXT", "convention_label"]

#: The conventions, in the order pages show them (the article's first).
CONVENTIONS: tuple[str, ...] = STRUCTURES

#: What a page prints beside every number of each convention.
CONVENTION_LABEL: dict[str, str] = {
    "dense": "dense (the article's convention)",
    "structured": "structured: diagonal activations, I ⊗ xᵀ weights",
}

#: Line style of each convention in a figure (colours are the orders').
CONVENTION_LINE: dict[str, str] = {"dense": "-", "structured": "--"}

#: One paragraph saying what each convention counts.
CONVENTION_TEXT = (
    "*Dense (the article's convention)* counts every Jacobian as a full matrix: "
    "`diag(σ'(z1))` is a `|z1| x |z1|` matrix, so a row times it costs `|z1|²` and it "
    "times `W1` costs `|z1|²|x|`; an affine layer's weight Jacobian `dz/dW` is a "
    "`|z| x |z||x|` matrix. *Structured: diagonal activations, I ⊗ xᵀ weights* counts what "
    "multiplying the Jacobians in their kinds performs (`chainorder.algebra.kinds`, the "
    "count table in `chainorder.algebra.costs`): a row times `diag(σ')` costs `|z1|`, "
    "`diag(σ') W1` costs `|z1||x|`, and `dz/dW = I ⊗ xᵀ` is never written out: a row "
    "`g` times it is the outer product `g ⊗ xᵀ` (`|z||x|` multiplications). Both count "
    "scalar multiplications (FLOPs = 2 × multiplications); additions are free in both."
)


def convention_label(structure: str) -> str:
    """The label of a convention, e.g. ``"dense (the article's convention)"``.

    Examples
    --------
    >>> convention_label("structured")
    'structured: diagonal activations, I ⊗ xᵀ weights'
    """
    try:
        return CONVENTION_LABEL[structure]
    except KeyError:
        raise ValueError(f"structure must be one of {', '.join(CONVENTIONS)}, "
                         f"got {structure!r}") from None
