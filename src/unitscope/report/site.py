"""Write the static explorer: model page, layer pages, unit pages, concept pages, search index.

Pages are rendered by Jinja2 with autoescape (report.templating.render); images are copied
under `files/`; every list is sorted and no page holds a timestamp, so the same run dir
gives byte-identical HTML.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..errors import DataError
from .assets import FILES, folder_files, sync_files
from .charts import bar_widths, line_chart
from .feature_site import related_sites, run_modality, write_feature_site
from .paths import concept_url, href, layer_url, root_prefix, unit_url
from .runview import RunView, UnitView, load_run
from .search import index_entries, index_script
from .templating import render

MARKER = ".unitscope-site"
STATIC = ("style.css", "explorer.js")
OWNED = ("index.html", "favicon.ico", "layers", "units", "concepts", "static")


def write_site(run_dir: str | Path, out: str | Path, progress: bool = True) -> Path:
    """Build the site for `run_dir` into `out`; return the path of its index.html."""
    site = Path(out)
    modality = run_modality(Path(run_dir))
    if modality != "image":  # tabular and text runs: their own index and unit sections
        _prepare(site)
        _, script = write_feature_site(Path(run_dir), site, modality, _write)
        _write_static(site, script)
        return site / "index.html"
    view = load_run(run_dir)
    _prepare(site)
    sync_files(view.root, site, _needed_files(view))
    concepts = _all_concepts(view)
    pages = _pages(view, concepts)
    for page, template, context in tqdm(pages, desc="explore", unit="page", disable=not progress):
        _write(site / page, _render_page(view, page, template, context))
    _write_static(site, index_script(index_entries(view, concepts)))
    return site / "index.html"


def _prepare(site: Path) -> None:
    """Make `site` ours: refuse a non-empty folder we did not make; clear our old pages."""
    if site.exists() and not site.is_dir():
        raise DataError(f"'{site}' is a file; give explore a folder for the site with --out")
    if site.is_dir() and any(site.iterdir()) and not (site / MARKER).is_file():
        raise DataError(f"'{site}' is not empty and was not made by `unitscope explore`; "
                        "choose another --out")
    site.mkdir(parents=True, exist_ok=True)
    (site / MARKER).write_text("made by unitscope explore; safe to delete\n")
    for name in OWNED:
        path = site / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _needed_files(view: RunView) -> set[str]:
    """Every run-relative file a page shows, plus the whole folder of each composition tree."""
    paths: set[str] = set(view.charts) | set(view.sheets)
    for summary in list(view.summary.values()) + list(view.baseline.values()):
        if summary.chart:
            paths.add(summary.chart)
    for unit in view.units.values():
        paths.update(unit.visuals.values())
        for example in unit.top + unit.bottom:
            paths.update(p for p in (example.thumb, example.patch) if p)
        for result in (unit.dissect, unit.baseline):
            paths.update((result or {}).get("top_images", []))
    for tree in view.trees:
        if tree.image:
            paths.add(tree.image)
        if tree.html:
            paths.update(folder_files(view.root, tree.folder))
    return paths


def _all_concepts(view: RunView) -> list[str]:
    """Every concept named as a unit's label or runner-up (trained weights)."""
    names = set(view.concepts())
    for unit in view.units.values():
        names.update(r["label"] for r in (unit.dissect or {}).get("runners_up", []) if r["label"])
    return sorted(names)


def _pages(view: RunView, concepts: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    pages = [("index.html", "model.html.j2", _model_context(view, concepts))]
    for i, layer in enumerate(view.layers):
        pages.append((layer_url(layer), "layer.html.j2", _layer_context(view, i)))
    for layer in view.layers:
        units = view.layer_units(layer)
        for i, unit in enumerate(units):
            neighbours = (units[i - 1] if i else None, units[i + 1] if i + 1 < len(units) else None)
            pages.append((unit_url(layer, unit.channel), "unit.html.j2", _unit_context(unit, neighbours)))
    found = view.concepts()
    for name in concepts:
        context = {"concept": name, "units": found.get(name, []), "runners": view.runner_up_of(name)}
        pages.append((concept_url(name), "concept.html.j2", context))
    return pages


def _model_context(view: RunView, concepts: list[str]) -> dict[str, Any]:
    rows = []
    for layer in view.layers:
        summary, baseline = view.summary.get(layer), view.baseline.get(layer)
        rows.append({
            "name": layer,
            "units": len(view.layer_units(layer)),
            "summary": summary,
            "baseline": baseline,
            "bars": bar_widths(summary.per_category) if summary else [],
        })
    top = max([r["summary"].detectors for r in rows if r["summary"]]
              + [r["baseline"].detectors for r in rows if r["baseline"]] + [1])
    per_layer = {s.chart for s in list(view.summary.values()) + list(view.baseline.values())}
    return {"rows": rows, "top": top, "concepts": concepts, **_rotation_context(view),
            "model_charts": [c for c in view.charts if c not in per_layer],
            "counts": {k: len(v) for k, v in view.concepts().items()}, "related": related_sites(view.root)}


def _rotation_context(view: RunView) -> dict[str, Any]:
    """The rotation curve (detectors against α, one line per layer) and its table."""
    layers = sorted({p["layer"] for p in view.rotation},
                    key=lambda name: view.layers.index(name) if name in view.layers else len(view.layers))
    lines = {name or "detectors": [(p["alpha"], p["detectors"]) for p in view.rotation if p["layer"] == name]
             for name in layers}
    alphas = sorted({p["alpha"] for p in view.rotation})
    table = {(p["layer"], p["alpha"]): p for p in view.rotation}
    return {"rotation": line_chart(lines, "rotation α", "detectors"), "rotation_layers": layers,
            "rotation_alphas": alphas, "rotation_table": table}


def _layer_context(view: RunView, i: int) -> dict[str, Any]:
    layer = view.layers[i]
    units = view.layer_units(layer)
    labels = sorted({u.dissect["label"] for u in units if u.dissect and u.dissect["label"]})
    return {
        "layer": layer,
        "units": units,
        "labels": labels,
        "summary": view.summary.get(layer),
        "baseline": view.baseline.get(layer),
        "previous": view.layers[i - 1] if i else None,
        "next": view.layers[i + 1] if i + 1 < len(view.layers) else None,
    }


def _unit_context(unit: UnitView, neighbours: tuple[UnitView | None, UnitView | None]) -> dict[str, Any]:
    variants = sorted((k, v) for k, v in unit.visuals.items() if k[1] > 0)
    return {
        "unit": unit,
        "positive": unit.visuals.get(("positive", 0)),
        "negative": unit.visuals.get(("negative", 0)),
        "variants": variants,
        "previous": neighbours[0],
        "next": neighbours[1],
    }


def _render_page(view: RunView, page: str, template: str, context: dict[str, Any]) -> str:
    root = root_prefix(page)

    def url(site_rel: str) -> str:
        return root + href(site_rel)

    def asset(run_rel: str) -> str:
        return url(f"{FILES}/{run_rel}")

    def unit_href(address: str) -> str:
        layer, _, channel = address.rpartition(":")
        return url(unit_url(layer, int(channel)))

    return render(
        template, model=view.model, root=root, url=url, asset=asset, unit_href=unit_href,
        layer_href=lambda name: url(layer_url(name)), concept_href=lambda name: url(concept_url(name)),
        trees=view.trees, charts=view.charts, all_units=view.units, **context,
    )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def _write_static(site: Path, index_js: str) -> None:
    static = site / "static"
    static.mkdir(parents=True, exist_ok=True)
    package = resources.files("unitscope").joinpath("report", "static")
    for name in STATIC:
        (static / name).write_bytes(package.joinpath(name).read_bytes())
    # at the root, where browsers look for it when the site is served (a PNG is a valid icon)
    (site / "favicon.ico").write_bytes(package.joinpath("favicon.png").read_bytes())
    _write(static / "search-index.js", index_js)
