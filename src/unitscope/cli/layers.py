"""`unitscope layers MODEL`: every hookable module with its output shape and channel count."""

from __future__ import annotations

import argparse

from ..models.source import ModelSource
from ..models.tracing import LayersSettings, trace_layers
from ._common import add_model_arguments

VERB = "layers"
HELP = ("list every hookable module with its channels, positions (map grid, ViT tokens) and output shape "
        "(no weights are read)")
ORDER = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    LayersSettings.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    settings = LayersSettings.from_args(args)
    source = ModelSource.from_args(args)
    if source.weights == "DEFAULT":
        source = source.replace(weights="none")  # shapes do not depend on weights: read none
    model = source.load()
    if settings.size is not None:
        model.check_input_size(settings.size)
    rows = trace_layers(model, settings.size)
    width = max(len(r.name) for r in rows)
    kind_w = max(len(r.kind) for r in rows)
    size = settings.size or model.input_spec.size
    shown = {"image": f"3x{size}x{size}", "tabular": f"rows of {model.example_input(1).shape[1]} features",
             "text": "character ids"}[model.modality]
    print(f"# {model.name}: {len(rows)} hookable modules, input {shown}")
    print(f"{'layer':<{width}}  {'type':<{kind_w}}  {'channels':>8}  {'positions':<22}  output shape")
    for r in rows:
        shape = "x".join(str(d) for d in r.shape[1:])
        note = f"  (called {r.calls}x)" if r.calls > 1 else ""
        positions = r.layout.positions()
        print(f"{r.name:<{width}}  {r.kind:<{kind_w}}  {r.channels:>8}  {positions:<22}  {shape}{note}")
    return 0

