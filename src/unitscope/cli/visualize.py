"""`unitscope visualize MODEL UNITS`: feature visualization by optimization into a run dir."""

from __future__ import annotations

import argparse

from ..optvis import visualize
from ._common import add_verb_arguments, run_verb

VERB = "visualize"
HELP = "render the image each unit wants most (and least) by optimization"
ORDER = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_verb_arguments(parser, visualize.VisualizeSettings)
    parser.add_argument("--from-image", metavar="PATH",
                        help="start from this photo instead of noise (DeepDream-style)")


def run(args: argparse.Namespace) -> int:
    result, out = run_verb(args, visualize.VisualizeSettings, visualize.run, args.from_image)
    print(f"visualize: {len(result['units'])} images in {out}/visualize "
          f"(sheets: {', '.join(result['sheets'])})")
    return 0
