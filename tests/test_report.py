"""The report on a tiny grid: every page and figure present, findings computed, tables stable."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

import chainorder as co
from chainorder.lab import report
from chainorder.lab.report import ReportSettings, Study, StudyPage, generate_report

TINY = ReportSettings.preset(
    True,
    cases=("article-x10", "article-x100", "article-x1000", "batch-B1-x1000", "batch-B512-x1000",
           "random-n8-s92", "random-n4-s0"),
    repeats=2, warmup=0, min_seconds=0.0, peak_seconds=0.05, random_chains=6,
    random_lengths=(3, 5), caching_depths=(2, 3, 4), caching_width=3, article_sizes=2,
    optimizer_ns=(5, 10), check_chains=200,
)
PAGES = ["01-article", "02-when-loss-first-wins", "03-flops-vs-time", "04-growth-with-x",
         "05-caching", "06-optimizer", "07-optimizer-speed"]
FIGURES = ["multiplications-vs-x", "time-vs-x", "time-ratio-vs-flop-ratio", "roofline",
           "random-chain-ratios", "caching-vs-depth", "batch-costs", "optimizer-times"]


def _extra(ctx: report.ReportContext) -> StudyPage:
    n = len(ctx.sweep)
    return StudyPage([f"The sweep holds {n} rows."], "An appended study.")


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "reports"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report, "STUDIES", list(report.STUDIES))
        report.register_study(Study("08-extra", "An extra study", "Does the hook work?", _extra))
        generate_report(out, settings=TINY, progress=False)
    return out


def test_every_page_and_figure(first):
    for page in [*PAGES, "08-extra"]:
        assert (first / f"{page}.md").is_file(), page
    for fig in FIGURES:
        for ext in ("png", "svg"):
            assert (first / "figures" / f"{fig}.{ext}").stat().st_size > 1000, (fig, ext)
    assert (first / "data" / "sweep.jsonl").is_file()
    assert "The sweep holds 21 rows." in (first / "08-extra.md").read_text()


def test_links_resolve(first):
    for md in first.glob("*.md"):
        for target in re.findall(r"\]\(([^)#]+)\)", md.read_text()):
            if not target.startswith(("http", "../")):
                assert (first / target).exists(), (md.name, target)


def test_each_page_carries_its_provenance(first):
    for page in PAGES:
        text = (first / f"{page}.md").read_text()
        for part in ("## Findings", "## Reproduce", "## Machine", "## Cite", "@software{chainorder",
                     f"chainorder | {co.__version__}", "measured peak", "BLAS (threadpoolctl)",
                     "scalar multiplications", "generate_report("):
            assert part in text, (page, part)
        findings = text.split("## Findings")[1].split("\n## ")[0]
        assert findings.count("\n- ") >= 1 and "nan" not in findings.lower()


def test_findings_are_computed(first):
    article = (first / "01-article.md").read_text()
    assert "loss-first 111,000 and input-first 11,010,000 scalar multiplications" in article
    assert "counted / predicted = 1.000 to 1.000" in article
    winners = (first / "02-when-loss-first-wins.md").read_text()
    assert "`batch-B512-x1000`" in winners and "1.65x the optimum" in winners
    assert "input-first becomes cheaper above B = 108.9" in winners
    growth = (first / "04-growth-with-x.md").read_text()
    assert "|x|^1.000 for input-first" in growth
    caching = (first / "05-caching.md").read_text()
    assert re.search(r"as depth\^\d\.\d\d with caching", caching)
    index = (first / "README.md").read_text()
    assert index.startswith(report.MARKER) and index.count("](0") >= 7


def test_counted_tables_are_byte_identical(first, tmp_path):
    second = tmp_path / "again"
    generate_report(second, settings=TINY, progress=False)
    counted = sorted(p.name for p in (first / "tables").glob("counted-*.csv"))
    assert len(counted) >= 8
    assert counted == sorted(p.name for p in (second / "tables").glob("counted-*.csv"))
    for name in counted:
        assert (first / "tables" / name).read_bytes() == (second / "tables" / name).read_bytes()
    for fig in ("multiplications-vs-x", "caching-vs-depth", "random-chain-ratios", "batch-costs"):
        svg = f"figures/{fig}.svg"  # counted data, fixed SVG salt: the same bytes too
        assert (first / svg).read_bytes() == (second / svg).read_bytes(), fig
    timed = list((first / "tables").glob("timed-*.csv"))
    assert timed and not any("seconds" in (first / "tables" / n).read_text() for n in counted)


def test_rerun_replaces_a_report_but_refuses_other_folders(first, tmp_path):
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "todo.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds no chainorder report"):
        generate_report(foreign, settings=TINY, progress=False)
    assert (foreign / "todo.txt").read_text() == "mine"


def test_bibtex_matches_citation_cff():
    text = (Path(__file__).resolve().parent.parent / "CITATION.cff").read_text()
    assert "cff-version: 1.2.0" in text and "date-released: 2026-11-28" in text
    bib = report.bibtex("0123456789abcdef")
    assert "version = {0.1.0}" in bib and "{{The chainorder developers}}" in bib
    assert "commit 0123456789ab" in bib and "year    = {2026}" in bib


def test_cli_options_reproduce_the_command():
    p = argparse.ArgumentParser()
    report.configure_parser(p)
    args = p.parse_args(["--full", "--out", "r", "--seed", "3"])
    assert report._cli_options(args) == ["--full", "--out", "r", "--seed", "3"]
    assert report._cli_options(p.parse_args([])) == ["--quick", "--out", "reports"]
    assert report._default_command(Path("reports"), ReportSettings.preset(True), None) == (
        "chainorder report --quick --out reports")


def test_register_study_checks_its_input():
    with pytest.raises(TypeError):
        report.register_study("06-optimizer")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="slug"):
        report.register_study(Study("Bad Slug", "t", "q", _extra))


def test_the_cli_modules_import_neither_pandas_nor_matplotlib():
    code = ("import sys, chainorder.cli; chainorder.cli.build_parser(); "
            "print(sorted(m for m in ('pandas', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
