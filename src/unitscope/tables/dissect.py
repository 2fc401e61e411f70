"""`dissect` on a tabular model: every unit scored against every numeric column of the table,
the tabular analogue of Network Dissection.

Per unit and column: Pearson r, Spearman rho, and for binary columns the ROC AUC and the IoU of
the unit's top `quantile` rows (exact quantile, as for images) with the column's positive rows; a
unit whose best IoU exceeds `iou_threshold` is a detector, as in Network Dissection. Columns are
ranked by one rank-based score in [0, 1], how well the unit orders the rows by the column:
|Spearman rho| for numeric columns, |2 AUC - 1| (Somers' D) for binary ones. The unit's label is
the best column, and the unit is "named" when that score is at least NAMED.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ..models import Model
from ..result import Display, Result, files_under
from ..rundir import RunDir, default_out, write_json_atomic
from .activations import record_rows
from .table import open_table

if TYPE_CHECKING:
    from ..dissect import DissectSettings

NAMED = 0.5
TOP_COLUMNS = 5
TALLY = ["unit", "layer", "channel", "label", "score", "r", "spearman", "auc", "iou", "iou_label", "named",
         "detector"]


class TabularDissectResult(Result):
    """`data["layers"][layer]["units"]`: per unit its label and best columns."""

    verb = "dissect"

    def to_pandas(self) -> pd.DataFrame:
        return pd.read_csv(self.run_dir / "dissect" / "tally.csv")

    def summary(self, out: str) -> str:
        lines = [f"{layer}: {e['named']}/{e['units_total']} units named (score >= {NAMED}), "
                 f"{e['detectors']} detectors; labels: {', '.join(e['labels'][:6])}"
                 for layer, e in self.data["layers"].items()]
        return "\n".join([*lines, f"dissect: wrote {out}/dissect/dissect.json"])

    def display(self) -> Display:
        return Display("tabular concept scores", [(k, f"{v['named']}/{v['units_total']} named")
                                                   for k, v in self.data["layers"].items()],
                       table=self.to_pandas())


def run(model: Model, data: Any, settings: DissectSettings, out: str | Path | None = None,
        progress: bool = True) -> TabularDissectResult:
    """Score every unit of `settings.layers`; write dissect/dissect.json and tally.csv."""
    layers = [model.check_layer(layer) for layer in settings.layers]
    table = open_table(data, model)
    columns = table.concept_columns()
    acts = record_rows(model, table.inputs, layers, settings.batch_size)
    layer_entries, rows = {}, []
    for layer in layers:
        units = [_score_unit(acts[layer][:, c], columns, settings) for c in range(acts[layer].shape[1])]
        for c, entry in enumerate(units):
            entry.update(unit=f"{layer}:{c}", layer=layer, channel=c)
            rows.append({key: entry.get(key) for key in TALLY})
        layer_entries[layer] = _layer_summary(units)
        layer_entries[layer]["units"] = units
    run_dir = RunDir(default_out(out, model.name))
    folder = run_dir.path / "dissect"
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=TALLY).to_csv(folder / "tally.csv", index=False)
    content = {"modality": "tabular", "model": model.name, "data": table.source, "rows": len(table.inputs),
               "named_score": NAMED, "layers": layer_entries, "settings": settings.to_dict()}
    write_json_atomic(folder / "dissect.json", content)
    run_dir.register("dissect", {"json": "dissect/dissect.json"}, model=model.name)
    return TabularDissectResult(run_dir.path, content, settings, files_under(folder))


def _score_unit(values: np.ndarray, columns: dict[str, np.ndarray], settings: DissectSettings
                ) -> dict[str, Any]:
    """Every column's scores for one unit, best |r| first; the unit's label and IoU."""
    top = _top_rows(values, settings.quantile)
    scores = [_score_column(name, values, column, top) for name, column in columns.items()]
    scores.sort(key=lambda s: -s["score"])
    best = scores[0] if scores and scores[0]["score"] > 0 else None
    binary = [s for s in scores if s["iou"] is not None]
    best_iou = max(binary, key=lambda s: s["iou"]) if binary else None
    return {"label": best["column"] if best else None, "score": best["score"] if best else 0.0,
            "r": best["r"] if best else 0.0,
            "spearman": best["spearman"] if best else 0.0, "auc": best["auc"] if best else None,
            "iou": best_iou["iou"] if best_iou else None,
            "iou_label": best_iou["column"] if best_iou else None,
            "named": bool(best and best["score"] >= NAMED),
            "detector": bool(best_iou and best_iou["iou"] > settings.iou_threshold),
            "columns": scores[:TOP_COLUMNS]}


def _top_rows(values: np.ndarray, quantile: float) -> np.ndarray:
    """Rows at or above the exact (1 - quantile) quantile of the unit (at least one row)."""
    threshold = np.quantile(values, 1 - quantile)
    return values >= threshold


def _score_column(name: str, values: np.ndarray, column: np.ndarray, top: np.ndarray) -> dict[str, Any]:
    r = _pearson(values, column)
    rho = _pearson(pd.Series(values).rank().to_numpy(), pd.Series(column).rank().to_numpy())
    score: dict[str, Any] = {"column": name, "score": abs(rho), "r": r, "spearman": rho, "auc": None,
                             "iou": None}
    levels = np.unique(column)
    if len(levels) == 2:
        positive = column == levels[1]
        auc = float(roc_auc_score(positive, values)) if np.ptp(values) > 0 else 0.5
        iou = float((top & positive).sum() / (top | positive).sum())
        score.update(auc=auc, score=abs(2 * auc - 1), iou=iou)
    return score


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r; 0 when either side is constant (a dead unit correlates with nothing)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _layer_summary(units: list[dict[str, Any]]) -> dict[str, Any]:
    named = [u for u in units if u["named"]]
    labels = pd.Series([u["label"] for u in named]).value_counts()
    return {"units_total": len(units), "named": len(named), "detectors": sum(u["detector"] for u in units),
            "labels": [f"{label} ({count})" for label, count in labels.items()]}
