"""`unitscope compose MODEL IMAGE`: the feature-composition tree of one unit on one image."""

from __future__ import annotations

import argparse

from ..compose import pipeline
from ._common import add_verb_arguments, run_verb

VERB = "compose"
HELP = "tree of the lower units that built one unit's response on an image"
ORDER = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_verb_arguments(parser, pipeline.ComposeSettings,
                       ("IMAGE", "image file (resized to the model's size)"))


def run(args: argparse.Namespace) -> int:
    result, out = run_verb(args, pipeline.ComposeSettings, pipeline.run, args.data)
    print(f"compose: {len(result['nodes'])} nodes under {result['root']} reaching "
          f"{result.layers_reached()[0]}; open {out}/{result['html']}")
    return 0
