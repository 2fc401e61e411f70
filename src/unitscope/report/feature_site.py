"""The explorer for tabular and text runs: an index of units with their best concept, and one
page per unit holding the section its modality renders (`tables.pages`, `sequences.pages`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from markupsafe import Markup

from ..rundir import read_json
from .assets import FILES, folder_files, sync_files
from .paths import href, root_prefix, unit_url
from .search import index_script
from .templating import render

PAGES = {"tabular": "unitscope.tables.pages", "text": "unitscope.sequences.pages"}
VERB_FILES = ("visualize/visualize.json", "examples/examples.json", "dissect/dissect.json")


def run_modality(run_dir: Path) -> str:
    """"tabular" or "text" when the run's verbs say so, else "image"."""
    for name in VERB_FILES:
        modality = read_json(run_dir / name, missing_ok=True).get("modality")
        if modality:
            return modality
    return "image"


def write_feature_site(run_dir: Path, site: Path, modality: str, write: Callable[[Path, str], None]
                       ) -> tuple[list[dict[str, Any]], str]:
    """Index and unit pages of a tabular or text run (`write(path, text)` writes one page);
    returns the units listed and the search index script."""
    pages = importlib.import_module(PAGES[modality])
    fragments = pages.unit_fragments(run_dir, prefix=root_prefix(unit_url("layer", 0)) + FILES + "/")
    labels = pages.unit_labels(run_dir)
    sync_files(run_dir, site, set(folder_files(run_dir, "visualize")))
    units = [{"address": a, "label": labels.get(a), "url": _unit_page(a)} for a in fragments]
    context = {"model": _model_name(run_dir), "modality": modality, "units": units}
    write(site / "index.html", _page("index.html", "feature_index.html.j2", context))
    for address, section in fragments.items():
        page = _unit_page(address)
        write(site / page, _page(page, "feature_unit.html.j2",
                                 {**context, "address": address, "label": labels.get(address),
                                  "section": Markup(section)}))
    entries = [{"kind": "unit", "name": u["address"], "url": u["url"], "detail": u["label"] or ""}
               for u in units]
    return units, index_script(entries)


def feature_units(run_dir: Path, site: Path, modality: str) -> list[dict[str, Any]]:
    """The explore result's rows for a tabular or text run: unit, layer, channel, label, page."""
    pages = importlib.import_module(PAGES[modality])
    labels = pages.unit_labels(run_dir)
    rows = []
    for address in pages.unit_fragments(run_dir):
        layer, _, channel = address.rpartition(":")
        rows.append({"unit": address, "layer": layer, "channel": int(channel), "label": labels.get(address),
                     "page": str(site / _unit_page(address))})
    return rows


def related_sites(run_dir: Path) -> list[dict[str, str]]:
    """Runs in sub-folders of `run_dir` that have their own site (the demo's tabular and text
    models), linked from the main index; hrefs are relative to `run_dir/site/index.html`."""
    found = []
    for index in sorted(Path(run_dir).glob("*/site/index.html")):
        folder = index.parent.parent
        found.append({"name": _model_name(folder), "modality": run_modality(folder),
                      "href": href(f"../{folder.name}/site/index.html")})
    return found


def _unit_page(address: str) -> str:
    layer, _, channel = address.rpartition(":")
    return unit_url(layer, int(channel))


def _model_name(run_dir: Path) -> str:
    for name in VERB_FILES:
        model = read_json(run_dir / name, missing_ok=True).get("model")
        if model:
            return model
    return run_dir.name


def _page(page: str, template: str, context: dict) -> str:
    root = root_prefix(page)
    return render(template, root=root, url=lambda rel: root + href(rel), **context)
