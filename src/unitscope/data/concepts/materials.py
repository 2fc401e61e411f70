"""Four drawn surfaces (brick, marble, metal, wood): a pattern plus shading, in typical colours.

A material paints with two palette colours (mortar and brick, vein and stone ...) and a
brightness field that changes the look but not the colour label.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .noise import noise_grid, smooth_noise
from .palette import COLOR_NAMES

MATERIAL_NAMES: tuple[str, ...] = ("brick", "marble", "metal", "wood")

_C = {name: i for i, name in enumerate(COLOR_NAMES)}
# (base colours, ink colours) each material is drawn in
MATERIAL_COLORS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "brick": ((_C["red"], _C["brown"], _C["orange"]), (_C["gray"], _C["white"])),
    "marble": ((_C["white"], _C["gray"], _C["pink"]), (_C["gray"], _C["black"], _C["green"])),
    "metal": ((_C["gray"], _C["white"], _C["yellow"], _C["orange"]), (_C["black"],)),
    "wood": ((_C["brown"], _C["orange"], _C["yellow"]), (_C["brown"], _C["black"])),
}

Params = dict[str, Any]


def material_colors(name: str, rng: np.random.Generator) -> tuple[int, int]:
    """(base, ink) palette indices for one instance of the material, always distinct."""
    bases, inks = MATERIAL_COLORS[name]
    base = int(rng.choice(bases))
    inks = tuple(c for c in inks if c != base)
    return base, int(rng.choice(inks))


def material_params(name: str, rng: np.random.Generator, size: int) -> Params:
    """Random scale and noise for one region, in pixels of a size x size image."""
    scale = size / 128.0
    cell = float(rng.uniform(8, 16)) * scale
    return {
        "scale": scale,
        "unit": float(rng.uniform(9, 14)) * scale,
        "phase": float(rng.uniform(0, 30)) * scale,
        "cell": cell,
        "grid": noise_grid(rng, size, cell),
        "seed": int(rng.integers(1 << 30)),
    }


def _hash(a: np.ndarray, b: np.ndarray, seed: int) -> np.ndarray:
    """A cheap deterministic pseudo-random value in [0, 1) per integer pair."""
    h = (a * 73856093) ^ (b * 19349663) ^ seed
    return ((h * 2654435761) % 4096) / 4096.0


def _brick(x, y, p):
    h = p["unit"] * 0.55
    w = p["unit"] * 1.3
    row = np.floor((y + p["phase"]) / h)
    shift = (row.astype(np.int64) % 2) * 0.5 * w
    col = np.floor((x + shift + p["phase"]) / w)
    fu = (x + shift + p["phase"]) / w - col
    fv = (y + p["phase"]) / h - row
    mortar = (fu < 1.6 * p["scale"] / w) | (fv < 1.6 * p["scale"] / h)
    shade = 0.85 + 0.3 * _hash(row.astype(np.int64), col.astype(np.int64), p["seed"])
    return mortar.astype(np.uint8), shade.astype(np.float32)


def _marble(x, y, p):
    n = smooth_noise(x, y, p["grid"], p["cell"])
    vein = np.abs(np.sin((x + y * 0.6) / (p["unit"] * 1.5) + 2.2 * n)) < 0.12
    shade = 0.95 + 0.06 * n
    return vein.astype(np.uint8), shade.astype(np.float32)


def _metal(x, y, p):
    streak = smooth_noise(x * 0.05, y * 3.0, p["grid"], p["cell"])
    shade = 0.88 + 0.12 * np.tanh(streak) + 0.1 * np.sin(y / (p["unit"] * 2))
    rivet = (np.abs(((x + p["phase"]) % (p["unit"] * 3)) - p["unit"] * 1.5) < 1.2 * p["scale"]) & (
        np.abs(((y + p["phase"]) % (p["unit"] * 3)) - p["unit"] * 1.5) < 1.2 * p["scale"]
    )
    return rivet.astype(np.uint8), shade.astype(np.float32)


def _wood(x, y, p):
    n = smooth_noise(x * 0.3, y, p["grid"], p["cell"])
    rings = np.sin((y + 6 * p["scale"] * n) / (p["unit"] * 0.35))
    grain = rings > 0.82
    shade = 0.9 + 0.1 * rings
    return grain.astype(np.uint8), shade.astype(np.float32)


_DRAW = {"brick": _brick, "marble": _marble, "metal": _metal, "wood": _wood}


def material_ink(
    name: str, x: np.ndarray, y: np.ndarray, params: Params
) -> tuple[np.ndarray, np.ndarray]:
    """(ink index uint8, brightness float) of each pixel at coordinates (x, y)."""
    return _DRAW[name](x, y, params)
