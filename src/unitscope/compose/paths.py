"""Local visualization paths: the root's gradient pushed down one branch of the tree.

At every tree layer on the way from the root to a node, the gradient is masked to the branch's
chosen channel before it goes further down, then taken all the way to the image. A deep node
is therefore shown where its parent (and grandparent...) fired, not everywhere it could fire.

Many nodes are done in one backward: the image is repeated once per node and tensor hooks on
the recorded activations multiply each copy's gradient by that node's channel mask.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from ..attribution import max_position, relu_rule, seed_like
from ..probe import Probe

Path = Sequence[tuple[str, int]]


def _masks(acts: dict[str, torch.Tensor], paths: Sequence[Path]) -> dict[str, torch.Tensor]:
    """Per layer, a (B, C[, 1, 1]) mask: one-hot on the branch's channel, ones if not on its path."""
    masks = {}
    for layer in {name for path in paths for name, _ in path}:
        act = acts[layer]
        mask = act.new_ones(act.shape[:2])
        for b, path in enumerate(paths):
            for name, channel in path:
                if name == layer:
                    mask[b] = 0.0
                    mask[b, channel] = 1.0
        masks[layer] = mask.view(*mask.shape, *([1] * (act.dim() - 2)))
    return masks


def root_position(model, image: torch.Tensor, root_layer: str, root_channel: int
                  ) -> tuple[int, int] | None:
    """Where a conv root is seeded: its maximum position on this image (None for fc units)."""
    with torch.no_grad(), Probe(model.module, [root_layer]) as probe:
        act = probe(model.input_spec.normalize(image.unsqueeze(0)))[root_layer]
    return max_position(act[0, root_channel]) if act.dim() == 4 else None


def _chunk_images(model, image, root_layer, root_channel, position, paths, rule):
    x = image.unsqueeze(0).repeat(len(paths), 1, 1, 1).requires_grad_(True)
    layers = list(dict.fromkeys([root_layer] + [name for p in paths for name, _ in p]))
    with torch.enable_grad(), relu_rule(rule), Probe(model.module, layers) as probe:
        acts = probe(model.input_spec.normalize(x))
    for layer, mask in _masks(acts, paths).items():
        acts[layer].register_hook(lambda grad, mask=mask: grad * mask)
    root = acts[root_layer]
    (grad,) = torch.autograd.grad(root, x, seed_like(root, root_channel, position))
    return grad.detach()


def path_images(model, image: torch.Tensor, root_layer: str, root_channel: int,
                paths: Sequence[Path], rule: str = "gradient", batch: int = 32,
                progress: bool = False) -> torch.Tensor:
    """(N, 3, H, W) signed input gradients, one per path (an empty path is the root itself)."""
    position = root_position(model, image, root_layer, root_channel)
    out = []
    starts = range(0, len(paths), batch)
    for start in tqdm(starts, desc=f"{rule} images", disable=not progress or len(starts) < 2):
        chunk = list(paths[start : start + batch])
        out.append(_chunk_images(model, image, root_layer, root_channel, position, chunk, rule))
    return torch.cat(out) if out else image.new_zeros((0, *image.shape))
