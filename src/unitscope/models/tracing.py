"""Shapes and execution order of every module, from one dummy forward."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import nn

from ..probe import first_tensor
from ..settings import Settings, option
from .layout import Layout

if TYPE_CHECKING:  # spec.py imports this module; at run time nothing here needs Model's class
    from .spec import Model


@dataclass(frozen=True)
class LayersSettings(Settings):
    """`unitscope layers`: the input size of the dummy forward (the model's own by default)."""

    VERB: ClassVar[str] = "layers"
    size: int | None = option(None, "input size for the dummy forward (default: the model's)", low=1)


@dataclass(frozen=True)
class LayerInfo:
    """One hookable module as seen in a forward pass, with how its output holds channels."""

    name: str
    kind: str
    shape: tuple[int, ...]
    calls: int
    layout: Layout

    @property
    def channels(self) -> int:
        return self.layout.channels


def hookable_names(module: nn.Module) -> list[str]:
    """Every named submodule (the root excluded), in registration order."""
    return [name for name, _ in module.named_modules() if name]


def trace_layers(model: Model, size: int | None = None) -> list[LayerInfo]:
    """Run one example through the model and list modules in the order their outputs appeared."""
    order: dict[str, LayerInfo] = {}
    handles = []
    for name, module in model.module.named_modules():
        if not name:
            continue

        def hook(m, _i, out, name=name):
            out = first_tensor(out)
            if out is None:
                return
            prev = order.get(name)
            calls = prev.calls + 1 if prev else 1
            order.pop(name, None)  # re-insert so the order reflects the last call
            shape = tuple(out.shape)
            order[name] = LayerInfo(name, type(m).__name__, shape, calls, model.layout_of(shape, 1))

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(model.example_input(1, size))
    finally:
        for h in handles:
            h.remove()
    return list(order.values())


def layer_shapes(model: Model, names: Sequence[str], raw: bool = False) -> dict[str, tuple[int, ...]]:
    """Shape of each named layer for a batch of one at the model's input size: as the verbs read
    it ([1, C, H, W] maps, [1, C] vectors), or with `raw` as the module returns it."""
    from ..probe import Probe

    probe = Probe(model.module, names, stop_early=True) if raw else model.probe(names)
    with probe, torch.no_grad():
        acts = probe(model.prepare(model.example_input(1)))
    return {name: tuple(a.shape) for name, a in acts.items()}
