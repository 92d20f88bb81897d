"""The study protocol and its registry, and what every study shares: tables, figures, colours.

A study is one page of the report: a :class:`Study` with a ``slug`` (the
page's file stem, which orders the pages), a ``title``, the ``question`` it
answers, the ``references`` it cites, its own ``Settings`` (a
:class:`StudySettings` whose fields hold a quick and a full value, see
:func:`setting`), ``collect(ctx)`` (measure and save under ``OUT/data``;
optional) and ``render(ctx) -> StudyPage`` (read the saved data, draw,
write). pandas and matplotlib are imported by the functions that need them,
so importing this module stays light.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ...algebra.costs import COST_UNIT
from ..citations import REFERENCES
from ..settings import ReportSettings

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ...algebra.timemodel import TimeModel

__all__ = [
    "StudyPage",
    "StudySettings",
    "setting",
    "Study",
    "STUDIES",
    "register_study",
    "ReportContext",
    "markdown_table",
    "markdown_row",
    "escape_cell",
    "number_text",
    "ratio_text",
    "range_text",
    "short_cell",
    "seconds_text",
    "jax_version",
    "time_formats",
    "ints_text",
    "code_list",
    "COST_CONVENTION",
    "ORDER_STYLE",
    "order_style",
    "new_figure",
    "note",
    "loglog",
    "save_figure",
    "calibrated_model",
]


# ----------------------------------------------------------------------------- the protocol


@dataclass
class StudyPage:
    """A rendered study: its headline findings (each computed) and its Markdown body."""

    findings: list[str]
    body: str


_T = TypeVar("_T")
_S = TypeVar("_S", bound="StudySettings")


def setting(quick: _T, full: _T) -> _T:
    """A field of a :class:`StudySettings` with a quick and a full value (the default is quick).

    Examples
    --------
    >>> @dataclass(frozen=True)
    ... class Depths(StudySettings):
    ...     depths: tuple[int, ...] = setting(quick=(2, 4), full=(2, 4, 8))
    ...     width: int = 16
    >>> Depths.preset(True), Depths.preset(False, width=3)
    (Depths(depths=(2, 4), width=16), Depths(depths=(2, 4, 8), width=3))
    """
    return field(default=quick, metadata={"full": full})


@dataclass(frozen=True)
class StudySettings:
    """What one study measures: subclass it as a frozen dataclass, one field per setting.

    A field made with :func:`setting` has a quick and a full value; a plain
    default is the same in both. A report gives each study its quick or full
    preset with the report's overrides for it applied
    (:meth:`chainorder.lab.settings.ReportSettings.of`).
    """

    @classmethod
    def preset(cls: type[_S], quick: bool = True, **overrides: Any) -> _S:
        """The quick or the full values, with ``overrides`` applied.

        Raises
        ------
        TypeError
            For an override that is not a setting of ``cls``, naming the valid ones.
        """
        names = [f.name for f in fields(cls)]
        unknown = [k for k in overrides if k not in names]
        if unknown:
            raise TypeError(f"{cls.__qualname__} has no setting {', '.join(map(repr, unknown))}; "
                            f"its settings: {', '.join(names) or 'none'}")
        full = {} if quick else {f.name: f.metadata["full"] for f in fields(cls)
                                 if "full" in f.metadata}
        return cls(**{**full, **overrides})

    def describe(self) -> str:
        """The settings as text, e.g. ``'depths (2, 4), width 16'``."""
        return ", ".join(f"{f.name} {getattr(self, f.name)!r}" for f in fields(self))


class Study:
    """One page of the report; subclass it, or pass the parts to the constructor.

    Attributes
    ----------
    slug : str
        File stem of the page, e.g. ``'01-article'``; pages are ordered by it.
    title : str
        Page title.
    question : str
        The question the page answers, one line, shown in the index.
    references : tuple of str
        Keys of :data:`chainorder.lab.citations.REFERENCES` the page cites.
    Settings : type
        The study's own :class:`StudySettings` (none by default); a study
        reads them with ``ctx.settings.of(self)``.

    Examples
    --------
    >>> s = Study("09-note", "A note", "Does it work?", render=lambda ctx: StudyPage([], "Yes."))
    >>> s.render(None).body, s.name
    ('Yes.', 'note')
    """

    slug: str = ""
    title: str = ""
    question: str = ""
    references: tuple[str, ...] = ()
    Settings: ClassVar[type[StudySettings]] = StudySettings

    def __init__(
        self,
        slug: str | None = None,
        title: str | None = None,
        question: str | None = None,
        render: Callable[[ReportContext], StudyPage] | None = None,
        collect: Callable[[ReportContext], None] | None = None,
        references: Sequence[str] | None = None,
    ) -> None:
        for name, value in (("slug", slug), ("title", title), ("question", question)):
            if value is not None:
                setattr(self, name, value)
        if references is not None:
            self.references = tuple(references)
        self._render_fn, self._collect_fn = render, collect

    def collect(self, ctx: ReportContext) -> None:
        """Measure and save under ``ctx.data_dir`` (nothing by default)."""
        if self._collect_fn is not None:
            self._collect_fn(ctx)

    def render(self, ctx: ReportContext) -> StudyPage:
        """Read the saved data and return the page."""
        if self._render_fn is None:
            raise TypeError(
                f"study {self.slug!r} defines no render: pass render= or override render()"
            )
        return self._render_fn(ctx)

    @property
    def name(self) -> str:
        """The slug without its page number, e.g. ``'optimizer-speed'``: the key of this
        study's overrides in :attr:`chainorder.lab.settings.ReportSettings.study`."""
        return re.sub(r"^[0-9]+-", "", self.slug)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.slug}: {self.title}>"


#: The report's pages, ordered by slug; add one with :func:`register_study`.
STUDIES: list[Study] = []
_LOCK = threading.Lock()


def register_study(study: Study, replace: bool = False) -> None:
    """Add a page to every report.

    Parameters
    ----------
    study : Study
        The page; its slug must be lowercase letters, digits and ``-``.
    replace : bool
        Replace a registered study with the same name (its slug without the
        page number, :attr:`Study.name`); without it a duplicate name is
        refused. The registry changes in one step: a refused study leaves it
        as it was.
    """
    if not isinstance(study, Study):
        raise TypeError(f"study must be a chainorder.lab.studies.base.Study, "
                        f"got {type(study).__name__}")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", study.slug):
        raise ValueError(
            f"study slug must be lowercase letters, digits and '-', got {study.slug!r}"
        )
    unknown = [k for k in study.references if k not in REFERENCES]
    if unknown:
        raise ValueError(f"study {study.slug!r} cites unknown references {unknown}; "
                         f"valid: {', '.join(REFERENCES)}")
    with _LOCK:
        # one study per name: a report's overrides for a study are keyed by it
        taken = [s for s in STUDIES if s.name == study.name]
        if taken and not replace:
            raise ValueError(f"a study named {study.name!r} is registered already "
                             f"({taken[0]!r}); pass replace=True to replace it")
        STUDIES[:] = sorted([s for s in STUDIES if s.name != study.name] + [study],
                            key=lambda s: s.slug)


# ----------------------------------------------------------------------------- the context


@dataclass
class ReportContext:
    """Everything a study sees: the output folders, settings, metadata and the saved data."""

    out_dir: Path
    settings: ReportSettings
    meta: dict[str, Any]
    sweep: pd.DataFrame | None = None
    benchmark: pd.DataFrame | None = None
    figures: list[tuple[str, str]] = field(default_factory=list)
    #: How often :meth:`require_sweep` was called (the report resets it per page, so a page
    #: that reads the sweep says so in its Reproduce block).
    sweep_reads: int = 0

    @property
    def data_dir(self) -> Path:
        """``OUT/data``: saved measurements."""
        return self.out_dir / "data"

    def require_sweep(self) -> pd.DataFrame:
        """The loaded sweep (an error if the report has not loaded it yet)."""
        self.sweep_reads += 1
        if self.sweep is None:
            raise ValueError("the sweep has not been loaded")
        return self.sweep

    def figure(self, fig: Figure, stem: str, caption: str) -> str:
        """Save ``fig`` as ``figures/<stem>.png`` and ``.svg``; return Markdown showing it."""
        save_figure(fig, self.out_dir / "figures", stem)
        self.figures.append((stem, caption))
        return (f"![{caption}](figures/{stem}.png)\n\n*Figure: {caption}* "
                f"([SVG](figures/{stem}.svg))\n")

    def table(self, df: pd.DataFrame, stem: str, *, counted: bool,
              formats: dict[str, Any] | None = None, embed: bool = True,
              show: Sequence[str] | None = None, keys: int = 1) -> str:
        """Save ``df`` as ``tables/counted-<stem>.csv`` or ``timed-<stem>.csv``; return Markdown.

        Counted tables must depend on the settings only (no timings), so that
        they are byte-identical from one run to the next. With ``embed=False``
        only a link to the CSV file is returned; with ``show`` the page shows those
        columns only (so that the table fits the page) and the link names the others.
        ``keys`` leading columns identify a row (:func:`markdown_table` repeats them in each
        part of a table split to fit the page).
        """
        name = f"{'counted' if counted else 'timed'}-{stem}.csv"
        path = self.out_dir / "tables" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(path, index=False, lineterminator="\n", float_format="%.10g")
        hidden = [c for c in df.columns if show is not None and c not in show]
        more = f"; in the CSV also: {', '.join(f'`{c}`' for c in hidden)}" if hidden else ""
        link = f"Table: [{name}](tables/{name}) ({len(df)} rows{more})\n"
        shown = df if show is None else df[list(show)]
        return (markdown_table(shown, formats, keys=keys) + "\n\n" + link) if embed else link


# ----------------------------------------------------------------------------- text


def escape_cell(text: str) -> str:
    """Text safe inside a Markdown table cell: ``|`` escaped, newlines as spaces.

    Examples
    --------
    >>> escape_cell("grows with |x|")
    'grows with \\\\|x\\\\|'
    """
    return str(text).replace("\\|", "|").replace("|", "\\|").replace("\n", " ")


def markdown_row(cells: Sequence[Any]) -> str:
    """One Markdown table row, each cell escaped.

    Examples
    --------
    >>> markdown_row(["order", "cost at |x|"])
    '| order | cost at \\\\|x\\\\| |'
    """
    return "| " + " | ".join(escape_cell(str(c)) for c in cells) + " |"


def number_text(value: float) -> str:
    """A float to 4 significant digits, more where 4 would round it to a whole number it is not.

    Examples
    --------
    >>> number_text(0.123456), number_text(1.00003), number_text(2.0)
    ('0.1235', '1.00003', '2')
    """
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.4g}"
    digits = 4
    while float(text) == round(value) and value != round(value) and digits < 17:
        digits += 1
        text = f"{value:.{digits}g}"
    return text


def ratio_text(value: float) -> str:
    """A ratio as text, e.g. ``'99.19x'``; ``'1x'`` only for exactly 1.

    Examples
    --------
    >>> ratio_text(11_010_000 / 111_000), ratio_text(1.0003), ratio_text(1.0), ratio_text(2e4)
    ('99.19x', '1.0003x', '1x', '20,000x')
    """
    value = float(value)
    if not math.isfinite(value):
        return "—"
    if value >= 10_000:
        return f"{value:,.0f}x"
    return number_text(value) + "x"


def jax_version() -> str | None:
    """The installed JAX's version, or None where JAX is missing (a page then says how to add it).

    Examples
    --------
    >>> jax_version() is None or jax_version()[0].isdigit()
    True
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("jax")
    except PackageNotFoundError:
        return None


def seconds_text(seconds: float) -> str:
    """A duration to 3 significant digits in ns, µs, ms or s.

    Examples
    --------
    >>> seconds_text(2.6751e-06), seconds_text(0.0479), seconds_text(0.83948), seconds_text(42.6)
    ('2.68 µs', '47.9 ms', '839 ms', '42.6 s')
    """
    value = float(seconds)
    if not math.isfinite(value):
        return "—"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if abs(value) >= scale * 0.9995:
            return f"{float(f'{value / scale:.3g}'):g} {unit}"
    return f"{float(f'{value * 1e9:.3g}'):g} ns"


def time_formats(columns: Sequence[str]) -> dict[str, Callable[[Any], str]]:
    """``formats`` for :meth:`ReportContext.table` showing these columns (seconds) as
    :func:`seconds_text`; the saved CSV keeps the seconds."""
    return {c: seconds_text for c in columns}


def range_text(top_low: float, top_high: float, bottom_low: float, bottom_high: float) -> str:
    """The range a ratio of two medians can take within their intervals, ``low..high``:
    the top's low end over the bottom's high end, to the top's high end over the bottom's
    low end. It excludes 1 exactly when the two intervals separate.

    Examples
    --------
    >>> range_text(2.8, 3.3, 0.9, 1.1), range_text(1.0, 1.2, 1.1, 1.3)
    ('2.545..3.667', '0.7692..1.091')
    """
    return f"{number_text(top_low / bottom_high)}..{number_text(top_high / bottom_low)}"


def ints_text(values: Sequence[int]) -> str:
    """Integers with thousands separators, comma-separated.

    Examples
    --------
    >>> ints_text([10, 1000, 100000])
    '10, 1,000, 100,000'
    """
    return ", ".join(f"{int(v):,}" for v in values)


def code_list(items: Sequence[str], limit: int = 12) -> str:
    """Up to ``limit`` names as inline code, then how many more.

    Examples
    --------
    >>> code_list(["a", "b", "c"], limit=2), code_list([])
    ('`a`, `b` and 1 more', 'none')
    """
    shown = ", ".join(f"`{i}`" for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "") or "none"


def _cell(value: Any, fmt: str | Callable[[Any], str] | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if type(value).__name__ == "NAType":
        return "—"
    if callable(fmt):
        return fmt(value)
    if fmt is not None:
        return fmt.format(value)
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "yes" if value else "no"
    if isinstance(value, int) or type(value).__name__.startswith(("int", "uint")):
        return f"{int(value):,}"
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        return number_text(value)
    return str(value)


def _is_numeric(col: pd.Series) -> bool:
    """Right-align numbers, nullable ones and object columns of exact Python ints too."""
    if col.dtype.kind in "iuf" or str(col.dtype) in ("Int64", "Float64"):
        return True
    values = [v for v in col if v is not None and not isinstance(v, float)]
    return col.dtype.kind == "O" and bool(values) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in values)


#: A dims cell longer than this is run-length coded in the page (the CSV keeps it whole).
CELL_CHARS = 40

#: A text column repeating one value this long in every row is said once above its table.
LIFTED_CHARS = 16

_DIMS = re.compile(r"^\d+(x\d+)+$")
#: A dims cell :func:`short_cell` elided (``1x5x...x3 (17 dims)``): a name, not prose.
_ELIDED = re.compile(r"^[\dx^]+\.\.\.[\dx^]+ \(\d+ dims\)$")


def short_cell(text: str) -> str:
    """``text`` for a table cell: a long dims string (``1x64x64x...``) run-length coded.

    Nothing is lost by the coding: ``64^1024`` is 1024 dims of 64. A dims string that
    stays longer than :data:`CELL_CHARS` keeps its first and last dims and says how many
    it has (the CSV holds it whole). Other text is kept whole.

    Examples
    --------
    >>> short_cell("1x" + "x".join(["64"] * 1024))
    '1x64^1024'
    >>> short_cell("10x5x5x5x3")
    '10x5x5x5x3'
    >>> short_cell("x".join(str(d) for d in range(100, 130)))
    '100x101x102x103...128x129 (30 dims)'
    """
    if len(text) <= CELL_CHARS or not _DIMS.match(text):
        return text
    runs: list[list[Any]] = []
    for d in text.split("x"):
        if runs and runs[-1][0] == d:
            runs[-1][1] += 1
        else:
            runs.append([d, 1])
    parts = [d if k == 1 else f"{d}x{d}" if k == 2 else f"{d}^{k}" for d, k in runs]
    coded = "x".join(parts)
    if len(coded) <= CELL_CHARS:
        return coded
    head: list[str] = []
    tail: list[str] = []
    while len("x".join(head + [parts[len(head)]])) <= 16:
        head.append(parts[len(head)])
    while len("x".join([parts[-1 - len(tail)]] + tail)) <= 8:
        tail.insert(0, parts[-1 - len(tail)])
    return f"{'x'.join(head)}...{'x'.join(tail)} ({text.count('x') + 1} dims)"


#: The widest a table's Markdown line may be on a page, in characters.
TABLE_CHARS = 100

#: A text cell longer than this becomes a numbered note under a table too wide for the page.
NOTE_CHARS = 24

#: Words by which a header wider than its column's cells is shortened, in a table too wide for
#: the page; a line under the table names those it used.
HEADER_WORDS = {
    "loss_first": "lf", "loss-first": "lf", "input_first": "if", "input-first": "if",
    "multiplications": "mults", "median": "med", "optimal": "opt", "structured": "struct",
    "preaccumulation": "preacc", "baseline": "base", "uncached": "unc", "predicted": "pred",
    "measured": "meas", "points": "pts",
}

_HEADER_WORD = re.compile("|".join(sorted(map(re.escape, HEADER_WORDS), key=len, reverse=True)))


def _line_chars(cells: Sequence[str]) -> int:
    return len(markdown_row(cells))


def _table_chars(cols: Sequence[str], head: dict[str, str], cells: dict[str, list[str]]) -> int:
    rows = zip(*(cells[c] for c in cols), strict=True)
    return max([_line_chars([head[c] for c in cols]), *(_line_chars(r) for r in rows)])


def _short_header(header: str) -> tuple[str, list[str]]:
    """``header`` by :data:`HEADER_WORDS`, and the words it shortened."""
    used: list[str] = []

    def sub(m: re.Match[str]) -> str:
        used.append(m.group(0))
        return HEADER_WORDS[m.group(0)]
    return _HEADER_WORD.sub(sub, header), used


def _fit(cols: list[str], cells: dict[str, list[str]], numeric: dict[str, bool], keys: int,
         width: int) -> tuple[list[list[str]], dict[str, str], list[str]]:
    """Make a table fit ``width``: short headers, then notes for long text, then a split.

    Returns the column groups (each a table repeating the first ``keys`` columns), the
    short headers and the notes (the texts of cells moved under the table).
    """
    head = {c: str(c) for c in cols}
    notes: list[str] = []
    if _table_chars(cols, head, cells) <= width:
        return [cols], head, notes
    for c in cols:
        widest = max((len(escape_cell(t)) for t in cells[c]), default=0)
        short, used = _short_header(head[c])
        if len(head[c]) > widest and used:
            head[c] = short
    text_cols = sorted((c for c in cols[keys:] if not numeric[c]),
                       key=lambda c: -max(map(len, cells[c]), default=0))
    for c in text_cols:  # prose only: names and dims stay in their cells
        if _table_chars(cols, head, cells) <= width:
            break
        for i, t in enumerate(cells[c]):
            if len(t) > NOTE_CHARS and " " in t and not _ELIDED.match(t):
                if t not in notes:
                    notes.append(t)
                cells[c][i] = f"[{notes.index(t) + 1}]"
    rest = cols[keys:]
    parts = _split(cols[:keys], rest, head, cells, width)
    # as many parts as the widest fit needs, but balanced: the narrowest width giving that many
    narrow = width
    while narrow > 1 and len(_split(cols[:keys], rest, head, cells, narrow - 1)) == len(parts):
        narrow -= 1
    parts = _split(cols[:keys], rest, head, cells, narrow)
    return [cols[:keys] + g for g in parts] or [cols], head, notes


def _split(keys: list[str], rest: list[str], head: dict[str, str],
           cells: dict[str, list[str]], width: int) -> list[list[str]]:
    """``rest`` packed in order into parts no wider than ``width`` beside ``keys``."""
    parts: list[list[str]] = []
    for c in rest:
        if parts and _table_chars(keys + parts[-1] + [c], head, cells) <= width:
            parts[-1].append(c)
        else:
            parts.append([c])
    return parts


def markdown_table(df: pd.DataFrame, formats: dict[str, Any] | None = None, *,
                   keys: int = 1, width: int = TABLE_CHARS) -> str:
    """A GitHub Markdown table of ``df``: ints with thousands separators, floats to 4 digits.

    ``formats`` maps a column to a format string (``'{:.3f}'``) or a function of
    the value (e.g. :func:`seconds_text`).

    Every cell is escaped (a ``|`` in a cell does not split it), and long dims cells are
    shortened (:func:`short_cell`). A text column with one long value (at least
    :data:`LIFTED_CHARS` characters) in every row of several is said once above the table
    instead of in every row.

    A table whose lines would be wider than ``width`` characters is made to fit, each step
    only while it is still too wide: headers wider than their cells are shortened by
    :data:`HEADER_WORDS` (named under the table); text cells longer than
    :data:`NOTE_CHARS` become numbered notes listed under it (one number per distinct
    text); then the columns are split into several tables, each repeating the first
    ``keys`` columns so that its rows can be read alone.

    Examples
    --------
    >>> import pandas as pd
    >>> print(markdown_table(pd.DataFrame({"order": ["loss_first"], "cost": [111000]})))
    | order | cost |
    |---|---:|
    | loss_first | 111,000 |
    >>> print(markdown_table(pd.DataFrame({"n": [1, 2], "convention": ["dense, the article's"] * 2,
    ...                                    "cost": [10, 20]})))
    In every row: convention = dense, the article's.
    <BLANKLINE>
    | n | cost |
    |---:|---:|
    | 1 | 10 |
    | 2 | 20 |
    >>> print(markdown_table(pd.DataFrame({"case": ["a", "b"], "optimal_median": [1, 2],
    ...     "schedule": ["1 tangent accumulation, 2 products", "1 product"]}), width=24))
    | case | opt_med |
    |---|---:|
    | a | 1 |
    | b | 2 |
    <BLANKLINE>
    (continued, the same rows)
    <BLANKLINE>
    | case | schedule |
    |---|---|
    | a | [1] |
    | b | 1 product |
    <BLANKLINE>
    - [1] 1 tangent accumulation, 2 products
    <BLANKLINE>
    Shortened in the headers: opt = optimal, med = median.
    """
    if isinstance(keys, bool) or not isinstance(keys, int) or keys < 1:
        raise ValueError(f"keys must be a positive int (the leading columns every part of a "
                         f"split table repeats), got {keys!r}")
    formats = formats or {}
    cols = list(df.columns)
    cells = {c: [_cell(v, formats.get(c)) for v in df[c]] for c in cols}
    numeric = {c: _is_numeric(df[c]) for c in cols}
    for c in cols:
        if not numeric[c]:
            cells[c] = [short_cell(t) for t in cells[c]]
    same = [c for c in cols[1:] if len(df) > 1 and len(cols) > 2 and not numeric[c]
            and len(set(cells[c])) == 1 and len(cells[c][0]) >= LIFTED_CHARS]
    same = same[: len(cols) - 2]  # a table keeps two columns at least
    said = ("In every row: " + "; ".join(f"{c} = {cells[c][0]}" for c in same) + ".\n\n"
            if same else "")
    shown = [c for c in cols if c not in same]
    groups, short, notes = _fit(shown, cells, numeric, min(keys, len(shown)), width)
    tables, words = [], []
    for group in groups:
        # a part that fits with the whole headers keeps them
        whole = {c: str(c) for c in group}
        head = whole if _table_chars(group, whole, cells) <= width else short
        for c in group:
            if head[c] != c:
                words += [w for w in _short_header(c)[1] if w not in words]
        lines = [markdown_row([head[c] for c in group]),
                 "|" + "|".join("---:" if numeric[c] else "---" for c in group) + "|"]
        lines += [markdown_row([cells[c][i] for c in group]) for i in range(len(df))]
        tables.append("\n".join(lines))
    out = said + "\n\n(continued, the same rows)\n\n".join(tables)
    if notes:
        out += "\n\n" + "\n".join(f"- [{k}] {escape_cell(t)}" for k, t in enumerate(notes, 1))
    if words:
        out += ("\n\nShortened in the headers: "
                + ", ".join(f"{HEADER_WORDS[w]} = {w}" for w in words) + ".")
    return out


# ----------------------------------------------------------------------------- figures

#: Printed under every cost axis.
COST_CONVENTION = f"cost convention: {COST_UNIT}"

#: Colour, marker and legend label of each order.
ORDER_STYLE: dict[str, dict[str, str]] = {
    "loss_first": {"color": "#1f77b4", "marker": "o",
                   "label": "loss-first (article: forwards; AD reverse mode)"},
    "input_first": {"color": "#d62728", "marker": "s",
                    "label": "input-first (article: backwards; AD forward mode)"},
    "optimal": {"color": "#2ca02c", "marker": "^", "label": "optimal bracketing"},
}
_OTHER_COLORS = ("#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#ff7f0e")


def order_style(order: str, k: int = 0) -> dict[str, str]:
    """Colour, marker and label of an order; other orders get the ``k``-th spare colour."""
    return ORDER_STYLE.get(order, {"color": _OTHER_COLORS[k % len(_OTHER_COLORS)],
                                   "marker": "x", "label": order})


def new_figure(width: float = 7.0, height: float = 4.8, ncols: int = 1) -> tuple[Figure, Any]:
    """A figure with fixed margins and ``ncols`` axes sharing y (Agg, no pyplot state)."""
    from matplotlib.figure import Figure

    # fixed margins: a layout engine would double the drawing time of every figure
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(1, ncols, sharey=ncols > 1)
    fig.subplots_adjust(left=0.11, right=0.98, bottom=0.16, top=0.92, wspace=0.08)
    return fig, axes


def note(fig: Figure, text: str = COST_CONVENTION) -> None:
    """A small grey note in the bottom right corner (by default the cost convention)."""
    fig.text(0.99, 0.012, text, fontsize=7, color="0.35", ha="right", va="bottom")


def loglog(ax: Axes, xlabel: str, ylabel: str, title: str) -> None:
    """Log axes, labels, a title and a light grid."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)


def save_figure(fig: Figure, out_dir: str | Path, stem: str) -> list[Path]:
    """Write ``fig`` as ``<stem>.png`` (130 dpi) and ``<stem>.svg``; return both paths."""
    import matplotlib

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.svg"]
    # a fixed salt and no date keep the SVG of the same data byte-identical
    with matplotlib.rc_context({"svg.hashsalt": "chainorder"}):
        fig.savefig(paths[0], dpi=130, metadata={"Software": None})
        fig.savefig(paths[1], metadata={"Date": None, "Creator": None})
    return paths


# ----------------------------------------------------------------------------- the time model


def calibrated_model(threads: int, quick: bool, fresh: bool = False) -> TimeModel:
    """This machine's time model at ``threads`` BLAS threads: cached, else calibrated now.

    A quick calibration in quick reports (a cached full one serves too); a
    cached file that cannot be used (unreadable, another version's) is
    measured again with a warning, and a cache that cannot take a model (its
    directory a file or unwritable, a directory holding files in the file's
    place) gives a model measured for this report alone, with a warning,
    rather than failing the report after its sweep. ``fresh``: measure it
    again in any case (full reports do, so the model and the checks of it
    see the machine in one state; the new model replaces the cached one).
    """
    import warnings

    from ...algebra.timemodel import CacheWarning, check_cache_dir
    from ..calibrate import calibrate, measure_model

    try:
        check_cache_dir()
        try:
            return calibrate(threads=threads, quick=quick, force=fresh)
        except ValueError:  # a cached model calibrate would not take: measure over it
            return calibrate(threads=threads, quick=quick, force=True)
    except ValueError as exc:  # no model can be cached there: measure one for this report
        warnings.warn(f"{exc}; the report measures a time model it does not cache",
                      CacheWarning, stacklevel=2)
        return measure_model(threads=threads, quick=quick)[0]
