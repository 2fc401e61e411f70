"""Write concept-world samples as a Broden-format dataset, the layout dissection reads.

Layout (as in Broden 1): images/<source>/<id>.jpg; per-pixel labels as PNGs at half the image
size encoding the global label number as R + 256*G; whole-image labels (scene, and texture
where one texture fills the background) as numbers; index.csv, label.csv, category.csv and
c_<category>.csv. Names follow Broden: colours end in `-c` (`red-c`), scenes in `-s`.
Label numbers depend only on the vocabulary (colours 1-11, objects from 12 ...), never on data.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from ...errors import DataError
from .world import CATEGORIES, PIXEL_CATEGORIES, Sample

INDEX_COLUMNS = ("image", "split", "ih", "iw", "sh", "sw")
CATEGORY_ORDER = ("color", "object", "part", "material", "scene", "texture")
SUFFIX = {"color": "-c", "scene": "-s"}


def broden_name(name: str, category: str) -> str:
    """The label's name as Broden spells it (`red` -> `red-c`, `street` -> `street-s`)."""
    return name + SUFFIX.get(category, "")


def label_numbers(categories: dict[str, tuple[str, ...]] = CATEGORIES) -> dict[str, np.ndarray]:
    """Per category, the global number of each 1-based code (index 0 maps to 0 = unlabelled)."""
    numbers, next_number = {}, 1
    for cat in CATEGORY_ORDER:
        names = categories.get(cat, ())
        numbers[cat] = np.arange(next_number - 1, next_number + len(names), dtype=np.int64)
        numbers[cat][0] = 0
        next_number += len(names)
    return numbers


def half_size(maps: np.ndarray, sh: int, sw: int) -> np.ndarray:
    """Nearest-neighbour resample of an HxW map to sh x sw (pixel centres)."""
    h, w = maps.shape
    rows = ((np.arange(sh) + 0.5) * h / sh).astype(np.int64)
    cols = ((np.arange(sw) + 0.5) * w / sw).astype(np.int64)
    return maps[rows[:, None], cols[None, :]]


def encode_labels(numbers: np.ndarray) -> np.ndarray:
    """HxW global label numbers as an HxWx3 uint8 array: R + 256*G, B = 0."""
    if numbers.size and int(numbers.max()) >= 65536:
        raise DataError("label numbers above 65535 cannot be stored in R + 256*G")
    out = np.zeros((*numbers.shape, 3), dtype=np.uint8)
    out[..., 0] = numbers % 256
    out[..., 1] = numbers // 256
    return out


class BrodenWriter:
    """Accumulates samples into a Broden directory; `close()` writes the CSV tables."""

    def __init__(
        self,
        out_dir: str | Path,
        categories: dict[str, tuple[str, ...]] = CATEGORIES,
        source: str = "concepts",
        quality: int = 92,
    ) -> None:
        self.root = Path(out_dir)
        self.categories = categories
        self.source = source
        self.quality = quality
        self.numbers = label_numbers(categories)
        total = sum(len(v) for v in categories.values()) + 1
        self.frequency = {cat: np.zeros(total, np.int64) for cat in CATEGORY_ORDER}
        self.coverage = {cat: np.zeros(total, np.float64) for cat in CATEGORY_ORDER}
        self.category_images = dict.fromkeys(CATEGORY_ORDER, 0)
        self.rows: list[dict[str, str]] = []
        (self.root / "images" / source).mkdir(parents=True, exist_ok=True)

    def add(self, sample: Sample, stem: str, split: str = "train") -> dict[str, str]:
        """Write one sample's JPEG and label PNGs and remember its index row."""
        ih, iw = sample.image.shape[:2]
        sh, sw = ih // 2, iw // 2
        rel = f"{self.source}/{stem}"
        Image.fromarray(sample.image).save(
            self.root / "images" / f"{rel}.jpg", quality=self.quality, subsampling=0
        )  # 4:4:4 keeps the colour of fine patterns
        row = {"image": f"{rel}.jpg", "split": split, "ih": str(ih), "iw": str(iw)}
        row.update(sh=str(sh), sw=str(sw))
        for cat in CATEGORY_ORDER:
            entries: list[str] = []
            cover = np.zeros(len(self.frequency[cat]), np.float64)  # this image's share per label
            if cat in PIXEL_CATEGORIES and cat in sample.maps:
                numbers = self.numbers[cat][half_size(sample.maps[cat], sh, sw)]
                counts = np.bincount(numbers.ravel(), minlength=len(cover))
                counts[0] = 0
                if counts.any():
                    name = f"{rel}_{'part_1' if cat == 'part' else cat}.png"
                    Image.fromarray(encode_labels(numbers)).save(
                        self.root / "images" / name, compress_level=1
                    )
                    entries.append(name)
                    cover += counts / numbers.size
            for code in sample.whole.get(cat, []):
                number = int(self.numbers[cat][code])
                entries.append(str(number))
                cover[number] = 1.0  # a whole-image label covers every pixel
            self.frequency[cat] += cover > 0
            self.coverage[cat] += cover
            self.category_images[cat] += bool(entries)
            row[cat] = ";".join(entries)
        self.rows.append(row)
        return row

    def close(self) -> Path:
        """Write index.csv, label.csv, category.csv and c_<category>.csv; return the root."""
        self._write("index.csv", [*INDEX_COLUMNS, *CATEGORY_ORDER], self.rows)
        labels, cats = [], []
        for cat in CATEGORY_ORDER:
            names = self.categories.get(cat, ())
            codes = []
            for code, name in enumerate(names, start=1):
                number = int(self.numbers[cat][code])
                freq = int(self.frequency[cat][number])
                cover = float(self.coverage[cat][number])
                labels.append({
                    "number": number, "name": broden_name(name, cat),
                    "category": f"{cat}({freq})", "frequency": freq,
                    "coverage": f"{cover:.6f}", "syns": "",
                })  # fmt: skip
                codes.append({
                    "code": code, "number": number, "name": broden_name(name, cat),
                    "frequency": freq, "coverage": f"{cover:.6f}",
                })  # fmt: skip
            self._write(f"c_{cat}.csv", ["code", "number", "name", "frequency", "coverage"], codes)
            first = int(self.numbers[cat][1]) if names else 0
            cats.append({
                "name": cat, "first": first, "last": first + len(names) - 1 if names else 0,
                "count": len(names), "frequency": self.category_images[cat],
            })  # fmt: skip
        columns = ["number", "name", "category", "frequency", "coverage", "syns"]
        self._write("label.csv", columns, labels)
        self._write("category.csv", ["name", "first", "last", "count", "frequency"], cats)
        return self.root

    def _write(self, name: str, columns: list[str], rows: Iterable[dict]) -> None:
        with open(self.root / name, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
