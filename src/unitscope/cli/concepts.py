"""`unitscope concepts OUT`: draw the concept world as a Broden-format dataset."""

from __future__ import annotations

import argparse
import time

from ..data.concepts import generate
from ..data.concepts.generate import ConceptsSettings
from ._common import progress

VERB = "concepts"
HELP = "draw the synthetic concept world (pixel-labelled, Broden format) into a folder"
ORDER = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="output folder (created)")
    ConceptsSettings.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    settings = ConceptsSettings.from_args(args)
    start = time.time()
    result = generate.run(None, None, settings, args.out, progress=progress(args))
    if settings.text:
        print(f"wrote a code world of {result['characters']} characters (seed {settings.seed}) to "
              f"{result.run_dir} in {time.time() - start:.1f}s")
        print("characters per concept: " + ", ".join(f"{c} {n}" for c, n in result["labels"].items()))
        return 0
    print(f"wrote {settings.n} images ({settings.size}px, seed {settings.seed}) to {result.run_dir} "
          f"in {time.time() - start:.1f}s")
    print("labels per category: " + ", ".join(f"{c} {n}" for c, n in result["labels"].items()))
    return 0
