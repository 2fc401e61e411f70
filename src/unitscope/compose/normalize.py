"""Turning signed gradients into pictures that do not saturate, even for deep nodes.

Each image gets its own scale: a high percentile of |values| (not the maximum, which a single
hot pixel would set), so deep nodes with tiny gradients stay as readable as the root. Signed
values go through a diverging map: blue for negative, white for zero, red for positive.
"""

from __future__ import annotations

import numpy as np
import torch

PERCENTILE = 99.5
_NEGATIVE = np.array([33, 102, 172], dtype=np.float64)  # blue
_ZERO = np.array([247, 247, 247], dtype=np.float64)  # near-white
_POSITIVE = np.array([178, 24, 43], dtype=np.float64)  # red


def robust_scale(values: torch.Tensor | np.ndarray, percentile: float = PERCENTILE) -> float:
    """The `percentile`-th percentile of |values|; falls back to the max when that is 0."""
    array = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    if array.size == 0:
        return 0.0
    scale = float(np.percentile(array, percentile))
    return scale if scale > 0 else float(array.max())


def signed_map(gradient: torch.Tensor) -> np.ndarray:
    """A 3xHxW gradient as one signed HxW map (sum over colour channels)."""
    return gradient.detach().float().sum(0).cpu().numpy()


def diverging(values: np.ndarray, percentile: float = PERCENTILE) -> np.ndarray:
    """HxW signed values -> HxWx3 uint8, scaled robustly to [-1, 1], blue-white-red."""
    scale = robust_scale(values, percentile)
    t = np.clip(values / scale, -1.0, 1.0) if scale > 0 else np.zeros_like(values)
    t = t[..., None]
    rgb = np.where(t >= 0, _ZERO + t * (_POSITIVE - _ZERO), _ZERO - t * (_NEGATIVE - _ZERO))
    return np.rint(rgb).astype(np.uint8)
