"""`unitscope explore RUN_DIR`: build the static explorer site from a run's artifacts."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import explore
from ._common import progress

VERB = "explore"
HELP = "build a static HTML site (one page per unit) from a run directory"
ORDER = 80


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run directory with a manifest.json")
    explore.ExploreSettings.add_arguments(parser)
    parser.add_argument("--out", help="site folder (default RUN_DIR/site)")


def run(args: argparse.Namespace) -> int:
    settings = explore.ExploreSettings.from_args(args)
    result = explore.run(None, args.run_dir, settings, args.out, progress=progress(args))
    print(f"explore: open {Path(result['index']).resolve().as_uri()}")
    return 0
