"""`compose_tree`: one image, one root unit -> tree.json, node PNGs and tree.html in a run dir."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ..attribution import check_rule, max_position
from ..errors import BadInputError
from ..imageio import load_image
from ..models import Model, load_model
from ..run import RunDir
from .faithfulness import Ablation, ablation_drops
from .html import write_html
from .layers import check_layers, default_layers, resolve_root
from .output import node_record, patch_box, write_images, write_tree_json
from .paths import path_images
from .sanity import sanity_check
from .score import record
from .tree import Node, build_tree, path_to

SANITY_TOP_LAYERS = 3


def prepare_image(model: Model, image: str | Path | torch.Tensor) -> torch.Tensor:
    """A 3xSxS [0, 1] tensor at the model's input size, on the model's device."""
    size = model.input_spec.size
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise BadInputError(f"image tensor must be 3xHxW in [0, 1], got {tuple(image.shape)}")
        tensor = image.detach().float()
        if tuple(tensor.shape[1:]) != (size, size):
            tensor = F.interpolate(tensor[None], size=(size, size), mode="bilinear",
                                   align_corners=False, antialias=True)[0].clamp(0, 1)
    else:
        tensor = load_image(image, size)
    device = next(model.module.parameters()).device
    return tensor.to(device)


def default_name(image: str | Path | torch.Tensor) -> str:
    """The image's file stem (or 'image'), made safe for a folder name."""
    stem = "image" if isinstance(image, torch.Tensor) else Path(image).stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._") or "image"


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


def compose_tree(
    model: Model | str,
    image: str | Path | torch.Tensor,
    out: str | Path,
    root: str | None = None,
    layers: Sequence[str] | None = None,
    k: int = 5,
    max_nodes: int = 100,
    rule: str = "gradient",
    name: str | None = None,
    progress: bool = True,
    batch: int = 32,
    sanity: bool = True,
) -> dict:
    """Build, draw and save the composition tree of `root` (default '<last layer>:auto').

    Writes compose/<name>/{tree.json, tree.html, input.png, n<id>_gradient.png,
    n<id>_patch.png} under `out` and adds the tree to the run's manifest; returns tree.json.
    """
    model = load_model(model) if isinstance(model, str) else model
    progress = progress and sys.stderr.isatty()
    check_rule(rule)
    if k < 1 or max_nodes < 1:
        raise BadInputError(f"--k and --max-nodes must be at least 1 (got {k}, {max_nodes})")
    tensor = prepare_image(model, image)
    layers = check_layers(model, list(layers) if layers else default_layers(model))
    root_layer, root_channel, layers = resolve_root(model, root, layers, tensor)

    acts = record(model, tensor, layers)
    nodes, stats = build_tree(acts, layers, root_layer, root_channel, k, max_nodes,
                              batch=min(batch, 16), progress=progress)
    positions = node_positions(acts, nodes)
    del acts
    attach_faithfulness(model, tensor, nodes, batch)
    paths = [path_to(nodes, n) for n in nodes]
    gradients = path_images(model, tensor, root_layer, root_channel, paths, rule, batch, progress)

    run = RunDir(out)
    name = name or default_name(image)
    folder = run.path / "compose" / name
    size = model.input_spec.size
    boxes = [patch_box(model, n.layer, p, size) for n, p in zip(nodes, positions, strict=True)]
    write_images(folder, tensor.cpu(), nodes, gradients.cpu(), boxes)

    data = {
        "model": model.name, "image": run.relative(folder / "input.png"),
        "source": str(image) if not isinstance(image, torch.Tensor) else None,
        "root": f"{root_layer}:{root_channel}", "root_label": _label(model, root_layer, root_channel),
        "rule": rule, "k": k, "max_nodes": max_nodes, "layers": layers,
        "score": "sum over positions of grad * act (plain gradient), f = sum of the parent map",
        "share": "product of edges; edge = child score / parent's total positive contribution",
        "nodes": [node_record(n, run, folder, p, b)
                  for n, p, b in zip(nodes, positions, boxes, strict=True)],
        "stats": {"nodes": len(nodes), "expansions": stats.expansions,
                  "score_backward_calls": stats.backward_calls,
                  "scored_units": stats.scored_units},
        "html": run.relative(folder / "tree.html"),
        "sanity": None,
    }
    if sanity:
        top = layers[-SANITY_TOP_LAYERS:]
        data["sanity"] = sanity_check(model, tensor, root_layer, root_channel, top)
    write_html(folder, data)
    tree_json = write_tree_json(run, folder, data)
    run.add_to("compose", "trees", tree_json, model=model.name)
    return data


def _label(model: Model, root_layer: str, channel: int) -> str | None:
    """The class name when the root is in the output layer of a model that has class names."""
    names = model.class_names
    last = model.layer_names[-1] if model.layer_names else None
    if names and root_layer == last and channel < len(names):
        return str(names[channel])
    return None
