"""The model-randomization sanity check (Adebayo et al. 2018) for the tree's node images.

The top layers' weights are replaced by random ones of the same scale and the node images are
drawn again. A method that explains the model must change (low rank correlation with the
trained images); guided backprop is known to change little, and the figure for it is
reported next to the plain gradient's so readers can see it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from scipy.stats import spearmanr

from ..models import Model
from .paths import Path, path_images


def randomized(model: Model, layers: Sequence[str], seed: int = 0) -> Model:
    """A copy of `model` whose `layers` have Gaussian weights of the original per-tensor std."""
    module = copy.deepcopy(model.module)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in layers:
            for param in module.get_submodule(name).parameters():
                std = float(param.float().std()) if param.numel() > 1 else 0.01
                noise = torch.randn(param.shape, generator=generator) * (std or 0.01)
                param.copy_(noise.to(param.dtype))
    return Model(module, model.input_spec, model.name, model.layer_names, model.class_names)


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float | None:
    """Spearman correlation of two gradients' magnitude maps (|g| summed over colour)."""
    x = a.abs().sum(0).flatten().cpu().numpy()
    y = b.abs().sum(0).flatten().cpu().numpy()
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(spearmanr(x, y).statistic)


def sanity_check(model: Model, image: torch.Tensor, root_layer: str, root_channel: int,
                 paths: Sequence[Path], top_layers: Sequence[str],
                 rules: Sequence[str] = ("gradient", "guided"), seed: int = 0) -> dict:
    """Mean Spearman correlation, per rule, between trained and top-randomized node images."""
    shuffled = randomized(model, top_layers, seed)
    result = {"randomized_layers": list(top_layers), "nodes": len(paths), "seed": seed,
              "metric": "spearman of |gradient|", "spearman": {}}
    for rule in rules:
        trained = path_images(model, image, root_layer, root_channel, paths, rule)
        random = path_images(shuffled, image, root_layer, root_channel, paths, rule)
        values = [rank_correlation(a, b) for a, b in zip(trained, random, strict=True)]
        values = [v for v in values if v is not None]
        result["spearman"][rule] = float(np.mean(values)) if values else None
    return result
