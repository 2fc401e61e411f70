"""`unitscope examples MODEL DATA UNITS...`: top and bottom dataset examples per unit."""

from __future__ import annotations

import argparse

from .. import examples
from ._common import add_verb_arguments, run_verb

VERB = "examples"
HELP = "the dataset images and patches that excite each unit most and least"
ORDER = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_verb_arguments(parser, examples.ExamplesSettings,
                       ("DATA", "a folder of images or a Broden-format directory"))


def run(args: argparse.Namespace) -> int:
    result, out = run_verb(args, examples.ExamplesSettings, examples.run, args.data)
    print(f"examples: {len(result['units'])} units in {out}/examples/examples.json")
    return 0
