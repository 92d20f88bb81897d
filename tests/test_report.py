"""The report on a tiny grid: every page and figure present, findings computed, tables stable,
links resolving wherever it is written, tables that render, and a swap that survives Ctrl-C."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from report_helpers import TINIER, TINY, extra_page

import chainorder as co
from chainorder.cli import main
from chainorder.lab import report
from chainorder.lab.citations import REFERENCES, bibtex
from chainorder.lab.report import INSTALL, ReportSettings, generate_report
from chainorder.lab.studies import base, load_studies
from chainorder.lab.studies.base import Study, StudyPage, register_study

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["01-article", "02-when-loss-first-wins", "03-flops-vs-time", "04-growth-with-x",
         "05-caching", "06-optimizer", "07-optimizer-speed", "08-time-model", "09-time-optimal",
         "10-structured-article", "11-generalized-chain"]
FIGURES = ["multiplications-vs-x", "growth-counted", "time-vs-x", "time-ratio-vs-flop-ratio",
           "roofline", "random-chain-ratios", "caching-vs-depth", "batch-costs", "optimizer-times",
           "time-model-residuals-1t", "time-model-residuals-2t", "time-optimal-speedups",
           "structured-article-costs", "structured-article-ratio",
           "generalized-chain-cost-ratios", "generalized-chain-memory"]


@pytest.fixture(scope="module", autouse=True)
def private_calibration(calibration_dir):
    """Reports calibrate the time model: into a cache of their own, not this machine's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHAINORDER_CACHE_DIR", str(calibration_dir))
        yield


@pytest.fixture(scope="module")
def first(built_report) -> Path:
    """The report on :data:`TINY` with a page appended (shared with test_report_safety.py)."""
    return built_report


@pytest.fixture(scope="module")
def inside() -> Path:
    """A smaller report written inside the repository (a git-ignored folder), then removed."""
    home = ROOT / "build" / f"test-report-{os.getpid()}"
    generate_report(home / "reports", settings=TINIER, progress=False)
    yield home / "reports"
    shutil.rmtree(home, ignore_errors=True)


def test_every_page_and_figure(first):
    for page in [*PAGES, "99-extra"]:
        assert (first / f"{page}.md").is_file(), page
    # page 09 draws its pairs only where the plans differ at the calibrated model's margin,
    # which depends on how this machine timed at calibration
    agree = "agree on every one of the" in (first / "09-time-optimal.md").read_text()
    for fig in FIGURES:
        if fig == "time-optimal-speedups" and agree:
            continue
        for ext in ("png", "svg"):
            assert (first / "figures" / f"{fig}.{ext}").stat().st_size > 1000, (fig, ext)
    assert (first / "data" / "sweep.jsonl").is_file()
    assert "The sweep holds 21 rows." in (first / "99-extra.md").read_text()


@pytest.mark.parametrize("where", ["first", "inside"])
def test_every_link_resolves_inside_the_report(where, request):
    out = request.getfixturevalue(where)
    for md in out.glob("*.md"):
        for target in re.findall(r"\]\(([^)#\s]+)\)", md.read_text()):
            assert not target.startswith(("http", "/", "..")), (md.name, target)
            assert (out / target).exists(), (md.name, target)


def test_every_table_row_has_the_headers_cell_count(first):
    markdown_it = pytest.importorskip("markdown_it")
    md = markdown_it.MarkdownIt("commonmark").enable("table")
    tables = 0
    for page in first.glob("*.md"):
        tokens = md.parse(page.read_text())
        cells: list[int] = []
        for tok in tokens:
            if tok.type == "table_open":
                cells = []
            elif tok.type == "tr_open":
                cells.append(0)
            elif tok.type in ("th_open", "td_open"):
                cells[-1] += 1
            elif tok.type == "table_close":
                tables += 1
                assert cells and all(c == cells[0] for c in cells), (page.name, cells)
    assert tables >= 20
    growth = (first / "04-growth-with-x.md").read_text()
    assert "[How cost grows with |x|](04-growth-with-x.md)" in (first / "README.md").read_text()
    assert "| loss_first | counted multiplications | 11,000 | 100 | yes |" in growth


def test_every_table_fits_the_page_and_names_what_it_shortened(first):
    for page in first.glob("*.md"):
        text = page.read_text()
        wide = [line for line in text.splitlines()
                if line.startswith("|") and len(line) > base.TABLE_CHARS]
        assert not wide, (page.name, wide[:2])
        for legend in re.findall(r"^Shortened in the headers: (.*)\.$", text, re.M):
            for pair in legend.split(", "):
                short, word = pair.split(" = ")
                assert base.HEADER_WORDS[word] == short, (page.name, pair)


def test_each_page_carries_its_provenance_and_citations(first):
    desai = REFERENCES["desai2018"].text
    from chainorder.lab.machine import machine_info

    jaxlib = machine_info()["jaxlib"] or "not installed"
    for page in PAGES:
        text = (first / f"{page}.md").read_text()
        for part in ("## Findings", "## Reproduce", "## References", f"jaxlib {jaxlib}",
                     "numba ", f"chainorder {co.__version__}, commit", "scalar multiplications",
                     "generate_report(", "[README.md](README.md)", INSTALL.split("   #")[0],
                     desai, "- **CPU**: "):
            assert part in text, (page, part)
        # the machine table, the measured rates and the BibTeX entry are the index's, once
        assert "## Machine" not in text and "@software{chainorder" not in text, page
        findings = text.split("## Findings")[1].split("\n## ")[0]
        assert findings.count("\n- ") >= 1 and "nan" not in findings.lower()
    speed = (first / "07-optimizer-speed.md").read_text()
    for key in ("hushing1982", "hushing1984", "numpy", "opt_einsum", "cotengra", "cormen2009"):
        assert REFERENCES[key].text in speed, key
    index = (first / "README.md").read_text()
    assert all(r.text in index for r in REFERENCES.values())
    for part in ("## Machine", "## Cite", "@software{chainorder", "measured rates",
                 "BLAS (threadpoolctl)", f"jaxlib {jaxlib}", "CPU (/proc/cpuinfo)"):
        assert part in index, part
    assert "https://" in REFERENCES["desai2018"].text
    assert "10.5281/zenodo" in REFERENCES["jacobian_chaining"].text


def test_each_page_reproduces_with_its_own_source(first):
    """Pages that read the sweep name its command; the others say they do not read it."""
    sweep_pages = {"01-article", "02-when-loss-first-wins", "03-flops-vs-time",
                   "04-growth-with-x"}
    for page in PAGES:
        text = (first / f"{page}.md").read_text()
        reproduce = text.split("## Reproduce")[1].split("\n## ")[0]
        if page in sweep_pages:
            assert "This page reads the sweep" in reproduce and "chainorder sweep" in reproduce
        elif page != "08-time-model":  # the time model states the sweep run's roof too
            assert "does not read the sweep" in reproduce, page
            assert "chainorder sweep" not in reproduce, page


def test_the_marker_says_what_is_true():
    assert "overwritten" not in report.MARKER and "refuses" in report.MARKER


def test_findings_are_computed(first):
    article = (first / "01-article.md").read_text()
    assert "loss-first 111,000 and input-first 11,010,000 scalar multiplications" in article
    assert "counted / predicted is exactly 1 for every one" in article
    winners = (first / "02-when-loss-first-wins.md").read_text()
    assert "`batch-B512-x1000`" in winners and "1.647x the optimum" in winners
    assert "input-first becomes cheaper above B = 108.9" in winners
    growth = (first / "04-growth-with-x.md").read_text()
    assert "loss-first = 11,000 + 100·|x|, input-first = 11,010·|x|" in growth
    assert "slope ratio 11,010 / 100 = 110.1x" in growth
    caching = (first / "05-caching.md").read_text()
    assert re.search(r"as depth\^\d\.\d\d with caching", caching)
    assert "| convention | depth | lf uncached / cached | if / cached lf |" in caching
    for convention in ("dense", "structured"):
        assert f"| {convention} | 2 | " in caching
    assert re.search(r"caching saves [\d.]+x, against [\d.]+x dense", caching)
    structured = (first / "10-structured-article.md").read_text()
    for part in ("loss-first 111,000 and input-first 11,010,000 scalar multiplications, 99.19x",
                 "101,100 and 1,110,000, 10.98x", "110.1x dense vs 11.1x structured",
                 "| input-first, affine in \\|x\\| | 11,010·\\|x\\| | 1,110·\\|x\\| |",
                 "from B > 108.9 dense but B > 12.07 structured", "formula (not multiplied"):
        assert part in structured, part
    general = (first / "11-generalized-chain.md").read_text()
    assert "numbers per instance are reproduced exactly" in general
    assert "needs M >= 8,206 exactly" in general
    random = (first / "06-optimizer.md").read_text()
    assert "within 1% of optimal in" in random and "log-uniform in 1..1024" in random
    assert re.search(r"loss-first is exactly optimal in [\d.]+% at n = 3, [\d.]+% at n = 5", random)
    index = (first / "README.md").read_text()
    assert index.startswith(report.MARKER) and all(f"]({p}.md)" in index for p in PAGES)


def _tables(page: Path) -> list[list[list[str]]]:
    """Every Markdown table of a page as rows of cell texts, the header first."""
    markdown_it = pytest.importorskip("markdown_it")
    tokens = markdown_it.MarkdownIt("commonmark").enable("table").parse(page.read_text())
    tables: list[list[list[str]]] = []
    for tok, nxt in zip(tokens, tokens[1:], strict=False):
        if tok.type == "table_open":
            tables.append([])
        elif tok.type == "tr_open":
            tables[-1].append([])
        elif tok.type in ("th_open", "td_open"):
            tables[-1][-1].append(nxt.content.replace("\\|", "|") if nxt.type == "inline"
                                  else "")
    return tables


def _seconds(text: str) -> float:
    """A cell's seconds: a number (a CSV's) or a duration as the pages print it (``2.68 µs``)."""
    value, _, unit = text.strip().partition(" ")
    return float(value) * {"": 1, "s": 1, "ms": 1e-3, "µs": 1e-6, "ns": 1e-9}[unit]


def _verdicts_respect_intervals(rows: list[list[str]], where: str) -> int:
    """Check a table's verdicts against its intervals; return the verdicts checked.

    A comparison table has ``<a>_low``/``<a>_high`` and ``<b>_low``/``<b>_high``
    columns, and a ``verdict`` column (a's verdict against b) or a ``faster``
    column (naming a or b, or ``tie``). Shown numbers are rounded, which
    keeps non-strict order, so separation is checked with <=.
    """
    head, body = rows[0], rows[1:]
    if "range" in head:  # a ratio's range within the intervals (range_text): excludes 1?
        # page 02: input-first over loss-first, `faster` names an order; page 09: the time
        # plan's speed-up, `verdict` is the time plan's
        above, below, col = (("loss_first", "input_first", "faster") if "faster" in head
                             else ("faster", "slower", "verdict"))
        for row in body:
            cell = dict(zip(head, row, strict=True))
            lo, hi = (float(v) for v in cell["range"].split(".."))
            assert {above: lo >= 1, below: hi <= 1, "tie": lo <= 1 <= hi}[cell[col]], (
                where, row)
        return len(body)
    pairs = [h[:-4] for h in head if h.endswith("_low") and f"{h[:-4]}_high" in head]
    col = "verdict" if "verdict" in head else "faster" if "faster" in head else None
    if col is None or len(pairs) != 2:
        return 0
    checked = 0
    for row in body:
        cell = dict(zip(head, row, strict=True))
        try:
            iv = {p: (_seconds(cell[f"{p}_low"]), _seconds(cell[f"{p}_high"])) for p in pairs}
        except ValueError:  # a missing value ("—")
            continue
        (a, (alo, ahi)), (b, (blo, bhi)) = iv.items()
        said = cell[col]
        if col == "verdict":
            said = {"faster": a, "slower": b}.get(said, said)
        if said == a:
            assert ahi <= blo, (where, row)
        elif said == b:
            assert bhi <= alo, (where, row)
        else:
            assert said == "tie" and ahi >= blo and bhi >= alo, (where, row)
        checked += 1
    return checked


def test_every_faster_rests_on_separated_intervals(first):
    checked = {}
    for page in sorted(first.glob("*.md")):
        for rows in _tables(page):
            checked[page.name] = checked.get(page.name, 0) + _verdicts_respect_intervals(
                rows, page.name)
    for csv in sorted((first / "tables").glob("timed-*.csv")):
        lines = csv.read_text().splitlines()
        rows = [line.split(",") for line in lines]
        if all(len(r) == len(rows[0]) for r in rows):  # no quoted commas in this table
            checked[csv.name] = _verdicts_respect_intervals(rows, csv.name)
    assert checked["02-when-loss-first-wins.md"] == 7 and checked["timed-orders.csv"] == 7
    assert checked["09-time-optimal.md"] >= 1
    assert checked["09-time-optimal.md"] == sum(
        n for name, n in checked.items() if name.startswith("timed-time-optimal"))


def test_time_model_pages_state_the_goals(first):
    model = (first / "08-time-model.md").read_text()
    assert re.search(r"At 1 BLAS thread, over 21 plans of the grid .* is off by [\d.]+% at the "
                     r"median .*: the goal \(median ≤ 20\.0% at 1 BLAS thread\) is (not )?met",
                     model)
    assert "At 2 BLAS threads, over 21 plans" in model and "NUMA placement" in model
    optimal = (first / "09-time-optimal.md").read_text()
    assert re.search(r"The time model's margin is [\d.]+%: the median error of its predicted "
                     r"ratio", optimal)
    assert re.search(r"measurably faster in \d+, a tie in \d+ and measurably slower in \d+ of"
                     r"|agree on every one of the \d+ grid cases and random chains", optimal)
    assert re.search(r"Without the margin \(`margin=0`, the model's exact optimum\) the plans "
                     r"differ on \d+ of \d+ grid cases|Without the margin .* agree on all",
                     optimal)
    roof = (first / "03-flops-vs-time.md").read_text()
    assert "The roof is the best rate actually achieved" in roof and "of peak" not in roof
    assert re.search(r"No point lies above either roof\.|No point lies above the compute roof "
                     r"\(it is the best rate of this run\); \d+ lie above the memory roof",
                     roof)
    assert "| kind | cases | slope |" in roof
    above = re.search(r"(\d+) lie above the memory roof", roof)
    if above:  # every point above a roof is listed, each with its reason
        listed = roof.split("Points above the memory roof")[1].split("\n\nTable:")[0]
        assert listed.count("\n| ") - 1 == int(above.group(1))
    # one peak per report: the time-model page states the roof page 3 found
    top = re.search(r"The roof is the best rate actually achieved in this run: ([\d.]+) GFLOP/s",
                    roof)
    assert top and f"The report's roof is {top.group(1)} GFLOP/s" in model


def test_no_ratio_rounds_to_one(first):
    for page in first.glob("*.md"):
        for m in re.finditer(r"(?<![\d.])(\d+(?:\.\d+)?)x\b", page.read_text()):
            assert m.group(1) not in ("1.0", "1.00", "1.000"), (page.name, m.group(0))


def _counted(out: Path) -> dict[str, bytes]:
    files = [*(out / "tables").glob("counted-*.csv"),
             *(out / "figures" / f"{fig}.svg" for fig in ("multiplications-vs-x",
                                                          "caching-vs-depth",
                                                          "random-chain-ratios",
                                                          "growth-counted",
                                                          "structured-article-costs",
                                                          "structured-article-ratio"))]
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


def test_counted_tables_hold_no_timing(first):
    counted = sorted((first / "tables").glob("counted-*.csv"))
    assert len(counted) >= 10 and list((first / "tables").glob("timed-*.csv"))
    assert not any("seconds" in p.read_text() for p in counted)


def test_costs_in_tables_are_integers(first):
    times = (first / "tables" / "timed-optimizer-times.csv").read_text().splitlines()
    header = times[0].split(",")
    for line in times[1:]:
        row = dict(zip(header, line.split(","), strict=False))
        for col in ("cost", "optimum"):
            assert row[col] == "" or row[col].isdigit(), (col, line)


def test_rerun_replaces_a_report_but_refuses_other_folders(first, tmp_path):
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("mine")
    with pytest.raises(ValueError, match="todo.txt is not listed in a chainorder manifest"):
        generate_report(foreign, settings=TINY, progress=False)
    assert (foreign / "todo.txt").read_text() == "mine"


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


_CHILD = """
import signal, sys, time
# Ctrl-C raises KeyboardInterrupt here whatever the test run inherited (a background
# job starts with SIGINT ignored)
signal.signal(signal.SIGINT, signal.default_int_handler)
from chainorder.lab import report
from chainorder.lab.report import ReportSettings, generate_report
log = report._log
def held(progress, text):  # hold at the chosen moment, so the signal lands there, not later
    log(progress, text)
    if sys.argv[2] in text:
        sys.stderr.flush()
        time.sleep(60)
report._log = held
generate_report(sys.argv[1], settings={settings!r}, progress=True)
"""


def _interrupted(out: Path, moment: str, sig: int) -> int:
    """Run the report in a child, send ``sig`` when its progress prints ``moment``."""
    code = _CHILD.format(settings=TINIER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", code, str(out), moment], stderr=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    assert child.stderr is not None
    for line in child.stderr:
        if moment in line:
            child.send_signal(sig)
            break
    child.communicate(timeout=120)
    return child.wait()


#: Moments to interrupt a report at (a progress line it prints), and how: while measuring, and
#: while writing the pages (early pages: a later one would only make the child run longer).
MOMENTS = [
    ("collecting 01-article", signal.SIGINT),
    ("writing 04-growth-with-x.md", signal.SIGINT),
    ("writing 02-when-loss-first-wins.md", signal.SIGKILL),
]


def test_an_interrupted_report_leaves_the_previous_one_intact(inside):
    before, counted = _digest(inside), _counted(inside)
    for moment, sig in MOMENTS:
        assert _interrupted(inside, moment, sig) != 0, moment
        assert _digest(inside) == before, moment
    generate_report(inside, settings=TINIER, progress=False)  # a rerun works
    assert (inside / "README.md").is_file() and _digest(inside) != before
    assert sorted(p.name for p in inside.parent.iterdir()) == ["reports"]
    # the same settings again: counted tables (and counted figures) byte-identical
    assert _counted(inside) == counted and len(counted) >= 12


def test_cli_defaults_to_a_git_ignored_folder_and_says_where(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(report, "generate_report",
                        lambda out, **kw: calls.append((out, kw)) or Path(out) / "README.md")
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--quick", "--no-progress"]) == 0
    out, kw = calls[-1]
    assert Path(out) == Path("build/report-quick") and kw["command"] == (
        "chainorder report --quick --no-progress")
    assert "wrote build/report-quick" in capsys.readouterr().out
    assert main(["report", "--full", "--out", "reports", "--seed", "3"]) == 0
    out, kw = calls[-1]
    assert Path(out) == Path("reports") and kw["settings"].seed == 3 and not kw["settings"].quick
    assert kw["command"] == "chainorder report --full --out reports --seed 3"
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "build/" in ignored


def test_register_study_checks_its_input_and_refuses_duplicates(monkeypatch):
    monkeypatch.setattr(base, "STUDIES", [])
    with pytest.raises(TypeError):
        register_study("06-optimizer")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="slug"):
        register_study(Study("Bad Slug", "t", "q", extra_page))
    with pytest.raises(ValueError, match="unknown references"):
        register_study(Study("09-x", "t", "q", extra_page, references=["nobody1999"]))
    one, two = Study("09-x", "one", "q", extra_page), Study("09-x", "two", "q", extra_page)
    register_study(one)
    with pytest.raises(ValueError, match="registered already"):
        register_study(two)
    assert base.STUDIES == [one]
    register_study(two, replace=True)
    assert base.STUDIES == [two]


def test_study_modules_register_every_page():
    assert [s.slug for s in load_studies()][:len(PAGES)] == PAGES


def test_moved_names_point_at_their_new_home():
    with pytest.warns(DeprecationWarning, match="chainorder.lab.studies.base.Study"):
        assert co.Study is Study


def test_the_cli_modules_import_neither_pandas_nor_matplotlib():
    code = ("import sys, chainorder.cli, chainorder.lab.studies; chainorder.cli.build_parser(); "
            "print(sorted(m for m in ('pandas', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_argparse_outside_the_cli():
    lab = ROOT / "chainorder" / "lab"
    assert not [p.name for p in lab.rglob("*.py") if "argparse" in p.read_text()]


def test_readme_and_citation_cff_cite_every_reference():
    def norm(text: str) -> str:
        return " ".join(text.split())

    readme, cff = norm((ROOT / "README.md").read_text()), (ROOT / "CITATION.cff").read_text()
    for ref in REFERENCES.values():
        assert f'title: "{ref.title}"' in cff and ref.title in readme, ref.key
    assert 'Shrey Desai, "Backpropagation", article, 2018-12-20' in readme
    assert "family-names: Desai" in cff and "date-published: 2018-12-20" in cff
    assert f"version: {co.__version__}" in cff and "date-released: 2026-11-28" in cff
    bib = bibtex("0123456789abcdef")
    assert f"version = {{{co.__version__}}}" in bib and "{{The chainorder developers}}" in bib
    assert "commit 0123456789ab" in bib and "year    = {2026}" in bib


def test_a_stale_cached_model_is_measured_again(monkeypatch):
    from chainorder.lab import calibrate as calibration

    calls = []

    def fake(*, threads, quick, force=False):
        calls.append(force)
        if not force:
            raise ValueError("not a chainorder-timemodel/1 time model; recalibrate")
        return "fresh"

    monkeypatch.setattr(calibration, "calibrate", fake)
    assert base.calibrated_model(1, True) == "fresh" and calls == [False, True]


def test_the_time_optimal_page_says_where_its_margin_comes_from():
    from chainorder.lab.studies import time_optimal

    held_out = {"pairs": 248, "chains": 48, "median": 0.15, "p90": 0.5, "margin": 0.15}
    text = time_optimal._margin_text(0.15, held_out)
    assert "15.0%: the median error of its predicted ratio" in text and "248 pairs" in text
    fallback = {"pairs": 0, "chains": 2, "median": None, "p90": None, "margin": 0.12,
                "method": "fewer than 4 calibration chains: the median relative error of the "
                          "fitted points"}
    text = time_optimal._margin_text(0.12, fallback)
    assert "12.0%: fewer than 4 calibration chains" in text and "timed 2 chains" in text
    assert "no measured margin (margin 0.0%)" in time_optimal._margin_text(0.0, {})


# ----------------------------------------------------------------------------- settings


def test_each_study_reads_its_own_quick_or_full_settings():
    studies = {s.name: s for s in load_studies()}
    quick, full = ReportSettings.preset(True), ReportSettings.preset(False)
    # the values of the presets before each study declared its own (the quick ones first)
    pinned = {("optimizer", "chains"): (100, 500), ("caching", "width"): (16, 24),
              ("article", "random_sizes"): (24, 100), ("time-model", "repeats"): (7, 15),
              ("time-optimal", "chains"): (6, 12), ("time-optimal", "repeats"): (14, 30),
              ("optimizer-speed", "check_chains"): (20_000, 100_000),
              ("structured-article", "count_limit"): (10_000, 100_000),
              ("generalized-chain", "random_instances"): (8, 40)}
    for (name, key), values in pinned.items():
        assert (getattr(quick.of(studies[name]), key), getattr(full.of(studies[name]), key)
                ) == values, (name, key)
    assert quick.of(studies["optimizer-speed"]).sizes == (10, 100, 1000, 10_000)
    assert quick.of(studies["time-model"]).quick_calibration
    assert full.of(studies["time-model"]).fresh_calibration
    tiny = TINY.of(studies["caching"])
    assert (tiny.depths, tiny.width) == ((2, 3, 4), 3) and tiny == type(tiny)((2, 3, 4), 3)
    text = TINY.describe(list(studies.values()))
    assert "7 chosen cases" in text and "caching: depths (2, 3, 4), width 3" in text


def test_no_study_branches_on_the_quick_preset():
    for path in sorted((ROOT / "chainorder" / "lab" / "studies").glob("*.py")):
        assert not re.search(r"\bs(ettings)?\.quick\b", path.read_text()), path.name


def test_each_study_module_exports_its_study_and_what_other_modules_import():
    import importlib

    from chainorder.lab.studies import MODULES

    imported = {"growth": {"exact_affine", "affine_text"},  # by structured_article
                "flops_vs_time": {"report_roof"},  # by time_model
                "optimizer_speed": {"METHODS", "Method", "study_dims"}}  # by benchmarks
    for name in MODULES:
        mod = importlib.import_module(f"chainorder.lab.studies.{name}")
        study = {type(mod.STUDY).__name__, "STUDY"}
        assert set(mod.__all__) == study | imported.get(name, set()), name


def test_settings_print_as_the_python_that_makes_them():
    assert eval(repr(TINY), {"ReportSettings": ReportSettings}) == TINY
    assert f"settings={TINY!r}" in report.api_command(Path("r"), TINY)
    mine = {"caching": {"depths": (2,)}}
    s = ReportSettings.preset(True, study=mine)
    mine["caching"]["depths"] = (9,)
    assert s.study == {"caching": {"depths": (2,)}}
    with pytest.raises(TypeError, match="study must map study names"):
        ReportSettings.preset(True, study={"caching": 3})


def test_the_old_settings_spellings_warn_and_move_into_their_studies():
    with pytest.warns(DeprecationWarning, match=r"preset\(random_chains=, calibration_threads=, "
                      r"time_repeats=, optimizer_ns=\) is deprecated; pass study=\{'optimizer'"):
        old = ReportSettings.preset(True, random_chains=6, calibration_threads=(1,),
                                    time_repeats=2, optimizer_ns=None,
                                    study={"optimizer": {"high": 50}})
    assert old == ReportSettings.preset(True, study={
        "optimizer": {"chains": 6, "high": 50}, "time-model": {"threads": (1,), "repeats": 2},
        "time-optimal": {"threads": 1, "repeats": 5}})


def test_an_override_of_no_study_or_no_setting_is_refused_before_work(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "_build", lambda *a: pytest.fail("measured before refusing"))
    bad = ReportSettings.preset(True, study={"caching": {"depth": (2,)}})
    with pytest.raises(ValueError, match=r"CachingStudy.Settings has no setting 'depth'; "
                                         r"its settings: depths, width"):
        generate_report(tmp_path / "r", settings=bad, progress=False)
    with pytest.raises(ValueError, match="names no study 'cachin'; valid: article, "):
        generate_report(tmp_path / "r", settings=ReportSettings.preset(True, study={"cachin": {}}),
                        progress=False)
    assert not (tmp_path / "r").exists()


def test_a_report_records_each_studys_settings(first):
    import json

    saved = json.loads((first / "data" / "settings.json").read_text())
    assert saved["studies"]["optimizer"] == {"chains": 6, "lengths": [3, 5], "high": 1024}
    assert saved["settings"]["study"]["optimizer"] == {"chains": 6, "lengths": [3, 5]}
    assert "optimizer: chains 6, lengths (3, 5), high 1024" in (first / "README.md").read_text()


def test_a_study_is_known_by_its_name_once(monkeypatch):
    monkeypatch.setattr(base, "STUDIES", [])
    register_study(Study("09-x", "one", "q", extra_page))
    with pytest.raises(ValueError, match="a study named 'x' is registered already"):
        register_study(Study("10-x", "two", "q", lambda ctx: StudyPage([], "")))
    assert [s.name for s in base.STUDIES] == ["x"]


def test_a_page_alone_regenerates_its_counted_tables_byte_for_byte(first, tmp_path):
    """The command in a page's Reproduce block for that page alone: same page number, same
    counted tables as the whole report at the same settings; the index lists that page only."""
    alone = tmp_path / "alone"
    generate_report(alone, settings=TINY, studies=["caching", "convolution"], progress=False)
    for slug in ("05-caching", "14-convolution"):
        page = (first / f"{slug}.md").read_text()
        assert f"studies=('{slug[3:]}',)" in page  # the API call that makes it alone
        assert page.splitlines()[1] == (alone / f"{slug}.md").read_text().splitlines()[1]
        counted = re.findall(r"\(tables/(counted-[^)]+\.csv)\)", page)
        assert counted, slug
        for name in counted:
            assert (alone / "tables" / name).read_bytes() == \
                (first / "tables" / name).read_bytes(), name
    assert sorted(p.name for p in alone.glob("*.md")) == [
        "05-caching.md", "14-convolution.md", "README.md"]
    index = (alone / "README.md").read_text()
    assert "5. [Caching" in index and "14. [A convolutional network]" in index


@pytest.mark.parametrize("studies, error, match", [
    (["no-such-page"], ValueError, "studies: 'no-such-page' is not a study; expected one of"),
    ([], ValueError, "at least one study"),
    ("caching", TypeError, "sequence of study names"),
])
def test_a_bad_study_selection_is_refused_before_measuring(studies, error, match, tmp_path):
    with pytest.raises(error, match=match):
        generate_report(tmp_path / "r", settings=TINY, studies=studies, progress=False)
    assert not (tmp_path / "r").exists()


def test_the_command_line_selects_studies(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(report, "generate_report",
                        lambda out, **kw: calls.append(kw) or Path(out) / "README.md")
    assert main(["report", "--quick", "-q", "--study", "caching", "--study", "convolution",
                 "--out", str(tmp_path / "r")]) == 0
    assert calls[-1]["studies"] == ["caching", "convolution"] and not calls[-1]["progress"]
    assert report.alone_command(calls[-1]["command"], "caching").endswith(
        "--study caching --out build/report-caching")
