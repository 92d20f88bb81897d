"""What an execution did: the plan it followed and every step, counted and timed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .costs import flops
from .plan import Plan

__all__ = ["Trace", "TraceStep"]


@dataclass(frozen=True)
class TraceStep:
    """One multiplication as performed: spans, shapes, counted multiplications, seconds."""

    i: int
    k: int
    j: int
    left_shape: tuple[int, int]
    right_shape: tuple[int, int]
    multiplications: int
    seconds: float


@dataclass
class Trace:
    """What :func:`multiply` did: the plan it followed and every step it performed."""

    plan: Plan
    steps: list[TraceStep] = field(default_factory=list)

    @property
    def multiplications(self) -> int:
        """Scalar multiplications counted from the operands' shapes (equals ``plan.cost``)."""
        return sum(s.multiplications for s in self.steps)

    @property
    def flops(self) -> int:
        """Twice :attr:`multiplications`."""
        return flops(self.multiplications)

    @property
    def seconds(self) -> float:
        """Wall time of the multiplications alone, summed over steps."""
        return sum(s.seconds for s in self.steps)

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per step, ready for ``pandas.DataFrame``."""
        return [
            {
                "step": n,
                "i": s.i,
                "k": s.k,
                "j": s.j,
                "left_shape": s.left_shape,
                "right_shape": s.right_shape,
                "multiplications": s.multiplications,
                "flops": flops(s.multiplications),
                "seconds": s.seconds,
            }
            for n, s in enumerate(self.steps, 1)
        ]

    def __repr__(self) -> str:
        return (
            f"<Trace {self.plan.order!r}: {len(self.steps)} steps, "
            f"{self.multiplications:,} multiplications, {self.seconds * 1e3:.3f} ms>"
        )

    def __str__(self) -> str:
        lines = [repr(self), "  step  shapes                        multiplications      seconds"]
        for n, s in enumerate(self.steps[:30], 1):
            shapes = f"{s.left_shape[0]}x{s.left_shape[1]} @ {s.right_shape[0]}x{s.right_shape[1]}"
            lines.append(f"  {n:>4}  {shapes:<28}  {s.multiplications:>15,}  {s.seconds:.3e}")
        if len(self.steps) > 30:
            lines.append(f"  ... {len(self.steps) - 30} more steps")
        return "\n".join(lines)
