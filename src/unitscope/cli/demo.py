"""`unitscope demo`: every verb on the built-in toy model and a fresh concept world, then the site."""

from __future__ import annotations

import argparse
import sys

from ..demo import run_demo

VERB = "demo"
HELP = "run unitscope end to end on the built-in toy model and concept world (what `make demo` runs)"
ORDER = 90


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo",
                        help="run directory (replaced if made by an earlier demo)")
    parser.add_argument("--quick", action="store_true", help="a tiny one-minute version (used by the tests)")
    parser.add_argument("--data",
                        help="reuse this Broden-format folder instead of drawing a new concept world")


def run(args: argparse.Namespace) -> int:
    progress = not args.quiet and sys.stderr.isatty()
    run_demo(args.out, quick=args.quick, progress=progress, data=args.data)
    return 0
