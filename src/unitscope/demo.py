"""`run_demo`: every verb on the built-in `toy` model and a freshly drawn concept world.

One plan per size (full for `make demo`, quick for the tests); each step is timed and the
times are printed at the end, with where the explorer site is.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import DataError
from .models import Model, load_model
from .rundir import write_json_atomic

MARKER = ".unitscope-demo"
CONV = ["conv1", "conv2", "conv3", "conv4", "conv5"]


@dataclass(frozen=True)
class Plan:
    """How big each step is."""

    images: int
    example_units: list[str]
    k: int
    dissect_layers: list[str]
    rotation: list[float]
    visual_units: list[str]
    steps: int
    variants_units: list[str]
    n_variants: int
    trees: int
    tree_k: int
    tree_nodes: int
    graph_images: int
    graph_layers: list[str] | None  # None: every conv/fc layer
    tabular_units: list[str]  # tabular-toy on breast-cancer
    text_chars: int  # text-toy on a fresh code world
    text_units: list[str]


# The graph costs one segment backward per parent unit per image batch (compose/graph.py), and
# visualization one forward+backward per image per step: those two set the demo's length.
FULL = Plan(images=2000, example_units=[*CONV, "fc8"], k=6, dissect_layers=CONV,
            rotation=[0.25, 0.5, 0.75, 1.0], visual_units=["conv5", "fc8"], steps=256,
            variants_units=["conv5:0-3"], n_variants=3, trees=3, tree_k=5, tree_nodes=100,
            graph_images=64, graph_layers=None, tabular_units=["fc1", "fc2"], text_chars=100_000,
            text_units=["lstm", "cells"])
QUICK = Plan(images=150, example_units=["conv5:0-7", "fc8:0-3"], k=3, dissect_layers=["conv5"],
             rotation=[1.0], visual_units=["conv5:0-3", "fc8:0-1"], steps=16,
             variants_units=["conv5:0"], n_variants=2, trees=1, tree_k=3, tree_nodes=8,
             graph_images=16, graph_layers=["conv4", "conv5", "fc8"], tabular_units=["fc2:0-3"],
             text_chars=20_000, text_units=["lstm:0-7"])


@dataclass
class DemoResult:
    """Where the run and site are and how long each step took (seconds)."""

    run_dir: Path
    site: Path
    times: dict[str, float] = field(default_factory=dict)


def run_demo(out: str | Path = "runs/demo", quick: bool = False, progress: bool = True,
             data: str | Path | None = None, log: Callable[[str], Any] | None = None) -> DemoResult:
    """Run examples, dissect, visualize, compose, graph and explore into `out`; return the result.

    `data`: an existing Broden-format folder to reuse instead of drawing a fresh concept world.
    """
    plan = QUICK if quick else FULL
    log = log or _say
    if data is not None and not (Path(data) / "index.csv").is_file():
        raise DataError(f"--data '{data}' is not a Broden-format folder (no index.csv); "
                        "leave --data out to draw a fresh concept world")
    run_dir = _fresh(Path(out))
    model = load_model("toy")
    result = DemoResult(run_dir, run_dir / "site" / "index.html")
    world: dict[str, Path] = {"path": Path(data) if data else run_dir / "concepts"}

    steps: list[tuple[str, Callable[[], Any]]] = [
        ("examples", lambda: _examples(model, world["path"], run_dir, plan, progress)),
        ("dissect", lambda: _dissect(model, world["path"], run_dir, plan, progress)),
        ("visualize", lambda: _visualize(model, run_dir, plan, progress)),
        ("compose", lambda: _compose(model, world["path"], run_dir, plan, progress)),
        ("graph", lambda: _graph(model, world["path"], run_dir, plan, progress)),
        ("tabular-toy", lambda: _tabular(run_dir / "tabular", plan, progress)),
        ("text-toy", lambda: _text(run_dir / "text", plan, progress)),
        ("explore", lambda: _explore(run_dir, progress)),
    ]
    if data is None:
        steps.insert(0, ("concept world", lambda: world.update(path=_world(run_dir, plan, progress))))
    for number, (name, step) in enumerate(steps, 1):
        log(f"demo [{number}/{len(steps)}] {name} ...")
        start = time.perf_counter()
        step()
        result.times[name] = time.perf_counter() - start
        log(f"demo [{number}/{len(steps)}] {name} done in {result.times[name]:.1f} s")
    result.times["total"] = sum(result.times.values())
    write_json_atomic(run_dir / "demo_times.json", {k: round(v, 1) for k, v in result.times.items()})
    _report(result, plan, log)
    return result


def _say(message: str) -> None:
    print(message, flush=True)


def _fresh(out: Path) -> Path:
    """An empty run dir: ours from an earlier demo is cleared, anything else is refused."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise DataError(f"'{out}' is not empty and was not made by `unitscope demo`; "
                            "choose another --out")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by unitscope demo; rerunning the demo replaces this folder\n")
    return out


def _world(run_dir: Path, plan: Plan, progress: bool) -> Path:
    from .data.concepts import generate

    settings = generate.ConceptsSettings(n=plan.images, size=128, seed=0)
    return generate.run(None, None, settings, run_dir / "concepts", progress=progress).run_dir


def _examples(model: Model, data: Path, run_dir: Path, plan: Plan, progress: bool) -> None:
    from . import examples

    settings = examples.ExamplesSettings(units=plan.example_units, top_k=plan.k, batch_size=64)
    examples.run(model, data, settings, run_dir, progress=progress)


def _dissect(model: Model, data: Path, run_dir: Path, plan: Plan, progress: bool) -> None:
    from .dissect import DissectSettings, run

    settings = DissectSettings(layers=plan.dissect_layers, rotation=plan.rotation, baseline="random")
    run(model, data, settings, run_dir, progress=progress)


def _visualize(model: Model, run_dir: Path, plan: Plan, progress: bool) -> None:
    from .optvis import visualize

    # diverse variants first (<c>_div<k>.png): the plain render then replaces their variant 0
    common = {"steps": plan.steps, "size": 128, "seed": 0}
    diverse = visualize.VisualizeSettings(units=plan.variants_units, diversity=1.0, variants=plan.n_variants,
                                          **common)
    visualize.run(model, None, diverse, run_dir, progress=progress)
    plain = visualize.VisualizeSettings(units=plan.visual_units, negative=True, **common)
    visualize.run(model, None, plain, run_dir, progress=progress)


def tree_images(data: Path, count: int) -> list[tuple[str, Path]]:
    """(name, image) for `count` images of different scenes, first of each in index order.

    The name is '<scene>_<stem>' (e.g. 'street_000004'); datasets without scenes fall back to
    images spread evenly over the index.
    """
    from .data.broden import BrodenDataset

    dataset = BrodenDataset(data)
    names = dataset.names
    picked: dict[str, int] = {}
    has_scenes = "scene" in dataset.categories
    for i in range(len(names)):
        scenes = dataset.whole_labels(i, "scene") if has_scenes else ()
        scene = dataset.label_names[scenes[0]] if scenes else None
        if scene and scene not in picked and len(picked) < count:
            picked[scene] = i
    if len(picked) < count:  # too few scenes: spread over the index instead
        step = max(1, len(names) // count)
        spread = [names[i * step % len(names)] for i in range(count)]
        return [(Path(name).stem, data / "images" / name) for name in spread]
    return [(f"{scene}_{Path(names[i]).stem}", data / "images" / names[i]) for scene, i in picked.items()]


def _compose(model: Model, data: Path, run_dir: Path, plan: Plan, progress: bool) -> None:
    from .compose import ComposeSettings, pipeline

    for name, image in tree_images(data, plan.trees):
        settings = ComposeSettings(root="fc8:auto", top_k=plan.tree_k, max_nodes=plan.tree_nodes, name=name)
        pipeline.run(model, image, settings, run_dir, progress=progress)


def _graph(model: Model, data: Path, run_dir: Path, plan: Plan, progress: bool) -> None:
    from .compose import graph

    settings = graph.GraphSettings(layers=plan.graph_layers or (), images=plan.graph_images, top_k=8)
    graph.run(model, data, settings, run_dir, progress=progress)


def _tabular(run_dir: Path, plan: Plan, progress: bool) -> None:
    """tabular-toy on breast-cancer: optimal rows, top rows and concept scores, and its site."""
    from . import examples
    from .dissect import DissectSettings, run
    from .optvis import visualize

    model = load_model("tabular-toy")
    visualize.run(model, None, visualize.VisualizeSettings(units=plan.tabular_units, steps=200, lr=0.1,
                                                           negative=True), run_dir, progress=progress)
    examples.run(model, "breast-cancer", examples.ExamplesSettings(units=plan.tabular_units, top_k=5),
                 run_dir, progress=progress)
    run(model, "breast-cancer", DissectSettings(layers=("fc1", "fc2", "fc3")), run_dir, progress=progress)
    _explore(run_dir, progress)


def _text(run_dir: Path, plan: Plan, progress: bool) -> None:
    """text-toy on a fresh code world: top windows, concept scores, optimal strings, and its site."""
    from . import examples
    from .dissect import DissectSettings, run
    from .optvis import visualize
    from .sequences.corpus import write_code_world

    world = write_code_world(run_dir / "codeworld", plan.text_chars, seed=1)
    model = load_model("text-toy")
    examples.run(model, world, examples.ExamplesSettings(units=plan.text_units, top_k=5), run_dir,
                 progress=progress)
    run(model, world, DissectSettings(layers=("lstm", "cells")), run_dir, progress=progress)
    visualize.run(model, None, visualize.VisualizeSettings(units=plan.text_units, steps=100, lr=0.5),
                  run_dir, progress=progress)
    _explore(run_dir, progress)


def _explore(run_dir: Path, progress: bool) -> None:
    from . import explore

    explore.run(None, run_dir, explore.ExploreSettings(), progress=progress)


def _report(result: DemoResult, plan: Plan, log: Callable[[str], Any]) -> None:
    log("")
    log(f"demo: {'quick' if plan is QUICK else 'full'} run in {result.run_dir}")
    for name, seconds in result.times.items():
        log(f"  {name:<14} {seconds:7.1f} s")
    log(f"demo: open {result.site.resolve().as_uri()}")
