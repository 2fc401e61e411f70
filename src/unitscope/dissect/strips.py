"""Each unit's top images side by side, shown inside the unit's mask and dimmed outside it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ..data.images import image_only
from ..imageio import to_float, uint8_tensor
from ..rundir import RunDir
from ..stats.topk import TopK
from .streams import Stream
from .tally import float32_limit

if TYPE_CHECKING:
    from .background import Background

THUMB = 128  # the toy model's input size: its thumbnails need no resize
CACHED_IMAGES = 512  # decoded thumbnails shared by all units of a report
_DIMMED = (torch.arange(256, dtype=torch.float64) * 0.2).round().to(torch.uint8)  # outside the mask


def thumbnails(images: torch.Tensor) -> torch.Tensor:
    """(n, 3, H, W) images (uint8, or floats in [0, 1]) -> (n, 3, t, t) uint8 thumbnails, t <= THUMB."""
    if images.dtype == torch.uint8 and max(images.shape[2:], default=0) <= THUMB:
        return images.clone()
    if images.shape[0] and max(images.shape[2:]) > THUMB:
        images = F.interpolate(to_float(images), size=(THUMB, THUMB), mode="bilinear", antialias=True,
                               align_corners=False)
    return uint8_tensor(to_float(images))


def image_cache(dataset, kept: dict[int, torch.Tensor]) -> Callable[[int], torch.Tensor]:
    """Dataset index -> its (t, t, 3) uint8 thumbnail, LRU-cached: the one pass 2 kept, else the
    image decoded again (after a resume in pass 2, or past the number kept)."""

    @functools.lru_cache(maxsize=CACHED_IMAGES)
    def thumbnail(index: int) -> torch.Tensor:
        thumb = kept.get(index)
        if thumb is None:
            thumb = thumbnails(image_only(dataset, index)[0][None])[0]
        return thumb.permute(1, 2, 0).contiguous()

    return thumbnail


def save_strip(array: np.ndarray, path: Path) -> Path:
    """JPEG (quality 90): strips of photos, one per unit, encode ~6x faster than PNG (measured)."""
    from PIL import Image

    Image.fromarray(array).save(path, format="JPEG", quality=90)
    return path


def masked_strips(images: torch.Tensor, maps: torch.Tensor, thresholds: torch.Tensor, k: int,
                  gap: int = 2) -> torch.Tensor:
    """Images (n * k, t, t, 3) uint8, k per unit, as one strip per unit (n, t, k * t + gaps, 3):
    each image shown inside its map's mask (the map upsampled bilinearly to the thumbnail size,
    above a float64 threshold) and dimmed outside, side by side with white gaps. The tiles are
    written straight into the strips, so each strip is one contiguous block."""
    n, t = images.shape[0] // k, images.shape[1]
    up = F.interpolate(maps.unsqueeze(1).float(), size=(t, t), mode="bilinear", align_corners=False)
    inside = torch.nonzero((up > float32_limit(thresholds, negative=False).view(-1, 1, 1, 1)).view(-1))[:, 0]
    pixels = images.reshape(-1, 3)  # masks are sparse: dim everything, then copy the pixels inside
    tiles = _DIMMED.index_select(0, images.reshape(-1).int()).view_as(pixels)
    tiles.index_copy_(0, inside, pixels.index_select(0, inside))
    tiles = tiles.view(n, k, t, t, 3)
    width = k * (t + gap) - gap
    out = torch.full((n, t, width, 3), 255, dtype=torch.uint8)
    out.as_strided((n, t, k, t, 3), (t * width * 3, width * 3, (t + gap) * 3, 3, 1)).copy_(
        tiles.permute(0, 2, 1, 3, 4))  # (n, k, y, x, c) -> (n, y, k, x, c): the strips' layout
    return out


def top_strips(run_dir: RunDir, folder: Path, stream: Stream, top: TopK | None,
               images: Callable[[int], torch.Tensor], threshold: torch.Tensor, background: Background,
               chunk: int = 16) -> dict[int, Path]:
    """One strip per unit of its top images, masked at its threshold; rendered in unit chunks
    here, encoded and written by the background threads. Returns unit -> strip path."""
    if top is None or top.maps is None or top.images.shape[1] == 0:
        return {}
    paths, k, indices = {}, top.images.shape[1], top.images.tolist()
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, stream.units, chunk):
        units = list(range(start, min(stream.units, start + chunk)))
        pics = torch.stack([images(i) for u in units for i in indices[u]])
        maps = top.maps[units[0] : units[-1] + 1].reshape(-1, *top.maps.shape[2:])
        rows = masked_strips(pics, maps, threshold[units].repeat_interleave(k), k)
        for u, row in zip(units, rows, strict=True):
            paths[u] = folder / f"{u}_top.jpg"
            background.strip(row, paths[u])
    return paths
