"""`unitscope visualize MODEL UNITS`: feature visualization by optimization into a run dir."""

from __future__ import annotations

import argparse

from ..optvis import visualize
from ._common import VerbCommand


def _from_image(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from-image", metavar="PATH",
                        help="start from this photo instead of noise (DeepDream-style)")
    parser.add_argument("--data", metavar="PATH",
                        help="tabular and text models: the table (CSV) or text whose values bound the "
                        "optimized input (default: what the model ships with)")


def _summary(result: visualize.VisualizeResult, out: str) -> str:
    sheets = ", ".join(result["sheets"])
    return f"visualize: {len(result['units'])} images in {out}/visualize (sheets: {sheets})"


COMMAND = VerbCommand("visualize", "render the image each unit wants most (and least) by optimization", 20,
                      visualize.VisualizeSettings, visualize.run, None, _summary,
                      extra_arguments=_from_image, data_of=lambda args: args.data or args.from_image)
