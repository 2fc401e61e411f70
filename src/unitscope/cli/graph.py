"""`unitscope graph MODEL DATA`: the dataset-wide composition graph."""

from __future__ import annotations

from ..compose import graph
from ._common import VerbCommand

COMMAND = VerbCommand(
    "graph", "dataset-wide composition graph: each unit's strongest children and parents", 55,
    graph.GraphSettings, graph.run, ("DATA", "a Broden directory or a folder of images"),
    lambda result, out: f"graph: {len(result['edges'])} units over {result['images']} images in "
                        f"{out}/graph/graph.json")
