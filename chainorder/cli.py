"""The ``chainorder`` command line: plan, article, orders, gjc, verify, sweep and report."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .algebra.costs import COST_UNIT
from .algebra.gjc import GJC_COST_UNIT, TIES, optimize_gjc
from .algebra.gjc_format import read_chain
from .algebra.orders import ORDERS, plan
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
    p.set_defaults(func=_cmd_plan)

    a = sub.add_parser("article", help="the article's predicted costs beside counted ones")
    a.add_argument("--x", type=int, required=True, metavar="N", help="|x|, the input size")
    a.add_argument("--z1", type=int, required=True, metavar="N", help="|z1|, the first hidden size")
    a.add_argument("--z3", type=int, required=True, metavar="N", help="|z3|, the output size")
    a.add_argument("--z2", type=int, default=None, metavar="N", help="|z2| (default: |z1|)")
    a.add_argument("--seed", type=int, default=0, help="seed of the network's weights")
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
    g.add_argument("--json", action="store_true", help="print JSON instead of a table")
    g.set_defaults(func=_cmd_gjc)

    from .lab import report, sweep, verify  # none imports pandas or matplotlib at module level

    v = sub.add_parser("verify", help="check Hu-Shing against an independent DP on many chains")
    verify.configure_parser(v)
    v.set_defaults(func=verify.run_cli)

    s = sub.add_parser("sweep", help="measure a grid of chains under every order (resumable)")
    sweep.configure_parser(s)
    s.set_defaults(func=sweep.run_cli)
    r = sub.add_parser("report", help="regenerate the reports/ directory from fresh measurements")
    report.configure_parser(r)
    r.set_defaults(func=report.run_cli)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 ok, 2 bad input, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, KeyError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"chainorder {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"chainorder {args.command}: interrupted", file=sys.stderr)
        return 130


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
    plans = {name: plan(dims, name) for name in names}
    best = plans["optimal"]
    if args.json:
        doc: dict[str, Any] = {"dims": dims, "n": len(dims) - 1, "unit": UNIT}
        for name, pl in plans.items():
            doc[name] = {**pl.to_dict(), "ratio_to_optimal": best.speedup(pl)}
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
    return 0


def _cmd_article(args: argparse.Namespace) -> int:
    from .networks.article import article_table

    table = article_table(args.x, args.z1, args.z3, args.z2, seed=args.seed)
    if args.json:
        print(table.to_json(orient="records", indent=2))
        return 0
    print(
        f"The article's network: |x|={args.x}, |z1|={args.z1}, "
        f"|z2|={args.z2 or args.z1}, |z3|={args.z3}"
    )
    print(f"cost unit: {UNIT}")
    print(table.to_string(index=False))
    return 0


def _cmd_gjc(args: argparse.Namespace) -> int:
    best = optimize_gjc(read_chain(Path(args.file)), memory=args.memory, ties=args.ties)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
