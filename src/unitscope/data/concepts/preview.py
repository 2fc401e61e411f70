"""A picture grid of world samples beside their label maps (for the README and eyeballing)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .palette import COLOR_RGB
from .world import render_sample

MAP_COLUMNS = ("color", "object", "part", "texture", "material")


def _false_colours(n: int) -> np.ndarray:
    """n distinct-looking colours; code 0 (unlabelled) is black."""
    rng = np.random.default_rng(12)
    table = rng.integers(60, 256, (n + 1, 3)).astype(np.uint8)
    table[0] = 0
    return table


def preview_grid(seed: int = 0, rows: int = 6, size: int = 128, gap: int = 4) -> Image.Image:
    """`rows` samples, each as: image | colour | object | part | texture | material maps."""
    header = 16
    cols = 1 + len(MAP_COLUMNS)
    width = cols * size + (cols + 1) * gap
    height = header + rows * size + (rows + 1) * gap
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for c, title in enumerate(("image", *MAP_COLUMNS)):
        draw.text((gap + c * (size + gap) + 4, 2), title, fill=(0, 0, 0))
    lookup = _false_colours(64)
    colour_lookup = np.vstack([[0, 0, 0], COLOR_RGB]).astype(np.uint8)
    for r in range(rows):
        sample = render_sample(seed, r, size)
        tiles = [sample.image]
        for cat in MAP_COLUMNS:
            table = colour_lookup if cat == "color" else lookup
            tiles.append(table[sample.maps[cat]])
        y = header + gap + r * (size + gap)
        for c, tile in enumerate(tiles):
            canvas.paste(Image.fromarray(tile), (gap + c * (size + gap), y))
        caption = f"{sample.label} / {sample.scene}"
        box = draw.textbbox((gap + 3, y + 2), caption)
        draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=(0, 0, 0))
        draw.text((gap + 3, y + 2), caption, fill=(255, 255, 255))
    return canvas
