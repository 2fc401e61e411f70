"""Explorer sections of text units, from the run's artifacts only: the optimal string, the top
and bottom windows with every character shaded by the unit's activation, the concept scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..report.templating import render
from ..rundir import read_json

SHOWN_CONCEPTS = 6


def shade(value: float, scale: float) -> str:
    """A CSS background for one character: red for positive activations, blue for negative."""
    strength = 0.0 if scale <= 0 else min(1.0, abs(value) / scale)
    colour = "220, 60, 40" if value > 0 else "40, 90, 220"
    return f"rgba({colour}, {strength:.2f})"


def shaded(example: dict[str, Any], scale: float) -> list[dict[str, Any]]:
    """The window's characters with their shades; the example's own character is marked."""
    return [{"char": "\u21b5\n" if char == "\n" else char, "background": shade(value, scale),
             "value": value, "here": i == example["offset"]}
            for i, (char, value) in enumerate(zip(example["text"], example["values"], strict=True))]


def unit_fragments(run_dir: Path, prefix: str = "../files/") -> dict[str, str]:
    """Unit address -> its HTML section (`prefix` is unused: text sections hold no images)."""
    found: dict[str, dict[str, Any]] = {}
    for entry in read_json(run_dir / "visualize" / "visualize.json", missing_ok=True).get("units", []):
        found.setdefault(entry["unit"], _empty())["strings"].append(entry)
    for entry in read_json(run_dir / "examples" / "examples.json", missing_ok=True).get("units", []):
        found.setdefault(entry["unit"], _empty())["examples"] = {
            side: [{**e, "chars": shaded(e, entry["scale"])} for e in entry[side]]
            for side in ("top", "bottom")}
    dissect = read_json(run_dir / "dissect" / "dissect.json", missing_ok=True)
    for layer in dissect.get("layers", {}).values():
        for entry in layer["units"]:
            shown = {**entry, "concepts": entry["concepts"][:SHOWN_CONCEPTS]}
            found.setdefault(entry["unit"], _empty())["scores"] = shown
    return {unit: render("text_unit.html.j2", unit=unit, **parts) for unit, parts in sorted(found.items())}


def unit_labels(run_dir: Path) -> dict[str, str]:
    """Unit address -> its best concept (dissected units only)."""
    dissect = read_json(run_dir / "dissect" / "dissect.json", missing_ok=True)
    return {u["unit"]: u["label"] for layer in dissect.get("layers", {}).values() for u in layer["units"]
            if u["label"] is not None}


def _empty() -> dict[str, Any]:
    return {"strings": [], "examples": None, "scores": None}
