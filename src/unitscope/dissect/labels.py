"""The analysis of a tally: each unit's best labels by IoU, and a layer's detector counts.

Units are 0-based channel indices, as everywhere in unitscope (NetDissect-Lite counts from 1:
netdissect.py writes its file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..stats.iou import IoUTally

RUNNERS_UP = 3


@dataclass
class Concepts:
    """Label numbers -> names and primary categories, as dense tensors for the tally.

    `raw_names` are label.csv's names as written (`red-c`, `gallery-s`), for NetDissect-Lite's
    tally.csv; a dataset without `raw_label_names` (an in-memory one with only `labels_table`)
    gives its plain names there too."""

    names: list[str]
    categories: list[str]
    label_category: torch.Tensor  # (C,) index into categories, -1 for 0 / unused
    raw_names: list[str] = field(default_factory=list)

    @classmethod
    def from_dataset(cls, dataset) -> Concepts:
        categories = list(dataset.categories)
        table = dataset.labels_table
        entries = table.items() if hasattr(table, "items") else enumerate(table)
        entries = [(int(n), v) for n, v in entries if v is not None]
        size = max([n for n, _ in entries] + [0]) + 1
        names = [""] * size
        label_category = torch.full((size,), -1, dtype=torch.long)
        for number, (name, category) in entries:
            names[number] = str(name)
            if number > 0 and category in categories:
                label_category[number] = categories.index(category)
        raw = list(getattr(dataset, "raw_label_names", None) or [])
        raw_names = [str(raw[n]) if n < len(raw) and raw[n] else name for n, name in enumerate(names)]
        return cls(names, categories, label_category, raw_names)

    def name(self, c: int) -> str:
        return self.names[c] if c < len(self.names) else str(c)

    def raw_name(self, c: int) -> str:
        """label.csv's own spelling of label c (the plain name when the dataset has none)."""
        return self.raw_names[c] if c < len(self.raw_names) else self.name(c)

    def category(self, c: int) -> str:
        k = int(self.label_category[c])
        return self.categories[k] if k >= 0 else ""


def unit_labels(tally: IoUTally, concepts: Concepts, iou_threshold: float) -> list[dict[str, Any]]:
    """Per unit: best label overall, its runners-up, and the best label within each category.

    The rankings come from a few tensor ops over all units at once; the loop only formats."""
    iou = tally.iou()
    iou[concepts.label_category < 0] = -1.0
    top = torch.argsort(iou, dim=0, descending=True, stable=True)[: RUNNERS_UP + 1].t().tolist()
    per_cat = _per_category(tally, iou, concepts)
    iou_rows = iou.t().tolist()
    rows = []
    for u in range(tally.units):
        ranked, scores = top[u], iou_rows[u]
        best = ranked[0]
        row = {"unit": u, "label": concepts.name(best), "category": concepts.category(best),
               "iou": max(scores[best], 0.0), "per_category": {}, "runners_up": [
                   {"label": concepts.name(c), "category": concepts.category(c), "iou": scores[c]}
                   for c in ranked[1:] if scores[c] > 0]}
        row["detector"] = row["iou"] > iou_threshold
        for cat, (labels, ious, truth, activation, intersect) in per_cat.items():
            c = labels[u]
            row["per_category"][cat] = {
                "label": concepts.name(c) if c >= 0 else "",
                "raw_label": concepts.raw_name(c) if c >= 0 else "",
                "iou": ious[u], "truth": truth[u], "activation": activation[u], "intersect": intersect[u]}
        rows.append(row)
    return rows


def _per_category(tally: IoUTally, iou: torch.Tensor, concepts: Concepts) -> dict[str, tuple[list, ...]]:
    """Category -> per unit (best label, its IoU, label area, category area, intersection); a
    category without labels gives label -1 and zeros but still the unit's area in it."""
    found = {}
    for k, (cat, best) in enumerate(_best_per_category(iou, concepts).items()):
        activation = tally.category_area[k].tolist()
        if best is None:
            zeros = [0.0] * tally.units
            found[cat] = ([-1] * tally.units, zeros, zeros, activation, zeros)
        else:
            found[cat] = (best.tolist(), iou.gather(0, best[None])[0].clamp(min=0).tolist(),
                          tally.label_area[best].tolist(), activation,
                          tally.intersection.gather(0, best[None])[0].tolist())
    return found


def _best_per_category(iou: torch.Tensor, concepts: Concepts) -> dict[str, torch.Tensor | None]:
    """Category -> each unit's best label within it (first on ties), None if it has no labels."""
    best = {}
    for k, cat in enumerate(concepts.categories):
        in_cat = concepts.label_category == k
        if not bool(in_cat.any()):
            best[cat] = None
            continue
        scores = torch.where(in_cat.unsqueeze(1), iou, torch.full_like(iou, -1.0))
        best[cat] = torch.argmax(scores, dim=0)
    return best


def summarize(rows: list[dict[str, Any]], categories: list[str], iou_threshold: float) -> dict[str, Any]:
    """Detector counts, with both unique-detector definitions used in the literature."""
    detectors = [r for r in rows if r["detector"]]
    per_cat_count = {cat: sum(r["category"] == cat for r in detectors) for cat in categories}
    distinct = {cat: len({r["label"] for r in detectors if r["category"] == cat}) for cat in categories}
    per_category = {cat: len({r["per_category"][cat]["label"] for r in rows if cat in r["per_category"]
                              and r["per_category"][cat]["iou"] > iou_threshold}) for cat in categories}
    return {
        "detectors": len(detectors),
        "units_total": len(rows),
        "detectors_per_category": per_cat_count,
        "unique_detectors": {"distinct_top_labels": len({r["label"] for r in detectors}),
                             "per_category_sum": sum(per_category.values())},
        "unique_per_category": {cat: {"distinct_top_labels": distinct[cat],
                                      "per_category": per_category[cat]} for cat in categories},
    }
