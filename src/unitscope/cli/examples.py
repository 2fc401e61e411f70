"""`unitscope examples MODEL DATA UNITS...`: top and bottom dataset examples per unit."""

from __future__ import annotations

import argparse

from ._common import add_model_arguments, model_from_args, run_dir

VERB = "examples"
HELP = "the dataset images and patches that excite each unit most and least"
ORDER = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("data", metavar="DATA", help="a folder of images or a Broden-format directory")
    parser.add_argument("units", metavar="UNITS", nargs="+", help="unit addresses, e.g. conv5 conv3:0-9")
    parser.add_argument("--k", type=int, default=8, help="examples per unit and side (default 8)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0, help="data loading processes (default 0)")
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], default=None)
    parser.add_argument("--out", help="run directory (default runs/<model>)")


def run(args: argparse.Namespace) -> int:
    from ..examples import run_examples

    model = model_from_args(args)
    out = run_dir(args, model)
    result = run_examples(model, args.data, args.units, out, k=args.k, batch_size=args.batch_size,
                          progress=not args.quiet, precision=args.precision, workers=args.workers)
    print(f"examples: {len(result['units'])} units in {out}/examples/examples.json")
    return 0
