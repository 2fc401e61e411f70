"""Dissection outputs: per layer tally.csv (NetDissect-Lite's file, netdissect.py) and units.csv
(unitscope's table), dissect.json, bar charts, top images.

The labels come from labels.py; this module only writes them, and registers the files in the
run's manifest.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ..rundir import RunDir, write_json_atomic, write_text_atomic
from ..stats.iou import IoUTally
from .background import Background
from .charts import bar_chart, rotation_chart
from .job import Dissection
from .labels import summarize, unit_labels
from .netdissect import PER_CATEGORY, score_order, write_tally
from .settings import DissectSettings
from .streams import MAIN, Stream
from .strips import image_cache, top_strips


def write(run_dir: RunDir, model_name: str, dataset, source: str, settings: DissectSettings,
          found: Dissection) -> tuple[dict[str, Any], list[Path]]:
    """Write every dissection artifact and register them; returns dissect.json's content and
    every file written (dissect.json first)."""
    writer = _Writer(run_dir, model_name, dataset, settings, found)
    with writer.background:
        result = writer.everything(len(dataset), source)
    path = writer.base / "dissect.json"
    write_json_atomic(path, result)
    run_dir.register("dissect", {"json": run_dir.relative(path), "tally": writer.tally_files,
                                 "units_csv": writer.units_files, "charts": writer.charts}, model=model_name)
    return result, [path, *writer.written]


UNIT_COLUMNS = ["unit", "address", "category", "label", "score", "detector", "threshold"]


def write_units_csv(path: Path, layer: str, rows: list[dict[str, Any]], categories: list[str],
                    thresholds) -> None:
    """unitscope's table beside tally.csv: its columns with 0-based units, plain names and every
    category's best label, plus address, detector flag and activation threshold; same row order."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(UNIT_COLUMNS + [f"{cat}-{field}" for cat in categories for field in PER_CATEGORY])
    for r in sorted(rows, key=score_order):
        line = [r["unit"], f"{layer}:{r['unit']}", r["category"], r["label"], float(r["iou"]), r["detector"],
                float(thresholds[r["unit"]])]
        for cat in categories:
            pc = r["per_category"][cat]
            line += [pc["label"], int(pc["truth"]), int(pc["activation"]), int(pc["intersect"]),
                     float(pc["iou"])]
        writer.writerow(line)
    write_text_atomic(path, buffer.getvalue())


class _Writer:
    """Collects one run's artifacts: per-layer entries, tally files, charts, the rotation curve."""

    def __init__(self, run_dir: RunDir, model_name: str, dataset, settings: DissectSettings,
                 found: Dissection) -> None:
        self.run_dir, self.model_name, self.settings, self.found = run_dir, model_name, settings, found
        self.concepts = found.concepts
        self.base = run_dir.path / "dissect"
        self.images = image_cache(dataset, found.thumbs)
        self.tally_files: list[str] = []  # the main model's tally.csv per layer, for the manifest
        self.units_files: list[str] = []  # and its units.csv
        self.charts: list[str] = []
        self.written: list[Path] = []
        self.curve: list[dict[str, Any]] = []
        self.background = Background()

    def everything(self, images: int, source: str) -> dict[str, Any]:
        """Every per-layer artifact, charts and strips handed to the background threads; returns
        dissect.json's content."""
        settings = self.settings
        result: dict[str, Any] = {
            "dataset": source, "quantile": settings.quantile, "iou_threshold": settings.iou_threshold,
            "exact_quantiles": True, "images": images, "categories": list(self.concepts.categories),
            "layers": {}, "settings": settings.to_dict()}
        streams = self.found.plan.streams
        rotated = len({s.alpha for s in streams}) > 1
        for stream in streams:
            for negative in self.found.plan.signs if stream.alpha == 0 else [False]:
                summary, entry = self.layer(stream, negative, self.found.tallies[(stream.key, negative)])
                if rotated and stream.variant == MAIN and not negative:
                    self.curve.append(_curve_point(stream, summary))
                if entry:
                    section = result if stream.variant == MAIN else result.setdefault(
                        stream.variant, {"layers": {}})
                    if negative:
                        section = section.setdefault("negative", {"layers": {}})
                    section["layers"][stream.layer] = entry
        self.overall_chart(result["layers"])
        if self.curve:
            result["rotation"] = self.curve
            self.chart(self.base / "rotation.png", rotation_chart, self.curve)
        return result

    def layer(self, stream: Stream, negative: bool, tally: IoUTally) -> tuple[dict[str, Any], dict[str, Any]]:
        """Write one layer's tally.csv, units.csv, chart and top images; return (summary, dissect.json
        entry)."""
        categories = self.concepts.categories
        rows = unit_labels(tally, self.concepts, self.settings.iou_threshold)
        summary = summarize(rows, categories, self.settings.iou_threshold)
        if stream.alpha != 0:
            return summary, {}
        main = stream.variant == MAIN
        folder = self.base / stream.layer if main else self.base / stream.variant / stream.layer
        threshold = self.found.thresholds[(stream.key, negative)]
        tally_csv, units_csv = self.tables(folder, stream.layer, negative, rows, threshold)
        chart = folder.parent / f"{stream.layer}{'_negative' if negative else ''}_detectors.png"
        title = f"{self.model_name} {stream.layer}{' (negative)' if negative else ''}"
        self.chart(chart, bar_chart, title + ("" if main else " random weights"),
                   {name: {c: v[key] for c, v in summary["unique_per_category"].items()}
                    for name, key in (("distinct top labels", "distinct_top_labels"),
                                      ("per-category (paper)", "per_category"))})
        strips = {} if negative else top_strips(self.run_dir, folder, stream, self.found.top.get(stream.key),
                                                self.images, threshold, self.background)
        self.written += strips.values()
        entry = {**summary, "chart": self.run_dir.relative(chart), "tally": tally_csv, "units_csv": units_csv,
                 "units": {f"{stream.layer}:{r['unit']}": {
                     "label": r["label"], "category": r["category"], "iou": r["iou"],
                     "detector": r["detector"], "runners_up": r["runners_up"],
                     "threshold": float(threshold[r["unit"]]),
                     "top_images": [self.run_dir.relative(strips[r["unit"]])] if r["unit"] in strips else []}
                     for r in rows}}
        if main and not negative:
            self.tally_files.append(tally_csv)
            self.units_files.append(units_csv)
        return summary, entry

    def tables(self, folder: Path, layer: str, negative: bool, rows: list[dict[str, Any]],
               threshold) -> tuple[str, str]:
        """One layer's tally.csv (NetDissect-Lite's) and units.csv (unitscope's), `_negative` for the
        bottom quantile; returns their run-relative paths."""
        suffix = "_negative" if negative else ""
        tally_path, units_path = folder / f"tally{suffix}.csv", folder / f"units{suffix}.csv"
        write_tally(tally_path, rows, self.concepts.categories)
        write_units_csv(units_path, layer, rows, self.concepts.categories, threshold)
        self.written += [tally_path, units_path]
        return self.run_dir.relative(tally_path), self.run_dir.relative(units_path)

    def overall_chart(self, layers: dict[str, Any]) -> None:
        """Unique detectors per category of every main-model layer, first in the manifest's charts."""
        title = f"{self.model_name}: unique detectors per category (per-category definition)"
        series = {layer: {c: v["per_category"] for c, v in e["unique_per_category"].items()}
                  for layer, e in layers.items()}
        self.chart(self.base / "detectors.png", bar_chart, title, series, first=True)

    def chart(self, path: Path, draw, *args: Any, first: bool = False) -> None:
        """Draw a chart in the background and list it (first, or after the others)."""
        self.background.chart(draw, path, *args)
        self.charts.insert(0 if first else len(self.charts), self.run_dir.relative(path))
        self.written.append(path)


def _curve_point(stream: Stream, summary: dict[str, Any]) -> dict[str, Any]:
    """One point of the rotation curve: detectors and unique labels at this stream's alpha."""
    return {"layer": stream.layer, "alpha": stream.alpha, "detectors": summary["detectors"],
            "unique": summary["unique_detectors"]["distinct_top_labels"],
            "unique_per_category_sum": summary["unique_detectors"]["per_category_sum"]}
