"""The model-randomization sanity check (Adebayo et al. 2018) for the tree's root image.

Following their cascading protocol, the top layers' weights are replaced by random ones of the
same scale, one more layer at a time from the top, and the root's gradient image is drawn again
after each step. An explanation of the model must change (rank correlation with the trained
image near 0). Guided backprop is known to change little; its figure is reported next to the
plain gradient's. The check uses the root's image: node images further down follow one channel
per layer, and in a randomized model that channel is often silent, which would make any rule
look "sensitive" for the wrong reason.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from ..models import Model
from .paths import path_images


def randomized(model: Model, layers: Sequence[str], seed: int = 0) -> Model:
    """A copy of `model` whose `layers` have Gaussian weights of the original per-tensor std."""
    module = copy.deepcopy(model.module)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in layers:
            for param in module.get_submodule(name).parameters():
                std = float(param.float().std()) if param.numel() > 1 else 0.0
                noise = torch.randn(param.shape, generator=generator) * (std or 0.01)
                param.copy_(noise.to(param.dtype))
    return Model(module, model.input_spec, model.name, model.layer_names, model.class_names)


def rank_correlation(a: torch.Tensor, b: torch.Tensor, absolute: bool = False) -> float | None:
    """Spearman correlation of two 3xHxW gradients (signed, or of |g| summed over colour).

    An image that became constant (all zero) while the other is not counts as 0: it changed
    completely. Two constant images give None.
    """
    if absolute:
        x, y = a.abs().sum(0).flatten().numpy(), b.abs().sum(0).flatten().numpy()
    else:
        x, y = a.flatten().numpy(), b.flatten().numpy()
    flat_x, flat_y = np.ptp(x) == 0, np.ptp(y) == 0
    if flat_x or flat_y:
        return None if flat_x and flat_y else 0.0
    return spearman(x, y)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho as Pearson's r of average ranks (scipy's definition, without scipy)."""
    return float(pd.Series(x).rank().corr(pd.Series(y).rank()))


def sanity_check(model: Model, image: torch.Tensor, root_layer: str, root_channel: int,
                 top_layers: Sequence[str], rules: Sequence[str] = ("gradient", "guided"),
                 seed: int = 0) -> dict:
    """Spearman correlations (signed and |g|) of the root image, trained vs cascading random."""
    cascade = []
    order = list(reversed(top_layers))  # randomize from the top down
    trained = {rule: path_images(model, image, root_layer, root_channel, [[]], rule)[0].cpu()
               for rule in rules}
    for step in range(1, len(order) + 1):
        shuffled = randomized(model, order[:step], seed)
        entry = {"randomized": order[:step], "spearman": {}, "spearman_abs": {}}
        for rule in rules:
            random = path_images(shuffled, image, root_layer, root_channel, [[]], rule)[0].cpu()
            entry["spearman"][rule] = rank_correlation(trained[rule], random)
            entry["spearman_abs"][rule] = rank_correlation(trained[rule], random, absolute=True)
        cascade.append(entry)
    last = cascade[-1]
    return {"randomized_layers": order, "seed": seed, "image": "root",
            "metric": "Spearman rank correlation, trained vs randomized (1 = unchanged)",
            "spearman": last["spearman"], "spearman_abs": last["spearman_abs"],
            "cascade": cascade}
