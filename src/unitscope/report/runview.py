"""Read a run directory (manifest + the JSON files it names) into one view model for the site.

The explorer never sees the model: everything comes from artifacts. Missing verbs simply leave
their parts of the pages empty; image paths that escape the run dir or do not exist are dropped
so the site never shows a broken image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import BadUnitError, DataError
from ..rundir import MANIFEST, read_json
from ..units import Unit
from .paths import safe_relpath


@dataclass
class Example:
    """One top/bottom dataset example: thumbnail, patch, activation value, source image."""

    thumb: str | None
    patch: str | None
    value: float
    source: str


@dataclass
class Readout:
    """Where the negative image or the bottom ranking of a unit read after a ReLU was taken:
    `layer`, the module before the ReLU (or the unit's own layer when no module gives the
    ReLU's input), and `relu`, the ReLU the unit is read after."""

    layer: str
    relu: str


@dataclass
class Link:
    """A scored reference to another unit (graph edge)."""

    unit: str
    score: float


@dataclass
class TreeRef:
    """A composition tree that contains a unit."""

    name: str
    html: str | None
    root: str
    score: float


@dataclass
class UnitView:
    """Everything the artifacts say about one channel."""

    address: str
    layer: str
    channel: int
    visuals: dict[tuple[str, int], str] = field(default_factory=dict)  # (sign, variant) -> image
    objectives: dict[tuple[str, int], float] = field(default_factory=dict)
    top: list[Example] = field(default_factory=list)
    bottom: list[Example] = field(default_factory=list)
    negative_read: Readout | None = None  # None: not after a ReLU, or a run from before it was recorded
    bottom_read: Readout | None = None
    dissect: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    children: list[Link] = field(default_factory=list)
    parents: list[Link] = field(default_factory=list)
    inhibitors: list[Link] = field(default_factory=list)
    trees: list[TreeRef] = field(default_factory=list)

    @property
    def thumbnail(self) -> str | None:
        """The image that stands for the unit in grids: its visualization, else its top example."""
        if ("positive", 0) in self.visuals:
            return self.visuals[("positive", 0)]
        if self.visuals:
            return self.visuals[min(self.visuals)]
        for example in self.top:
            if example.thumb:
                return example.thumb
        return None


@dataclass
class LayerSummary:
    """Dissection numbers for one layer (trained or random-weights baseline)."""

    units: int
    detectors: int
    per_category: dict[str, int]
    unique: dict[str, int]
    chart: str | None


@dataclass
class TreeView:
    """One composition tree as listed on the model page."""

    name: str
    root: str
    image: str | None
    html: str | None
    folder: str
    nodes: int


@dataclass
class RunView:
    """The whole run: layers in order, units by address, dissection summaries, trees."""

    root: Path
    model: str
    layers: list[str]
    units: dict[str, UnitView]
    summary: dict[str, LayerSummary]
    baseline: dict[str, LayerSummary]
    rotation: list[dict[str, Any]]
    charts: list[str]
    trees: list[TreeView]
    settings: dict[str, Any]
    sheets: list[str]

    def layer_units(self, layer: str) -> list[UnitView]:
        """The units of a layer by channel."""
        return sorted((u for u in self.units.values() if u.layer == layer), key=lambda u: u.channel)

    def concepts(self) -> dict[str, list[UnitView]]:
        """Concept name -> units whose best (trained) label it is, best IoU first."""
        found: dict[str, list[UnitView]] = {}
        for unit in self.units.values():
            if unit.dissect and unit.dissect.get("label"):
                found.setdefault(str(unit.dissect["label"]), []).append(unit)
        for units in found.values():
            units.sort(key=lambda u: (-float(u.dissect["iou"]), self.layers.index(u.layer), u.channel))
        return dict(sorted(found.items()))

    def runner_up_of(self, concept: str) -> list[tuple[UnitView, float]]:
        """Units that list `concept` among their runners-up, with that IoU."""
        found = []
        for unit in self.units.values():
            for other in (unit.dissect or {}).get("runners_up", []):
                if str(other.get("label")) == concept:
                    found.append((unit, float(other.get("iou", 0.0))))
        found.sort(key=lambda p: (-p[1], self.layers.index(p[0].layer), p[0].channel))
        return found


def load_run(run_dir: str | Path) -> RunView:
    """Read the manifest and every artifact it names; raise DataError if there is no manifest."""
    root = Path(run_dir)
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise DataError(
            f"'{root}' has no {MANIFEST}; run a verb with --out {root} first (e.g. `unitscope demo`)"
        )
    manifest = read_json(manifest_path)
    verbs = manifest.get("verbs") or {}
    reader = _Reader(root)
    visual = reader.json_of(verbs.get("visualize"))
    examples = reader.json_of(verbs.get("examples"))
    dissect = reader.json_of(verbs.get("dissect"))
    graph = reader.json_of(verbs.get("graph"))
    trees = [reader.tree(p) for p in (verbs.get("compose") or {}).get("trees", []) or []]
    trees = [t for t in trees if t is not None]

    units: dict[str, UnitView] = {}
    _add_visuals(units, visual, reader)
    _add_examples(units, examples, reader)
    _add_dissect(units, dissect, reader)
    _add_graph(units, graph)
    tree_views = _add_trees(units, trees, reader)
    charts = [c for c in (reader.image(p) for p in (verbs.get("dissect") or {}).get("charts", []) or []) if c]
    layers = _layer_order(units, [graph.get("layers")] + [tree.get("layers") for _, tree in trees])
    return RunView(
        root=root,
        model=str(manifest.get("model", root.name)),
        layers=layers,
        units=dict(sorted(units.items(), key=lambda kv: (layers.index(kv[1].layer), kv[1].channel))),
        summary=_summaries(dissect.get("layers"), reader),
        baseline=_summaries((dissect.get("baseline_random") or {}).get("layers"), reader),
        rotation=_rotation(dissect.get("rotation")),
        charts=charts,
        trees=tree_views,
        settings=dict(visual.get("settings") or {}),
        sheets=[s for s in (reader.image(p) for p in visual.get("sheets", []) or []) if s],
    )


class _Reader:
    """Resolves run-relative paths safely and reads JSON files with one-line errors."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real = root.resolve()

    def existing(self, path: Any) -> str | None:
        rel = safe_relpath(path) if isinstance(path, str) else None
        if rel is None or not (self.root / rel).is_file():
            return None
        if self.real not in (self.root / rel).resolve().parents:
            return None  # a symlink pointing out of the run dir
        return rel

    def image(self, path: Any) -> str | None:
        return self.existing(path)

    def json_of(self, entry: Any) -> dict[str, Any]:
        if not isinstance(entry, dict) or not entry.get("json"):
            return {}
        rel = self.existing(entry["json"])
        if rel is None:
            raise DataError(f"the manifest names '{entry['json']}' but it is missing from '{self.root}'")
        return read_json(self.root / rel)

    def tree(self, path: Any) -> tuple[str, dict[str, Any]] | None:
        rel = self.existing(path)
        return None if rel is None else (rel, read_json(self.root / rel))


def _unit(units: dict[str, UnitView], address: Any) -> UnitView | None:
    try:
        parsed = Unit.parse(str(address))
        channel = parsed.index
    except BadUnitError:
        return None
    key = f"{parsed.layer}:{channel}"
    if key not in units:
        units[key] = UnitView(address=key, layer=parsed.layer, channel=channel)
    return units[key]


def _add_visuals(units: dict[str, UnitView], visual: dict[str, Any], reader: _Reader) -> None:
    for row in visual.get("units", []) or []:
        if row.get("position") or "@" in str(row.get("unit")):
            continue  # a single neuron's image, not the channel's
        unit = _unit(units, row.get("unit"))
        image = reader.image(row.get("image"))
        if unit is None or image is None:
            continue
        key = ("negative" if row.get("sign") == "negative" else "positive", int(row.get("variant", 0)))
        unit.visuals[key] = image
        if isinstance(row.get("objective"), int | float):
            unit.objectives[key] = float(row["objective"])
        if key == ("negative", 0):
            unit.negative_read = _readout(row.get("objective_layer"), row.get("after_relu"))


def _readout(layer: Any, relu: Any) -> Readout | None:
    """The Readout of a unit read after a ReLU; None for other units and for older runs."""
    if isinstance(layer, str) and isinstance(relu, str) and layer and relu:
        return Readout(layer, relu)
    return None


def _examples(rows: Any, reader: _Reader) -> list[Example]:
    found = []
    for row in rows or []:
        found.append(Example(
            thumb=reader.image(row.get("thumb")),
            patch=reader.image(row.get("patch")),
            value=float(row.get("value", 0.0)),
            source=str(row.get("source", "")),
        ))
    return found


def _add_examples(units: dict[str, UnitView], examples: dict[str, Any], reader: _Reader) -> None:
    for address, entry in sorted((examples.get("units") or {}).items()):
        unit = _unit(units, address)
        if unit is not None:
            unit.top = _examples(entry.get("top"), reader)
            unit.bottom = _examples(entry.get("bottom"), reader)
            unit.bottom_read = _readout(entry.get("bottom_layer"), entry.get("after_relu"))


def _clean_dissect(entry: dict[str, Any], reader: _Reader) -> dict[str, Any]:
    return {
        "label": str(entry.get("label", "")),
        "category": str(entry.get("category", "")),
        "iou": float(entry.get("iou", 0.0)),
        "detector": bool(entry.get("detector", False)),
        "runners_up": [
            {"label": str(r.get("label", "")), "category": str(r.get("category", "")),
             "iou": float(r.get("iou", 0.0))}
            for r in entry.get("runners_up", []) or []
        ],
        "top_images": [i for i in (reader.image(p) for p in entry.get("top_images", []) or []) if i],
    }


def _add_dissect(units: dict[str, UnitView], dissect: dict[str, Any], reader: _Reader) -> None:
    baseline = (dissect.get("baseline_random") or {}).get("layers")
    for layers, attr in ((dissect.get("layers"), "dissect"), (baseline, "baseline")):
        for _, layer in sorted((layers or {}).items()):
            for address, entry in sorted((layer.get("units") or {}).items()):
                unit = _unit(units, address)
                if unit is not None:
                    setattr(unit, attr, _clean_dissect(entry, reader))


def _links(rows: Any, strongest_first: bool = True) -> list[Link]:
    links = [Link(str(r.get("unit")), float(r.get("score", 0.0))) for r in rows or [] if r.get("unit")]
    return sorted(links, key=lambda link: -abs(link.score) if strongest_first else -link.score)


def _add_graph(units: dict[str, UnitView], graph: dict[str, Any]) -> None:
    for address, entry in sorted((graph.get("edges") or {}).items()):
        unit = _unit(units, address)
        if unit is None:
            continue
        unit.children = [link for link in _links(entry.get("children"), False) if _unit(units, link.unit)]
        unit.parents = [link for link in _links(entry.get("parents"), False) if _unit(units, link.unit)]
        unit.inhibitors = [link for link in _links(entry.get("inhibitory")) if _unit(units, link.unit)]
        for link in unit.children + unit.parents + unit.inhibitors:
            link.unit = _unit(units, link.unit).address


def _add_trees(units: dict[str, UnitView], trees: list, reader: _Reader) -> list[TreeView]:
    views = []
    for rel, tree in sorted(trees, key=lambda t: t[0]):
        folder = str(PurePosixPath(rel).parent)
        name = PurePosixPath(folder).name or rel
        html = reader.existing(tree.get("html"))
        nodes = tree.get("nodes", []) or []
        root = str(tree.get("root", ""))
        views.append(TreeView(name, root, reader.image(tree.get("image")), html, folder, len(nodes)))
        best: dict[str, float] = {}
        for node in nodes:
            unit = _unit(units, node.get("unit"))
            if unit is not None:
                best[unit.address] = max(best.get(unit.address, float("-inf")), float(node.get("score", 0.0)))
        for address, score in sorted(best.items()):
            units[address].trees.append(TreeRef(name, html, root, score))
    return views


def _summaries(layers: Any, reader: _Reader) -> dict[str, LayerSummary]:
    found = {}
    for name, layer in sorted((layers or {}).items()):
        rows = (layer.get("units") or {}).values()
        found[name] = LayerSummary(
            units=len(rows),
            detectors=sum(1 for r in rows if r.get("detector")),
            per_category=_counts(layer.get("detectors_per_category")),
            unique=_counts(layer.get("unique_detectors")),
            chart=reader.image(layer.get("chart")),
        )
    return found


def _counts(table: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted((table or {}).items()) if isinstance(v, int | float)}


def _rotation(rows: Any) -> list[dict[str, Any]]:
    """Rotation-curve points {layer, alpha, detectors, unique}; `layer` is '' when not given."""
    points = []
    for row in rows or []:
        if isinstance(row, dict) and "alpha" in row and "detectors" in row:
            point: dict[str, Any] = {k: float(row[k]) for k in ("alpha", "detectors", "unique") if k in row}
            point["layer"] = str(row.get("layer", ""))
            points.append(point)
    return sorted(points, key=lambda p: (p["layer"], p["alpha"]))


def _natural(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _layer_order(units: dict[str, UnitView], orders: list[Any]) -> list[str]:
    """Forward order merged from every ordered layer list (graph, trees); ties in natural order.

    Each list says which layer runs before which; a topological sort of those constraints
    (smallest natural name first when free) orders all layers, also ones no list mentions.
    """
    present = {u.layer for u in units.values()}
    after: dict[str, set[str]] = {name: set() for name in present}
    for order in orders:
        names = [str(n) for n in order or [] if str(n) in present]
        for a, b in zip(names, names[1:], strict=False):
            if a != b:
                after[b].add(a)
    done: list[str] = []
    while len(done) < len(present):
        free = [n for n in present - set(done) if after[n] <= set(done)]
        pick = min(free or present - set(done), key=_natural)  # a cycle: fall back to natural order
        done.append(pick)
    return done
