"""Which layers a composition tree walks, in forward order, and which unit it starts from."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import BadInputError, UnitOutOfRangeError
from ..models import Model, trace_layers
from ..units import Unit
from .forward import forward

_WEIGHTED = (nn.Conv2d, nn.Linear)


def forward_order(model: Model) -> list[str]:
    """Every hookable module name in the order its output appears in a forward pass."""
    return [row.name for row in trace_layers(model)]


def _has_weights(module: nn.Module) -> bool:
    return any(isinstance(m, _WEIGHTED) for m in module.modules())


def default_layers(model: Model) -> list[str]:
    """Top-level children holding a conv or linear layer (toy: conv1..conv5, fc6, fc7, fc8).

    When fewer than three top-level children qualify (VGG's `features`/`classifier`), every
    Conv2d/Linear module is used instead. Always in forward order.
    """
    order = forward_order(model)
    top = [n for n, m in model.module.named_children() if _has_weights(m) and n in order]
    if len(top) < 3:
        top = [n for n, m in model.module.named_modules() if isinstance(m, _WEIGHTED)]
    return sorted((n for n in top if n in order), key=order.index)


def check_layers(model: Model, layers: Sequence[str]) -> list[str]:
    """Validate names and forward order; a one-line error says which pair is out of order."""
    layers = [name.strip() for name in layers if name.strip()]
    if len(layers) < 2:
        raise BadInputError("--layers needs at least two layers, e.g. conv1,conv2,fc8")
    for name in layers:
        model.check_layer(name)
    if len(set(layers)) != len(layers):
        raise BadInputError(f"--layers names a layer twice: {','.join(layers)}")
    order = forward_order(model)
    for a, b in zip(layers, layers[1:], strict=False):
        if order.index(a) > order.index(b):
            raise BadInputError(
                f"--layers must be in forward order: '{a}' runs after '{b}'; "
                f"write them from the input side to the output side"
            )
    return layers


def resolve_root(model: Model, root: str | None, layers: list[str], image: torch.Tensor
                 ) -> tuple[str, int, list[str]]:
    """(layer, channel, layers up to the root) for 'LAYER:auto' or 'LAYER:UNIT'.

    'auto' picks the unit with the largest activation (summed over positions) on the image:
    the predicted class when the layer holds logits.
    """
    root = root or f"{layers[-1]}:auto"
    layer, sep, unit = root.partition(":")
    if layer not in layers:
        raise BadInputError(
            f"root layer '{layer}' is not one of the tree's layers ({','.join(layers)}); "
            f"add it to --layers or pick a root in one of them"
        )
    kept = layers[: layers.index(layer) + 1]
    if len(kept) < 2:
        raise BadInputError(f"root layer '{layer}' is the first layer; it has no layer below it")
    if not sep or unit == "auto":
        return layer, _auto_channel(model, layer, image), kept
    parsed = model.check_unit(Unit.parse(root))
    channels = parsed.channels or []
    if len(channels) != 1:
        raise UnitOutOfRangeError(f"root '{root}' must name one unit, e.g. {layer}:3 or {layer}:auto")
    return layer, channels[0], kept


def _auto_channel(model: Model, layer: str, image: torch.Tensor) -> int:
    act = forward(model, image.unsqueeze(0), [layer], grad=False)[1][layer]
    return int(act[0].reshape(act.shape[1], -1).sum(1).argmax())
