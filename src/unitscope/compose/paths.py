"""Local visualization paths: the root's gradient pushed down one branch of the tree.

At every tree layer on the way from the root to a node, the gradient is masked to the branch's
chosen channel before it goes further down, then taken all the way to the image. A deep node
is therefore shown where its parent (and grandparent...) fired, not everywhere it could fire.

Default: the image is repeated once per node and tensor hooks on the recorded activations
multiply each copy's gradient by that node's channel mask, one forward+backward per chunk of
nodes. Option `chained=True` (only valid when the tree layers cut the graph, as in chains and
ResNet stage outputs; `chained=None` checks that once): one recorded forward, each node's masked
gradient is its parent's pushed one segment down and masked (branches share prefixes), then
batched VJPs from each node's layer to the image. It does less arithmetic, but on CPU the
vmapped conv backward misses the oneDNN kernels and measured ~2x slower on resnet18, hence
not the default.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from ..attribution import max_position, seed_like
from .forward import forward
from .vjp import batched_vjp

Path = Sequence[tuple[str, int]]
_CUTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _channel_mask(grad: torch.Tensor, channel: int) -> torch.Tensor:
    """`grad` (1, C, ...) with every channel but `channel` zeroed."""
    masked = torch.zeros_like(grad)
    masked[:, channel] = grad[:, channel]
    return masked


def _layer_order(paths: Sequence[Path]) -> list[str]:
    """Tree layers below the root, top first (the k-th step of every path is at layer k)."""
    longest = max(paths, key=len, default=[])
    return [layer for layer, _ in longest]


def _is_cut(model, x, acts, root_layer: str, order: list[str], seed: torch.Tensor) -> bool:
    """True when chaining through `order` gives the same input gradient as going direct."""
    key = (root_layer, tuple(order), tuple(x.shape))
    cache = _CUTS.setdefault(model.module, {})
    if key not in cache:
        (direct,) = torch.autograd.grad(acts[root_layer], x, seed, retain_graph=True)
        grad, above = seed, root_layer
        for layer in order:
            (grad,) = torch.autograd.grad(acts[above], acts[layer], grad, retain_graph=True)
            above = layer
        (chained,) = torch.autograd.grad(acts[above], x, grad, retain_graph=True)
        scale = float(direct.abs().max()) or 1.0
        cache[key] = bool(torch.allclose(chained, direct, rtol=1e-3, atol=1e-4 * scale))
    return cache[key]


def _chained(x, acts, root_layer, order, seed, paths, batch, progress):
    """Masked gradient per path prefix, one segment at a time, then each to the image."""
    layer_of = [root_layer, *order]
    masked: dict[tuple, torch.Tensor] = {(): seed}
    prefixes = sorted({tuple(p[:i]) for p in paths for i in range(1, len(p) + 1)}, key=len)
    for depth in range(1, len(layer_of)):
        level = [p for p in prefixes if len(p) == depth]
        parents = list(dict.fromkeys(p[:-1] for p in level))
        if not parents:
            continue
        stacked = torch.stack([masked[p] for p in parents])
        pushed = batched_vjp(acts[layer_of[depth - 1]], acts[layer_of[depth]], stacked, batch)
        below = dict(zip(parents, pushed, strict=True))
        for prefix in level:
            masked[prefix] = _channel_mask(below[prefix[:-1]], prefix[-1][1])
    keys = [tuple(p) for p in paths]
    images: dict[tuple, torch.Tensor] = {}
    depths = sorted({len(k) for k in keys})
    for depth in tqdm(depths, desc="node images", disable=not progress):
        level = list(dict.fromkeys(k for k in keys if len(k) == depth))
        stacked = torch.stack([masked[k] for k in level])
        grads = batched_vjp(acts[layer_of[depth]], x, stacked, batch)
        images.update({k: g[0] for k, g in zip(level, grads, strict=True)})
    return torch.stack([images[k] for k in keys]).detach()


def _hook_masks(acts: dict[str, torch.Tensor], paths: Sequence[Path]) -> dict[str, torch.Tensor]:
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


def _hooked_chunk(model, image, root_layer, root_channel, position, paths, rule):
    """General graphs: one copy of the image per path, gradients masked by tensor hooks."""
    layers = list(dict.fromkeys([root_layer] + [name for p in paths for name, _ in p]))
    x, acts = forward(model, image.unsqueeze(0).repeat(len(paths), 1, 1, 1), layers, rule)
    for layer, mask in _hook_masks(acts, paths).items():
        acts[layer].register_hook(lambda grad, mask=mask: grad * mask)
    root = acts[root_layer]
    (grad,) = torch.autograd.grad(root, x, seed_like(root, root_channel, position))
    return grad.detach()


def path_images(model, image: torch.Tensor, root_layer: str, root_channel: int,
                paths: Sequence[Path], rule: str = "gradient", batch: int = 32,
                progress: bool = False, chained: bool | None = False) -> torch.Tensor:
    """(N, 3, H, W) signed input gradients, one per path (an empty path is the root itself).

    `chained`: False (default) hooks on repeated copies; True the shared-prefix VJP chain;
    None the chain when the tree layers cut the graph (checked once), else hooks.
    """
    if not paths:
        return image.new_zeros((0, *image.shape))
    order = _layer_order(paths)
    x, acts = forward(model, image.unsqueeze(0), [root_layer, *order], rule)
    root = acts[root_layer]
    position = max_position(root[0, root_channel].detach()) if root.dim() == 4 else None
    seed = seed_like(root, root_channel, position)
    if chained is None:
        chained = not order or _is_cut(model, x, acts, root_layer, order, seed)
    if chained:
        return _chained(x, acts, root_layer, order, seed, paths, batch, progress)
    del x, acts, seed
    out = []
    starts = range(0, len(paths), batch)
    for start in tqdm(starts, desc=f"{rule} images", disable=not progress or len(starts) < 2):
        chunk = list(paths[start : start + batch])
        out.append(_hooked_chunk(model, image, root_layer, root_channel, position, chunk, rule))
    return torch.cat(out)
