"""Broden-format data for tests: in-memory datasets with planted labels, and Broden folders on disk.

In memory: `MemoryBroden` has the `BrodenDataset` interface the verbs use (items, categories,
labels_table), filled by `random_broden` (blobby random labels) or `planted_broden` (labels that
`nets.planted_detectors` detects). On disk: `quirky_broden` (the real Broden's quirks, by hand),
`scenes_broden` (only the two CSV files) and `concept_world` (written by the concept world).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

CATEGORIES = ["color", "object", "part", "scene", "texture"]


# ---- in memory -----------------------------------------------------------------------------------


@dataclass
class Item:
    image: torch.Tensor
    name: str
    labels: dict = field(default_factory=dict)
    whole: dict = field(default_factory=dict)


class MemoryBroden:
    """An in-memory dataset with the BrodenDataset interface (items, categories, labels_table).

    `fail_at`: reading that item raises RuntimeError("simulated crash"), as a killed run would stop.
    """

    def __init__(self, items: list[Item], table: dict[int, tuple[str, str]], fail_at: int | None = None):
        self.items, self.labels_table, self.fail_at = items, table, fail_at
        self.categories = [c for c in CATEGORIES if any(cat == c for _, cat in table.values())]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Item:
        if self.fail_at is not None and i == self.fail_at:
            raise RuntimeError("simulated crash")
        return self.items[i]


RANDOM_TABLE = {1: ("red-c", "color"), 2: ("blue-c", "color"), 3: ("green-c", "color"),
                4: ("car", "object"), 5: ("tree", "object"), 6: ("wheel", "part"),
                7: ("street-s", "scene"), 8: ("park-s", "scene"), 9: ("striped", "texture")}


def random_broden(n: int = 10, size: int = 32, seed: int = 0) -> MemoryBroden:
    """Blobby random images with blobby colour/object/part planes and whole-image labels.

    Pixels are multiples of 1/64 (exact through `nets.tiny_model`); label planes are size / 2.
    Every image has colour; objects and parts on 2 of 3 images; a scene each; texture on every 4th.
    """
    g = torch.Generator().manual_seed(seed)
    seg = size // 2
    items = []
    for i in range(n):
        image = F.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=(size, size), mode="bilinear")[0]
        image = torch.round(image * 64) / 64
        color = F.interpolate(torch.rand(1, 3, 4, 4, generator=g), size=(seg, seg)).argmax(1) + 1
        obj = F.interpolate(torch.rand(1, 3, 4, 4, generator=g), size=(seg, seg)).argmax(1)
        obj = torch.where(obj == 0, 0, obj + 3)  # 0 = none, 4 car, 5 tree
        part = torch.where((obj == 4) & (torch.rand(1, seg, seg, generator=g) > 0.5), 6, 0)
        labels = {"color": color}
        if i % 3:
            labels["object"] = obj
            labels["part"] = part
        whole = {"scene": [7 if i % 2 else 8]}
        if i % 4 == 0:
            whole["texture"] = [9]
        items.append(Item(image, f"images/{i:03d}.png", labels, whole))
    return MemoryBroden(items, RANDOM_TABLE)


PLANTED_TABLE = {1: ("gray-c", "color"), 2: ("red-c", "color"), 3: ("box", "object"),
                 4: ("striped", "texture"), 5: ("plain", "texture")}


def planted_broden(n: int = 40, size: int = 64, seed: int = 0) -> MemoryBroden:
    """Gray noisy images; each has a red square and a blue box; every 10th-ish image is striped.

    Red and the box each cover about 10 % of all pixels, striped images about 10 % of images.
    """
    rng = np.random.default_rng(seed)
    seg = size // 2
    items = []
    for i in range(n):
        img = 0.5 + rng.uniform(-0.08, 0.08, (size, size, 1)).repeat(3, 2)
        striped = i % 10 == 3
        if striped:
            img[:, (np.arange(size) // 2) % 2 == 0] -= 0.3
        color = np.ones((seg, seg), np.int64)
        obj = np.zeros((seg, seg), np.int64)
        quads = rng.permutation(4)[:2]
        for quad, kind in zip(quads, ("red", "box"), strict=True):
            y0 = (quad // 2) * size // 2 + rng.integers(0, 10)
            x0 = (quad % 2) * size // 2 + rng.integers(0, 10)
            s = 20
            shade = rng.uniform(0.75, 1.0, (s, s))
            if kind == "red":
                img[y0:y0 + s, x0:x0 + s] = np.stack([shade, 0.1 * shade, 0.1 * shade], -1)
                color[y0 // 2:(y0 + s) // 2, x0 // 2:(x0 + s) // 2] = 2
            else:
                img[y0:y0 + s, x0:x0 + s] = np.stack([0.1 * shade, 0.2 * shade, shade], -1)
                color[y0 // 2:(y0 + s) // 2, x0 // 2:(x0 + s) // 2] = 0
                obj[y0 // 2:(y0 + s) // 2, x0 // 2:(x0 + s) // 2] = 3
        image = torch.from_numpy(np.clip(img, 0, 1)).permute(2, 0, 1).float()
        labels = {"color": torch.from_numpy(color)[None], "object": torch.from_numpy(obj)[None]}
        items.append(Item(image, f"images/{i:03d}.png", labels, {"texture": [4 if striped else 5]}))
    return MemoryBroden(items, PLANTED_TABLE)


# ---- on disk -------------------------------------------------------------------------------------

INDEX_HEADER = ("image", "split", "ih", "iw", "sh", "sw", "color", "object", "material", "part", "scene",
                "texture")
LABEL_HEADER = ("number", "name", "category", "frequency", "coverage", "syns")


def write_csv(path: Path, rows, encoding: str = "utf-8") -> None:
    """Rows as the Broden CSV files have them: comma-separated, '\\n' line ends."""
    with open(path, "w", newline="", encoding=encoding) as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def label_png(path: Path, numbers: np.ndarray) -> None:
    """A segmentation PNG: label number = R + 256 * G."""
    rgb = np.zeros((*numbers.shape, 3), np.uint8)
    rgb[..., 0], rgb[..., 1] = numbers % 256, numbers // 256
    Image.fromarray(rgb).save(path)


QUIRKY_LABELS = [
    LABEL_HEADER,
    ("0", "-", "", "0", "0", ""),
    ("1", "red-c", "color(2)", "2", "1.5", ""),
    ("2", "blue-c", "color(1)", "1", "0.5", ""),
    ("3", "person", "object(2)", "2", "0.6", ""),
    ("4", "fabric", "material(36);object(3)", "39", "4.2", "cloth"),
    ("5", "head", "part(1)", "1", "0.1", ""),
    ("6", "eye", "part(1)", "1", "0.05", ""),
    ("7", "street-s", "scene(1)", "1", "1", ""),
    ("8", "striped", "texture(1)", "1", "1", ""),
    ("9", "dotted", "texture(1)", "1", "1", ""),
]


def quirky_broden(root: Path) -> Path:
    """Two 8x8 images (4x4 labels) written by hand with the real Broden's quirks; returns `root`.

    ade/a.jpg (train): colour red|blue, object person|fabric, two part levels (head; eye), material
    fabric, scene street (7). ade/b.jpg (val): colour only, textures striped and dotted (8;9).
    'fabric' (4) is both material and object, with more material coverage; label.csv lists
    categories as 'name(count)'; c_object.csv and c_material.csv hold the per-category codes.
    """
    img = root / "images" / "ade"
    img.mkdir(parents=True)
    for stem in ("a", "b"):
        Image.fromarray(np.full((8, 8, 3), 120, np.uint8)).save(img / f"{stem}.jpg")
    color = np.array([[1, 1, 2, 2]] * 4)
    obj = np.array([[3, 3, 4, 4]] * 4)
    part1 = np.array([[5, 5, 0, 0]] * 4)
    part2 = np.array([[0, 6, 0, 0]] * 4)
    material = np.array([[0, 0, 4, 4]] * 4)
    for name, arr in [("a_color", color), ("a_object", obj), ("a_part_1", part1),
                      ("a_part_2", part2), ("a_material", material), ("b_color", color)]:  # fmt: skip
        label_png(img / f"{name}.png", arr)
    write_csv(root / "index.csv", [
        INDEX_HEADER,
        ("ade/a.jpg", "train", "8", "8", "4", "4", "ade/a_color.png", "ade/a_object.png",
         "ade/a_material.png", "ade/a_part_1.png;ade/a_part_2.png", "7", ""),
        ("ade/b.jpg", "val", "8", "8", "4", "4", "ade/b_color.png", "", "", "", "", "8;9"),
    ])  # fmt: skip
    write_csv(root / "label.csv", QUIRKY_LABELS)
    write_csv(root / "category.csv", [("name", "first", "last", "count", "frequency"),
                                      ("color", "1", "2", "2", "2")])  # fmt: skip
    write_csv(root / "c_material.csv", [("code", "number", "name", "frequency", "coverage"),
                                        ("1", "4", "fabric", "36", "3.9")])  # fmt: skip
    write_csv(root / "c_object.csv", [("code", "number", "name", "frequency", "coverage"),
                                      ("1", "3", "person", "2", "0.6"),
                                      ("2", "4", "fabric", "3", "0.3")])  # fmt: skip
    return root


def scenes_broden(folder: Path, scenes: list[str]) -> Path:
    """Only index.csv and label.csv (no image files): image i is 'w/000i.jpg' with the whole-image
    scene label scenes[i], 7 = street or 8 = garden; returns the new `folder`."""
    folder.mkdir()
    write_csv(folder / "index.csv", [INDEX_HEADER] + [
        (f"w/{i:04d}.jpg", "train", "8", "8", "4", "4", "", "", "", "", scene, "")
        for i, scene in enumerate(scenes)])
    write_csv(folder / "label.csv", [LABEL_HEADER, ("1", "red-c", "color(3)", "3", "1.0", ""),
                                     ("7", "street-s", "scene(4)", "4", "4.0", ""),
                                     ("8", "garden-s", "scene(2)", "2", "2.0", "")])
    return folder


def concept_world(root: Path, seed: int = 0, n: int = 10, size: int = 64) -> Path:
    """A Broden-format folder of `n` concept-world images of `size` px, written by the generator."""
    from unitscope.data.concepts.generate import generate

    return generate(root, n=n, size=size, seed=seed, progress=False)
