"""The search index: every unit, layer, concept and tree, embedded in a JS file.

A `<script src>` works from file:// where fetch() does not, so the index is a JSON array
assigned to a global. `<`, `>` and `&` are written as \\u escapes so no label can end a script.
"""

from __future__ import annotations

import json
from typing import Any

from .paths import concept_url, href, layer_url, unit_url
from .runview import RunView


def index_entries(view: RunView, concepts: list[str]) -> list[dict[str, Any]]:
    """One entry per searchable thing: kind, name (what is typed), url (site-relative), detail."""
    entries = []
    for layer in view.layers:
        count = len(view.layer_units(layer))
        entries.append({"kind": "layer", "name": layer, "url": layer_url(layer), "detail": f"{count} units"})
    for unit in view.units.values():
        detail = ""
        if unit.dissect and unit.dissect["label"]:
            detail = f"{unit.dissect['label']} (IoU {unit.dissect['iou']:.3f})"
        entries.append({"kind": "unit", "name": unit.address, "url": unit_url(unit.layer, unit.channel),
                        "detail": detail})
    found = view.concepts()
    for name in concepts:
        units = found.get(name, [])
        entries.append({"kind": "concept", "name": name, "url": concept_url(name),
                        "detail": f"{len(units)} units"})
    for tree in view.trees:
        if tree.html:
            entries.append({"kind": "tree", "name": tree.name, "url": href(f"files/{tree.html}"),
                            "detail": f"tree from {tree.root}"})
    return entries


def index_script(entries: list[dict[str, Any]]) -> str:
    """The JS file that defines `window.UNITSCOPE_INDEX`."""
    text = json.dumps(entries, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"window.UNITSCOPE_INDEX = {text};\n"
