"""Scenes: whole-image labels decided by content (the main object and the setting).

The rule, so scene detectors can be checked: a face makes a portrait and a fish an aquarium
wherever they are; houses and cars outdoors make a street, trees and flowers outdoors a
garden, simple shapes outdoors a playground and indoors a gallery; houses, cars, trees and
flowers indoors make a shop. Outdoors means sky over ground; indoors a wall (maybe a floor).
"""

from __future__ import annotations

import numpy as np

from .fills import Fill, random_fill

SCENE_NAMES: tuple[str, ...] = (
    "aquarium", "gallery", "garden", "playground", "portrait", "shop", "street",
)  # fmt: skip
SETTINGS = ("indoor", "outdoor")

_GROUPS = {
    "car": "vehicle", "house": "vehicle", "tree": "plant", "flower": "plant",
    "face": "face", "fish": "fish",
}  # fmt: skip


def scene_for(main: str, setting: str) -> str:
    """The scene label of an image whose main object is `main` in `setting`."""
    group = _GROUPS.get(main, "shape")
    if group == "face":
        return "portrait"
    if group == "fish":
        return "aquarium"
    if setting == "indoor":
        return "gallery" if group == "shape" else "shop"
    return {"vehicle": "street", "plant": "garden", "shape": "playground"}[group]


def background_layout(
    rng: np.random.Generator, size: int
) -> tuple[str, list[tuple[str, int, int, Fill]]]:
    """(setting, [(object name, first row, last row, fill)]) of the background bands, top down."""
    setting = SETTINGS[int(rng.integers(2))]
    if setting == "outdoor":
        horizon = int(size * rng.uniform(0.5, 0.78))
        sky = random_fill(rng, size, weights=(0.7, 0.3, 0.0))
        ground = random_fill(rng, size, set(sky.colors), weights=(0.4, 0.35, 0.25))
        return setting, [("sky", 0, horizon, sky), ("ground", horizon, size, ground)]
    wall = random_fill(rng, size, weights=(0.3, 0.5, 0.2))
    if rng.random() < 0.5:
        return setting, [("wall", 0, size, wall)]
    horizon = int(size * rng.uniform(0.68, 0.85))
    floor = random_fill(rng, size, set(wall.colors), weights=(0.35, 0.3, 0.35))
    return setting, [("wall", 0, horizon, wall), ("floor", horizon, size, floor)]
