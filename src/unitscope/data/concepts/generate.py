"""`generate`: draw n concept-world images and write them as a Broden-format dataset."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from ...errors import BadInputError
from .world import render_sample
from .writer import BrodenWriter


def generate(
    out_dir: str | Path,
    n: int = 2000,
    size: int = 128,
    seed: int = 0,
    progress: bool | None = None,
    val_fraction: float = 0.1,
) -> Path:
    """Write images 0..n-1 of the world drawn with `seed` (size x size) to `out_dir`; return it.

    The same (n, size, seed) gives the same bytes. Every tenth image is in split 'val'.
    """
    if n < 1:
        raise BadInputError(f"--n must be at least 1 (got {n})")
    if size < 16:
        raise BadInputError(f"--size must be at least 16 pixels (got {size})")
    writer = BrodenWriter(out_dir)
    show = sys.stderr.isatty() if progress is None else progress
    period = round(1 / val_fraction) if val_fraction > 0 else 0
    for index in tqdm(range(n), desc="concepts", unit="img", disable=not show):
        split = "val" if period and index % period == period - 1 else "train"
        writer.add(render_sample(seed, index, size), f"{index:06d}", split)
    return writer.close()
