"""`unitscope graph MODEL DATA`: the dataset-wide composition graph."""

from __future__ import annotations

import argparse

from ..compose import graph
from ._common import add_model_arguments, add_out_argument, model_from_args, progress, run_dir

VERB = "graph"
HELP = "dataset-wide composition graph: each unit's strongest children and parents"
ORDER = 55


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("data", metavar="DATA", help="a Broden directory or a folder of images")
    graph.GraphSettings.add_arguments(parser)
    add_out_argument(parser)


def run(args: argparse.Namespace) -> int:
    settings = graph.GraphSettings.from_args(args)
    model = model_from_args(args)
    out = run_dir(args, model)
    result = graph.run(model, args.data, settings, out, progress=progress(args))
    print(f"graph: {len(result['edges'])} units over {result['images']} images in {out}/graph/graph.json")
    return 0
