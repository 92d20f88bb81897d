"""The ``chainorder`` command line: plan, article, orders, gjc, calibrate, verify, sweep, report.

The only module that parses arguments: sweeps, verification and reports are
libraries in :mod:`chainorder.lab` that the commands here call.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from .algebra.costs import COST_UNIT
from .algebra.gjc import GJC_COST_UNIT, GJC_MAX_FACTORS, TIES, optimize_gjc
from .algebra.gjc_format import read_chain
from .algebra.orders import ORDERS, optimize, plan, uses_machine
from .algebra.timemodel import use_machine
from .validation import format_bytes, parse_bytes
from .version import __version__

__all__ = ["main", "build_parser"]

UNIT = COST_UNIT


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, with no usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``chainorder`` (also used by ``python -m chainorder``)."""
    parser = _Parser(
        prog="chainorder",
        description="Which order to multiply a chain of Jacobians in, and what each order costs.",
    )
    parser.add_argument("--version", action="version", version=f"chainorder {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "plan", help="optimal bracketing of a chain beside loss-first and input-first"
    )
    p.add_argument(
        "dims", nargs="+", metavar="P", help="chain dims p0 p1 ... pn (matrix i is p(i-1) x pi)"
    )
    p.add_argument(
        "--order",
        action="append",
        default=[],
        metavar="ORDER",
        help="also show this order (a name from 'chainorder orders' or a bracketing); repeatable",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--time", action="store_true",
                   help="also the time-optimal plan and every plan's predicted seconds, from "
                        "this machine's time model ('chainorder calibrate' makes it)")
    p.add_argument("--margin", type=float, default=None, metavar="M",
                   help="with --time: leave the FLOP optimum only for a plan predicted more "
                        "than 1+M times as fast (default: the model's measured margin; 0: the "
                        "model's exact optimum)")
    p.set_defaults(func=_cmd_plan)

    a = sub.add_parser("article", help="the article's predicted costs beside counted ones")
    a.add_argument("--x", type=int, required=True, metavar="N", help="|x|, the input size")
    a.add_argument("--z1", type=int, required=True, metavar="N", help="|z1|, the first hidden size")
    a.add_argument("--z3", type=int, required=True, metavar="N", help="|z3|, the output size")
    a.add_argument("--z2", type=int, default=None, metavar="N", help="|z2| (default: |z1|)")
    a.add_argument("--seed", type=int, default=0, help="seed of the network's weights")
    a.add_argument(
        "--structure", choices=("dense", "structured"), default="dense",
        help="cost convention: 'dense' (the article's; every Jacobian a full matrix) or "
        "'structured' (diag(sigma') counted as the diagonal it is)",
    )
    a.add_argument(
        "--max-memory", default=None, metavar="BYTES",
        help="memory budget for counting by multiplying, e.g. 8GB or 500MB (default: half "
        "of the available memory); orders that need more are predicted, not counted",
    )
    a.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    a.set_defaults(func=_cmd_article)

    o = sub.add_parser("orders", help="list the registered orders and their aliases")
    o.set_defaults(func=_cmd_orders)

    g = sub.add_parser(
        "gjc", help="matrix-free chain: cheapest mix of tangents, adjoints and products (exact)"
    )
    g.add_argument(
        "file", metavar="FILE", help="chain file: q, then one line 'm n |E|' per factor (F0 first)"
    )
    g.add_argument(
        "--memory", type=int, default=None, metavar="M", help="largest tape an adjoint may keep"
    )
    g.add_argument(
        "--ties",
        choices=TIES,
        default=TIES[0],
        help="among the cheapest schedules, take the fewest ops (default) or the least tape",
    )
    g.add_argument(
        "--max-factors", type=int, default=GJC_MAX_FACTORS, metavar="Q",
        help="longest chain to optimize (default: %(default)s; the exact DP is O(q^3))",
    )
    g.add_argument("--json", action="store_true", help="print JSON instead of a table")
    g.set_defaults(func=_cmd_gjc)

    v = sub.add_parser("verify", help="check Hu-Shing against an independent DP on many chains")
    _verify_options(v)
    v.set_defaults(func=_cmd_verify)

    s = sub.add_parser("sweep", help="measure a grid of chains under every order (resumable)")
    _sweep_options(s)
    s.set_defaults(func=_cmd_sweep)

    r = sub.add_parser("report", help="measure and write a report (index, one page per study)")
    _report_options(r)
    r.set_defaults(func=_cmd_report)

    c = sub.add_parser("calibrate", help="measure and cache this machine's time model")
    _calibrate_options(c)
    c.set_defaults(func=_cmd_calibrate)
    return parser


#: Commands that need the laboratory extra (pandas, matplotlib, ...): refused without it.
_LAB_COMMANDS = frozenset({"article", "sweep", "report", "calibrate"})


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM, so that cleanup runs as for Ctrl-C."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    0 ok, 1 a check found mismatches, 2 bad input, a bad file or an OS error
    (one line on stderr, no traceback), 130 interrupted (Ctrl-C), 143 terminated
    (SIGTERM, unless the caller set it to be ignored).
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    with _sigterm_raises():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command, turning every expected failure into one line and a status."""
    where = f"chainorder {args.command}"
    try:
        if args.command in _LAB_COMMANDS:
            from .lab import require_lab

            require_lab("this command")
        return int(args.func(args) or 0)
    except ModuleNotFoundError as exc:
        print(f"{where}: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"{where}: error: {msg}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly, as Unix tools do
        sys.stderr.close()
        return 0
    except OSError as exc:
        print(f"{where}: error: {_os_error_text(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"{where}: error: out of memory", file=sys.stderr)
        return 2
    except BrokenProcessPool:  # a worker was killed from outside, e.g. by the OOM killer
        print(f"{where}: error: a worker process died (killed from outside, or out of memory); "
              "run again, with fewer --jobs", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{where}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"{where}: terminated", file=sys.stderr)
        return 143


def _os_error_text(exc: OSError) -> str:
    """An OS error as one line: what failed, on which path."""
    what = exc.strerror or str(exc)
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{what}: {' -> '.join(paths)}" if paths else what


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the main thread while a command runs.

    A disposition the caller chose (ignored, or a handler of its own) is kept;
    outside the main thread signals cannot be handled and nothing changes.
    """
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            yield
            return
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _parse_dims(raw: Sequence[str]) -> list[int]:
    dims = []
    for i, text in enumerate(raw):
        try:
            dims.append(int(text.replace(",", "").replace("_", "")))
        except ValueError:
            raise ValueError(f"dims[{i}] must be a positive integer, got {text!r}") from None
    return dims


def _cmd_plan(args: argparse.Namespace) -> int:
    dims = _parse_dims(args.dims)
    names = ["optimal", "loss_first", "input_first", *args.order]
    if args.time and "time_optimal" not in names:
        names.append("time_optimal")
    if args.margin is not None and not args.time:
        raise ValueError("--margin applies to the time-optimal plan: add --time")
    machine: Any = _time_model() if args.time or any(map(uses_machine, args.order)) else None
    time_cost = machine.with_margin(args.margin) if machine is not None else "time"
    with use_machine(machine):  # an --order that reads the time model reads this one
        plans = {name: optimize(dims, cost=time_cost) if name == "time_optimal"
                 else plan(dims, name) for name in names}
    for pl in plans.values() if machine is not None else ():
        pl.machine = machine  # every plan's predicted seconds under the one model
    best = plans["optimal"]
    if args.json:
        doc: dict[str, Any] = {"dims": dims, "n": len(dims) - 1, "unit": UNIT}
        for name, pl in plans.items():
            doc[name] = {**pl.to_dict(), "ratio_to_optimal": best.speedup(pl)}
            if args.time:
                doc[name]["predicted_seconds"] = pl.predicted_seconds
        print(json.dumps(doc, indent=2))
        return 0
    print(f"chain of {len(dims) - 1} matrices, dims {' x '.join(map(str, dims))}")
    print(f"cost unit: {UNIT}")
    rows = [("order", "multiplications", "FLOPs", "vs optimal", "bracketing")]
    for name, pl in plans.items():
        text = pl.parenthesization
        text = text if len(text) <= 60 else text[:55] + " ..."
        rows.append((name, f"{pl.cost:,}", f"{pl.flops:,}", f"{best.speedup(pl):.3f}x", text))
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    for r in rows:
        print("  ".join([r[0].ljust(widths[0]), *(r[c].rjust(widths[c]) for c in (1, 2, 3)), r[4]]))
    ratio = plans["loss_first"].speedup(plans["input_first"])
    print(f"input-first / loss-first = {ratio:.3f}")
    if args.time:
        fast = plans["time_optimal"]
        fastest = fast.predicted_seconds
        margin = machine.margin if args.margin is None else args.margin
        print(f"predicted time ({machine!r}; time_optimal at margin {margin:.1%}: it "
              "leaves the FLOP optimum only for a larger predicted gain):")
        for name, pl in plans.items():
            t = pl.predicted_seconds
            print(f"  {name.ljust(widths[0])}  {t * 1e3:>12.4g} ms  {t / fastest:>7.3f}x")
    return 0


def _parse_bytes(text: str | None) -> int | None:
    return None if text is None else parse_bytes(text, "--max-memory")


def _cmd_article(args: argparse.Namespace) -> int:
    from .networks.article import article_costs, article_table

    budget = _parse_bytes(args.max_memory)
    if not args.json:
        # the formulas answer at once, whatever the size; counting follows where it fits
        costs = article_costs(args.x, args.z1, args.z3, args.z2, cost=args.structure)
        print(
            f"The article's network: |x|={args.x}, |z1|={args.z1}, "
            f"|z2|={args.z2 or args.z1}, |z3|={args.z3}"
        )
        print(f"cost unit: {UNIT}")
        print(f"structure: {args.structure}"
              + (" (the article's convention)" if args.structure == "dense" else
                 " (diag(sigma') counted as a diagonal)"))
        print("predicted: " + ", ".join(f"{k} {v:,}" for k, v in costs.items()), flush=True)
    table = article_table(args.x, args.z1, args.z3, args.z2, seed=args.seed,
                          cost=args.structure, max_bytes=budget)
    if args.json:
        print(table.to_json(orient="records", indent=2))
        return 0
    print(table.to_string(index=False))
    if table["ratio"].isna().any():
        print(f"memory budget {format_bytes(table.attrs['max_bytes'])}: raise it with "
              "--max-memory to count the rows that were only predicted")
    return 0


def _cmd_gjc(args: argparse.Namespace) -> int:
    best = optimize_gjc(read_chain(Path(args.file)), memory=args.memory, ties=args.ties,
                        max_factors=args.max_factors)
    if args.json:
        full = best.to_dict()
        optimal = {"cost": best.cost, "memory_peak": best.memory_peak}
        doc = {
            "file": args.file,
            "q": best.q,
            "factors": full["factors"],
            "memory": best.memory,
            "ties": args.ties,
            "unit": GJC_COST_UNIT,
            "optimal": {**optimal, "schedule": full["schedule"]},
            "tangent": best.tangent_cost,
            "adjoint": best.adjoint_cost,
            "preaccumulation": best.preaccumulation_cost,
        }
        print(json.dumps(doc, indent=2))
        return 0
    print(f"chain of {best.q} factors from {args.file}")
    print(f"cost unit: {GJC_COST_UNIT}")
    print(best)
    return 0


def _cmd_orders(args: argparse.Namespace) -> int:
    for name, info in ORDERS.items():
        aliases = f" (aliases: {', '.join(info.aliases)})" if info.aliases else ""
        print(f"{name}{aliases}\n    {info.description}")
    print("or any bracketing over A1..An, e.g. '((A1A2)(A3A4))'")
    return 0


# ----------------------------------------------------------------------------- verify


def _verify_options(p: argparse.ArgumentParser) -> None:
    from .lab.verify import MAX_JOBS

    p.add_argument("--chains", type=int, default=100_000,
                   help="number of chains, >= 1 (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed, >= 0 (default: %(default)s)")
    p.add_argument("--jobs", type=int, default=2,
                   help=f"worker processes, 1..{MAX_JOBS} (default: %(default)s)")
    p.add_argument("--json", metavar="FILE",
                   help="write the summary here: a new file, or the summary of an earlier check")
    _quiet_option(p)


def _quiet_option(p: argparse.ArgumentParser) -> None:
    """``-q/--quiet`` (and its older spelling ``--no-progress``): no progress on stderr."""
    p.add_argument("-q", "--quiet", "--no-progress", dest="quiet", action="store_true",
                   help="no progress lines on stderr (results still go to stdout)")


def _cmd_verify(args: argparse.Namespace) -> int:
    """Run the Hu–Shing check; 0 if there was no mismatch, else 1."""
    from .lab.verify import check_hu_shing, check_summary_path, write_summary

    def show(done: int, total: int, seconds: float) -> None:
        print(f"chainorder verify: {done:>9,} / {total:,} chains checked, {seconds:6.1f} s",
              file=sys.stderr, flush=True)

    if args.json:  # refused now, not after the run
        check_summary_path(args.json, name="--json")
    summary = check_hu_shing(args.chains, seed=args.seed, jobs=args.jobs,
                             progress=None if args.quiet else show)
    checked = f"{summary['chains']:,} chains ({', '.join(summary['paths'])})"
    print(f"mismatches: {summary['mismatches']} of {checked} in {summary['seconds']} s")
    for example in summary["examples"][:5]:
        print("  ", example)
    if args.json:
        write_summary(summary, args.json, name="--json")
    return 1 if summary["mismatches"] else 0


# ----------------------------------------------------------------------------- sweep


def _sweep_options(p: argparse.ArgumentParser) -> None:
    from .lab.cases import KINDS
    from .lab.sweep import DEFAULT_ORDERS

    p.description = (
        "Measure cases of chainorder.lab.cases under each order: counted multiplications, FLOPs, "
        "bytes and the median wall time of repeated runs. Rows are appended as they are "
        "measured; rerun the same command to resume after an interruption."
    )
    p.add_argument("--out", default="sweep.jsonl", metavar="FILE",
                   help="JSON Lines output, created or resumed (default: %(default)s)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="full", action="store_false",
                      help="the quick cases only (the default, unless --case is given)")
    size.add_argument("--full", dest="full", action="store_true", help="every case")
    p.set_defaults(full=None)
    p.add_argument("--kind", action="append", choices=KINDS, metavar="KIND",
                   help=f"only this chain kind; repeatable ({', '.join(KINDS)})")
    p.add_argument("--case", action="append", metavar="PATTERN",
                   help="only case ids matching this shell pattern, e.g. 'article-*'; repeatable")
    p.add_argument("--orders", default=",".join(DEFAULT_ORDERS), metavar="O1,O2",
                   help="comma-separated order names (default: %(default)s)")
    p.add_argument("--repeats", type=int, default=5, metavar="N",
                   help="timed runs per point; the median is kept (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=1, metavar="N",
                   help="untimed runs before timing (default: %(default)s)")
    p.add_argument("--min-seconds", type=float, default=0.05, metavar="S",
                   help="keep timing a point until its runs add up to S seconds "
                        "(up to 1000 runs; default: %(default)s)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="BLAS threads while measuring, set through threadpoolctl for this "
                        "process only; 0 keeps the BLAS default (default: %(default)s)")
    p.add_argument("--peak-seconds", type=float, default=1.0, metavar="S",
                   help="time spent measuring peak GFLOP/s and bandwidth; 0 skips (default: 1)")
    _quiet_option(p)
    p.add_argument("--list", action="store_true", help="list the selected cases and exit")


def _cmd_sweep(args: argparse.Namespace) -> int:
    """Run ``chainorder sweep``; return the exit status."""
    from .lab.cases import CASES, select_cases
    from .lab.sweep import Timing, point_key, read_sweep, run_sweep

    quick = args.full is False or (args.full is None and not args.case)
    cases = select_cases(quick=quick, kinds=args.kind, patterns=args.case)
    if not cases:
        raise ValueError(f"no case matches --kind {args.kind} --case {args.case} "
                         f"among {len(CASES)} cases; see 'chainorder sweep --list --full'")
    if args.list:
        for c in cases:
            print(f"{c.id:<36} {c.kind:<15} {'quick' if c.quick else 'full ':<6} {c.description}")
        return 0
    orders = [o.strip() for o in args.orders.split(",") if o.strip()]
    for o in orders:
        if not uses_machine(o):
            plan([1, 2, 3], o)  # an unknown order fails now, with the valid names
    if any(map(uses_machine, orders)):
        from .hardware import blas_threads

        with blas_threads(args.threads):
            _time_model()  # no model cached at the sweep's threads fails now, in one line
    path = Path(args.out)
    timing = Timing(args.repeats, args.warmup, args.min_seconds, args.threads)
    keys = {point_key(c.id, o, timing) for c in cases for o in orders}
    present = len(keys & {r.get("key") for r in read_sweep(path)[1]}) if path.exists() else 0
    t0 = time.perf_counter()
    run_sweep(cases, path, repeats=args.repeats, warmup=args.warmup,
              min_seconds=args.min_seconds, threads=args.threads, orders=orders,
              progress=not args.quiet, peak_seconds=args.peak_seconds,
              command=_command(args))
    print(f"{len(keys) - present} points measured, {present} already present; {path} "
          f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- report


def _report_options(p: argparse.ArgumentParser) -> None:
    p.description = ("Measure the case grid and write a report: an index and one Markdown page "
                     "per study, with figures, tables, the machine, the command and citations. "
                     "It is built in a temporary folder and swapped in when complete, so an "
                     "interrupted run leaves the previous report intact.")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="full", action="store_false",
                      help="the quick grid, a few minutes on two cores (default)")
    size.add_argument("--full", dest="full", action="store_true",
                      help="every case, longer timings and larger studies")
    p.set_defaults(full=False)
    p.add_argument("--out", default=None, metavar="DIR",
                   help="output directory: new, empty, or an unchanged chainorder report (its "
                        ".chainorder-manifest.json lists everything in it), which is replaced; "
                        "anything else is refused (default: build/report-quick or "
                        "build/report-full, git-ignored; the committed report is regenerated "
                        "with --full --out reports)")
    p.add_argument("--study", action="append", metavar="NAME",
                   help="only this study's page, numbered as in the whole report (the sweep "
                        "still runs: it records the machine), e.g. 'convolution' (each page's "
                        "Reproduce block names its study); repeatable")
    p.add_argument("--benchmark-json", metavar="FILE", default=None,
                   help="a pytest-benchmark JSON file to include in the FLOPs-vs-time page")
    p.add_argument("--sweep", metavar="FILE", default=None,
                   help="start from this saved sweep file; only missing points are measured")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the random chains and sizes (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="BLAS threads while timing; 0 keeps the BLAS default (default: 1)")
    _quiet_option(p)


def _command(args: argparse.Namespace) -> str:
    """The command line that was run, from its recorded arguments."""
    return shlex.join(["chainorder", *getattr(args, "argv", [args.command])])


def _cmd_report(args: argparse.Namespace) -> int:
    """Run ``chainorder report``; print where it wrote."""
    from .lab.report import ReportSettings, default_out_dir, generate_report

    overrides: dict[str, Any] = {"seed": args.seed}
    if args.threads is not None:
        overrides["threads"] = args.threads
    settings = ReportSettings.preset(not args.full, **overrides)
    out = Path(args.out) if args.out is not None else default_out_dir(not args.full)
    index = generate_report(out, settings=settings, benchmark_json=args.benchmark_json,
                            sweep=args.sweep, progress=not args.quiet,
                            command=_command(args), studies=args.study)
    print(f"chainorder report: wrote {index.parent}/ (open {index})")
    return 0


def _time_model() -> Any:
    """The time model of ``plan --time``: one put in force by a caller of :func:`main`, else
    this machine's cached one (the command line is where the user asks for it, so it is
    loaded here), else :class:`NotCalibratedError` naming the cache file, why a file there
    was ignored, and the command that makes one."""
    import warnings

    from .algebra.timemodel import CacheWarning, NotCalibratedError, active_model, load_model

    try:
        return active_model()
    except NotCalibratedError:
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheWarning)  # the error says it all, on one line
        return load_model()


def _calibrate_once(threads: int | None, args: argparse.Namespace) -> Any:
    """``calibrate(...)`` for ``chainorder calibrate``, each warning printed as one line."""
    import warnings

    from .algebra.timemodel import CacheWarning
    from .lab.calibrate import calibrate

    def progress(done: int, total: int) -> None:
        # a line per tenth of the shapes, on stderr: stdout stays the model (or its JSON)
        if done == total or done * 10 // total != (done - 1) * 10 // total:
            print(f"chainorder calibrate: {threads or 'default'} BLAS threads: measured "
                  f"{done} of {total} shapes", file=sys.stderr, flush=True)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CacheWarning)
        model = calibrate(threads=threads, quick=args.quick, force=args.force,
                          directory=args.cache_dir, progress=None if args.quiet else progress)
    for w in caught:
        print(f"chainorder calibrate: warning: {w.message}", file=sys.stderr)
    return model


def _calibrate_options(p: argparse.ArgumentParser) -> None:
    """Add the ``chainorder calibrate`` options to ``p``."""
    p.description = (
        "Measure this machine's product speed by shape class (matrix-matrix, vector-matrix, "
        "matrix-vector, outer, dot, small), fit the time model behind Plan.predicted_seconds "
        "and the 'time_optimal' order, and cache it per machine fingerprint and BLAS threads."
    )
    p.add_argument("--threads", type=int, action="append", metavar="N",
                   help="BLAS threads to calibrate for; repeatable (default: the BLAS default)")
    p.add_argument("--quick", action="store_true", help="a few seconds instead of ~30 s")
    p.add_argument("--force", action="store_true", help="measure again even if cached")
    p.add_argument("--cache-dir", metavar="DIR", help="cache directory (default: "
                   "$CHAINORDER_CACHE_DIR, $XDG_CACHE_HOME/chainorder or ~/.cache/chainorder)")
    p.add_argument("--check", action="store_true",
                   help="then time the quick benchmark grid and print the prediction errors")
    p.add_argument("--case", action="append", metavar="PATTERN",
                   help="with --check: only case ids matching this pattern; repeatable")
    p.add_argument("--repeats", type=int, default=7, metavar="N",
                   help="with --check: interleaved runs per plan (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the model (and check) as JSON")
    _quiet_option(p)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    """Run ``chainorder calibrate``; return the exit status.

    The options are checked before anything is measured; a cached model that
    cannot be used is named in a one-line warning and replaced.
    """
    from .algebra.timemodel import cache_path, check_cache_dir
    from .hardware import blas_threads
    from .lab.calibrate import predicted_vs_measured, prediction_errors
    from .lab.cases import select_cases
    from .timing import Stopwatch

    bad = [t for t in args.threads or [] if t < 1]
    if bad:
        raise ValueError(f"--threads must be >= 1, got {bad[0]}")
    check_cache_dir(args.cache_dir, "--cache-dir")
    cases = select_cases(quick=args.case is None, patterns=args.case) if args.check else []
    for threads in args.threads or [None]:
        with Stopwatch() as took:
            model = _calibrate_once(threads, args)
        with blas_threads(threads):
            path = cache_path(directory=args.cache_dir)
        doc: dict[str, Any] = {"path": str(path), "model": model.to_dict()}
        if not args.json:
            _print_model(model, path, took.seconds)
        if args.check:
            recs = predicted_vs_measured(cases, model=model, threads=threads,
                                         repeats=args.repeats)
            doc["errors"] = prediction_errors(recs)
            if not args.json:
                _print_errors(doc["errors"], threads)
        if args.json:
            print(json.dumps(doc, indent=1))
    return 0


def _rate_text(d: dict[str, Any], unit: str, scale: float = 1.0) -> str:
    if not d:
        return "not measured"
    return (f"best {d['best'] * scale:.3g} {unit}, median {d['median'] * scale:.3g} {unit}, "
            f"spread {d['spread']:.0%} ({d['points']} points)")


def _print_model(model: Any, path: Path, took: float) -> None:
    from .algebra.timemodel import SHAPE_CLASSES

    s, meta = model.summary, model.meta
    print(f"time model for {model.fingerprint.get('cpu_model')}, {model.threads} BLAS thread(s) "
          f"({model.fingerprint.get('blas')} {model.fingerprint.get('blas_version')})")
    print(f"  cache: {path}")
    print(f"  measured {meta.get('created')} in {meta.get('seconds')} s "
          f"({'quick' if meta.get('quick') else 'full'}; {meta.get('shapes')} shapes, "
          f"{meta.get('chains')} chains; load average "
          f"{meta.get('loadavg_start')} -> {meta.get('loadavg_end')}); this call {took:.1f} s")
    print(f"  roof (matrix-matrix):  {_rate_text(s.get('peak_gflops', {}), 'GFLOP/s')}")
    print(f"  memory bandwidth:      {_rate_text(s.get('bandwidth_gbs', {}), 'GB/s')}")
    print(f"  per-call overhead:     {_rate_text(s.get('overhead_seconds', {}), 'us', 1e6)}")
    ratio = s.get("plan_ratio_error")
    if ratio:
        how = (f"median error {ratio['median']:.1%}, 90th percentile {ratio['p90']:.1%} "
               f"({ratio['pairs']} pairs of plans on held-out chains)" if ratio.get("pairs")
               else f"not measured ({ratio['method']})")
        print(f"  plan-time ratios:      {how}; cost='time' leaves the FLOP optimum only "
              f"past a {ratio['margin']:.1%} predicted gain")
    print("  class     points  fit median err  best GFLOP/s  best GB/s   (fit: vs fastest runs)")
    for cls in SHAPE_CLASSES:
        f, r = model.fit.get(cls, {}), s.get("rates", {}).get(cls, {})
        gflops, gbs = r.get("gflops", {}).get("best", 0), r.get("gbs", {}).get("best", 0)
        print(f"  {cls:<8}  {f.get('points', 0):>6}  {f.get('median_rel_error', 0):>14.1%}  "
              f"{gflops:>12.3g}  {gbs:>9.3g}")


def _print_errors(errors: list[dict[str, Any]], threads: int | None) -> None:
    print(f"predicted vs measured, {threads or 'default'} BLAS thread(s): "
          "median |predicted / measured median - 1|")
    print("  level  class     points  median err  90th pct  median signed")
    for e in errors:
        print(f"  {e['level']:<5}  {e['shape_class']:<8}  {e['points']:>6}  "
              f"{e['median_abs_rel_error']:>10.1%}  {e['p90_abs_rel_error']:>8.1%}  "
              f"{e['median_rel_error']:>+13.1%}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
