"""`tabular-toy`: a small MLP on scikit-learn's breast-cancer table (weights in the package)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError
from ..models.checkpoints import read_state_dict
from ..models.spec import InputSpec, Model
from ..models.tracing import hookable_names
from .spec import TableSpec

WEIGHTS = "tabular_toy.pt"
HIDDEN = (32, 16)
CLASSES = ["malignant", "benign"]


class Standardize(nn.Module):
    """(x - mean) / std with the training data's statistics, so the model reads raw rows."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class TabularToy(nn.Sequential):
    """standardize -> fc1 -> relu1 -> fc2 -> relu2 -> fc3 (two classes)."""

    def __init__(self, spec: TableSpec) -> None:
        stats = spec.tensors()
        width = len(spec.features)
        super().__init__()
        self.add_module("standardize", Standardize(stats["mean"], stats["std"]))
        self.add_module("fc1", nn.Linear(width, HIDDEN[0]))
        self.add_module("relu1", nn.ReLU())
        self.add_module("fc2", nn.Linear(HIDDEN[0], HIDDEN[1]))
        self.add_module("relu2", nn.ReLU())
        self.add_module("fc3", nn.Linear(HIDDEN[1], len(CLASSES)))


def load_tabular_toy(weights: str | Path | None) -> Model:
    """The trained MLP ("DEFAULT"), random weights (None) or a state_dict file."""
    shipped = _shipped()
    spec = TableSpec.from_dict(shipped["table_spec"]) if shipped else _fresh_spec()
    module = TabularToy(spec)
    state = shipped.get("state_dict") if weights == "DEFAULT" else (
        None if weights is None else read_state_dict(weights))
    if state is not None:
        try:
            module.load_state_dict(state)
        except RuntimeError as exc:
            raise CheckpointError(f"weights do not fit tabular-toy: {str(exc)[:200]}") from None
    return Model(module, InputSpec(), "tabular-toy", hookable_names(module), list(CLASSES),
                 modality="tabular", data_spec=spec)


def _shipped() -> dict[str, Any]:
    ref = resources.files("unitscope.models") / "weights" / WEIGHTS
    if not ref.is_file():
        return {}
    with resources.as_file(ref) as path:
        return torch.load(path, map_location="cpu", weights_only=True)


def _fresh_spec() -> TableSpec:
    """The spec of the breast-cancer features, for a package without shipped weights."""
    from .table import builtin_frame

    frame = builtin_frame()
    return TableSpec.from_frame(frame, [c for c in frame.columns if c != "target"])
