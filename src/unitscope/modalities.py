"""Which implementation a verb uses for a model's input kind: images (the default), feature
vectors (tabular) or character sequences (text). Image verbs call `delegate` first."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from torch import nn

from .errors import BadInputError

# (modality, verb) -> module whose `run(model, data, settings, out, progress)` carries it out
MODULES = {
    ("tabular", "visualize"): "unitscope.tabular.visualize",
    ("tabular", "examples"): "unitscope.tabular.examples",
    ("tabular", "dissect"): "unitscope.tabular.dissect",
    ("text", "visualize"): "unitscope.sequence.visualize",
    ("text", "examples"): "unitscope.sequence.examples",
    ("text", "dissect"): "unitscope.sequence.dissect",
}


def delegate(verb: str, model: Any, data: Any, settings: Any, out: str | Path | None,
             progress: bool) -> Any:
    """The verb's result on a tabular or text model; None for an image model (the caller goes on)."""
    modality = getattr(model, "modality", "image")
    if modality == "image":
        return None
    if (modality, verb) not in MODULES:
        done = ", ".join(v for m, v in MODULES if m == modality)
        raise BadInputError(f"{verb} works on image models only; {model.name} is a {modality} model "
                            f"(its verbs: {done})")
    module = importlib.import_module(MODULES[(modality, verb)])
    return module.run(model, data, settings, out, progress=progress)


def infer_modality(module: nn.Module) -> str:
    """A model's input kind from its first layer with weights: an Embedding reads tokens ("text"),
    a Linear or BatchNorm1d feature vectors ("tabular"), anything else images."""
    for child in module.modules():
        if isinstance(child, nn.Embedding):
            return "text"
        if isinstance(child, (nn.Linear, nn.BatchNorm1d)):
            return "tabular"
        if isinstance(child, nn.Conv2d):
            return "image"
    return "image"
