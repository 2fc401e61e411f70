"""tree.html: the tree as nested boxes, opened straight from disk (no server, no CDN).

Images are referenced by file name, since the page sits in the same folder as its PNGs.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from ..report.templating import render


def _view(node: dict, by_id: dict[int, dict]) -> dict:
    """A node with its children nested (the template walks it recursively)."""
    view = dict(node)
    view["gradient_file"] = posixpath.basename(node["images"]["gradient"])
    view["patch_file"] = posixpath.basename(node["images"]["patch"])
    view["kids"] = [_view(by_id[c], by_id) for c in node["children"]]
    return view


def tree_context(data: dict) -> dict:
    """Template variables from the tree.json dict."""
    by_id = {n["id"]: n for n in data["nodes"]}
    return {"tree": data, "root": _view(by_id[0], by_id),
            "input_file": posixpath.basename(data["image"])}


def write_html(folder: Path, data: dict) -> Path:
    """Render tree.html.j2 into `folder`/tree.html."""
    path = Path(folder) / "tree.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render("tree.html.j2", **tree_context(data)), encoding="utf-8")
    return path
