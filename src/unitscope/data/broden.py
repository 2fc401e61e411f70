"""Read any Broden-format dataset (the real Broden 1 or the concept world) for dissection.

Handles the real dataset's quirks: several PNGs per category (part levels), labels listed in
two categories (`material(36);object(3)`), whole-image labels given as numbers (scene,
texture), segmentations smaller than the image. Names are shown plain: Broden's `red-c` and
`street-s` read as `red` and `street` (the raw names stay in `raw_label_names`). The CSV files
may be UTF-8 or Latin-1. Malformed input raises `DataError` naming the file and the row.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import UnidentifiedImageError

from ..errors import DataError
from ..imageio import open_image, read_image, to_float

INDEX_COLUMNS = ("image", "split", "ih", "iw", "sh", "sw")
LABEL_COLUMNS = ("number", "name", "category")
SUFFIX = {"color": "-c", "scene": "-s"}
_CATEGORY_RE = re.compile(r"^\s*([^()]+?)\s*(?:\((\d+)\))?\s*$")


@dataclass
class BrodenItem:
    """One image and its labels.

    image: 3xHxW uint8, as decoded (`imageio.to_float` gives [0, 1] floats; the scan converts
    whole batches on the model's device).
    labels[cat]: int32 tensor [P, sh, sw] of global label numbers (0 = none; R + 256 G of the
    PNG, so int32 holds any), one plane per PNG
    listed for the category (P may be 0). whole[cat]: whole-image label numbers.
    """

    image: torch.Tensor
    name: str
    labels: dict[str, torch.Tensor]
    whole: dict[str, list[int]]
    index: int = 0
    split: str = ""


@dataclass
class BrodenBatch:
    """Items batched: images stacked [B, 3, H, W]; labels and whole kept per item."""

    images: torch.Tensor
    names: list[str]
    labels: dict[str, list[torch.Tensor]]
    whole: dict[str, list[list[int]]]
    indices: list[int]


@dataclass(frozen=True)
class _Row:
    line: int
    image: str
    split: str
    sh: int
    sw: int
    pngs: dict[str, tuple[str, ...]]
    whole: dict[str, tuple[int, ...]]


def _read_csv(path: Path, required: Sequence[str]) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(header, rows with their line numbers) of a CSV file; DataError if missing or lacking columns."""
    if not path.is_file():
        raise DataError(f"'{path}' does not exist; a Broden dataset needs it")
    reader = csv.DictReader(io.StringIO(_text(path), newline=""))
    columns = list(reader.fieldnames or [])
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(f"'{path}' lacks column(s) {', '.join(missing)} (header: {','.join(columns)})")
    return columns, [(reader.line_num, row) for row in reader]


def _text(path: Path) -> str:
    """A CSV file's text: UTF-8 (a byte-order mark dropped), else Latin-1. Broden's own files are
    ASCII, but an edited copy may be saved as either; Latin-1 decodes any bytes, so none is refused."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read '{path}': {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _int(value: str | None, path: Path, line: int, column: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise DataError(f"'{path}' row {line}: {column} '{value}' is not a whole number") from None


def parse_categories(field: str) -> list[tuple[str, int]]:
    """`material(36);object(3)` -> [('material', 36), ('object', 3)] (count 0 when absent)."""
    out = []
    for part in filter(None, (p.strip() for p in (field or "").split(";"))):
        match = _CATEGORY_RE.match(part)
        if not match:
            raise ValueError(part)
        out.append((match.group(1), int(match.group(2) or 0)))
    return out


def plain_name(name: str, categories: Sequence[str]) -> str:
    """Drop Broden's category suffix (`red-c` -> `red`) when the label is in that category."""
    for cat in categories:
        suffix = SUFFIX.get(cat)
        if suffix and name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


class BrodenDataset(torch.utils.data.Dataset):
    """A Broden-format directory: `len()`, `ds[i] -> BrodenItem`, label tables, `iterate()`.

    size resizes images to size x size (labels stay at the segmentation size sh x sw).
    categories restricts which categories are read; split keeps only rows of that split.
    """

    def __init__(
        self,
        path: str | Path,
        size: int | None = None,
        categories: Sequence[str] | None = None,
        split: str | None = None,
    ) -> None:
        self.root = Path(path)
        self.size = size
        if not (self.root / "index.csv").is_file():
            raise DataError(
                f"'{self.root}' is not a Broden dataset (no index.csv); "
                "write one with `unitscope concepts OUT`"
            )
        self._read_labels()
        self._read_index(categories, split)

    # --- tables -------------------------------------------------------------------------
    def _read_labels(self) -> None:
        path = self.root / "label.csv"
        _, rows = _read_csv(path, LABEL_COLUMNS)
        parsed: dict[int, tuple[str, list[tuple[str, int]]]] = {}
        for line, row in rows:
            number = _int(row["number"], path, line, "number")
            try:
                cats = parse_categories(row["category"])
            except ValueError as exc:
                raise DataError(f"'{path}' row {line}: cannot read category '{exc}'") from None
            if number in parsed:
                raise DataError(f"'{path}' row {line}: label number {number} appears twice")
            parsed[number] = ((row["name"] or "").strip(), cats)
        coverage = self._category_coverage()
        size = max(parsed, default=0) + 1
        self.raw_label_names = [""] * size
        self.label_names = [""] * size
        self.label_categories: dict[int, list[str]] = {}
        self.labels_table: dict[int, tuple[str, str]] = {}
        for number, (name, cats) in sorted(parsed.items()):
            names = [c for c, _ in cats]
            self.raw_label_names[number] = name
            self.label_names[number] = plain_name(name, names)
            if number == 0 or not cats:
                continue
            self.label_categories[number] = names
            primary = max(
                cats, key=lambda c: (coverage.get((c[0], number), -1.0), c[1], -names.index(c[0]))
            )[0]
            self.labels_table[number] = (self.label_names[number], primary)
        self._known = np.zeros(size, dtype=bool)
        self._known[list(self.labels_table)] = True
        self._pixel_known = self._known.copy()
        self._pixel_known[0] = True  # 0 = unlabelled pixel

    def _category_coverage(self) -> dict[tuple[str, int], float]:
        """(category, number) -> coverage from c_<category>.csv files, where present."""
        out: dict[tuple[str, int], float] = {}
        for path in sorted(self.root.glob("c_*.csv")):
            cat = path.stem[2:]
            for line, row in _read_csv(path, ("code", "number"))[1]:
                number = _int(row["number"], path, line, "number")
                try:
                    out[(cat, number)] = float(row.get("coverage") or 0.0)
                except ValueError:
                    raise DataError(f"'{path}' row {line}: coverage is not a number") from None
        return out

    def _read_index(self, categories: Sequence[str] | None, split: str | None) -> None:
        path = self.root / "index.csv"
        header, rows = _read_csv(path, INDEX_COLUMNS)
        present = [c for c in header if c not in INDEX_COLUMNS]
        if categories is not None:
            unknown = [c for c in categories if c not in present]
            if unknown:
                raise DataError(
                    f"'{path}' has no category {', '.join(unknown)}; it has {', '.join(present)}"
                )
            present = [c for c in present if c in categories]
        self.categories: list[str] = present
        self._rows: list[_Row] = []
        for line, row in rows:
            if split is not None and row["split"] != split:
                continue
            self._rows.append(self._parse_row(path, line, row))
        if not self._rows:
            raise DataError(f"'{path}' lists no images" + (f" in split '{split}'" if split else ""))

    def _parse_row(self, path: Path, line: int, row: dict[str, str]) -> _Row:
        if not (row.get("image") or "").strip():
            raise DataError(f"'{path}' row {line}: the image column is empty")
        pngs: dict[str, tuple[str, ...]] = {}
        whole: dict[str, tuple[int, ...]] = {}
        for cat in self.categories:
            entries = [e.strip() for e in (row.get(cat) or "").split(";") if e.strip()]
            numbers = [e for e in entries if e.isdigit()]
            pngs[cat] = tuple(e for e in entries if not e.isdigit())
            whole[cat] = tuple(int(e) for e in numbers)
            for number in whole[cat]:
                if number >= len(self._known) or not self._known[number]:
                    raise DataError(
                        f"'{path}' row {line}: {cat} label {number} is not in label.csv"
                    )
        sh = _int(row["sh"], path, line, "sh")
        sw = _int(row["sw"], path, line, "sw")
        for column in ("ih", "iw"):
            _int(row[column], path, line, column)
        return _Row(line, row["image"].strip(), row["split"], sh, sw, pngs, whole)

    # --- properties ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._rows)

    @property
    def names(self) -> list[str]:
        """Image paths relative to images/, in index order."""
        return [r.image for r in self._rows]

    @property
    def segmentation_size(self) -> tuple[int, int] | None:
        """(sh, sw) shared by every row, or None when rows differ."""
        sizes = {(r.sh, r.sw) for r in self._rows}
        return next(iter(sizes)) if len(sizes) == 1 else None

    def whole_labels(self, i: int, category: str) -> tuple[int, ...]:
        """Whole-image label numbers of image `i` in `category` (scene, texture), without decoding it."""
        return self._rows[i].whole.get(category, ())

    def category_labels(self, category: str) -> list[int]:
        """Label numbers listed in `category` (primary or not), ascending."""
        return sorted(n for n, cats in self.label_categories.items() if category in cats)

    def primary_labels(self, category: str) -> list[int]:
        """Label numbers whose primary category is `category`, ascending."""
        return sorted(n for n, (_, cat) in self.labels_table.items() if cat == category)

    # --- items --------------------------------------------------------------------------
    def __getitem__(self, i: int) -> BrodenItem:
        row = self._rows[i]
        where = f"(index.csv row {row.line})"
        try:
            image = read_image(self.root / "images" / row.image, self.size)
        except DataError as exc:
            raise DataError(f"{exc} {where}") from None
        labels = {}
        for cat in self.categories:
            planes = [self._read_png(name, row, where) for name in row.pngs[cat]]
            stack = np.stack(planes) if planes else np.zeros((0, row.sh, row.sw), np.int32)
            labels[cat] = torch.from_numpy(stack)
        whole = {cat: list(row.whole[cat]) for cat in self.categories}
        return BrodenItem(image, row.image, labels, whole, i, row.split)

    def _read_png(self, name: str, row: _Row, where: str) -> np.ndarray:
        path = self.root / "images" / name
        if not path.is_file():
            raise DataError(f"segmentation '{path}' does not exist {where}")
        try:
            with open_image(path) as img:
                array = np.asarray(img if img.mode == "RGB" else img.convert("RGB"))
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DataError(f"cannot read segmentation '{path}': {exc} {where}") from None
        if array.shape[:2] != (row.sh, row.sw):
            raise DataError(
                f"segmentation '{path}' is {array.shape[1]}x{array.shape[0]}, but index.csv "
                f"says sw x sh = {row.sw}x{row.sh} {where}"
            )
        numbers = array[..., 0].astype(np.int32) | (array[..., 1].astype(np.int32) << 8)
        known = self._pixel_known
        if int(numbers.max()) >= len(known) or not known[numbers].all():
            values = np.unique(numbers)
            bad = next(int(v) for v in values if v >= len(known) or not known[v])
            raise DataError(
                f"segmentation '{path}' holds label {bad}, which is not in label.csv {where}"
            )
        return numbers

    def iterate(
        self,
        batch_size: int = 32,
        indices: Sequence[int] | None = None,
        num_workers: int = 0,
    ) -> Iterator[BrodenBatch]:
        """Batches in index order; with num_workers > 0 a torch DataLoader reads in parallel."""
        order = list(range(len(self))) if indices is None else list(indices)
        if num_workers > 0:
            subset = torch.utils.data.Subset(self, order)
            loader = torch.utils.data.DataLoader(
                subset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate
            )
            yield from loader
            return
        for start in range(0, len(order), batch_size):
            yield collate([self[i] for i in order[start : start + batch_size]])


def collate(items: Sequence[BrodenItem]) -> BrodenBatch:
    """Stack images (they must share a size: pass `size=` to the dataset) and list labels."""
    shapes = {tuple(item.image.shape) for item in items}
    if len(shapes) > 1:
        raise DataError(
            "images in a batch differ in size; open the dataset with BrodenDataset(path, size=N)"
        )
    cats = list(items[0].labels) if items else []
    return BrodenBatch(
        images=to_float(torch.stack([item.image for item in items])),
        names=[item.name for item in items],
        labels={c: [item.labels[c] for item in items] for c in cats},
        whole={c: [item.whole[c] for item in items] for c in cats},
        indices=[item.index for item in items],
    )
