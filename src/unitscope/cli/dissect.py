"""`unitscope dissect MODEL BRODEN LAYERS...`: Network Dissection of some layers."""

from __future__ import annotations

from ..dissect import DissectResult, DissectSettings
from ..dissect import run as dissect
from ._common import VerbCommand


def _summary(result: DissectResult, out: str) -> str:
    """Detectors per layer (and for random weights), the rotation curve, where the JSON is."""
    lines = []
    for layer, entry in result["layers"].items():
        unique = entry["unique_detectors"]
        line = (f"{layer}: {entry['detectors']}/{entry['units_total']} detectors, "
                f"{unique['distinct_top_labels']} unique labels ({unique['per_category_sum']} per-category)")
        base = result.get("baseline_random", {}).get("layers", {}).get(layer)
        if base:
            line += (f"; random weights: {base['detectors']} detectors, "
                     f"{base['unique_detectors']['distinct_top_labels']} unique")
        lines.append(line)
    if result.get("rotation"):
        lines.append("rotation   layer      alpha  detectors  unique")
        lines += [f"           {e['layer']:<10} {e['alpha']:<6g} {e['detectors']:>9}  {e['unique']:>6}"
                  for e in result["rotation"]]
    return "\n".join([*lines, f"dissect: wrote {out}/dissect/dissect.json"])


DATA = ("BRODEN", "a Broden-format directory (index.csv, ...); for tabular models a CSV table or "
        "breast-cancer; for text models a labelled corpus (unitscope concepts --text)")
COMMAND = VerbCommand("dissect", "label units with concepts by IoU against a Broden-format dataset "
                      "(Network Dissection)", 40, DissectSettings, dissect, DATA, _summary)
