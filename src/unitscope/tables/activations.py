"""Every unit's activation on every row of a table, in batches without gradients."""

from __future__ import annotations

import numpy as np
import torch

from ..models import Model
from ..units import Unit


def record_rows(model: Model, inputs: np.ndarray, layers: list[str], batch_size: int = 256
                ) -> dict[str, np.ndarray]:
    """[rows, channels] float32 per layer (a layer read as a vector: one value per unit and row)."""
    found: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
    probe = model.probe(layers)
    with probe, torch.no_grad():
        for start in range(0, len(inputs), batch_size):
            batch = model.to_device(torch.from_numpy(inputs[start:start + batch_size]))
            for layer, acts in probe(batch).items():
                found[layer].append(acts.float().flatten(1).cpu().numpy())
    return {layer: np.concatenate(parts) for layer, parts in found.items()}


def unit_columns(model: Model, units: list[Unit], inputs: np.ndarray, batch_size: int = 256
                 ) -> np.ndarray:
    """[rows, units]: each unit's activation on each row."""
    layers = list(dict.fromkeys(u.layer for u in units))
    acts = record_rows(model, inputs, layers, batch_size)
    return np.stack([acts[u.layer][:, u.index] for u in units], 1)
