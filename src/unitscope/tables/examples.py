"""`examples` on a tabular model: the rows that drive each unit most and least, each with the
features that stand out most from the data's median (in interquartile ranges)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..models import Model
from ..result import Display, Result, files_under
from ..rundir import RunDir, default_out, write_json_atomic
from .activations import unit_columns
from .table import Table, open_table

if TYPE_CHECKING:
    from ..examples import ExamplesSettings

STANDOUT = 5  # features listed per example row


class TabularExamplesResult(Result):
    """`data["units"]`: per unit its top and bottom rows."""

    verb = "examples"

    def to_pandas(self) -> pd.DataFrame:
        """One row per (unit, side, rank)."""
        return pd.DataFrame([{"unit": u["unit"], "side": side, "rank": k, "row": e["row"],
                              "activation": e["activation"]}
                             for u in self.data["units"] for side in ("top", "bottom")
                             for k, e in enumerate(u[side])])

    def summary(self, out: str) -> str:
        return f"examples: {len(self['units'])} units in {out}/examples/examples.json"

    def display(self) -> Display:
        return Display(f"top and bottom rows of {len(self.data['units'])} tabular units",
                       [("rows", str(self.data["rows"]))], table=self.to_pandas())


def run(model: Model, data: Any, settings: ExamplesSettings, out: str | Path | None = None,
        progress: bool = True) -> TabularExamplesResult:
    """One pass over the table; write examples/examples.json."""
    units = model.expand(" ".join(settings.units))
    table = open_table(data, model)
    acts = unit_columns(model, units, table.inputs, settings.batch_size)
    entries = [_unit_entry(str(u), u.layer, u.index, acts[:, i], table, settings.top_k)
               for i, u in enumerate(units)]
    run_dir = RunDir(default_out(out, model.name))
    folder = run_dir.path / "examples"
    folder.mkdir(parents=True, exist_ok=True)
    content = {"modality": "tabular", "model": model.name, "data": table.source, "rows": len(table.inputs),
               "units": entries, "settings": settings.to_dict()}
    write_json_atomic(folder / "examples.json", content)
    run_dir.register("examples", {"json": "examples/examples.json"}, model=model.name)
    return TabularExamplesResult(run_dir.path, content, settings, files_under(folder))


def _unit_entry(unit: str, layer: str, channel: int, values: np.ndarray, table: Table, k: int
                ) -> dict[str, Any]:
    order = np.lexsort((np.arange(len(values)), -values))  # ties: the earlier row first
    return {"unit": unit, "layer": layer, "channel": channel,
            "top": [_row(int(r), values, table) for r in order[:k]],
            "bottom": [_row(int(r), values, table) for r in order[::-1][:k]]}


def _row(row: int, values: np.ndarray, table: Table) -> dict[str, Any]:
    """The row's activation and its most unusual features: (value - median) / IQR."""
    inputs = table.inputs
    median, spread = table.median_and_iqr
    robust = (inputs[row] - median) / spread
    standout = np.argsort(-np.abs(robust))[:STANDOUT]
    return {"row": row, "activation": float(values[row]),
            "standout": [{"feature": table.spec.features[i], "value": float(inputs[row, i]),
                          "median": float(median[i]), "iqr_units": float(robust[i])} for i in standout]}
