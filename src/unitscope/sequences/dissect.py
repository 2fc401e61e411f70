"""`dissect` on a text model: every unit scored against every per-character concept.

Per unit and concept, over every character of the labelled corpus: Pearson r, and the IoU of the
unit's top `quantile` characters (the exact quantile threshold, as for images) with the concept's
characters (binary concepts; numeric ones count where they are > 0). The unit's label is the
concept with the largest |r| and it is "named" when that |r| >= NAMED; a unit whose best IoU
exceeds `iou_threshold` is a detector, as in Network Dissection.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import DataError
from ..models import Model
from ..result import Display, Result, files_under
from ..rundir import RunDir, default_out, write_json_atomic
from .corpus import read_corpus
from .reading import vocabulary_of
from .windows import record_positions

if TYPE_CHECKING:
    from ..dissect import DissectSettings

NAMED = 0.5
TALLY = ["unit", "layer", "channel", "label", "r", "iou", "iou_label", "named", "detector"]


class TextDissectResult(Result):
    """`data["layers"][layer]["units"]`: per unit its label and every concept's scores."""

    verb = "dissect"

    def to_pandas(self) -> pd.DataFrame:
        return pd.read_csv(self.run_dir / "dissect" / "tally.csv")

    def summary(self, out: str) -> str:
        lines = [f"{layer}: {e['named']}/{e['units_total']} units named (|r| >= {NAMED}), "
                 f"{e['detectors']} detectors; labels: {', '.join(e['labels'])}"
                 for layer, e in self.data["layers"].items()]
        return "\n".join([*lines, f"dissect: wrote {out}/dissect/dissect.json"])

    def display(self) -> Display:
        return Display("text concept scores", [(k, f"{v['named']}/{v['units_total']} named")
                                                for k, v in self.data["layers"].items()],
                       table=self.to_pandas())


def run(model: Model, data: Any, settings: DissectSettings, out: str | Path | None = None,
        progress: bool = True) -> TextDissectResult:
    """Score every unit of `settings.layers`; write dissect/dissect.json and tally.csv."""
    layers = [model.check_layer(layer) for layer in settings.layers]
    corpus = read_corpus(data)
    if not corpus.concepts:
        raise DataError(f"'{corpus.source}' has no per-character concepts; dissect needs a labelled corpus "
                        "(unitscope concepts --text OUT writes one)")
    acts = record_positions(model, corpus.text, vocabulary_of(model), layers, settings.batch_size)
    concepts = {name: values.astype(np.float64) for name, values in corpus.concepts.items()}
    layer_entries, rows = {}, []
    for layer in layers:
        units = score_layer(acts[layer], concepts, settings.quantile, settings.iou_threshold)
        for c, entry in enumerate(units):
            entry.update(unit=f"{layer}:{c}", layer=layer, channel=c)
            rows.append({key: entry.get(key) for key in TALLY})
        layer_entries[layer] = {**summarize(units), "units": units}
    run_dir = RunDir(default_out(out, model.name))
    folder = run_dir.path / "dissect"
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=TALLY).to_csv(folder / "tally.csv", index=False)
    content = {"modality": "text", "model": model.name, "data": corpus.source, "characters": len(corpus.text),
               "named_r": NAMED, "layers": layer_entries, "settings": settings.to_dict()}
    write_json_atomic(folder / "dissect.json", content)
    run_dir.register("dissect", {"json": "dissect/dissect.json"}, model=model.name)
    return TextDissectResult(run_dir.path, content, settings, files_under(folder))


def score_layer(acts: np.ndarray, concepts: dict[str, np.ndarray], quantile: float, iou_threshold: float
                ) -> list[dict[str, Any]]:
    """Every unit's scores against every concept: correlations as one matrix product."""
    names = list(concepts)
    correlations = _correlations(acts, np.stack([concepts[n] for n in names], 1))  # [units, concepts]
    masks = np.stack([concepts[n] > 0 for n in names], 1)
    units = []
    for c in range(acts.shape[1]):
        top = acts[:, c] >= np.quantile(acts[:, c], 1 - quantile)
        ious = (top[:, None] & masks).sum(0) / np.maximum((top[:, None] | masks).sum(0), 1)
        scores = sorted(({"concept": n, "r": float(correlations[c, j]), "iou": float(ious[j])}
                         for j, n in enumerate(names)), key=lambda s: -abs(s["r"]))
        best, best_iou = scores[0], max(scores, key=lambda s: s["iou"])
        units.append({"label": best["concept"] if best["r"] else None, "r": best["r"],
                      "iou": best_iou["iou"], "iou_label": best_iou["concept"],
                      "named": abs(best["r"]) >= NAMED, "detector": best_iou["iou"] > iou_threshold,
                      "concepts": scores})
    return units


def _correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of every column of `a` with every column of `b` (0 where one is constant)."""
    a = a.astype(np.float64) - a.mean(0)
    b = b - b.mean(0)
    norms = np.outer(np.linalg.norm(a, axis=0), np.linalg.norm(b, axis=0))
    return np.divide(a.T @ b, norms, out=np.zeros_like(norms), where=norms > 0)


def summarize(units: list[dict[str, Any]]) -> dict[str, Any]:
    """Named units and detectors of a layer, and how many units carry each label."""
    named = pd.Series([u["label"] for u in units if u["named"]]).value_counts()
    return {"units_total": len(units), "named": int(named.sum()),
            "detectors": sum(u["detector"] for u in units),
            "labels": [f"{label} ({count})" for label, count in named.items()]}
