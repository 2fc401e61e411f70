"""Which implementation a verb uses for a model's input kind: images (the default), feature
vectors (tabular) or character sequences (text). Image verbs call `delegate` first."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import BadInputError

EXAMPLE_LENGTH = 16  # characters of the stand-in line a text model is traced with

# (modality, verb) -> module whose `run(model, data, settings, out, progress)` carries it out
MODULES = {
    ("tabular", "visualize"): "unitscope.tables.visualize",
    ("tabular", "examples"): "unitscope.tables.examples",
    ("tabular", "dissect"): "unitscope.tables.dissect",
    ("text", "visualize"): "unitscope.sequences.visualize",
    ("text", "examples"): "unitscope.sequences.examples",
    ("text", "dissect"): "unitscope.sequences.dissect",
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
    _refuse_image_options(settings, modality)
    module = importlib.import_module(MODULES[(modality, verb)])
    return module.run(model, data, settings, out, progress=progress)


# settings that only image verbs read: set on a tabular or text model they are refused, not ignored
IMAGE_ONLY = ("rotation", "baseline", "negative_dissect", "shard", "resume", "size", "param", "diversity",
              "variants", "maco_spectrum")


def _refuse_image_options(settings: Any, modality: str) -> None:
    """One line naming the first image-only setting changed from its default."""
    if settings is None:
        return
    for field in dataclasses.fields(settings):
        name = field.name
        if name == "negative" and type(settings).__name__ == "DissectSettings":
            name = "negative_dissect"
        if name in IMAGE_ONLY and getattr(settings, field.name) != field.default:
            flag = "--" + field.name.replace("_", "-")
            raise BadInputError(f"{flag} applies to image models only; leave it out for this "
                                f"{modality} model")


def example_input(module: nn.Module, modality: str, batch: int) -> torch.Tensor:
    """A stand-in input for shape discovery when the model carries no data spec: zero rows as
    wide as the first Linear reads (tabular), or a line of character id 0 (text)."""
    if modality == "text":
        return torch.zeros(batch, EXAMPLE_LENGTH, dtype=torch.long)
    width = next((m.in_features for m in module.modules() if isinstance(m, nn.Linear)), None)
    if width is None:
        raise BadInputError("a tabular model needs a Linear layer (its in_features is the row width)")
    return torch.zeros(batch, width)


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
