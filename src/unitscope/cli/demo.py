"""`unitscope demo`: the main job on the built-in model and concept world."""

from __future__ import annotations

import argparse

from ..models import load_model, trace_layers

VERB = "demo"
HELP = "run unitscope end to end on the built-in toy model"
ORDER = 90


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="run directory")
    parser.add_argument("--quick", action="store_true", help="a one-minute version")


def run(args: argparse.Namespace) -> int:
    model = load_model("toy")
    rows = trace_layers(model)
    print(f"demo: loaded '{model.name}' with {len(rows)} hookable modules:")
    for r in rows:
        print(f"  {r.name:<8} {r.kind:<12} {'x'.join(map(str, r.shape[1:]))}")
    return 0
