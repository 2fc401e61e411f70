"""`DissectResult`: dissect.json, the tally tables as DataFrames, and a notebook view."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import BadInputError
from ..result import Display, Result

if TYPE_CHECKING:
    import pandas as pd

SHOWN_STRIPS = 6  # masked top-image strips in the notebook view


class DissectResult(Result):
    """dissect/: per layer each unit's label, IoU and detector flag, units.csv and NetDissect-Lite's
    tally.csv, charts, strips."""

    verb = "dissect"

    def to_pandas(self, layer: str | None = None, netdissect: bool = False) -> pd.DataFrame:
        """A layer's units.csv as written (0-based units, plain names, every category filled,
        detector flag, best unit first), or with `netdissect=True` its tally.csv (NetDissect-Lite's
        file: 1-based units, label.csv's names, blanks); without a layer, every layer of the model
        (not the baseline) after a leading `layer` column."""
        import pandas as pd

        if layer is not None:
            return pd.read_csv(self.run_dir / self._layer(layer)["tally" if netdissect else "units_csv"])
        tables = [self.to_pandas(name, netdissect).assign(layer=name) for name in self.data["layers"]]
        table = pd.concat(tables, ignore_index=True)
        return table[["layer", *table.columns[:-1]]]

    def _layer(self, layer: str) -> dict[str, Any]:
        layers = self.data["layers"]
        if layer not in layers:
            raise BadInputError(f"layer '{layer}' was not dissected; this run has {', '.join(layers)}")
        return layers[layer]

    def _unit_table(self) -> pd.DataFrame:
        """One row per unit of every layer of the model: layer, unit, label, category, iou, detector."""
        import pandas as pd

        rows = [{"layer": layer, "unit": int(address.rsplit(":", 1)[1]), "label": unit["label"],
                 "category": unit["category"], "iou": unit["iou"], "detector": unit["detector"]}
                for layer, entry in self.data["layers"].items() for address, unit in entry["units"].items()]
        return pd.DataFrame(rows, columns=["layer", "unit", "label", "category", "iou", "detector"])

    def display(self) -> Display:
        layers = self.data["layers"]
        detectors = ", ".join(f"{name} {e['detectors']}/{e['units_total']}" for name, e in layers.items())
        strips = [(self.run_dir / unit["top_images"][0], f"{address} {unit['label']} ({unit['iou']:.2f})")
                  for entry in layers.values() for address, unit in entry["units"].items()
                  if unit["top_images"]][:SHOWN_STRIPS]
        return Display(f"dissection of {', '.join(layers)} on {self.data['dataset']}",
                       [("layers", ", ".join(layers)), ("images", str(self.data["images"])),
                        ("detectors", detectors)], strips, self._unit_table())
