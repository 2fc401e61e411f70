"""`unitscope explore RUN_DIR`: build the static explorer site from a run's artifacts."""

from __future__ import annotations

import argparse
import sys

from ..explore import build_site

VERB = "explore"
HELP = "build a static HTML site (one page per unit) from a run directory"
ORDER = 80


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory with a manifest.json")
    parser.add_argument("--out", help="site folder (default RUN_DIR/site)")


def run(args: argparse.Namespace) -> int:
    progress = not args.quiet and sys.stderr.isatty()
    index = build_site(args.run_dir, args.out, progress=progress)
    print(f"explore: open {index.resolve().as_uri()}")
    return 0
