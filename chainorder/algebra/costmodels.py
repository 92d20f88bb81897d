"""Cost models: what one product step of a chain costs, as objects passed as ``cost=``.

A cost model prices a step ``(i, k, j)`` -- the product over dims ``i..k``
times the product over dims ``k..j`` -- of a chain it reads as a
:class:`ChainShape` (dims, and each factor's kind where known). Every exact
optimizer minimizes the sum of a model's step costs: the dense model by the
dynamic program or Hu-Shing, any other model by the dynamic program
(:meth:`CostModel.optimal_steps`). The models chainorder ships:

==================  ================  ============================================
model               ``cost=``         a step costs
==================  ================  ============================================
``DenseCost``       ``'dense'``       ``p_i p_k p_j``: every factor a full matrix
                                      (the default)
``StructuredCost``  ``'structured'``  what the operands' kinds really perform
                                      (:data:`~chainorder.algebra.kinds.PAIR_RULES`)
``TimeModel``       ``'time'``        predicted seconds on a machine
                                      (:mod:`~chainorder.algebra.timemodel`)
==================  ================  ============================================

``cost='time'`` is the time model put in force with
:func:`~chainorder.algebra.timemodel.use_machine`: planning reads no file, so
load one explicitly (``cost=load_model()``, or ``use_machine(load_model())``
once). A user's own model is a :class:`CostModel` subclass (see its example).
"""

from __future__ import annotations

import numbers
import sys
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..validation import check_dims
from .costs import steps_cost_fast
from .dp import dp_steps, dp_steps_exact
from .kinds import KIND_NAMES, Kind, KindSig, densify_cost, signature_of, structured_product

__all__ = [
    "CostModel",
    "ChainShape",
    "DenseCost",
    "StructuredCost",
    "COST_MODELS",
    "MODEL_DP_MAX",
    "as_cost_model",
    "reads_kinds",
    "is_dense",
    "cost_from_flags",
    "signatures",
    "dims_of",
]

#: Longest chain the exact optimizer of a model other than the dense one and the time model
#: takes: :meth:`CostModel.optimal_steps` calls ``step_cost`` O(n^3) times, in Python.
MODEL_DP_MAX = 200

#: Shorthand -> the cost model class it names (``cost='dense'``, ...); a subclass of
#: :class:`CostModel` with a ``shorthand`` adds itself.
COST_MODELS: dict[str, type[CostModel]] = {}


# ----------------------------------------------------------------------------- what a model reads


def _is_factor(obj: Any) -> bool:
    return isinstance(obj, (Kind, KindSig, np.ndarray, list, tuple))


def signatures(obj: Any) -> tuple[KindSig, ...] | None:
    """The structure signature of a chain, kinds, KindSigs or arrays; None for plain dims.

    A 1-D first array is a row and a 1-D last array a column, as in
    :func:`chainorder.multiply`.

    Examples
    --------
    >>> from chainorder.algebra.kinds import Diagonal
    >>> signatures([np.ones(3), Diagonal(np.ones(3))])
    (KindSig('dense', 1x3), KindSig('diagonal', 3x3))
    >>> signatures([1, 3, 3]) is None
    True
    """
    if hasattr(obj, "signatures") and not isinstance(obj, Sequence):
        return tuple(obj.signatures)
    if isinstance(obj, (str, bytes, np.ndarray)) or not isinstance(obj, Sequence) or not obj:
        return None
    if not _is_factor(obj[0]):  # plain dims (checked by the caller); O(1) for long chains
        return None
    out = []
    for i, f in enumerate(obj):
        if isinstance(f, numbers.Number):
            raise TypeError(f"factor {i} is the number {f!r}; expected a Kind, KindSig or array")
        if isinstance(f, (list, tuple)) and all(isinstance(v, numbers.Number) for v in f):
            raise TypeError(
                f"factor {i} is the list {list(f)!r}: pass dims flat, e.g. "
                f"optimize({list(f)!r}), or factors as arrays, Kinds or KindSigs")
        if not isinstance(f, (Kind, KindSig)) and np.ndim(f) == 1:
            n = np.shape(f)[0]
            f = KindSig.dense(1, n) if i == 0 else KindSig.dense(n, 1)
        out.append(signature_of(f))
    _check_fit(out)
    return tuple(out)


def _check_fit(sigs: Sequence[KindSig]) -> None:
    for i, s in enumerate(sigs):
        if s.kind not in KIND_NAMES:
            raise ValueError(f"factor {i} has kind {s.kind!r}; expected one of {KIND_NAMES} "
                             "(a new kind is added with chainorder.algebra.kinds.register_kind)")
        ints = all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in s.shape)
        if not ints or s.rows < 1 or s.cols < 1:
            raise ValueError(f"factor {i} has shape {s.shape}; dims must be integers >= 1")
        if i and sigs[i - 1].cols != s.rows:
            raise ValueError(
                f"factor {i} has {s.rows} rows but factor {i - 1} has {sigs[i - 1].cols} columns"
            )


def dims_of(sigs: Sequence[KindSig]) -> tuple[int, ...]:
    """``p0..pn`` of a structure signature."""
    return (sigs[0].rows, *(s.cols for s in sigs))


class ChainShape:
    """What planning knows of a chain: its dims ``p0..pn`` and, where given, each factor's kind.

    A cost model reads a chain through this: ``dims[i]`` and :meth:`kind`,
    the kind and shape of the product over dims ``i..j`` (a
    :class:`~chainorder.algebra.costs.KindSig`; the same under every
    bracketing). Without kinds every factor is dense.

    Examples
    --------
    >>> c = ChainShape((1, 10, 100, 100), (KindSig.dense(1, 10), KindSig.dense(10, 100),
    ...                                   KindSig.diagonal(100)))
    >>> c.n, c.kind(2, 3), c.kind(0, 3)
    (3, KindSig('diagonal', 100x100), KindSig('dense', 1x100))
    >>> ChainShape((2, 3, 4)).kind(0, 2)
    KindSig('dense', 2x4)
    """

    __slots__ = ("dims", "_sigs", "_spans")

    def __init__(self, dims: tuple[int, ...], sigs: tuple[KindSig, ...] | None = None) -> None:
        self.dims = dims
        self._sigs = sigs
        self._spans: dict[int, list[KindSig]] = {}  # _spans[i][m]: kind over dims i..i+m+1

    @classmethod
    def of(cls, obj: Any, *, kinds: bool = True) -> ChainShape:
        """The shape of dims, a :class:`~chainorder.algebra.chain.Chain`, kinds, KindSigs or
        arrays, checked; with ``kinds=False`` the factors' kinds are dropped (all dense)."""
        if isinstance(obj, ChainShape):
            return obj if kinds or obj._sigs is None else cls(obj.dims)
        sigs = signatures(obj)
        if sigs is None:
            return cls(check_dims(obj))
        return cls(dims_of(sigs), sigs if kinds else None)

    @property
    def n(self) -> int:
        """Number of factors."""
        return len(self.dims) - 1

    @property
    def has_kinds(self) -> bool:
        """Whether the factors' kinds are known (else every factor is dense)."""
        return self._sigs is not None

    @property
    def signatures(self) -> tuple[KindSig, ...]:
        """Each factor's kind and shape (dense ones when only the dims are known)."""
        if self._sigs is not None:
            return self._sigs
        p = self.dims
        return tuple(KindSig.dense(p[m], p[m + 1]) for m in range(self.n))

    def kind(self, i: int, j: int) -> KindSig:
        """The kind and shape of the product over dims ``i..j`` (factors ``i+1..j``)."""
        if self._sigs is None:
            return KindSig.dense(self.dims[i], self.dims[j])
        row = self._spans.get(i)
        if row is None:
            row = self._spans[i] = [self._sigs[i]]
            for sig in self._sigs[i + 1:]:
                row.append(structured_product(row[-1], sig)[1])
        return row[j - i - 1]

    def __repr__(self) -> str:
        kinds = "" if self._sigs is None else f", kinds {[s.kind for s in self._sigs[:8]]}"
        return f"ChainShape({self.n} factors, dims {list(self.dims[:9])}{kinds})"


# ----------------------------------------------------------------------------- the protocol


class CostModel(ABC):
    """A cost model: what one product step of a chain costs. Subclass it and define
    :meth:`step_cost`; pass an instance as ``cost=`` to :func:`chainorder.plan`,
    :func:`chainorder.optimize`, :func:`chainorder.multiply`, ...

    A step ``(i, k, j)`` multiplies the product over dims ``i..k`` by the
    product over dims ``k..j`` of a chain ``chain`` (a :class:`ChainShape`:
    ``chain.dims``, ``chain.kind(i, j)``). :meth:`step_cost` returns its cost
    as an exact ``int`` (or a ``float``, for time); a plan's cost is the sum
    over its steps plus :meth:`finish_cost`. The exact optimizer is the
    dynamic program over these step costs (:meth:`optimal_steps`, up to
    :data:`MODEL_DP_MAX` matrices): exact for any model whose step cost
    depends on ``(i, k, j)`` and the chain alone.

    Class attributes a subclass may set: ``name`` (printed with its plans),
    ``shorthand`` (a name ``cost=`` accepts for it), ``reads_kinds`` (True:
    plans keep the factors' kinds, and :func:`chainorder.multiply` runs the
    products in their kinds), ``unit`` (what a cost counts).

    Examples
    --------
    A model that counts the elements each product reads and writes,
    ``p·q + q·r + p·r``:

    >>> import chainorder as co
    >>> class ReadWrite(co.CostModel):
    ...     name = "read_write"
    ...     def step_cost(self, chain, i, k, j):
    ...         p, q, r = chain.dims[i], chain.dims[k], chain.dims[j]
    ...         return p * q + q * r + p * r
    >>> best = co.optimize([10, 100, 5, 50], cost=ReadWrite())
    >>> other = co.plan([10, 100, 5, 50], "(A1(A2A3))", cost=ReadWrite())
    >>> best.parenthesization, best.cost, other.cost
    ('((A1A2)A3)', 2350, 12250)
    >>> best
    <Plan 'optimal' (read_write): 3 matrices, cost 2,350, ((A1A2)A3)>
    """

    name: ClassVar[str] = "custom"
    shorthand: ClassVar[str | None] = None
    reads_kinds: ClassVar[bool] = False
    unit: ClassVar[str] = "cost"
    #: The order name of a plan :func:`chainorder.optimize` makes under this model.
    optimum: ClassVar[str] = "optimal"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        short = cls.__dict__.get("shorthand")
        if short:
            COST_MODELS[short] = cls

    @classmethod
    def from_shorthand(cls) -> CostModel:
        """The model ``cost=cls.shorthand`` stands for (by default ``cls()``)."""
        return cls()

    @abstractmethod
    def step_cost(self, chain: ChainShape, i: int, k: int, j: int) -> Any:
        """The cost of step ``(i, k, j)`` of ``chain``: an ``int`` (exact) or a ``float``."""

    def finish_cost(self, chain: ChainShape) -> Any:
        """A cost every bracketing of ``chain`` pays once, added to each plan's (default 0)."""
        return 0

    @property
    def counting(self) -> CostModel:
        """The model whose total a plan reports as its ``cost`` (this one; the time model's
        plans count multiplications, and predict seconds apart)."""
        return self

    def total(self, chain: ChainShape, steps: Any) -> Any:
        """The cost of a bracketing given as steps ``(i, k, j)``: their sum plus the finish."""
        arr = np.asarray(steps, dtype=np.int64).reshape(-1, 3).tolist()
        return sum((self.step_cost(chain, i, k, j) for i, k, j in arr), 0) + self.finish_cost(chain)

    def optimal_steps(self, chain: ChainShape) -> np.ndarray:
        """The cheapest bracketing under this model: the dynamic program over :meth:`step_cost`.

        Exact because a step's cost is a function of ``(i, k, j)`` alone, so
        the optimal-substructure argument of Cormen §15.2 holds unchanged.
        Ties go to the smallest split.
        """
        if chain.n > MODEL_DP_MAX:
            raise ValueError(
                f"the exact optimizer under cost model {self.name!r} takes at most "
                f"{MODEL_DP_MAX} matrices (an O(n^3) loop in Python), got {chain.n}; plan a "
                "fixed order such as 'loss_first' instead"
            )
        return dp_steps_exact(chain.n, lambda i, k, j: self.step_cost(chain, i, k, j))[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@dataclass(frozen=True, repr=False)
class DenseCost(CostModel):
    """The article's and Cormen's convention: a ``p x q`` by ``q x r`` product costs ``p·q·r``.

    Every factor counts as a full matrix (kinds are not read). The default
    ``cost=``; its optimum is found by the dynamic program or, for long
    chains, Hu-Shing (:func:`chainorder.optimize`).

    Examples
    --------
    >>> DenseCost().step_cost(ChainShape((10, 100, 5)), 0, 1, 2)
    5000
    """

    name = "dense"
    shorthand = "dense"
    unit = "multiplications"

    def step_cost(self, chain: ChainShape, i: int, k: int, j: int) -> int:
        p = chain.dims
        return p[i] * p[k] * p[j]

    def total(self, chain: ChainShape, steps: Any) -> int:
        return steps_cost_fast(chain.dims, steps)

    def optimal_steps(self, chain: ChainShape) -> np.ndarray:
        return dp_steps(chain.dims)[0]


@dataclass(frozen=True, repr=False)
class StructuredCost(CostModel):
    """Each product counted by its operands' kinds (:data:`~chainorder.algebra.kinds.PAIR_RULES`).

    A step costs what its pair's count rule says for the kinds of its two
    operand products; a plan adds, once, writing the chain's product out
    dense (:func:`~chainorder.algebra.kinds.densify_cost`). Why the dynamic
    program is exact here: the kind of a sub-product does not depend on how
    it was bracketed (:func:`~chainorder.algebra.kinds.span_signature`,
    tested over every bracketing of random chains), so a step's cost is a
    function of ``(i, k, j)`` alone, as in the dense problem, and the finish
    is the same for every bracketing.

    Examples
    --------
    >>> sigs = (KindSig.dense(1, 10), KindSig.dense(10, 100), KindSig.diagonal(100),
    ...         KindSig.dense(100, 1000))                # the article's chain, |x| = 1000
    >>> c = ChainShape(dims_of(sigs), sigs)
    >>> model = StructuredCost()
    >>> model.step_cost(c, 0, 2, 3), model.total(c, [[0, 1, 2], [0, 2, 3], [0, 3, 4]])
    (100, 101100)
    """

    name = "structured"
    shorthand = "structured"
    reads_kinds = True
    unit = "multiplications"

    def step_cost(self, chain: ChainShape, i: int, k: int, j: int) -> int:
        return structured_product(chain.kind(i, k), chain.kind(k, j))[0]

    def finish_cost(self, chain: ChainShape) -> int:
        return densify_cost(chain.kind(0, chain.n))


#: The models plans carry by default, shared (they hold no state).
DENSE = DenseCost()
STRUCTURED = StructuredCost()


def is_dense(model: Any) -> bool:
    """Whether ``model`` is the dense ``p·q·r`` model itself (not a subclass that may differ)."""
    return type(model) is DenseCost


def _names() -> str:
    return ", ".join(map(repr, COST_MODELS))


def as_cost_model(cost: Any) -> CostModel:
    """The cost model ``cost=`` names: a :class:`CostModel`, or a shorthand in :data:`COST_MODELS`.

    Examples
    --------
    >>> as_cost_model("structured"), as_cost_model(DenseCost())
    (StructuredCost(), DenseCost())
    """
    if isinstance(cost, CostModel):
        return cost
    if isinstance(cost, str):
        model = COST_MODELS.get(cost.strip().lower())
        if model is not None:
            return model.from_shorthand()
        raise ValueError(f"unknown cost model {cost!r}; expected one of {_names()} or a "
                         "CostModel (subclass chainorder.CostModel and define step_cost)")
    raise TypeError(f"cost must be a cost model name ({_names()}) or a CostModel, got "
                    f"{type(cost).__name__} {cost!r}; subclass chainorder.CostModel and "
                    "define step_cost(chain, i, k, j)")


def reads_kinds(cost: Any) -> bool:
    """Whether the model ``cost=`` names reads the factors' kinds (without loading a time model)."""
    if isinstance(cost, str) and cost.strip().lower() in COST_MODELS:
        return COST_MODELS[cost.strip().lower()].reads_kinds
    return as_cost_model(cost).reads_kinds


# ----------------------------------------------------------------------------- deprecated flags


def _warn(message: str) -> None:
    """A DeprecationWarning naming the first line outside chainorder: the caller's."""
    frame, level = sys._getframe(0), 1
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith(
            "chainorder."):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, DeprecationWarning, stacklevel=level)


def _from_structure(value: Any) -> str:
    if value not in ("dense", "structured"):
        raise ValueError(f"structure must be 'dense' or 'structured', got {value!r}")
    _warn(f"structure={value!r} is deprecated; pass cost={value!r}")
    return str(value)


def _time_message(objective: Any, machine: bool, margin: bool) -> str:
    """One deprecation message for the time flags given, naming their ``cost=`` spelling."""
    if objective != "time":
        parts = (["objective='flops' is deprecated; pass cost='dense' (the default)"]
                 if objective is not None else [])
        if machine:
            parts.append("machine= is deprecated; pass cost=machine to plan by its predicted "
                         "time, and read another plan's predicted seconds with "
                         "machine.plan_seconds(plan.dims, plan.step_array)")
        return "; ".join(parts)
    given = [flag for flag, on in (("objective='time'", True), ("machine=", machine),
                                   ("margin=", margin)) if on]
    if margin:
        spelling = f"cost={'machine' if machine else 'load_model()'}.with_margin(margin)"
    else:
        spelling = "cost=machine" if machine else (
            "cost='time' (the time model in force) or cost=<a TimeModel>")
    return f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} deprecated; pass {spelling}"


def _from_time_flags(flags: Mapping[str, Any]) -> tuple[Any, Any]:
    """``objective=``, ``machine=``, ``margin=`` as ``(cost, machine to attach to the plan)``."""
    objective, machine, margin = (flags.get(k) for k in ("objective", "machine", "margin"))
    time_model = COST_MODELS["time"]
    if machine is not None and not isinstance(machine, time_model):
        raise TypeError(f"machine must be a TimeModel or None, got {type(machine).__name__}")
    if objective is not None and objective not in ("flops", "time"):
        raise ValueError(f"objective must be 'flops' or 'time', got {objective!r}")
    if margin is not None and objective != "time":
        raise ValueError(f"margin= applies to objective='time', got objective={objective!r}")
    if objective is not None or machine is not None or margin is not None:
        _warn(_time_message(objective, machine is not None, margin is not None))
    if objective != "time":
        return "dense", machine
    model = machine if machine is not None else time_model.from_shorthand()
    return model.with_margin(margin), None  # type: ignore[attr-defined]


def cost_from_flags(cost: Any, flags: Mapping[str, Any], where: str,
                    allowed: Sequence[str] = ("structure",), default: Any = "dense"
                    ) -> tuple[Any, Any]:
    """``cost=`` and the deprecated flags an entry point got, as ``(cost, machine)``.

    ``structure=``, ``objective=``, ``machine=`` and ``margin=`` each warn
    (``DeprecationWarning``) naming the ``cost=`` spelling. ``machine`` is a
    time model to attach to the plan (the old ``machine=`` with
    ``objective='flops'``), else None. A flag ``where`` does not take is a
    ``TypeError``, as Python's own for an unknown keyword.
    """
    if not flags:
        return cost, None
    for key in flags:
        if key not in allowed:
            raise TypeError(f"{where}() got an unexpected keyword argument {key!r}")
    if not (isinstance(cost, str) and cost == default):
        raise ValueError(f"pass cost= alone; {', '.join(f'{k}=' for k in flags)} "
                         "is its deprecated spelling")
    structure = _from_structure(flags["structure"]) if "structure" in flags else None
    timed = flags.get("objective") == "time" or flags.get("machine") is not None
    if structure == "structured" and timed:
        raise ValueError("the time model prices dense products: objective='time' and "
                         "machine= need structure='dense'")
    spec, machine = _from_time_flags(flags)
    return (structure or "dense") if spec == "dense" else spec, machine
