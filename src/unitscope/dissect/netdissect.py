"""NetDissect-Lite's tally.csv, as its feature_operation.py writes it, from unitscope's unit rows.

So that tools written for NetDissect-Lite read unitscope's file unchanged, this keeps its
conventions where unitscope's own table (units.csv) does not: units count from 1; labels keep
label.csv's spelling (`red-c`, `gallery-s`); a category whose best IoU is 0 has a blank label
(NetDissect-Lite's argmax lands on label 0, which has no name) with truth, intersect and iou 0,
and, as NetDissect-Lite's label 0 belongs to the last category, that category's activation;
a unit's category is the one with the best IoU, the later one on ties; numbers are floats
printed as Python's csv module prints them (`2048.0`, `0.30000000000000004`), lines end in
CRLF (csv.DictWriter's default dialect).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ..rundir import atomic_path

PER_CATEGORY = ("label", "truth", "activation", "intersect", "iou")


def header(categories: list[str]) -> list[str]:
    """unit,category,label,score then <cat>-label/truth/activation/intersect/iou per category."""
    return ["unit", "category", "label", "score"] + [f"{cat}-{field}" for cat in categories
                                                     for field in PER_CATEGORY]


def score_order(row: dict[str, Any]) -> tuple[float, int]:
    """Best score first; equal scores by unit (NetDissect-Lite leaves their order to numpy)."""
    return -row["iou"], row["unit"]


def tally_rows(rows: list[dict[str, Any]], categories: list[str]) -> list[list[Any]]:
    """tally.csv's lines below the header, from `labels.unit_labels` rows."""
    lines = []
    for row in sorted(rows, key=score_order):
        last = row["per_category"][categories[-1]] if categories else {}
        groups = [_category(row["per_category"][cat], last) for cat in categories]
        top = max(range(len(groups)), key=lambda k: (groups[k][-1], k), default=None)
        best = ["", "", 0.0] if top is None else [categories[top], groups[top][0], groups[top][-1]]
        lines.append([row["unit"] + 1, *best, *(value for group in groups for value in group)])
    return lines


def _category(found: dict[str, Any], last: dict[str, Any]) -> list[Any]:
    """One category's five columns: its best label, or NetDissect-Lite's label 0 when that scores 0."""
    if found["iou"] > 0:
        return [found["raw_label"], float(found["truth"]), float(found["activation"]),
                float(found["intersect"]), float(found["iou"])]
    return ["", 0.0, float(last.get("activation", 0.0)), 0.0, 0.0]


def write_tally(path: Path, rows: list[dict[str, Any]], categories: list[str]) -> None:
    """Write NetDissect-Lite's tally.csv for one layer (bytes, so no platform changes the line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header(categories))
    writer.writerows(tally_rows(rows, categories))
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue().encode("utf-8"))
