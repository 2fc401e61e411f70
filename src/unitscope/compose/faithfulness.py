"""How much of a parent the chosen children really explain: coverage and an ablation check.

Coverage = the chosen children's scores / the parent's total positive contribution (a
first-order figure). Ablation zeroes the chosen children in a real forward pass and reports
how far the parent's response (sum of its map) falls, in % of its original value: it catches
the cases where the linear grad x act picture misleads. All ablations that zero channels of
the same layer run as one batched forward.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..models.layout import layout_of, prefix_hint
from ..probe import first_tensor, module_lookup
from .forward import forward


@dataclass(frozen=True)
class Ablation:
    """Zero `children` (channels of `child_layer`) and watch unit `channel` of `parent_layer`."""

    parent_layer: str
    channel: int
    child_layer: str
    children: tuple[int, ...]
    value: float  # the parent's response without ablation


def coverage(chosen_scores: Sequence[float], positive_total: float) -> float | None:
    """Share of the parent's positive contribution its chosen children explain (None if none)."""
    return sum(chosen_scores) / positive_total if positive_total > 0 else None


def drop_percent(value: float, ablated: float) -> float | None:
    """100 * (value - ablated) / |value|; None when the parent did not respond at all."""
    return 100.0 * (value - ablated) / abs(value) if value != 0 else None


def _zeroing_hook(items: list[Ablation], hint: int | None):
    """Forward hook zeroing, in copy b of the batch, the channels chosen for item b (features over
    the patch grid for a token layer: its map is zeroed and the output rebuilt from it)."""

    def hook(_module, _inputs, output):
        tensor = first_tensor(output)
        if tensor.shape[0] != len(items):  # the probe's one-example shape-discovery pass
            return None
        layout = layout_of(tuple(tensor.shape), hint, len(items))
        as_map = layout.to_map(tensor)
        mask = as_map.new_ones(as_map.shape[:2])
        for b, item in enumerate(items):
            mask[b, list(item.children)] = 0.0
        zeroed = layout.from_map(as_map * mask.view(*mask.shape, *([1] * (as_map.dim() - 2))), tensor)
        return zeroed if output is tensor else (zeroed, *output[1:])

    return hook


def _run_group(model, image: torch.Tensor, items: list[Ablation]) -> list[float]:
    child_layer, parent_layer = items[0].child_layer, items[0].parent_layer
    module = module_lookup(model.module, [child_layer])[child_layer]
    handle = module.register_forward_hook(_zeroing_hook(items, prefix_hint(model.module)))
    try:
        batch = image.unsqueeze(0).repeat(len(items), 1, 1, 1)
        acts = forward(model, batch, [parent_layer], grad=False)[1][parent_layer]
    finally:
        handle.remove()
    return [float(acts[b, item.channel].sum()) for b, item in enumerate(items)]


def ablation_drops(model, image: torch.Tensor, items: Sequence[Ablation], batch: int = 32
                   ) -> list[float | None]:
    """Drop in % of each parent's response when its chosen children are zeroed."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        groups[(item.child_layer, item.parent_layer)].append(i)
    drops: list[float | None] = [None] * len(items)
    for indices in groups.values():
        for start in range(0, len(indices), batch):
            chunk = indices[start : start + batch]
            ablated = _run_group(model, image, [items[i] for i in chunk])
            for i, value in zip(chunk, ablated, strict=True):
                drops[i] = drop_percent(items[i].value, value)
    return drops
