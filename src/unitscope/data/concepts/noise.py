"""Smooth value noise: a coarse random grid sampled bilinearly, for blotches, grain and veins."""

from __future__ import annotations

import numpy as np


def noise_grid(rng: np.random.Generator, size: int, cell: float) -> np.ndarray:
    """A random grid with one value per `cell` pixels, covering a size x size image."""
    n = int(np.ceil(size / cell)) + 2
    return rng.standard_normal((n, n)).astype(np.float32)


def smooth_noise(x: np.ndarray, y: np.ndarray, grid: np.ndarray, cell: float) -> np.ndarray:
    """Bilinear samples of `grid` at pixel coordinates (x, y); roughly unit variance."""
    gx = np.clip(x / cell, 0, grid.shape[1] - 1.001)
    gy = np.clip(y / cell, 0, grid.shape[0] - 1.001)
    x0 = gx.astype(np.int32)
    y0 = gy.astype(np.int32)
    fx = gx - x0
    fy = gy - y0
    fx = fx * fx * (3 - 2 * fx)  # smoothstep hides the grid
    fy = fy * fy * (3 - 2 * fy)
    top = grid[y0, x0] * (1 - fx) + grid[y0, x0 + 1] * fx
    bottom = grid[y0 + 1, x0] * (1 - fx) + grid[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy
