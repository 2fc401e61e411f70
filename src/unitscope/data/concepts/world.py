"""Compose one concept-world image: background bands, small distractors, one main object.

Every random choice comes from a generator seeded by (seed, index), so image `index` is the
same whatever else is generated, and workers can draw images in any order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .fills import Fill, random_fill
from .materials import MATERIAL_NAMES
from .objects import OBJECT_CLASSES, OBJECT_NAMES, PART_NAMES, draw_shape, rasterize
from .palette import COLOR_NAMES
from .scenes import SCENE_NAMES, background_layout, scene_for
from .textures import TEXTURE_NAMES

CATEGORIES: dict[str, tuple[str, ...]] = {
    "color": COLOR_NAMES,
    "object": OBJECT_NAMES,
    "part": PART_NAMES,
    "material": MATERIAL_NAMES,
    "scene": SCENE_NAMES,
    "texture": TEXTURE_NAMES,
}
PIXEL_CATEGORIES = ("color", "object", "part", "material", "texture")

BODY_WEIGHTS = (0.4, 0.4, 0.2)
PART_WEIGHTS = (0.55, 0.35, 0.1)


@dataclass
class Sample:
    """One image with its labels: per-pixel maps hold 1-based codes into CATEGORIES[cat]."""

    image: np.ndarray  # HxWx3 uint8
    label: str  # main object class
    scene: str
    maps: dict[str, np.ndarray]  # category -> HxW uint8 codes (0 = unlabelled)
    whole: dict[str, list[int]] = field(default_factory=dict)  # category -> 1-based codes


class Canvas:
    """RGB plus one code map per pixel category, painted region by region."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.rgb = np.zeros((size, size, 3), dtype=np.float32)
        self.maps = {cat: np.zeros((size, size), dtype=np.uint8) for cat in PIXEL_CATEGORIES}
        self.yy, self.xx = (np.mgrid[0:size, 0:size].astype(np.float32) + 0.5)

    def paint(self, mask: np.ndarray, fill: Fill, obj: int = 0, part: int = 0) -> None:
        """Paint `fill` where `mask`; record its colour/texture/material and obj/part codes."""
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            return
        cols = np.flatnonzero(mask.any(axis=0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        sub = mask[box]
        rgb, colors = fill.paint(self.xx[box][sub], self.yy[box][sub])
        self.rgb[box][sub] = rgb
        self.maps["color"][box][sub] = colors + 1
        self.maps["texture"][box][sub] = fill.texture_code
        self.maps["material"][box][sub] = fill.material_code
        self.maps["object"][box][sub] = obj
        self.maps["part"][box][sub] = part


def _object_box(rng, size, lo, hi):
    side = size * rng.uniform(lo, hi)
    aspect = rng.uniform(0.8, 1.25)
    w = min(side * np.sqrt(aspect), size * 0.92)
    h = min(side / np.sqrt(aspect), size * 0.92)
    return (float(rng.uniform(0, size - w)), float(rng.uniform(0, size - h)), float(w), float(h))


def _overlap(a, b) -> float:
    dx = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    dy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(dx, 0.0) * max(dy, 0.0)


def _place_object(canvas: Canvas, rng, name: str, box, avoid: set[int]) -> None:
    shape = draw_shape(name, rng)
    slots = rasterize(shape, box, bool(rng.random() < 0.5), canvas.size)
    obj = OBJECT_NAMES.index(name) + 1
    fills: list[Fill] = []
    for k in range(len(shape.slots)):
        body = k == 0
        avoid_k = avoid if body else avoid | set(fills[0].colors)
        fills.append(random_fill(rng, canvas.size, avoid_k, BODY_WEIGHTS if body else PART_WEIGHTS))
    for k, (part, fill) in enumerate(zip(shape.slots, fills, strict=True), start=1):
        code = PART_NAMES.index(part) + 1 if part else 0
        canvas.paint(slots == k, fill, obj, code)


def render_sample(seed: int, index: int, size: int = 128) -> Sample:
    """Image `index` of the world drawn with `seed`, at size x size pixels."""
    rng = np.random.default_rng([seed, index])
    canvas = Canvas(size)
    setting, bands = background_layout(rng, size)
    bg_colors: set[int] = set()
    for name, top, bottom, fill in bands:
        mask = np.zeros((size, size), dtype=bool)
        mask[top:bottom] = True
        canvas.paint(mask, fill, OBJECT_NAMES.index(name) + 1)
        bg_colors |= set(fill.colors)
    main = OBJECT_CLASSES[int(rng.integers(len(OBJECT_CLASSES)))]
    main_box = _object_box(rng, size, 0.45, 0.75)
    for _ in range(int(rng.choice(3, p=[0.35, 0.4, 0.25]))):
        other = OBJECT_CLASSES[int(rng.integers(len(OBJECT_CLASSES)))]
        for _try in range(8):
            box = _object_box(rng, size, 0.16, 0.28)
            if _overlap(box, main_box) < 0.15 * box[2] * box[3]:
                _place_object(canvas, rng, other, box, bg_colors)
                break
    _place_object(canvas, rng, main, main_box, bg_colors)
    noisy = canvas.rgb + rng.normal(0.0, 4.0, canvas.rgb.shape).astype(np.float32)
    image = np.clip(noisy + 0.5, 0, 255).astype(np.uint8)
    scene = scene_for(main, setting)
    whole = {"scene": [SCENE_NAMES.index(scene) + 1], "texture": []}
    if len(bands) == 1 and bands[0][3].kind == "texture":
        whole["texture"].append(bands[0][3].texture_code)
    return Sample(image, main, scene, canvas.maps, whole)
