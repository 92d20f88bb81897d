"""What a report measures: :class:`ReportSettings`, quick or full, with each study's overrides."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from .cases import get_case, select_cases

__all__ = ["ReportSettings"]


class _Study(Protocol):
    """What settings need of a :class:`chainorder.lab.studies.base.Study` (importing it here
    would make a circle: studies read these settings)."""

    @property
    def Settings(self) -> Any: ...  # the study's settings class

    @property
    def name(self) -> str: ...


@dataclass(frozen=True)
class ReportSettings:
    """What a report measures. :meth:`preset` gives the quick and the full settings.

    Only what every study shares lives here; each study declares its own
    settings, each with a quick and a full value
    (:class:`~chainorder.lab.studies.base.StudySettings`), and ``study``
    overrides them.

    Attributes
    ----------
    quick : bool
        The quick case set (``Case.quick``) or every case, and every
        study's quick or full settings.
    cases : tuple of str or None
        Case ids to measure instead of the preset's set.
    repeats, warmup, min_seconds, threads : int, int, float, int
        Sweep timing (see :class:`chainorder.lab.sweep.Timing`).
    peak_seconds : float
        Budget for measuring peak GFLOP/s and bandwidth (0: skip).
    seed : int
        Seed of every random chain and size.
    study : dict
        Per-study overrides: a study's name (its slug without the page
        number, e.g. ``'optimizer-speed'``) to ``{setting: value}``; see
        each study's ``Settings``.

    Examples
    --------
    >>> s = ReportSettings.preset(True, study={"caching": {"depths": (2, 3)}})
    >>> s
    ReportSettings(quick=True, cases=None, repeats=5, warmup=1, min_seconds=0.05, threads=1, \
peak_seconds=1.0, seed=0, study={'caching': {'depths': (2, 3)}})
    >>> eval(repr(s)) == s
    True
    """

    quick: bool = True
    cases: tuple[str, ...] | None = None
    repeats: int = 5
    warmup: int = 1
    min_seconds: float = 0.05
    threads: int = 1
    peak_seconds: float = 1.0
    seed: int = 0
    study: dict[str, dict[str, Any]] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        study = self.study
        if not isinstance(study, Mapping) or not all(
                isinstance(k, str) and isinstance(v, Mapping) for k, v in study.items()):
            raise TypeError(f"study must map study names to {{setting: value}} dicts, "
                            f"e.g. {{'caching': {{'depths': (2, 4)}}}}; got {study!r}")
        # a copy: the caller's dicts may change later, these settings do not
        object.__setattr__(self, "study", {k: dict(v) for k, v in study.items()})

    @classmethod
    def preset(cls, quick: bool = True, **overrides: Any) -> ReportSettings:
        """The quick or the full settings, with ``overrides`` applied.

        The per-study fields of earlier versions (``random_chains=``,
        ``caching_depths=``, ...) still work, with a ``DeprecationWarning``
        that spells the ``study=`` entry replacing them.
        """
        old = {k: overrides.pop(k) for k in list(overrides) if k in _MOVED}
        base = cls() if quick else cls(quick=False, repeats=9, warmup=2, min_seconds=0.2,
                                       peak_seconds=3.0)
        settings = replace(base, **overrides)
        if not old:
            return settings
        moved = _moved_overrides(old)
        spelling = ", ".join(f"{k}=" for k in old)
        warnings.warn(f"ReportSettings.preset({spelling}) is deprecated; pass study={moved!r} "
                      "(removed in chainorder 0.4.0; see CHANGELOG.md)",
                      DeprecationWarning, stacklevel=2)
        given = settings.study
        merged = {name: {**moved.get(name, {}), **given.get(name, {})}
                  for name in {**moved, **given}}
        return replace(settings, study=merged)

    def of(self, study: _Study) -> Any:
        """``study``'s own settings: its quick or full preset, this report's overrides applied."""
        return study.Settings.preset(self.quick, **self.study.get(study.name, {}))

    def check(self, studies: Sequence[_Study]) -> None:
        """Refuse an override naming no study of ``studies`` or no setting of its study.

        Raises
        ------
        ValueError
            Naming the override and the valid names.
        """
        names = {s.name: s for s in studies}
        unknown = [k for k in self.study if k not in names]
        if unknown:
            raise ValueError(f"study= names no study {', '.join(map(repr, unknown))}; "
                             f"valid: {', '.join(names)}")
        for name, values in self.study.items():
            try:
                self.of(names[name])
            except TypeError as exc:
                raise ValueError(f"study={{{name!r}: {values!r}}}: {exc}") from None

    def grid(self) -> list[Any]:
        """The cases to sweep."""
        if self.cases is not None:
            return [get_case(c) for c in self.cases]
        return select_cases(quick=self.quick)

    def threads_text(self) -> str:
        """BLAS threads while timing, as text, e.g. ``'1 BLAS thread'``."""
        if not self.threads:
            return "BLAS default threads"
        return f"{self.threads} BLAS thread" + ("s" if self.threads > 1 else "")

    def describe(self, studies: Sequence[_Study] = ()) -> str:
        """One line: grid, timing, seed, then the settings of each of ``studies`` that has some.

        Examples
        --------
        >>> print(ReportSettings.preset(False).describe())
        full grid; timing: warm-up 2, at least 9 runs and 0.2 s per point, median kept, \
1 BLAS thread; seed 0
        """
        grid = (f"{len(self.cases)} chosen cases" if self.cases is not None
                else ("quick grid" if self.quick else "full grid"))
        own = [f"{s.name}: {text}" for s in studies if (text := self.of(s).describe())]
        return "; ".join([
            f"{grid}; timing: warm-up {self.warmup}, at least {self.repeats} runs and "
            f"{self.min_seconds:g} s per point, median kept, {self.threads_text()}",
            f"seed {self.seed}", *own])


def _first_thread(threads: Sequence[int]) -> int:
    return threads[0] if threads else 1


#: Per-study fields of earlier ReportSettings, deprecated: each goes to (study, setting, how).
_MOVED: dict[str, tuple[tuple[str, str, Callable[[Any], Any]], ...]] = {
    "random_chains": (("optimizer", "chains", int),),
    "random_lengths": (("optimizer", "lengths", tuple),),
    "random_high": (("optimizer", "high", int),),
    "caching_depths": (("caching", "depths", tuple),),
    "caching_width": (("caching", "width", int),),
    "article_sizes": (("article", "random_sizes", int),),
    "optimizer_ns": (("optimizer-speed", "sizes", tuple),),
    "check_chains": (("optimizer-speed", "check_chains", int),),
    "calibration_threads": (("time-model", "threads", tuple),
                            ("time-optimal", "threads", _first_thread)),
    "time_repeats": (("time-model", "repeats", int),
                     ("time-optimal", "repeats", lambda r: max(2 * r, 5))),
    "differing_chains": (("time-optimal", "chains", int),),
    "jax_cases": (("generalized-chain", "jax_cases", tuple),),
}


def _moved_overrides(old: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``study=`` entries that replace deprecated per-study fields (None: the default)."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in old.items():
        if value is None:
            continue
        for name, setting, convert in _MOVED[key]:
            out.setdefault(name, {})[setting] = convert(value)
    return out
