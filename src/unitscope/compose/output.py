"""Writing a tree: input.png, per-node gradient images and receptive-field patches, tree.json.

All paths in tree.json are relative to the run directory (docs/artifacts.md); the PNG bytes
depend only on the pixels, so equal inputs give equal files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import BadInputError
from ..imageio import save_png, to_uint8
from ..receptive_field import receptive_field
from ..rundir import RunDir, write_json_atomic
from .normalize import diverging
from .tree import Node

Position = tuple[int, int] | None


def patch_box(model, layer: str, position: Position, size: int) -> list[int] | None:
    """Input box (x0, y0, x1, y1) around a conv node's maximum; None for fc nodes."""
    if position is None:
        return None
    try:
        field = receptive_field(model, layer, size)
    except BadInputError:
        return None
    return list(field.box(*position))


def node_record(node: Node, run: RunDir, folder: Path, position: Position,
                box: list[int] | None) -> dict:
    """The JSON entry of one node (the contract's keys plus a few more)."""
    return {
        "id": node.id, "parent": node.parent, "unit": node.unit, "layer": node.layer,
        "channel": node.channel, "depth": node.depth, "score": node.score, "edge": node.edge,
        "share": node.share, "activation": node.activation, "coverage": node.coverage,
        "ablation_drop": node.ablation_drop, "children": list(node.children),
        "positive_total": node.positive_total, "expanded": node.expanded,
        "inhibitory": [{"unit": f"{u_layer}:{c}", "score": s} for u_layer, c, s in
                       _inhibitory(node)],
        "position": list(position) if position is not None else None, "box": box,
        "images": {
            "gradient": run.relative(folder / f"n{node.id}_gradient.png"),
            "patch": run.relative(folder / f"n{node.id}_patch.png"),
        },
    }


def _inhibitory(node: Node) -> list[tuple[str, int, float]]:
    return [(node.child_layer or "", c, s) for c, s in node.inhibitory]


def write_images(folder: Path, image: torch.Tensor, nodes: list[Node],
                 gradients: torch.Tensor, boxes: list[list[int] | None]) -> None:
    """input.png, n<id>_gradient.png (diverging, robustly scaled) and n<id>_patch.png."""
    pixels = to_uint8(image)  # HxWx3, converted once
    save_png(pixels, folder / "input.png")
    maps = gradients.detach().float().sum(1).cpu().numpy()  # signed NxHxW, one conversion
    for node, signed, box in zip(nodes, maps, boxes, strict=True):
        save_png(diverging(signed), folder / f"n{node.id}_gradient.png")
        x0, y0, x1, y1 = box if box is not None else (0, 0, pixels.shape[1], pixels.shape[0])
        save_png(np.ascontiguousarray(pixels[y0:y1, x0:x1]), folder / f"n{node.id}_patch.png")


def write_tree_json(run: RunDir, folder: Path, data: dict) -> str:
    """Write tree.json and return its path relative to the run dir."""
    path = folder / "tree.json"
    write_json_atomic(path, data)
    return run.relative(path)
