"""A labelled grid of images (one sheet per layer), so a whole layer can be skimmed at once."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

LABEL_HEIGHT = 14
GAP = 2
BACKGROUND = (255, 255, 255)


def make_sheet(
    images: Sequence[Image.Image | np.ndarray],
    labels: Sequence[str],
    columns: int | None = None,
    tile: int = 128,
) -> Image.Image:
    """Tiles of `tile` px in a grid (about 4:3 by default), each with its label underneath."""
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    n = max(len(images), 1)
    columns = columns or max(1, min(n, math.ceil(math.sqrt(n * 4 / 3))))
    rows = math.ceil(n / columns)
    cell_w, cell_h = tile + GAP, tile + LABEL_HEIGHT + GAP
    sheet = Image.new("RGB", (columns * cell_w + GAP, rows * cell_h + GAP), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        x, y = GAP + (i % columns) * cell_w, GAP + (i // columns) * cell_h
        picture = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
        sheet.paste(picture.convert("RGB").resize((tile, tile), Image.BILINEAR), (x, y))
        draw.text((x + 2, y + tile + 1), _fit(draw, font, label, tile - 4), fill=(0, 0, 0),
                  font=font)
    return sheet


def _fit(draw: ImageDraw.ImageDraw, font, text: str, width: int) -> str:
    """Shorten `text` with an ellipsis until it fits `width` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "...", font=font) > width:
        text = text[:-1]
    return text + "..."


def save_sheet(
    paths: Sequence[str | Path], labels: Sequence[str], out: str | Path, tile: int = 128
) -> Path:
    """Read image files and write their labelled sheet as a PNG."""
    images = []
    for path in paths:
        with Image.open(path) as img:
            images.append(img.convert("RGB"))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    make_sheet(images, labels, tile=tile).save(out, format="PNG", optimize=False)
    return out
