"""`TableSpec`: what a tabular model's input columns mean (names, ranges, distribution, one-hot
groups), kept with the model so that its optimal inputs stay inside the data."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

GROUP_SEPARATOR = "="  # one-hot columns are named "<feature>=<level>" (pandas get_dummies prefix_sep)
PERCENTILES = np.linspace(0, 100, 101)
RIDGE = 0.1  # added to the correlation matrix's diagonal before inverting: features that are
# nearly collinear (radius, perimeter, area) must not make the data penalty explode


@dataclass(frozen=True)
class TableSpec:
    """Feature names with per-feature mean, std, observed min/max and percentile grid, the
    inverse of the (ridged) correlation matrix, and one-hot groups (lists of column indices)."""

    features: list[str]
    mean: list[float]
    std: list[float]
    low: list[float]
    high: list[float]
    percentiles: list[list[float]]
    precision: list[list[float]]
    groups: dict[str, list[int]]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, features: list[str]) -> TableSpec:
        """Statistics of `features` over every row of `frame` (numeric, no NaN: checked before)."""
        values = frame[features].to_numpy(np.float64)
        std = values.std(0)
        std[std == 0] = 1.0
        z = (values - values.mean(0)) / std
        corr = np.atleast_2d(np.cov(z, rowvar=False)) if len(values) > 1 else np.eye(len(features))
        precision = np.linalg.inv(corr + RIDGE * np.eye(len(features)))
        return cls(list(features), values.mean(0).tolist(), std.tolist(), values.min(0).tolist(),
                   values.max(0).tolist(), np.percentile(values, PERCENTILES, axis=0).T.tolist(),
                   precision.tolist(), one_hot_groups(frame, features))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TableSpec:
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and dicts: saved inside a weights file that `weights_only` can read."""
        return asdict(self)

    def tensors(self) -> dict[str, torch.Tensor]:
        """mean, std, low and high as float32 tensors, and the precision matrix."""
        return {name: torch.tensor(getattr(self, name), dtype=torch.float32)
                for name in ("mean", "std", "low", "high", "precision")}

    def example_input(self, batch: int = 1) -> torch.Tensor:
        """The data's mean row (shape discovery); one-hot groups at their most frequent level."""
        row = np.array(self.mean, dtype=np.float32)
        for columns in self.groups.values():
            best = columns[int(np.argmax(row[columns]))]
            row[columns] = 0.0
            row[best] = 1.0
        return torch.from_numpy(row).repeat(batch, 1)

    def percentile_of(self, feature: int, value: float) -> float:
        """Where `value` lies in the data's distribution of `feature`, in percent."""
        grid = np.asarray(self.percentiles[feature])
        if value <= grid[0]:
            return 0.0
        if value >= grid[-1]:
            return 100.0
        return float(np.interp(value, grid, PERCENTILES)) if np.all(np.diff(grid) > 0) else \
            float(100.0 * np.searchsorted(grid, value) / (len(grid) - 1))


def one_hot_groups(frame: pd.DataFrame, features: list[str]) -> dict[str, list[int]]:
    """Columns `name=level` holding only 0 and 1 that share `name` form one group (two or more)."""
    groups: dict[str, list[int]] = {}
    for index, column in enumerate(features):
        name, sep, _level = column.partition(GROUP_SEPARATOR)
        if sep and set(np.unique(frame[column].to_numpy())) <= {0, 1}:
            groups.setdefault(name, []).append(index)
    return {name: columns for name, columns in groups.items() if len(columns) > 1}
