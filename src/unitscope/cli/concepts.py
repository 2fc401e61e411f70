"""`unitscope concepts OUT`: draw the concept world as a Broden-format dataset."""

from __future__ import annotations

import argparse
import csv
import sys
import time

VERB = "concepts"
HELP = "draw the synthetic concept world (pixel-labelled, Broden format) into a folder"
ORDER = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT", help="output folder (created)")
    parser.add_argument("--n", type=int, default=2000, help="number of images (default 2000)")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    parser.add_argument("--seed", type=int, default=0, help="world seed (default 0)")


def run(args: argparse.Namespace) -> int:
    from ..data.concepts import generate

    start = time.time()
    root = generate(
        args.out, n=args.n, size=args.size, seed=args.seed,
        progress=not args.quiet and sys.stderr.isatty(),
    )  # fmt: skip
    print(f"wrote {args.n} images ({args.size}px, seed {args.seed}) to {root} "
          f"in {time.time() - start:.1f}s")  # fmt: skip
    with open(root / "category.csv", newline="") as handle:
        counts = [f"{row['name']} {row['count']}" for row in csv.DictReader(handle)]
    print("labels per category: " + ", ".join(counts))
    return 0
