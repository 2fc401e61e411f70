"""How a layer's output holds its channels and positions, decided once per layer from its shape.

Every verb reads a layer as a map `[B, C, H, W]` (channels x positions) or a vector `[B, C]`.
Convolutional layers already are maps; a transformer's tokens `[B, N, C]` are its patch grid
(class, distillation and register tokens set apart), and channels-last maps `[B, H, W, C]` (timm
Swin stages, the inside of ConvNeXt and Swin blocks) are permuted. Inputs are square, so a map's
two spatial sides are equal: that tells `[B, C, H, W]` from `[B, H, W, C]`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import nn

MAP, TOKENS, CHANNELS_LAST, VECTOR, OTHER = "map", "tokens", "channels_last", "vector", "other"
SEQUENCE = "sequence"  # [B, T, C] of a text model: C channels at each of T positions
MAX_PREFIX = 8  # class + distillation + register tokens a ViT may put before its patches


@dataclass(frozen=True)
class Layout:
    """A layer's kind, its channel count, its position grid (H, W) and its leading extra tokens."""

    kind: str
    channels: int
    grid: tuple[int, int] | None = None
    prefix: int = 0
    unreadable: str = ""  # why no verb can read it as units (attention heads, Swin's windows)

    def to_map(self, out: torch.Tensor) -> torch.Tensor:
        """The output as [B, C, H, W] (a vector stays [B, C]); differentiable, no copy for maps."""
        if self.kind == TOKENS:
            patches = out[:, self.prefix:, :]
            return patches.transpose(1, 2).reshape(out.shape[0], self.channels, *self.grid)
        if self.kind == CHANNELS_LAST:
            return out.permute(0, 3, 1, 2)
        if self.kind == SEQUENCE:
            return out.transpose(1, 2)
        return out

    def from_map(self, as_map: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The module's output rebuilt from its map (a new tensor), so that what runs after the
        layer depends on the recorded map: gradients with respect to the map then exist."""
        if self.kind == TOKENS:
            patches = as_map.flatten(2).transpose(1, 2)
            return torch.cat([out[:, :self.prefix, :], patches], 1)
        if self.kind == CHANNELS_LAST:
            return as_map.permute(0, 2, 3, 1).clone()
        if self.kind == SEQUENCE:
            return as_map.transpose(1, 2).clone()
        return as_map.clone()

    def prefix_tokens(self, out: torch.Tensor) -> torch.Tensor:
        """The tokens before the patch grid as [B, C, P] (P = 0 for layers that have none)."""
        if self.kind != TOKENS:
            return out.new_zeros(out.shape[0], self.channels, 0)
        return out[:, :self.prefix, :].transpose(1, 2)

    def positions(self) -> str:
        """'14x14' for a map, '14x14 tokens +1 cls' for a ViT block, '-' for a vector."""
        if self.unreadable:
            return "none (not per image)"
        if self.kind == SEQUENCE:
            return f"{self.grid[1]} characters"
        if self.grid is None:
            return "-"
        grid = f"{self.grid[0]}x{self.grid[1]}"
        if self.kind == TOKENS:
            return f"{grid} tokens" + (f" +{self.prefix} cls" if self.prefix else "")
        return f"{grid} channels-last" if self.kind == CHANNELS_LAST else grid


@functools.lru_cache(maxsize=1024)
def layout_of(shape: tuple[int, ...], prefix_hint: int | None = None, batch: int | None = None) -> Layout:
    """The layout of a raw output `shape` (batch first) of a square-input model fed `batch`
    images (cached: probes ask for every call). Tensors that are not one row per image (Swin's
    windows) or whose sides are not square (attention heads [B, heads, N, d]) are `OTHER`."""
    if batch is not None and shape and shape[0] != batch:
        return Layout(OTHER, shape[-1], unreadable=f"has {shape[0]} rows for {batch} image(s) (windows)")
    if len(shape) == 4:
        _, a, h, w = shape
        if h == w:
            return Layout(MAP, a, (h, w))
        if a == h:  # [B, H, W, C]: the square sides come first
            return Layout(CHANNELS_LAST, w, (a, h))
        return Layout(OTHER, a, unreadable="is not a square map (attention heads [B, heads, N, d]?)")
    if len(shape) == 3:
        tokens, channels = shape[1], shape[2]
        prefix = _prefix(tokens, prefix_hint)
        if prefix is not None:
            side = math.isqrt(tokens - prefix)
            return Layout(TOKENS, channels, (side, side), prefix)
        return Layout(OTHER, shape[1])
    if len(shape) == 2:
        return Layout(VECTOR, shape[1])
    return Layout(OTHER, shape[1] if len(shape) > 1 else 1)


def sequence_layout(shape: tuple[int, ...]) -> Layout:
    """The layout of a text model's output: [B, T, C] is C channels at T positions (never a
    patch grid, even when T is a square), [B, C] a vector."""
    if len(shape) == 3:
        return Layout(SEQUENCE, shape[2], (1, shape[1]))
    return layout_of(shape)


def _prefix(tokens: int, hint: int | None) -> int | None:
    """How many leading tokens are not patches: the model's own count when its patches then make
    a square, else the fewest that leave a square grid."""
    candidates = ([hint] if hint is not None else []) + list(range(MAX_PREFIX + 1))
    for prefix in candidates:
        rest = tokens - prefix
        if rest > 0 and math.isqrt(rest) ** 2 == rest:
            return prefix
    return None


def prefix_hint(module: nn.Module) -> int | None:
    """Leading non-patch tokens the model declares: timm's `num_prefix_tokens`, else its class,
    distillation and register token parameters (torchvision's `class_token`, HF's `cls_token`)."""
    declared = getattr(module, "num_prefix_tokens", None)
    if isinstance(declared, int):
        return declared
    count = 0
    for name, param in module.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("class_token", "cls_token", "dist_token", "distillation_token") and param.dim() == 3:
            count += param.shape[1]
        elif leaf in ("register_tokens", "reg_token") and param.dim() == 3:
            count += param.shape[1]
    return count or None
