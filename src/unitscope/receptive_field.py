"""Receptive fields computed from the network itself, not guessed from layer names.

A geometric copy of the model (conv weights all ones, no biases, ReLU and BatchNorm as identity,
max-pools as average pools of the same shape) has no cancellation and no dead paths, so the
nonzero support of the input gradient of one output position is exactly its receptive field.
Works for any graph (ResNet skips included) whose spatial ops are modules. Adaptive pools are
measured as if the input were larger when a field outgrows the image, so boxes of layers after
an adaptive pool are approximate.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .errors import BadInputError
from .models.layout import layout_of, prefix_hint
from .models.spec import Model
from .probe import Probe

_POOLS = {
    nn.MaxPool2d: lambda m: nn.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode),
    nn.AdaptiveMaxPool2d: lambda m: nn.AdaptiveAvgPool2d(m.output_size),
}
_IDENTITY = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Dropout, nn.BatchNorm2d,
             nn.Hardswish, nn.Sigmoid, nn.Tanh, nn.LayerNorm, nn.GroupNorm)  # norms mix channels only


@dataclass(frozen=True)
class ReceptiveField:
    """Where one position of a layer looks in the input: box size, stride and offset in pixels."""

    layer: str
    input_size: int
    size: tuple[int, int]  # (height, width) of the unclipped box
    stride: tuple[int, int]  # (y, x) pixels moved per output position
    offset: tuple[int, int]  # (y0, x0) of the box of position (0, 0), may be negative
    map_size: tuple[int, int]  # (H, W) of the layer's output

    def box(self, x: int, y: int) -> tuple[int, int, int, int]:
        """Input box (x0, y0, x1, y1), end exclusive, clipped to the image, for position (x, y)."""
        y0 = self.offset[0] + y * self.stride[0]
        x0 = self.offset[1] + x * self.stride[1]
        y1, x1 = y0 + self.size[0], x0 + self.size[1]
        n = self.input_size
        return max(x0, 0), max(y0, 0), min(x1, n), min(y1, n)


_CACHE: dict[tuple[int, str, int], ReceptiveField] = {}


def receptive_field(model: Model, layer: str, size: int | None = None) -> ReceptiveField:
    """Receptive field of `layer` at input `size` (the model's own by default); cached."""
    model.check_layer(layer)
    size = size or model.input_spec.size
    key = (id(model.module), layer, size)
    if key not in _CACHE:
        grows = not model.fixed_size  # a ViT takes one size: measure there, never on larger inputs
        _CACHE[key] = _measure(model.module, layer, size, grows, prefix_hint(model.module))
    return _CACHE[key]


class _SumConv(nn.Module):
    """A conv reduced to its geometry: sum the channels, then one all-ones kernel, one channel.

    Channel counts stop mattering, so fields of large inputs cost almost nothing to measure.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.kernel_size, self.stride = conv.kernel_size, conv.stride
        self.padding, self.dilation = conv.padding, conv.dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = torch.ones(1, 1, *self.kernel_size, dtype=x.dtype, device=x.device)
        return F.conv2d(x.sum(1, keepdim=True), kernel, None, self.stride, self.padding,
                        self.dilation)


class _SumLinear(nn.Module):
    """A linear layer that accepts any width (after channel collapse): sums, then broadcasts."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.out_features = linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(-1, keepdim=True).expand(*x.shape[:-1], self.out_features)


def _geometric_copy(module: nn.Module, one_channel: bool = True) -> nn.Module:
    """The model with every op that could cancel or block a gradient made geometric."""
    geo = copy.deepcopy(module).float().cpu().eval()
    for name, child in list(geo.named_modules()):
        replacement = None
        if type(child) in _POOLS:
            replacement = _POOLS[type(child)](child)
        elif isinstance(child, _IDENTITY):
            replacement = nn.Identity()
        elif one_channel and isinstance(child, nn.Conv2d) and isinstance(child.padding, tuple):
            replacement = _SumConv(child)
        elif one_channel and isinstance(child, nn.Linear):
            replacement = _SumLinear(child)
        if replacement is not None and name:
            parent_name, _, attr = name.rpartition(".")
            parent = geo.get_submodule(parent_name) if parent_name else geo
            setattr(parent, attr, replacement)
    with torch.no_grad():
        for child in geo.modules():
            if isinstance(child, (nn.Conv2d, nn.Linear)):
                child.weight.fill_(1.0)
                if child.bias is not None:
                    child.bias.zero_()
    return geo


def _supports(
    geo: nn.Module, layer: str, size: int, points: list[tuple[int, int]], hint: int | None
) -> list[tuple[int, int, int, int]]:
    """Nonzero input-gradient boxes (y0, x0, y1, x1) of several (y, x) positions, one backward."""
    image = torch.ones(len(points), 3, size, size, requires_grad=True)
    with _probe(geo, layer, hint) as probe:
        act = probe(image)[layer]
    if act.dim() != 4:
        raise BadInputError(f"layer '{layer}' has no spatial map, so it has no receptive field box")
    seed = torch.zeros_like(act)
    for i, (y, x) in enumerate(points):
        seed[i, :, y, x] = 1.0
    (grad,) = torch.autograd.grad(act, image, seed)
    boxes = []
    for i in range(len(points)):
        nz = grad[i].abs().sum(0).nonzero()
        boxes.append((int(nz[:, 0].min()), int(nz[:, 1].min()),
                      int(nz[:, 0].max()) + 1, int(nz[:, 1].max()) + 1))
    return boxes


def _probe(geo: nn.Module, layer: str, hint: int | None) -> Probe:
    """A probe reading `layer` as a map (a token layer's patch grid)."""
    probe = Probe(geo, [layer])
    probe.transform = lambda _name, out: layout_of(tuple(out.shape), hint, probe.batch).to_map(out)
    return probe


def _map_shape(geo: nn.Module, layer: str, size: int, hint: int | None) -> tuple[int, ...]:
    with torch.no_grad(), _probe(geo, layer, hint) as probe:
        shape = tuple(probe(torch.ones(1, 3, size, size))[layer].shape)
    if len(shape) != 4:
        raise BadInputError(f"layer '{layer}' has no spatial map, so it has no receptive field box")
    return shape


def _measure(module: nn.Module, layer: str, size: int, grows: bool, hint: int | None) -> ReceptiveField:
    """Fields of a geometric copy; channel-collapsed when the graph allows (much faster)."""
    try:
        return _measure_with(_geometric_copy(module, one_channel=True), layer, size, grows, hint)
    except BadInputError:
        raise
    except Exception:  # noqa: BLE001 - channel-specific ops (concat, SE, class tokens): full width
        return _measure_with(_geometric_copy(module, one_channel=False), layer, size, grows, hint)


def _measure_with(geo: nn.Module, layer: str, size: int, grows: bool, hint: int | None) -> ReceptiveField:
    """Boxes of two neighbouring positions give size and stride; inputs grow until unclipped
    (where the model takes other sizes)."""
    height, width = _map_shape(geo, layer, size, hint)[2:]
    for scale in (1, 2, 4, 8) if grows else (1,):
        big = size * scale
        bh, bw = _map_shape(geo, layer, big, hint)[2:] if scale > 1 else (height, width)
        cy, cx = bh // 2, bw // 2
        if cy < 1 or cx < 1:
            continue
        a, b = _supports(geo, layer, big, [(cy, cx), (cy - 1, cx - 1)], hint)
        if min(a[0], a[1], b[0], b[1]) > 0 and max(a[2], a[3], b[2], b[3]) < big:
            stride = (a[0] - b[0], a[1] - b[1])
            offset = (a[0] - cy * stride[0], a[1] - cx * stride[1])
            return ReceptiveField(layer, size, (a[2] - a[0], a[3] - a[1]), stride, offset,
                                  (height, width))
    # The field covers more than any input tried: every position sees the whole image.
    return ReceptiveField(layer, size, (size, size), (0, 0), (0, 0), (height, width))
