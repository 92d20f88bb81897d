"""Report tables fit the page: shortened headers, notes for long prose, split columns, and
nothing a reader needs lost on the way."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainorder.lab.studies.base import (
    HEADER_WORDS,
    TABLE_CHARS,
    _short_header,
    markdown_table,
    short_cell,
)

_WORDS = st.sampled_from(["loss_first", "median", "tangent", "accumulation", "1 product",
                          "x", "µs", "optimal", "2.5x (1.1x..3.0x)", "case-1000-10-1000"])
_TEXT = st.lists(_WORDS, min_size=1, max_size=6).map(" ".join)


def _parse(md: str) -> tuple[list[list[list[str]]], dict[str, str], dict[str, str]]:
    """The tables of ``md`` (rows of cells), its notes and its header legend."""
    tables: list[list[list[str]]] = []
    notes: dict[str, str] = {}
    legend: dict[str, str] = {}
    rows: list[list[str]] = []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip().replace("\\|", "|")
                     for c in re.split(r"(?<!\\)\|", line.strip()[1:-1])]
            if not all(set(c) <= set("-:") for c in cells):
                rows.append(cells)
            continue
        if rows:
            tables.append(rows)
            rows = []
        if m := re.match(r"^- \[(\d+)\] (.*)$", line):
            notes[f"[{m.group(1)}]"] = m.group(2)
        if line.startswith("Shortened in the headers: "):
            for pair in line.removeprefix("Shortened in the headers: ").rstrip(".").split(", "):
                short, word = pair.split(" = ")
                legend[short] = word
    return tables, notes, legend


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 9), st.data())
def test_a_fitted_table_keeps_every_cell_and_fits_where_it_can(n_rows, n_cols, data):
    headers = data.draw(st.lists(st.sampled_from(
        ["case", "loss_first_median", "input_first_median", "optimal", "schedule",
         "multiplications", "verdict", "ratio", "n"]), min_size=n_cols, max_size=n_cols,
        unique=True))
    df = pd.DataFrame({h: data.draw(st.lists(_TEXT, min_size=n_rows, max_size=n_rows))
                       for h in headers})
    width = data.draw(st.integers(40, 120))
    md = markdown_table(df, width=width)
    tables, notes, legend = _parse(md)
    said = dict(re.findall(r"(\w+) = ([^;]+?)(?:; |\.\n)", md.split("\n\n")[0] + "\n")) \
        if md.startswith("In every row:") else {}
    seen: dict[str, list[str]] = {}
    for rows in tables:
        assert len(rows) == n_rows + 1
        for j, head in enumerate(rows[0]):
            seen[head] = [notes.get(r[j], r[j]) for r in rows[1:]]
    for h in headers:
        if h in said:
            assert set(df[h]) == {said[h]}
            continue
        short, words = _short_header(h)
        got = seen.get(h, seen.get(short))
        assert got is not None, (h, list(seen))
        assert got == [short_cell(v) for v in df[h]], h
        if h not in seen:  # shortened: the legend names each word
            assert all(legend[HEADER_WORDS[w]] == w for w in words)
    # every line fits unless the key, or one column beside it, is wider on its own
    for rows in tables:
        for r in rows:
            line = "| " + " | ".join(r) + " |"
            if len(line) > width:
                assert len(rows[0]) <= 2, (width, line)


def test_a_table_that_fits_is_left_as_it_is():
    df = pd.DataFrame({"order": ["loss_first", "input_first"], "median": [1.5, 2.5]})
    assert markdown_table(df) == ("| order | median |\n|---|---:|\n| loss_first | 1.5 |\n"
                                  "| input_first | 2.5 |")


def test_a_split_table_repeats_its_key_columns():
    df = pd.DataFrame({"case": ["a", "b"], "order": ["lf", "if"],
                       **{f"column_{k}": [k, k + 1] for k in range(12)}})
    md = markdown_table(df, keys=2, width=60)
    tables, _, _ = _parse(md)
    assert len(tables) > 1
    assert all(t[0][:2] == ["case", "order"] and len(t[0]) > 2 for t in tables)
    assert all(len("| " + " | ".join(r) + " |") <= 60 for t in tables for r in t)
    assert sum(len(t[0]) - 2 for t in tables) == 12


def test_long_dims_keep_their_ends_and_count():
    dims = "x".join(str(d) for d in [1, 726, 3, 717, 9, 19, 310, 17, 45, 1, 185, 42])
    assert short_cell(dims) == dims  # 40 characters at most are kept whole
    long = dims + "x" + "x".join(["7"] * 3 + ["913", "28"])
    assert short_cell(long).endswith("...913x28 (17 dims)")
    assert short_cell(long).startswith("1x726x3x717x9")


def test_an_elided_dims_cell_stays_in_its_table():
    dims = "x".join(str(d) for d in range(100, 130))
    df = pd.DataFrame({"case": ["random-n30"], "dims": [dims], "note": ["a b " * 10]})
    md = markdown_table(df, width=50)
    assert "| random-n30 | 100x101x102x103...128x129 (30 dims) |" in md
    assert "| random-n30 | [1] |" in md and "- [1] a b a b a b" in md  # prose: a note


@pytest.mark.parametrize("keys", [0, -1, 1.5, True, "1"])
def test_keys_must_be_a_positive_int(keys):
    with pytest.raises(ValueError, match="keys must be a positive int"):
        markdown_table(pd.DataFrame({"a": [1]}), keys=keys)


def test_the_default_width_is_a_terminal_line():
    assert TABLE_CHARS == 100
