"""`compose.run`: one image, one root unit -> tree.json, node PNGs and tree.html in a run dir."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F

from ..attribution import RULES, max_position
from ..errors import BadInputError
from ..imageio import load_image
from ..modalities import delegate
from ..models import Model, load_model
from ..result import Display, Result, files_under
from ..rundir import RunDir, default_out, safe_name
from ..settings import Settings, batch_size_option, option, top_k_option
from .faithfulness import Ablation, ablation_drops
from .forward import record
from .html import write_html
from .layers import check_layers, default_layers, resolve_root
from .output import node_record, patch_box, write_images, write_tree_json
from .paths import path_images
from .sanity import sanity_check
from .tree import Node, TreeStats, build_tree, path_to

if TYPE_CHECKING:
    import pandas as pd

SANITY_TOP_LAYERS = 3
SCORE_BATCH = 16  # at most this many parents share one speculative batched score backward
SHOWN_NODES = 11  # node images in the notebook view, after the input image
NODE_COLUMNS = ["id", "parent", "unit", "layer", "channel", "depth", "score", "edge", "share",
                "activation", "coverage", "ablation_drop", "positive_total", "expanded"]


@dataclass(frozen=True)
class ComposeSettings(Settings):
    """`unitscope compose`: which unit is the root, over which layers, how big the tree grows."""

    VERB: ClassVar[str] = "compose"
    root: str | None = option(None, "LAYER:UNIT or LAYER:auto (default: <last layer>:auto, the "
                              "predicted class for logits)")
    layers: tuple[str, ...] = option((), "comma-separated layers in forward order (default: the "
                                     "model's conv/fc layers, toy: conv1,...,fc8)", show_default=False)
    top_k: int = top_k_option(5, "children per node")
    max_nodes: int = option(100, "nodes in the tree", low=1)
    rule: str = option("gradient", "gradient rule for node images", choices=RULES)
    name: str | None = option(None, "tree folder name under compose/ (default: image stem)")
    sanity: bool = option(True, "the weight-randomization sanity check of the root image")
    batch_size: int = batch_size_option(32)


class ComposeResult(Result):
    """compose/<name>/tree.json: the tree's nodes (scores, shares, coverage, ablation drops)."""

    verb = "compose"

    def to_pandas(self) -> pd.DataFrame:
        """One row per node, in id order: the scalar fields of tree.json's node records."""
        import pandas as pd

        rows = [{column: node.get(column) for column in NODE_COLUMNS} for node in self.data["nodes"]]
        return pd.DataFrame(rows, columns=NODE_COLUMNS).astype({"parent": "Int64"})

    def layers_reached(self) -> list[str]:
        """The tree's layers that hold a node, from the input side up."""
        return sorted({n["layer"] for n in self.data["nodes"]}, key=self.data["layers"].index)

    def display(self) -> Display:
        data, label = self.data, self.data.get("root_label")
        images = [(self.run_dir / data["image"], "input")] + [
            (self.run_dir / n["images"]["gradient"], f"{n['unit']} ({n['share']:.0%})")
            for n in data["nodes"][:SHOWN_NODES]]
        facts = [("root", data["root"] + (f" ({label})" if label else "")),
                 ("nodes", str(len(data["nodes"]))),
                 ("layers reached", " -> ".join(reversed(self.layers_reached())))]
        table = self.to_pandas()[["id", "parent", "unit", "score", "share", "coverage", "ablation_drop"]]
        return Display(f"composition tree of {data['root']} in {data['model']}", facts, images, table,
                       link=self.run_dir / data["html"])


@dataclass
class GrownTree:
    """A tree's nodes with what was computed for them before anything is written."""

    nodes: list[Node]
    stats: TreeStats
    positions: list[tuple[int, int] | None]
    gradients: torch.Tensor


def prepare_image(model: Model, image: str | Path | torch.Tensor) -> torch.Tensor:
    """A 3xSxS [0, 1] tensor at the model's input size, on the model's device."""
    size = model.input_spec.size
    if image is None:
        raise BadInputError("compose needs an image: a file path or a 3xHxW tensor in [0, 1]")
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise BadInputError(f"image tensor must be 3xHxW in [0, 1], got {tuple(image.shape)}")
        tensor = image.detach().float()
        if tuple(tensor.shape[1:]) != (size, size):
            tensor = F.interpolate(tensor[None], size=(size, size), mode="bilinear",
                                   align_corners=False, antialias=True)[0].clamp(0, 1)
    else:
        tensor = load_image(image, size)
    return model.to_device(tensor)


def default_name(image: str | Path | torch.Tensor) -> str:
    """The image's file stem (or 'image'), made safe for a folder name."""
    return safe_name("image" if isinstance(image, torch.Tensor) else Path(image).stem, "image")


def attach_faithfulness(model: Model, image: torch.Tensor, nodes: list[Node], batch: int) -> None:
    """Set `ablation_drop` on every node that has children (batched forwards)."""
    parents = [n for n in nodes if n.children]
    items = [Ablation(n.layer, n.channel, nodes[n.children[0]].layer,
                      tuple(nodes[c].channel for c in n.children), n.activation) for n in parents]
    for node, drop in zip(parents, ablation_drops(model, image, items, batch), strict=True):
        node.ablation_drop = drop


def node_positions(acts: dict[str, torch.Tensor], nodes: list[Node]) -> list:
    """(x, y) of each conv node's maximum on the image; None for fc nodes."""
    out = []
    for n in nodes:
        act = acts[n.layer]
        out.append(max_position(act[0, n.channel].detach()) if act.dim() == 4 else None)
    return out


def grow_tree(model: Model, image: torch.Tensor, layers: list[str], root: tuple[str, int],
              settings: ComposeSettings, progress: bool) -> GrownTree:
    """Expand the tree on one recorded forward, then ablate and draw every node's branch."""
    acts = record(model, image, layers)
    nodes, stats = build_tree(acts, layers, *root, settings.top_k, settings.max_nodes,
                              batch=min(settings.batch_size, SCORE_BATCH), progress=progress)
    positions = node_positions(acts, nodes)
    del acts
    attach_faithfulness(model, image, nodes, settings.batch_size)
    paths = [path_to(nodes, n) for n in nodes]
    gradients = path_images(model, image, *root, paths, settings.rule, settings.batch_size, progress)
    return GrownTree(nodes, stats, positions, gradients)


def tree_json(model: Model, source, settings: ComposeSettings, run: RunDir, folder: Path,
              layers: list[str], tree: GrownTree, boxes: list) -> dict:
    """tree.json's content (all paths relative to the run dir); `sanity` is filled in later."""
    root = tree.nodes[0]
    return {
        "model": model.name, "image": run.relative(folder / "input.png"),
        "source": str(source) if not isinstance(source, torch.Tensor) else None,
        "root": root.unit, "root_label": _label(model, root.layer, root.channel),
        "rule": settings.rule, "k": settings.top_k, "max_nodes": settings.max_nodes, "layers": layers,
        "settings": settings.to_dict(),
        "score": "sum over positions of grad * act (plain gradient), f = sum of the parent map",
        "share": "product of edges; edge = child score / parent's total positive contribution",
        "nodes": [node_record(n, run, folder, p, b)
                  for n, p, b in zip(tree.nodes, tree.positions, boxes, strict=True)],
        "stats": {"nodes": len(tree.nodes), "expansions": tree.stats.expansions,
                  "score_backward_calls": tree.stats.backward_calls,
                  "scored_units": tree.stats.scored_units},
        "html": run.relative(folder / "tree.html"),
        "sanity": None,
    }


def run(model: Model | str, data: str | Path | torch.Tensor, settings: ComposeSettings | None = None,
        out: str | Path | None = None, progress: bool = True) -> ComposeResult:
    """Build, draw and save the composition tree of the root unit on the image `data`.

    Writes compose/<name>/{tree.json, tree.html, input.png, n<id>_gradient.png, n<id>_patch.png}
    under `out` (default runs/<model>) and adds the tree to the run's manifest.
    """
    settings = settings or ComposeSettings()
    model = load_model(model) if isinstance(model, str) else model
    delegate("compose", model, data, settings, out, progress)  # other inputs: refused in one line
    progress = progress and sys.stderr.isatty()
    image = prepare_image(model, data)
    layers = check_layers(model, list(settings.layers) or default_layers(model))
    root_layer, root_channel, layers = resolve_root(model, settings.root, layers, image)
    tree = grow_tree(model, image, layers, (root_layer, root_channel), settings, progress)

    run_dir = RunDir(default_out(out, model.name))
    folder = run_dir.path / "compose" / (settings.name or default_name(data))
    size = model.input_spec.size
    boxes = [patch_box(model, n.layer, p, size) for n, p in zip(tree.nodes, tree.positions, strict=True)]
    write_images(folder, image.cpu(), tree.nodes, tree.gradients.cpu(), boxes)
    result = tree_json(model, data, settings, run_dir, folder, layers, tree, boxes)
    if settings.sanity:
        result["sanity"] = sanity_check(model, image, root_layer, root_channel,
                                        layers[-SANITY_TOP_LAYERS:])
    write_html(folder, result)
    run_dir.add_to("compose", "trees", write_tree_json(run_dir, folder, result), model=model.name)
    return ComposeResult(run_dir.path, result, settings, files_under(folder))


def _label(model: Model, root_layer: str, channel: int) -> str | None:
    """The class name when the root is in the output layer of a model that has class names."""
    names = model.class_names
    last = model.layer_names[-1] if model.layer_names else None
    if names and root_layer == last and channel < len(names):
        return str(names[channel])
    return None
