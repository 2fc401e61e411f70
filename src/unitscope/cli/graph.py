"""`unitscope graph MODEL DATA`: the dataset-wide composition graph."""

from __future__ import annotations

import argparse

from ..compose import graph
from ._common import add_verb_arguments, run_verb

VERB = "graph"
HELP = "dataset-wide composition graph: each unit's strongest children and parents"
ORDER = 55


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_verb_arguments(parser, graph.GraphSettings, ("DATA", "a Broden directory or a folder of images"))


def run(args: argparse.Namespace) -> int:
    result, out = run_verb(args, graph.GraphSettings, graph.run, args.data)
    print(f"graph: {len(result['edges'])} units over {result['images']} images in {out}/graph/graph.json")
    return 0
