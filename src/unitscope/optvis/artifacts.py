"""The visualize/ folder of a run dir: image names, the merged visualize.json and the layer sheets.

Repeated runs on one run dir merge: entries of the same unit/sign/variant are replaced, others
kept, and the sheets of the touched layers are rebuilt from every image the JSON lists.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..rundir import RunDir, read_json, write_json_atomic
from ..units import Unit
from .sheet import save_sheet

SUBDIR = "visualize"
log = logging.getLogger(__name__)


def sign_name(sign: int) -> str:
    return "positive" if sign > 0 else "negative"


def image_name(unit: Unit, sign: int, variant: int) -> str:
    """visualize/<layer>/<c>[_at<x>_<y> | _atcls][_neg][_div<k>].png"""
    name = str(unit.index)
    if unit.position is not None:
        name += "_at" + unit.position_text.replace(",", "_")
    name += "_neg" if sign < 0 else ""
    name += f"_div{variant}" if variant else ""
    return f"{SUBDIR}/{unit.layer}/{name}.png"


def json_path(run: RunDir) -> Path:
    return run.path / SUBDIR / "visualize.json"


def write(run: RunDir, model_name: str, entries: list[dict], settings: dict) -> tuple[dict, list[Path]]:
    """Merge into visualize.json, rebuild the touched layers' sheets, register in the manifest.

    Returns the merged JSON and the sheets and JSON this call wrote.
    """
    old = _previous(json_path(run))
    merged = {_key(e): e for e in old.get("units", [])
              if isinstance(e, dict) and {"unit", "sign", "variant"} <= e.keys()}
    merged.update({_key(e): e for e in entries})
    units = sorted(merged.values(), key=_entry_order)
    sheets = set(old.get("sheets", []))
    written = []
    for layer in dict.fromkeys(e["layer"] for e in entries):
        written.append(_layer_sheet(run, layer, [e for e in units if e["layer"] == layer]))
        sheets.add(run.relative(written[-1]))
    data = {"settings": settings, "units": units, "sheets": sorted(sheets)}
    write_json_atomic(json_path(run), data)
    run.register("visualize", {"json": run.relative(json_path(run))}, model=model_name)
    return data, [*written, json_path(run)]


def _previous(path: Path) -> dict[str, Any]:
    """The earlier run's JSON; an unreadable one is replaced (its images stay on disk)."""
    try:
        return read_json(path, missing_ok=True)
    except DataError as exc:
        log.warning("starting a fresh visualize.json: %s", exc)
        return {}


def _key(entry: dict) -> tuple:
    return entry["unit"], entry["sign"], entry["variant"]


def _entry_order(e: dict) -> tuple:
    return (e["layer"], e.get("channel", 0), str(e.get("position")), e["sign"] != "positive",
            e["variant"])


def _layer_sheet(run: RunDir, layer: str, entries: list[dict]) -> Path:
    present = [e for e in entries if (run.path / e["image"]).is_file()]
    out = run.path / SUBDIR / f"{layer}_sheet.png"
    return save_sheet([run.path / e["image"] for e in present], [sheet_label(e) for e in present], out)


def sheet_label(entry: dict) -> str:
    """A tile's label on its layer sheet: channel[@x,y][ neg][ v<k>]."""
    label = str(entry["channel"])
    if entry.get("position"):
        label += "@{},{}".format(*entry["position"])
    label += " neg" if entry["sign"] == "negative" else ""
    label += f" v{entry['variant']}" if entry["variant"] else ""
    return label
