"""Run directories for tests: a crafted one with every verb's artifacts, and shortcuts over the verbs
for tests that need their outputs, not their API (the explorer site, and what its pages link to)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image

from unitscope import explore
from unitscope.rundir import RunDir, write_json_atomic

SCRIPT_LABEL = '<script>alert("pwned")</script>'
DOTTED = "layer2.0.conv1"


def _png(path: Path, seed: int, size: int = 32) -> str:
    """A small deterministic, clearly non-blank PNG (colour gradient + seeded noise)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, size, dtype=np.float64)
    img = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (size, 1)), np.full((size, size), 40.0)], -1)
    img = (img + rng.uniform(0, 60, img.shape)) % 256
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img.astype(np.uint8)).save(path, format="PNG")
    return path.name


def make_fake_run(root: Path) -> Path:
    """A small run dir with every verb's artifacts, a dotted layer name and a hostile label."""
    root = Path(root)
    run = RunDir(root)
    seed = iter(range(10_000))
    layers = {"conv1": 4, DOTTED: 2, "conv5": 6, "fc8": 3}

    def img(rel: str) -> str:
        _png(root / rel, next(seed))
        return rel

    visual = {"settings": {"steps": 8, "size": 32, "seed": 0}, "units": [],
              "sheets": [img("visualize/conv5_sheet.png")]}

    def entry(layer: str, c: int, sign: str, variant: int, suffix: str, objective: float) -> dict:
        return {"unit": f"{layer}:{c}", "layer": layer, "channel": c, "sign": sign, "variant": variant,
                "image": img(f"visualize/{layer}/{c}{suffix}.png"), "objective": objective}

    for layer in ("conv5", "fc8", DOTTED):
        for c in range(layers[layer]):
            visual["units"].append(entry(layer, c, "positive", 0, "", 1.5 + c))
            visual["units"].append(entry(layer, c, "negative", 0, "_neg", -1.0))
    for k in (1, 2):
        visual["units"].append(entry("conv5", 0, "positive", k, f"_div{k}", 1.0))
    write_json_atomic(root / "visualize/visualize.json", visual)
    run.register("visualize", {"json": "visualize/visualize.json"}, model="fake")

    examples = {"dataset": "data/concepts", "k": 2, "units": {}}
    for layer in ("conv1", "conv5"):
        for c in range(layers[layer]):
            entry = {}
            for side in ("top", "bottom"):
                entry[side] = [{"source": f"images/{i:04d}.png", "value": (3.0 - i) if side == "top" else -i,
                                "x": 1, "y": 2, "thumb": img(f"examples/{layer}/{c}/{side}_{i}.png"),
                                "patch": img(f"examples/{layer}/{c}/{side}_{i}_patch.png")} for i in range(2)]
            examples["units"][f"{layer}:{c}"] = entry
    write_json_atomic(root / "examples/examples.json", examples)
    run.register("examples", {"json": "examples/examples.json"})

    labels = [("red", "color", 0.31), (SCRIPT_LABEL, "object", 0.12), ("wheel", "part", 0.08),
              ("stripes", "texture", 0.02), ("red", "color", 0.05), ("blue", "color", 0.20)]

    def dissect_layers(scale: float) -> dict:
        out = {}
        for layer in ("conv1", "conv5"):
            units = {}
            for c in range(layers[layer]):
                label, cat, iou = labels[(c + (layer == "conv1")) % len(labels)]
                iou *= scale
                units[f"{layer}:{c}"] = {"label": label, "category": cat, "iou": iou, "detector": iou > 0.04,
                                         "runners_up": [{"label": "wheel", "category": "part",
                                                         "iou": iou / 2}],
                                         "top_images": [img(f"dissect/{layer}/{c}_top.png")]}
            per_cat: dict[str, int] = {}
            for entry in units.values():
                if entry["detector"]:
                    per_cat[entry["category"]] = per_cat.get(entry["category"], 0) + 1
            out[layer] = {"units": units, "detectors_per_category": per_cat,
                          "unique_detectors": {"distinct_top_labels": len(per_cat),
                                               "per_category_sum": len(per_cat)},
                          "chart": img(f"dissect/{layer}_detectors.png")}
        return out

    dissect = {"dataset": "data/concepts", "quantile": 0.005, "iou_threshold": 0.04,
               "layers": dissect_layers(1.0), "baseline_random": {"layers": dissect_layers(0.1)},
               "rotation": [{"layer": layer, "alpha": a, "detectors": d + (layer == "conv5"), "unique": u}
                            for layer in ("conv1", "conv5")
                            for a, d, u in ((0.0, 5, 4), (0.5, 3, 3), (1.0, 1, 1))]}
    write_json_atomic(root / "dissect/dissect.json", dissect)
    run.register("dissect", {"json": "dissect/dissect.json", "tally": [],
                             "charts": [img("dissect/detectors.png")]})

    order = ["conv1", DOTTED, "conv5", "fc8"]
    edges = {}
    for below, above in zip(order, order[1:], strict=False):
        for c in range(layers[above]):
            kids = [{"unit": f"{below}:{k}", "score": round(1.0 / (1 + k + c), 4)}
                    for k in range(layers[below])]
            edges.setdefault(f"{above}:{c}", {})["children"] = kids
            edges[f"{above}:{c}"]["inhibitory"] = [{"unit": f"{below}:0", "score": -0.5}]
            for kid in kids:
                edges.setdefault(kid["unit"], {}).setdefault("parents", []).append(
                    {"unit": f"{above}:{c}", "score": kid["score"]})
    write_json_atomic(root / "graph/graph.json", {"layers": order, "edges": edges})
    run.register("graph", {"json": "graph/graph.json"})

    tree_dir = root / "compose/house_0"
    nodes = [{"id": 0, "parent": None, "unit": "fc8:1", "layer": "fc8", "channel": 1, "score": 1.0},
             {"id": 1, "parent": 0, "unit": "conv5:2", "layer": "conv5", "channel": 2, "score": 0.5},
             {"id": 2, "parent": 1, "unit": "conv1:3", "layer": "conv1", "channel": 3, "score": 0.25}]
    for node in nodes:
        node["images"] = {"gradient": img(f"compose/house_0/n{node['id']}_gradient.png")}
    (tree_dir / "tree.html").write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" '
                                        'href="data:,"><title>tree</title></head><body><h1>tree house_0</h1>'
                                        '<img src="input.png" alt="input"></body></html>\n')
    write_json_atomic(tree_dir / "tree.json", {"image": img("compose/house_0/input.png"), "root": "fc8:1",
                                               "rule": "gradient", "k": 5, "nodes": nodes,
                                               "html": "compose/house_0/tree.html"})
    run.add_to("compose", "trees", "compose/house_0/tree.json")
    return root


def build_site(run_dir: Path, out: Path | None = None, progress: bool = False) -> Path:
    """The explorer site of `run_dir` (into `out`, default RUN_DIR/site); returns its index.html."""
    return Path(explore.run(None, run_dir, None, out, progress=progress)["index"])


class PageRefs(HTMLParser):
    """What an HTML page points at: `refs` (every href and src), `scripts` (each script's src)."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.refs.append(value)
        if tag == "script":
            self.scripts.append(dict(attrs).get("src", ""))


def parse_page(path: Path) -> PageRefs:
    """The references of the HTML page at `path`."""
    parser = PageRefs()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def snapshot(site: Path) -> dict[str, bytes]:
    """The bytes of every page, script and style sheet of a site, by path relative to it."""
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in sorted(site.rglob("*"))
            if p.is_file() and p.suffix in (".html", ".js", ".css")}
