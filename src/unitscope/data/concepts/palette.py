"""The 11 Broden colour names and the RGB values the concept world paints them with.

Broden's label.csv spells colours with a `-c` suffix (`red-c`); the writer keeps that
spelling for compatibility and the reader shows the plain name (`red`).
"""

from __future__ import annotations

import numpy as np

COLOR_NAMES: tuple[str, ...] = (
    "black", "blue", "brown", "gray", "green", "orange",
    "pink", "purple", "red", "white", "yellow",
)  # fmt: skip

COLOR_RGB = np.array(
    [
        (22, 22, 24),  # black
        (38, 72, 205),  # blue
        (122, 74, 32),  # brown
        (128, 128, 128),  # gray
        (40, 158, 52),  # green
        (246, 140, 22),  # orange
        (246, 162, 202),  # pink
        (128, 48, 162),  # purple
        (212, 30, 34),  # red
        (242, 242, 238),  # white
        (242, 222, 40),  # yellow
    ],
    dtype=np.float32,
)

N_COLORS = len(COLOR_NAMES)


def jittered_rgb(colors: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """RGB rows for palette indices, each shifted a little so instances of a colour differ."""
    base = COLOR_RGB[list(colors)]
    return np.clip(base + rng.uniform(-14, 14, base.shape), 0, 255).astype(np.float32)


def pick_colors(
    rng: np.random.Generator, k: int, avoid: set[int] | frozenset[int] = frozenset()
) -> tuple[int, ...]:
    """k distinct palette indices, avoiding `avoid` while enough colours remain."""
    pool = [c for c in range(N_COLORS) if c not in avoid]
    if len(pool) < k:
        pool = list(range(N_COLORS))
    return tuple(int(c) for c in rng.choice(pool, size=k, replace=False))
