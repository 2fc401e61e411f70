"""Explorer sections of tabular units, from the run's artifacts only (escaped by Jinja2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..report.templating import render
from ..rundir import read_json

STRONGEST = 12  # feature rows shown per optimal input (the largest |gradient x input|)


def unit_fragments(run_dir: Path, prefix: str = "../files/") -> dict[str, str]:
    """Unit address -> its HTML section; image paths are run-relative behind `prefix`."""
    found: dict[str, dict[str, Any]] = {}
    for entry in read_json(run_dir / "visualize" / "visualize.json", missing_ok=True).get("units", []):
        strongest = sorted(entry["features"], key=lambda f: -abs(f["grad_x_input"]))[:STRONGEST]
        found.setdefault(entry["unit"], _empty())["visuals"].append({**entry, "strongest": strongest})
    for entry in read_json(run_dir / "examples" / "examples.json", missing_ok=True).get("units", []):
        found.setdefault(entry["unit"], _empty())["examples"] = entry
    dissect = read_json(run_dir / "dissect" / "dissect.json", missing_ok=True)
    for layer in dissect.get("layers", {}).values():
        for entry in layer["units"]:
            found.setdefault(entry["unit"], _empty())["scores"] = entry
    return {unit: render("tabular_unit.html.j2", unit=unit, prefix=prefix, **parts)
            for unit, parts in sorted(found.items())}


def unit_labels(run_dir: Path) -> dict[str, str]:
    """Unit address -> its best column (dissected units only)."""
    dissect = read_json(run_dir / "dissect" / "dissect.json", missing_ok=True)
    return {u["unit"]: u["label"] for layer in dissect.get("layers", {}).values() for u in layer["units"]
            if u["label"] is not None}


def _empty() -> dict[str, Any]:
    return {"visuals": [], "examples": None, "scores": None}
