"""`unitscope graph MODEL DATA`: the dataset-wide composition graph (mean grad x act)."""

from __future__ import annotations

import argparse

from ..compose.graph import dataset_graph
from ..errors import BadInputError
from ._common import add_model_arguments, model_from_args, run_dir

VERB = "graph"
HELP = "dataset-wide composition graph: each unit's strongest children and parents"
ORDER = 55


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("data", metavar="DATA", help="a Broden directory or a folder of images")
    parser.add_argument("--layers", help="comma-separated layers in forward order "
                        "(default: the model's conv/fc layers)")
    parser.add_argument("--images", type=int, default=64, help="images averaged over (64)")
    parser.add_argument("--top", type=int, default=8, help="children/parents kept per unit (8)")
    parser.add_argument("--batch", type=int, default=16, help="images per forward pass (16)")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="fp32",
                        help="bf16 autocast where fast (auto) or fp32 (default)")
    parser.add_argument("--out", help="run directory (default runs/<model>)")


def run(args: argparse.Namespace) -> int:
    for flag, value in (("--images", args.images), ("--top", args.top), ("--batch", args.batch)):
        if value < 1:
            raise BadInputError(f"{flag} must be at least 1, got {value}")
    model = model_from_args(args)
    layers = args.layers.split(",") if args.layers else None
    out = run_dir(args, model)
    data = dataset_graph(model, args.data, layers, out, images=args.images, top=args.top,
                         progress=not args.quiet, batch=args.batch, precision=args.precision)
    print(f"graph: {len(data['edges'])} units over {data['images']} images in {out}/graph/graph.json")
    return 0
