"""Eleven periodic or noisy two-colour patterns, named like Broden's (DTD) textures.

Each texture maps pixel coordinates to an ink index (0 = base colour, 1 = ink, 2 = a third
colour for `banded`); parameters are drawn once per region so a pattern is continuous
however the region is cropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .noise import noise_grid, smooth_noise

TEXTURE_NAMES: tuple[str, ...] = (
    "banded", "blotchy", "chequered", "crosshatched", "dotted", "grid",
    "honeycombed", "spiralled", "striped", "wavy", "zigzagged",
)  # fmt: skip

Params = dict[str, Any]
SQRT3 = float(np.sqrt(3.0))


def _rotate(x: np.ndarray, y: np.ndarray, p: Params) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(p["angle"]), np.sin(p["angle"])
    return x * c + y * s + p["phase"], -x * s + y * c + p["phase2"]


def _frac(v: np.ndarray) -> np.ndarray:
    return v - np.floor(v)


def _striped(x, y, p):
    u, _ = _rotate(x, y, p)
    return _frac(u / p["period"]) < p["duty"]


def _banded(x, y, p):
    u, _ = _rotate(x, y, p)
    return np.floor(u / (p["period"] * 2.2)).astype(np.int64) % 3


def _dotted(x, y, p):
    u, v = _rotate(x, y, p)
    du = _frac(u / p["period"]) - 0.5
    dv = _frac(v / p["period"]) - 0.5
    return du * du + dv * dv < p["radius"] ** 2


def _chequered(x, y, p):
    u, v = _rotate(x, y, p)
    period = p["period"] * 1.3
    return (np.floor(u / period) + np.floor(v / period)).astype(np.int64) % 2 == 1


def _zigzagged(x, y, p):
    u, v = _rotate(x, y, p)
    tri = np.abs(_frac(v / p["period"]) - 0.5) * 2  # triangle wave in [0, 1]
    return _frac((u + tri * p["period"] * 0.9) / p["period"]) < 0.45


def _wavy(x, y, p):
    u, v = _rotate(x, y, p)
    wave = np.sin(v / p["period"] * 1.4) * p["period"] * 0.6
    return _frac((u + wave) / p["period"]) < 0.45


def _grid(x, y, p):
    u, v = _rotate(x, y, p)
    period = p["period"] * 1.4
    return (_frac(u / period) < 0.2) | (_frac(v / period) < 0.2)


def _crosshatched(x, y, p):
    u, v = _rotate(x, y, p)
    a, b = (u + v) / p["period"], (u - v) / p["period"]
    return (_frac(a) < 0.25) | (_frac(b) < 0.25)


def _honeycombed(x, y, p):
    u, v = _rotate(x, y, p)
    period = p["period"] * 1.5
    best = np.full(u.shape, np.inf, dtype=np.float32)
    off_u = np.zeros_like(best)
    off_v = np.zeros_like(best)
    for su, sv in ((0.0, 0.0), (0.5, SQRT3 / 2)):  # a hex lattice is two rectangular ones
        cu = (np.round(u / period - su) + su) * period
        cv = (np.round(v / (period * SQRT3) - sv / SQRT3) + sv / SQRT3) * period * SQRT3
        du, dv = u - cu, v - cv
        d = du * du + dv * dv
        take = d < best
        best = np.where(take, d, best)
        off_u = np.where(take, du, off_u)
        off_v = np.where(take, dv, off_v)
    hexnorm = np.maximum(np.abs(off_u), np.abs(off_u * 0.5) + np.abs(off_v) * SQRT3 / 2)
    return hexnorm > period * 0.5 * 0.78


def _blotchy(x, y, p):
    return smooth_noise(x, y, p["grid"], p["cell"]) > p["level"]


def _spiralled(x, y, p):
    dx, dy = x - p["cx"], y - p["cy"]
    theta = np.arctan2(dy, dx) / (2 * np.pi)
    r = np.sqrt(dx * dx + dy * dy)
    return _frac(theta * p["arms"] + r / (p["period"] * 1.3)) < 0.5


PATTERNS: dict[str, Callable[..., np.ndarray]] = {
    "banded": _banded,
    "blotchy": _blotchy,
    "chequered": _chequered,
    "crosshatched": _crosshatched,
    "dotted": _dotted,
    "grid": _grid,
    "honeycombed": _honeycombed,
    "spiralled": _spiralled,
    "striped": _striped,
    "wavy": _wavy,
    "zigzagged": _zigzagged,
}


def ink_count(name: str) -> int:
    """How many colours the texture paints with."""
    return 3 if name == "banded" else 2


def texture_params(name: str, rng: np.random.Generator, size: int) -> Params:
    """Random scale, orientation and phase for one region, in pixels of a size x size image."""
    scale = size / 128.0
    period = float(rng.uniform(5.0, 10.0)) * scale
    params: Params = {
        "period": period,
        "angle": float(np.deg2rad(rng.choice([0, 45, 90, 135]) + rng.uniform(-12, 12))),
        "phase": float(rng.uniform(0, period)),
        "phase2": float(rng.uniform(0, period)),
        "duty": float(rng.uniform(0.35, 0.55)),
        "radius": float(rng.uniform(0.2, 0.3)),
    }
    if name == "blotchy":
        params["cell"] = float(rng.uniform(6.0, 12.0)) * scale
        params["grid"] = noise_grid(rng, size, params["cell"])
        params["level"] = float(rng.uniform(-0.2, 0.2))
    elif name == "spiralled":
        params["cx"] = float(rng.uniform(0.2, 0.8)) * size
        params["cy"] = float(rng.uniform(0.2, 0.8)) * size
        params["arms"] = int(rng.integers(1, 4))
    return params


def texture_ink(name: str, x: np.ndarray, y: np.ndarray, params: Params) -> np.ndarray:
    """Ink index (uint8) of each pixel at coordinates (x, y)."""
    return PATTERNS[name](x, y, params).astype(np.uint8)
