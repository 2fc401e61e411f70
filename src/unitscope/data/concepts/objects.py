"""The objects of the concept world and their parts, drawn as shapes in a unit box.

Twelve object classes (the toy model's targets): six composites with labelled parts
(car, face, fish, flower, house, tree) and six simple shapes. Background regions (sky,
ground, wall, floor) are objects too, as in Broden, but never a classification target.
Geometry varies per instance; colours are chosen elsewhere, so only shape tells classes apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

OBJECT_CLASSES: tuple[str, ...] = (
    "car", "crescent", "cross", "face", "fish", "flower",
    "heart", "house", "ring", "star", "tree", "triangle",
)  # fmt: skip
BACKGROUND_OBJECTS: tuple[str, ...] = ("floor", "ground", "sky", "wall")
OBJECT_NAMES: tuple[str, ...] = OBJECT_CLASSES + BACKGROUND_OBJECTS

PART_NAMES: tuple[str, ...] = (
    "chimney", "crown", "door", "eye", "fin", "headlight", "leaf", "mouth",
    "nose", "petal", "roof", "stem", "tail", "trunk", "wheel", "window",
)  # fmt: skip
COMPOSITES: dict[str, tuple[str, ...]] = {
    "car": ("headlight", "wheel", "window"),
    "face": ("eye", "mouth", "nose"),
    "fish": ("eye", "fin", "tail"),
    "flower": ("leaf", "petal", "stem"),
    "house": ("chimney", "door", "roof", "window"),
    "tree": ("crown", "trunk"),
}

Prim = tuple  # ("poly", [(u, v), ...]) | ("ellipse", cu, cv, ru, rv) | ("rect", u0, v0, u1, v1)


@dataclass
class Shape:
    """Primitives in a unit box, each painted with a slot; slot k > 0 is `slots[k-1]`.

    A slot's name is a part name or None (the object's body, which has no part label).
    Slot 0 erases (holes). Later primitives paint over earlier ones.
    """

    slots: list[str | None]
    prims: list[tuple[int, Prim]]


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _house(rng):
    roof_top = _u(rng, 0.0, 0.08)
    eave = _u(rng, 0.38, 0.48)
    over = _u(rng, 0.0, 0.08)
    prims = [(1, ("rect", 0.1, eave, 0.9, 1.0))]
    if rng.random() < 0.6:
        cu = _u(rng, 0.62, 0.75)
        prims.append((2, ("rect", cu, roof_top + 0.08, cu + 0.1, eave)))
    prims.append((3, ("poly", [(0.5, roof_top), (-over, eave + 0.02), (1 + over, eave + 0.02)])))
    du = _u(rng, 0.38, 0.5)
    prims.append((4, ("rect", du, _u(rng, 0.62, 0.72), du + _u(rng, 0.13, 0.18), 1.0)))
    wv = _u(rng, 0.55, 0.62)
    ws = _u(rng, 0.1, 0.14)
    for wu in (0.17, 0.7):
        prims.append((5, ("rect", wu, wv, wu + ws, wv + ws)))
    return Shape([None, "chimney", "roof", "door", "window"], prims)


def _car(rng):
    top = _u(rng, 0.15, 0.3)
    waist = _u(rng, 0.45, 0.52)
    cab0, cab1 = _u(rng, 0.15, 0.3), _u(rng, 0.62, 0.75)
    prims = [
        (1, ("poly", [(cab0, waist), (cab0 + 0.1, top), (cab1 - 0.05, top), (cab1 + 0.08, waist)])),
        (1, ("rect", 0.0, waist, 1.0, 0.82)),
    ]
    mid = (cab0 + cab1) / 2
    prims.append((4, ("poly", [(cab0 + 0.07, waist - 0.02), (cab0 + 0.13, top + 0.05),
                               (mid - 0.02, top + 0.05), (mid - 0.02, waist - 0.02)])))
    prims.append((4, ("poly", [(mid + 0.02, waist - 0.02), (mid + 0.02, top + 0.05),
                               (cab1 - 0.07, top + 0.05), (cab1 + 0.02, waist - 0.02)])))
    r = _u(rng, 0.11, 0.15)
    for cu in (_u(rng, 0.18, 0.26), _u(rng, 0.74, 0.82)):
        prims.append((3, ("ellipse", cu, 0.82, r, r * 1.1)))
    prims.append((2, ("ellipse", 0.95, waist + 0.08, 0.04, 0.04)))
    return Shape([None, "headlight", "wheel", "window"], prims)


def _tree(rng):
    tw = _u(rng, 0.08, 0.14)
    crown_bottom = _u(rng, 0.6, 0.72)
    prims = [(1, ("rect", 0.5 - tw, crown_bottom - 0.1, 0.5 + tw, 1.0))]
    if rng.random() < 0.35:  # conifer
        prims.append((2, ("poly", [(0.5, 0.0), (0.05, crown_bottom), (0.95, crown_bottom)])))
    else:
        for cu, cv, r in ((0.5, 0.3, 0.3), (0.3, 0.45, 0.22), (0.7, 0.45, 0.22)):
            r = r * _u(rng, 0.9, 1.1)
            prims.append((2, ("ellipse", cu, cv, r, min(r, crown_bottom - cv))))
    return Shape(["trunk", "crown"], prims)


def _face(rng):
    prims = [(1, ("ellipse", 0.5, 0.5, _u(rng, 0.4, 0.48), 0.5))]
    ev, es, er = _u(rng, 0.32, 0.42), _u(rng, 0.14, 0.2), _u(rng, 0.06, 0.09)
    for eu in (0.5 - es, 0.5 + es):
        prims.append((2, ("ellipse", eu, ev, er, er * _u(rng, 0.8, 1.2))))
    prims.append((4, ("poly", [(0.5, ev + 0.06), (0.44, 0.6), (0.56, 0.6)])))
    mw, mv = _u(rng, 0.12, 0.2), _u(rng, 0.7, 0.76)
    prims.append((3, ("ellipse", 0.5, mv, mw, _u(rng, 0.03, 0.07))))
    return Shape([None, "eye", "mouth", "nose"], prims)


def _fish(rng):
    body_end = _u(rng, 0.68, 0.75)
    bh = _u(rng, 0.22, 0.32)
    prims = [
        (3, ("poly", [(body_end - 0.06, 0.5), (1.0, 0.5 - _u(rng, 0.25, 0.35)),
                      (0.94, 0.5), (1.0, 0.5 + _u(rng, 0.25, 0.35))])),
        (2, ("poly", [(0.3, 0.5 - bh + 0.05), (0.45, 0.5 - bh - 0.15), (0.58, 0.5 - bh + 0.05)])),
        (1, ("ellipse", body_end / 2 + 0.02, 0.5, body_end / 2, bh)),
        (4, ("ellipse", 0.16, 0.45, 0.045, 0.045)),
    ]
    return Shape([None, "fin", "tail", "eye"], prims)


def _flower(rng):
    cv = _u(rng, 0.25, 0.32)
    n = int(rng.integers(5, 9))
    pr = _u(rng, 0.09, 0.12)
    dist = _u(rng, 0.14, 0.18)
    prims = [(3, ("rect", 0.47, cv, 0.53, 1.0))]
    lv = _u(rng, 0.62, 0.8)
    prims.append((4, ("poly", [(0.53, lv), (0.8, lv - 0.12), (0.62, lv + 0.04)])))
    rot = _u(rng, 0, 2 * np.pi)
    for k in range(n):
        a = rot + 2 * np.pi * k / n
        prims.append((2, ("ellipse", 0.5 + dist * np.cos(a), cv + dist * np.sin(a), pr, pr)))
    prims.append((1, ("ellipse", 0.5, cv, 0.09, 0.09)))
    return Shape([None, "petal", "stem", "leaf"], prims)


def _star(rng):
    n = int(rng.integers(5, 7))
    inner = _u(rng, 0.38, 0.5)
    rot = -np.pi / 2 + _u(rng, -0.2, 0.2)
    pts = []
    for k in range(2 * n):
        r = 0.5 if k % 2 == 0 else 0.5 * inner
        a = rot + np.pi * k / n
        pts.append((0.5 + r * np.cos(a), 0.5 + r * np.sin(a)))
    return Shape([None], [(1, ("poly", pts))])


def _ring(rng):
    hole = _u(rng, 0.45, 0.65)
    return Shape(
        [None], [(1, ("ellipse", 0.5, 0.5, 0.5, 0.5)), (0, ("ellipse", 0.5, 0.5, 0.5 * hole, 0.5 * hole))]
    )


def _cross(rng):
    t = _u(rng, 0.14, 0.2)
    return Shape(
        [None], [(1, ("rect", 0.5 - t, 0.0, 0.5 + t, 1.0)), (1, ("rect", 0.0, 0.5 - t, 1.0, 0.5 + t))]
    )


def _triangle(rng):
    apex = _u(rng, 0.3, 0.7)
    return Shape([None], [(1, ("poly", [(apex, 0.0), (0.0, 1.0), (1.0, 1.0)]))])


def _crescent(rng):
    shift = _u(rng, 0.22, 0.35)
    return Shape(
        [None],
        [(1, ("ellipse", 0.5, 0.5, 0.5, 0.5)), (0, ("ellipse", 0.5 + shift, 0.45, 0.42, 0.45))],
    )


def _heart(rng):
    r = _u(rng, 0.24, 0.27)
    tip = _u(rng, 0.95, 1.0)
    return Shape(
        [None],
        [
            (1, ("ellipse", 0.5 - r * 0.95, 0.3, r, r)),
            (1, ("ellipse", 0.5 + r * 0.95, 0.3, r, r)),
            (1, ("poly", [(0.01, 0.38), (0.99, 0.38), (0.5, tip)])),
        ],
    )


DRAWERS: dict[str, Callable[[np.random.Generator], Shape]] = {
    "car": _car, "crescent": _crescent, "cross": _cross, "face": _face, "fish": _fish,
    "flower": _flower, "heart": _heart, "house": _house, "ring": _ring, "star": _star,
    "tree": _tree, "triangle": _triangle,
}  # fmt: skip


def draw_shape(name: str, rng: np.random.Generator) -> Shape:
    """A random instance of object class `name` in the unit box."""
    return DRAWERS[name](rng)


def rasterize(shape: Shape, box: tuple[float, float, float, float], flip: bool, size: int) -> np.ndarray:
    """A size x size uint8 map of slots (0 = outside) for `shape` placed in box (x, y, w, h)."""
    x0, y0, w, h = box
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)

    def px(u: float, v: float) -> tuple[float, float]:
        return x0 + ((1 - u) if flip else u) * w, y0 + v * h

    for slot, prim in shape.prims:
        kind = prim[0]
        if kind == "poly":
            draw.polygon([px(u, v) for u, v in prim[1]], fill=slot)
        elif kind == "rect":
            (ax, ay), (bx, by) = px(prim[1], prim[2]), px(prim[3], prim[4])
            draw.rectangle([min(ax, bx), ay, max(ax, bx), by], fill=slot)
        else:
            _, cu, cv, ru, rv = prim
            (cx, cy) = px(cu, cv)
            draw.ellipse([cx - ru * w, cy - rv * h, cx + ru * w, cy + rv * h], fill=slot)
    return np.asarray(canvas)
