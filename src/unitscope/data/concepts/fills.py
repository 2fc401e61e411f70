"""How a region is painted: one plain colour, a texture in 2-3 colours, or a material.

A fill is drawn once (colours, pattern parameters) and then evaluated on any set of pixels,
giving RGB plus the per-pixel colour, texture and material codes the labels record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .materials import MATERIAL_NAMES, material_colors, material_ink, material_params
from .palette import jittered_rgb, pick_colors
from .textures import TEXTURE_NAMES, ink_count, texture_ink, texture_params


@dataclass
class Fill:
    """A drawn paint: kind is 'plain', 'texture' or 'material'; colors are palette indices."""

    kind: str
    name: str | None
    colors: tuple[int, ...]
    rgb: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def texture_code(self) -> int:
        return TEXTURE_NAMES.index(self.name) + 1 if self.kind == "texture" else 0

    @property
    def material_code(self) -> int:
        return MATERIAL_NAMES.index(self.name) + 1 if self.kind == "material" else 0

    def paint(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(RGB float HxWx3, palette index uint8 HxW) at pixel coordinates (x, y)."""
        shade = None
        if self.kind == "plain":
            ink = np.zeros(x.shape, dtype=np.uint8)
        elif self.kind == "texture":
            ink = texture_ink(self.name, x, y, self.params)
        else:
            ink, shade = material_ink(self.name, x, y, self.params)
        rgb = self.rgb[ink]
        if shade is not None:
            rgb = rgb * shade[..., None]
        return rgb, np.asarray(self.colors, dtype=np.uint8)[ink]


def random_fill(
    rng: np.random.Generator,
    size: int,
    avoid: set[int] | frozenset[int] = frozenset(),
    weights: tuple[float, float, float] = (0.45, 0.4, 0.15),
) -> Fill:
    """A fill whose kind is drawn with `weights` (plain, texture, material)."""
    kind = ("plain", "texture", "material")[int(rng.choice(3, p=np.asarray(weights) / sum(weights)))]
    if kind == "plain":
        colors = pick_colors(rng, 1, avoid)
        return Fill(kind, None, colors, jittered_rgb(colors, rng))
    if kind == "texture":
        name = str(rng.choice(TEXTURE_NAMES))
        colors = pick_colors(rng, ink_count(name), avoid)
        return Fill(kind, name, colors, jittered_rgb(colors, rng), texture_params(name, rng, size))
    name = str(rng.choice(MATERIAL_NAMES))
    colors = material_colors(name, rng)
    return Fill(kind, name, colors, jittered_rgb(colors, rng), material_params(name, rng, size))
