"""Dissection outputs: tally.csv (NetDissect-Lite's columns), dissect.json, bar charts, top images.

Units are 0-based channel indices, as everywhere in unitscope (NetDissect-Lite counts from 1).
"""

from __future__ import annotations

import csv
import io
import os
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data.images import image_only
from ..run import RunDir, write_json_atomic
from ..stats.iou import IoUTally
from .tally import float32_limit

RUNNERS_UP = 3
THUMB = 128  # the toy model's input size: its thumbnails need no resize


def unit_labels(tally: IoUTally, concepts, iou_threshold: float) -> list[dict[str, Any]]:
    """Per unit: best label overall, its runners-up, and the best label within each category.

    The rankings come from a few tensor ops over all units at once; the loop only formats."""
    iou = tally.iou()
    iou[concepts.label_category < 0] = -1.0
    top = torch.argsort(iou, dim=0, descending=True, stable=True)[: RUNNERS_UP + 1].t().tolist()
    best_in = _best_per_category(iou, concepts)  # category -> (units,) label numbers
    per_cat = {cat: (best.tolist(), iou.gather(0, best[None])[0].clamp(min=0).tolist(),
                     tally.label_area[best].tolist(), tally.category_area[k].tolist(),
                     tally.intersection.gather(0, best[None])[0].tolist())
               for k, (cat, best) in enumerate(best_in.items()) if best is not None}
    iou_rows = iou.t().tolist()
    rows = []
    for u in range(tally.units):
        ranked, scores = top[u], iou_rows[u]
        best = ranked[0]
        row = {"unit": u, "label": _name(concepts, best), "category": _category(concepts, best),
               "iou": max(scores[best], 0.0), "per_category": {}, "runners_up": [
                   {"label": _name(concepts, c), "category": _category(concepts, c), "iou": scores[c]}
                   for c in ranked[1:] if scores[c] > 0]}
        row["detector"] = row["iou"] > iou_threshold
        for cat, (labels, ious, truth, activation, intersect) in per_cat.items():
            row["per_category"][cat] = {
                "label": _name(concepts, labels[u]), "iou": ious[u], "truth": truth[u],
                "activation": activation[u], "intersect": intersect[u]}
        rows.append(row)
    return rows


def _best_per_category(iou: torch.Tensor, concepts) -> dict[str, torch.Tensor | None]:
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


def _name(concepts, c: int) -> str:
    return concepts.names[c] if c < len(concepts.names) else str(c)


def _category(concepts, c: int) -> str:
    k = int(concepts.label_category[c])
    return concepts.categories[k] if k >= 0 else ""


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


def write_tally_csv(path: Path, rows: list[dict[str, Any]], categories: list[str]) -> None:
    """NetDissect-Lite's tally.csv: unit,category,label,score then <cat>-label/truth/activation/
    intersect/iou per category; rows sorted by score, best first."""
    fields = ["unit", "category", "label", "score"]
    for cat in categories:
        fields += [f"{cat}-label", f"{cat}-truth", f"{cat}-activation", f"{cat}-intersect", f"{cat}-iou"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(fields)
    for r in sorted(rows, key=lambda r: (-r["iou"], r["unit"])):
        line = [r["unit"], r["category"], r["label"], f"{r['iou']:.6f}"]
        for cat in categories:
            pc = r["per_category"].get(cat)
            line += ([pc["label"], int(pc["truth"]), int(pc["activation"]), int(pc["intersect"]),
                      f"{pc['iou']:.6f}"] if pc else ["", 0, 0, 0, "0.000000"])
        writer.writerow(line)
    _write_text(path, buffer.getvalue())


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def bar_chart(path: Path, title: str, series: dict[str, dict[str, int]]) -> None:
    """Grouped bars: one group per category, one bar per series (e.g. per definition or layer)."""
    categories = list(next(iter(series.values())).keys()) if series else []
    width = 0.8 / max(1, len(series))
    fig, ax = _figure(max(4.0, 1.2 * len(categories) + 2), 3.2)
    x = np.arange(len(categories))
    for i, (name, counts) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, [counts[c] for c in categories], width, label=name)
    ax.set_xticks(x, categories)
    ax.set_ylabel("unique detectors")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})


def rotation_chart(path: Path, curve: list[dict[str, Any]]) -> None:
    fig, ax = _figure(4.5, 3.2)
    for layer in dict.fromkeys(e["layer"] for e in curve):
        pts = [e for e in curve if e["layer"] == layer]
        ax.plot([e["alpha"] for e in pts], [e["unique"] for e in pts], "o-", label=f"{layer} unique")
        ax.plot([e["alpha"] for e in pts], [e["detectors"] for e in pts], "s--", label=f"{layer} detectors")
    ax.set_xlabel("rotation alpha (Q**alpha)")
    ax.set_ylabel("count")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})


def _figure(width: float, height: float):
    """A figure on its own Agg canvas: no pyplot, so no global state and no GUI backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def thumbnails(images: torch.Tensor) -> torch.Tensor:
    """(n, 3, H, W) images in [0, 1] -> (n, 3, t, t) uint8 thumbnails, t <= THUMB."""
    if images.shape[0] and max(images.shape[2:]) > THUMB:
        images = F.interpolate(images.float(), size=(THUMB, THUMB), mode="bilinear", antialias=True,
                               align_corners=False)
    return images.clamp(0, 1).mul(255).round().to(torch.uint8)


_DIMMED = (torch.arange(256, dtype=torch.float64) * 0.2).round().to(torch.uint8)  # outside the mask


class _Images:
    """Top images' thumbnails, (t, t, 3) uint8, in an LRU cache shared by all units.

    Thumbnails come from pass 2 (cached in pass 1); others (after a resume in pass 2, or past
    the number kept) are decoded again."""

    def __init__(self, dataset, kept: dict[int, torch.Tensor] | None = None, size: int = 512) -> None:
        self.dataset, self.kept, self.size, self.pictures = dataset, kept or {}, size, OrderedDict()

    def __getitem__(self, index: int) -> torch.Tensor:
        if index not in self.pictures:
            thumb = self.kept.get(index)
            if thumb is None:
                thumb = thumbnails(image_only(self.dataset, index)[0][None])[0]
            self.pictures[index] = thumb.permute(1, 2, 0).contiguous()
            if len(self.pictures) > self.size:
                self.pictures.popitem(last=False)
        self.pictures.move_to_end(index)
        return self.pictures[index]


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


class _Background:
    """Threads for the report's slow, GIL-free parts: JPEG encoding and file writes of the strips
    (two threads), and the matplotlib charts (one thread, as matplotlib is not thread-safe), so
    they overlap the tensor work of the next strips. Leaving the block waits and re-raises."""

    QUEUED_STRIPS = 64  # ~16 MB of strips waiting at most

    def __init__(self) -> None:
        self.strips = ThreadPoolExecutor(max_workers=2)
        self.charts = ThreadPoolExecutor(max_workers=1)
        self.pending: list[Future] = []
        self.queued: deque[Future] = deque()

    def strip(self, row: torch.Tensor, path: Path) -> None:
        while len(self.queued) >= self.QUEUED_STRIPS:
            self.queued.popleft().result()
        self.queued.append(self.strips.submit(save_strip, row.numpy(), path))
        self.pending.append(self.queued[-1])

    def chart(self, draw, *args) -> None:
        self.pending.append(self.charts.submit(draw, *args))

    def __enter__(self) -> _Background:
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the foreground's tensor work takes one core, the threads the other
        return self

    def __exit__(self, error_type, *exc) -> None:
        self.strips.shutdown(wait=True)
        self.charts.shutdown(wait=True)
        torch.set_num_threads(self.threads)
        if error_type is None:  # else the error in the foreground is the one to report
            for done in self.pending:
                done.result()


class _Writer:
    """Collects one run's artifacts: per-layer entries, tally files, charts, the rotation curve."""

    def __init__(self, run_dir: RunDir, model, dataset, concepts, thresholds, top, iou_threshold,
                 thumbs: dict[int, torch.Tensor] | None = None) -> None:
        self.run_dir, self.model, self.concepts = run_dir, model, concepts
        self.thresholds, self.top, self.iou_threshold = thresholds, top, iou_threshold
        self.base = run_dir.path / "dissect"
        self.images = _Images(dataset, thumbs)
        self.tally_files: list[str] = []
        self.charts: list[str] = []
        self.curve: list[dict[str, Any]] = []
        self.background = _Background()

    def layer(self, stream, negative: bool, tally: IoUTally) -> tuple[dict[str, Any], dict[str, Any]]:
        """Write one layer's tally.csv, chart and top images; return (summary, dissect.json entry)."""
        rows = unit_labels(tally, self.concepts, self.iou_threshold)
        summary = summarize(rows, self.concepts.categories, self.iou_threshold)
        if stream.alpha != 0:
            return summary, {}
        main = stream.variant == "model"
        folder = self.base / stream.layer if main else self.base / stream.variant / stream.layer
        csv_path = folder / ("tally_negative.csv" if negative else "tally.csv")
        write_tally_csv(csv_path, rows, self.concepts.categories)
        chart = folder.parent / f"{stream.layer}{'_negative' if negative else ''}_detectors.png"
        title = f"{self.model.name} {stream.layer}{' (negative)' if negative else ''}"
        self.background.chart(bar_chart, chart, title + ("" if main else " random weights"),
                              {name: {c: v[key] for c, v in summary["unique_per_category"].items()}
                               for name, key in (("distinct top labels", "distinct_top_labels"),
                                                 ("per-category (paper)", "per_category"))})
        threshold = self.thresholds[(stream.key, negative)]
        tops = {} if negative else _top_images(self.run_dir, folder, stream, self.top, self.images, threshold,
                                               self.background)
        entry = {**summary, "chart": self.run_dir.relative(chart), "tally": self.run_dir.relative(csv_path),
                 "units": {f"{stream.layer}:{r['unit']}": {
                     "label": r["label"], "category": r["category"], "iou": r["iou"],
                     "detector": r["detector"], "runners_up": r["runners_up"],
                     "threshold": float(threshold[r["unit"]]), "top_images": tops.get(r["unit"], [])}
                     for r in rows}}
        if main and not negative:
            self.tally_files.append(self.run_dir.relative(csv_path))
        self.charts.append(self.run_dir.relative(chart))
        return summary, entry

    def overall_chart(self, layers: dict[str, Any]) -> None:
        path = self.base / "detectors.png"
        title = f"{self.model.name}: unique detectors per category (per-category definition)"
        series = {layer: {c: v["per_category"] for c, v in e["unique_per_category"].items()}
                  for layer, e in layers.items()}
        self.background.chart(bar_chart, path, title, series)
        self.charts.insert(0, self.run_dir.relative(path))


def write(run_dir: RunDir, model, dataset, broden, streams, signs, concepts, tallies, thresholds, top,
          quantile: float, iou_threshold: float, thumbs: dict[int, torch.Tensor] | None = None
          ) -> dict[str, Any]:
    """Write every dissection artifact and register them; returns the dissect.json content."""
    writer = _Writer(run_dir, model, dataset, concepts, thresholds, top, iou_threshold, thumbs)
    with writer.background:
        result = _write_all(writer, len(dataset), broden, streams, signs, tallies, quantile, iou_threshold)
    write_json_atomic(writer.base / "dissect.json", result)
    run_dir.register("dissect", {"json": "dissect/dissect.json", "tally": writer.tally_files,
                                 "charts": writer.charts}, model=model.name)
    return result


def _write_all(writer: _Writer, images: int, broden, streams, signs, tallies, quantile: float,
               iou_threshold: float) -> dict[str, Any]:
    """Every per-layer artifact, charts and strips handed to the background threads."""
    concepts, run_dir = writer.concepts, writer.run_dir
    result: dict[str, Any] = {"dataset": str(broden), "quantile": quantile, "iou_threshold": iou_threshold,
                              "exact_quantiles": True, "images": images,
                              "categories": list(concepts.categories), "layers": {}}
    rotated = len({s.alpha for s in streams}) > 1
    for stream in streams:
        for negative in signs if stream.alpha == 0 else [False]:
            summary, entry = writer.layer(stream, negative, tallies[(stream.key, negative)])
            if rotated and stream.variant == "model" and not negative:
                writer.curve.append({
                    "layer": stream.layer, "alpha": stream.alpha, "detectors": summary["detectors"],
                    "unique": summary["unique_detectors"]["distinct_top_labels"],
                    "unique_per_category_sum": summary["unique_detectors"]["per_category_sum"]})
            if entry:
                section = result if stream.variant == "model" else result.setdefault(
                    stream.variant, {"layers": {}})
                if negative:
                    section = section.setdefault("negative", {"layers": {}})
                section["layers"][stream.layer] = entry
    writer.overall_chart(result["layers"])
    if writer.curve:
        result["rotation"] = writer.curve
        writer.background.chart(rotation_chart, writer.base / "rotation.png", writer.curve)
        writer.charts.append(run_dir.relative(writer.base / "rotation.png"))
    return result


def _top_images(run_dir: RunDir, folder: Path, stream, top, images: _Images, threshold: torch.Tensor,
                background: _Background, chunk: int = 16) -> dict[int, list[str]]:
    """One strip per unit of its top images, masked at its threshold; rendered in unit chunks
    here, encoded and written by the background threads."""
    acc = top.get(stream.key)
    if acc is None or acc.maps is None or acc.images.shape[1] == 0:
        return {}
    paths, k, indices = {}, acc.images.shape[1], acc.images.tolist()
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, stream.units, chunk):
        units = list(range(start, min(stream.units, start + chunk)))
        pics = torch.stack([images[i] for u in units for i in indices[u]])
        maps = acc.maps[units[0] : units[-1] + 1].reshape(-1, *acc.maps.shape[2:])
        rows = masked_strips(pics, maps, threshold[units].repeat_interleave(k), k)
        for u, row in zip(units, rows, strict=True):
            path = folder / f"{u}_top.jpg"
            background.strip(row, path)
            paths[u] = [run_dir.relative(path)]
    return paths
