"""The optimal input row of tabular units: Adam in standardized feature space, inside the data's
box, near the data, with one-hot groups kept one-hot.

The objective of row r is sign * activation - prior * (z P z) / F, where z is the standardized
row, P the inverse of the data's (ridged) correlation matrix and F the number of features: the
squared Mahalanobis distance to the data's mean per feature, so `prior` weighs the same for any
width. After each step z is clamped to the observed [min, max] of every feature. A one-hot group is
optimized as logits whose softmax fills its columns, and hardened to its arg-max at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..models import Model
from ..units import Unit
from .spec import TableSpec


@dataclass
class OptimalRows:
    """Raw rows [R, F], their activations (hardened; relaxed before hardening) and the
    per-feature gradient x input (standardized, relative to the data's mean)."""

    rows: np.ndarray
    activation: np.ndarray
    relaxed: np.ndarray
    grad_x_input: np.ndarray


class _Rows(torch.nn.Module):
    """R rows as parameters: z for plain features, logits for each one-hot group's columns."""

    def __init__(self, spec: TableSpec, count: int, generator: torch.Generator) -> None:
        super().__init__()
        stats = spec.tensors()
        self.mean, self.std = stats["mean"], stats["std"]
        self.z_low = (stats["low"] - self.mean) / self.std
        self.z_high = (stats["high"] - self.mean) / self.std
        width = len(spec.features)
        self.z = torch.nn.Parameter(0.1 * torch.randn(count, width, generator=generator))
        self.groups = [torch.tensor(columns) for columns in spec.groups.values()]
        self.logits = torch.nn.ParameterList(
            [torch.nn.Parameter(0.1 * torch.randn(count, len(c), generator=generator)) for c in self.groups])

    def raw(self, hard: bool = False) -> torch.Tensor:
        """The rows in the data's units; group columns are the softmax (or arg-max) of their logits."""
        x = self.mean + self.std * self.z
        for columns, logits in zip(self.groups, self.logits, strict=True):
            weights = torch.softmax(logits, 1)
            if hard:
                weights = torch.nn.functional.one_hot(weights.argmax(1), len(columns)).float()
            x = x.index_copy(1, columns, weights)
        return x

    def standardized(self, hard: bool = False) -> torch.Tensor:
        return (self.raw(hard) - self.mean) / self.std

    def clamp_(self) -> None:
        with torch.no_grad():
            self.z.copy_(torch.maximum(torch.minimum(self.z, self.z_high), self.z_low))


def optimize_rows(model: Model, spec: TableSpec, units: list[Unit], signs: list[int], steps: int,
                  lr: float, prior: float, seed: int) -> OptimalRows:
    """One optimization for all (unit, sign) rows at once."""
    generator = torch.Generator().manual_seed(seed)
    rows = _Rows(spec, len(units), generator)
    precision = spec.tensors()["precision"]
    sign = torch.tensor(signs, dtype=torch.float32)
    optimizer = torch.optim.Adam(rows.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        acts = _unit_values(model, units, rows.raw())
        z = rows.standardized()
        penalty = torch.einsum("rf,fg,rg->r", z, precision, z) / z.shape[1]
        (-(sign * acts) + prior * penalty).sum().backward()
        optimizer.step()
        rows.clamp_()
    relaxed = _unit_values(model, units, rows.raw()).detach()
    hard = rows.raw(hard=True).detach().requires_grad_(True)
    acts = _unit_values(model, units, hard)
    grad, = torch.autograd.grad(acts.sum(), hard)
    z = (hard - rows.mean) / rows.std
    return OptimalRows(hard.detach().numpy(), acts.detach().numpy(), relaxed.numpy(),
                       (grad * rows.std * z).detach().numpy())


def _unit_values(model: Model, units: list[Unit], inputs: torch.Tensor) -> torch.Tensor:
    """Row r's value of unit r (each row drives its own unit)."""
    layers = list(dict.fromkeys(u.layer for u in units))
    probe = model.probe(layers)
    with probe:
        acts = probe(model.to_device(inputs))
    values = [acts[u.layer][r, u.index] for r, u in enumerate(units)]
    return torch.stack(values).float().cpu()
