"""Objectives: small composable functions of recorded activations, each naming what it reads.

An objective maps `{layer: activation}` (plus the model output) to one value per batch element,
to be maximized. Element i may target its own unit (pass a sequence of channels), so a batch
renders many units at once. Objectives compose with `+ - *` and unary `-`; a composite reads
the union of its parts' layers, which is all the runner hooks (captum's optim design).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import torch

from ..errors import BadInputError

OUTPUT = "<output>"
"""Pseudo-layer name for the model's final output (needs the full forward)."""

Acts = dict[str, torch.Tensor]
Index = int | Sequence[int] | torch.Tensor


class Objective:
    """A function `acts -> [N]` values to maximize, with the layers it reads and a name."""

    def __init__(
        self,
        fn: Callable[[Acts], torch.Tensor],
        layers: Sequence[str],
        name: str,
        batch: int | None = None,
    ) -> None:
        self.fn = fn
        self.layers = tuple(dict.fromkeys(layers))
        self.name = name
        self.batch = batch  # the batch size it was built for, when it targets one unit per element

    def __call__(self, acts: Acts) -> torch.Tensor:
        missing = [name for name in self.layers if name not in acts]
        if missing:
            raise KeyError(f"objective '{self.name}' needs layers {missing} that were not recorded")
        return self.fn(acts)

    @property
    def needs_output(self) -> bool:
        """True when the full forward must run (class logits read the model output)."""
        return OUTPUT in self.layers

    @property
    def modules(self) -> list[str]:
        """The named modules to hook (the model output is not a module)."""
        return [name for name in self.layers if name != OUTPUT]

    def __repr__(self) -> str:
        return f"Objective({self.name})"

    def __add__(self, other: Objective | float) -> Objective:
        return _combine(self, other, torch.add, "+")

    def __radd__(self, other: float) -> Objective:
        return _combine(self, other, torch.add, "+")

    def __sub__(self, other: Objective | float) -> Objective:
        return _combine(self, other, torch.sub, "-")

    def __rsub__(self, other: float) -> Objective:
        return _combine(-self, other, torch.add, "+")

    def __mul__(self, other: Objective | float | torch.Tensor) -> Objective:
        return _combine(self, other, torch.mul, "*")

    def __rmul__(self, other: float | torch.Tensor) -> Objective:
        return _combine(self, other, torch.mul, "*")

    def __neg__(self) -> Objective:
        return Objective(lambda acts: -self.fn(acts), self.layers, f"-({self.name})", self.batch)


def _combine(a: Objective, b: Objective | float | torch.Tensor, op, sym: str) -> Objective:
    """A composite of an objective with another objective, a scalar or a per-element tensor."""
    if isinstance(b, Objective):
        return Objective(lambda acts: op(a.fn(acts), b.fn(acts)), a.layers + b.layers,
                         f"{a.name} {sym} {b.name}", a.batch or b.batch)
    if isinstance(b, torch.Tensor):
        label = f"tensor{tuple(b.shape)}"
        batch = a.batch or (b.numel() if b.dim() == 1 and b.numel() > 1 else None)
        moved: dict[torch.device, torch.Tensor] = {}  # one copy per device, not one per step
        return Objective(lambda acts: op(a.fn(acts), _on(b, _device(acts), moved)), a.layers,
                         f"{a.name} {sym} {label}", batch)
    if isinstance(b, (int, float)):
        return Objective(lambda acts: op(a.fn(acts), float(b)), a.layers,
                         f"{a.name} {sym} {b:g}", a.batch)
    return NotImplemented


def _device(acts: Acts) -> torch.device:
    return next(iter(acts.values())).device


def _on(tensor: torch.Tensor, device: torch.device, moved: dict[torch.device, torch.Tensor]) -> torch.Tensor:
    """`tensor` on `device`, copied there once: a copy to a GPU in every step would block it."""
    if device not in moved:
        moved[device] = tensor.to(device)
    return moved[device]


def _index(channels: Index, n: int, device: torch.device) -> torch.Tensor:
    """Per-element channel indices: one int for all elements, or one per element."""
    key = tuple(torch.as_tensor(channels).reshape(-1).tolist())
    idx = _indices(key, device)
    if idx.numel() == 1:
        return idx.expand(n)
    if idx.numel() != n:
        raise BadInputError(f"objective has {idx.numel()} per-element channels but the batch has {n}")
    return idx


@functools.lru_cache(maxsize=256)
def _indices(channels: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Channel indices as a tensor on `device`, made once (see `_on`)."""
    with torch.inference_mode(False):
        return torch.tensor(channels, dtype=torch.long, device=device)


def _batch(channels: Index) -> int | None:
    """The batch size implied by per-element channels (None for one shared channel)."""
    if isinstance(channels, int):
        return None
    n = torch.as_tensor(channels).numel()
    return n if n > 1 else None


def _label(channels: Index) -> str:
    if isinstance(channels, int):
        return str(channels)
    values = torch.as_tensor(channels).reshape(-1).tolist()
    return ",".join(map(str, values[:4])) + (",..." if len(values) > 4 else "")


def _picked(act: torch.Tensor, channels: Index) -> torch.Tensor:
    """act[i, c_i] for each element i (shape [N] or [N, H, W]), in fp32."""
    n = act.shape[0]
    idx = _index(channels, n, act.device)
    return act[torch.arange(n, device=act.device), idx].float()


def channel(layer: str, channels: Index) -> Objective:
    """Mean activation of a channel over all positions (a logit for [N, C] layers)."""

    def fn(acts: Acts) -> torch.Tensor:
        picked = _picked(acts[layer], channels)
        return picked.flatten(1).mean(1) if picked.dim() > 1 else picked

    return Objective(fn, [layer], f"channel({layer}:{_label(channels)})", _batch(channels))


def neuron(layer: str, channels: Index, x: int | None = None, y: int | None = None) -> Objective:
    """One position of a channel: column x, row y (the centre `W // 2, H // 2` by default)."""

    def fn(acts: Acts) -> torch.Tensor:
        act = acts[layer]
        if act.dim() != 4:
            raise BadInputError(f"neuron needs a spatial layer; '{layer}' has shape {tuple(act.shape)}")
        height, width = act.shape[2:]
        col = width // 2 if x is None else x
        row = height // 2 if y is None else y
        if not (0 <= col < width and 0 <= row < height):
            raise BadInputError(
                f"neuron position x={col}, y={row} is outside layer '{layer}' ({width}x{height} "
                f"at this image size); use 0 <= x < {width}, 0 <= y < {height}"
            )
        return _picked(act[:, :, row, col], channels)

    where = "" if x is None and y is None else f"@{x},{y}"
    return Objective(fn, [layer], f"neuron({layer}:{_label(channels)}{where})", _batch(channels))


def class_token_key(layer: str) -> str:
    """Where a probe's acts keep a token layer's class tokens [N, C, P] (the patch map is `layer`)."""
    return f"{layer}@cls"


def class_token(layer: str, channels: Index) -> Objective:
    """A feature of a token layer's (first) class token: what the ViT's head reads."""

    def fn(acts: Acts) -> torch.Tensor:
        tokens = acts.get(class_token_key(layer))
        if tokens is None or tokens.shape[-1] == 0:
            raise BadInputError(f"layer '{layer}' has no class token; address a patch (@x,y) or the channel")
        return _picked(tokens[..., 0], channels)

    return Objective(fn, [layer], f"class_token({layer}:{_label(channels)})", _batch(channels))


def layer(name: str) -> Objective:
    """DeepDream: mean squared activation of the whole layer."""
    return Objective(lambda acts: acts[name].float().pow(2).flatten(1).mean(1), [name],
                     f"layer({name})")


def class_logit(classes: Index, layer: str | None = None) -> Objective:
    """A class logit: of the model output by default, or of a named logits layer."""
    source = layer or OUTPUT

    def fn(acts: Acts) -> torch.Tensor:
        return _picked(acts[source].flatten(1), classes)

    return Objective(fn, [source], f"class_logit({_label(classes)})", _batch(classes))


def direction(
    layer: str, vector: torch.Tensor | Sequence[float] | None = None, seed: int = 0
) -> Objective:
    """Mean over positions of the dot product with a direction in channel space.

    `vector` is [C] (shared) or [N, C] (one per element); None draws a random unit vector
    (seeded) once the channel count is known.
    """
    state: dict[str, torch.Tensor] = {}
    if vector is not None:
        state["v"] = torch.as_tensor(vector, dtype=torch.float32)

    def fn(acts: Acts) -> torch.Tensor:
        act = acts[layer].float()
        if "v" not in state:
            gen = torch.Generator().manual_seed(seed)
            v = torch.randn(act.shape[1], generator=gen)
            state["v"] = v / v.norm()
        v = state["v"] = state["v"].to(act.device)  # kept there: one copy, not one per step
        v = v.expand(act.shape[0], -1) if v.dim() == 1 else v
        if v.shape != act.shape[:2]:
            raise BadInputError(
                f"direction has shape {tuple(v.shape)}; layer '{layer}' has {act.shape[1]} channels"
            )
        dots = torch.einsum("nc...,nc->n...", act, v)
        return dots.flatten(1).mean(1) if dots.dim() > 1 else dots

    return Objective(fn, [layer], f"direction({layer})")


def diversity(layer: str, groups: Index | None = None) -> Objective:
    """Minus the mean cosine similarity of an element's Gram matrix to the others in its group.

    Maximizing it pushes the images of one group (variants of one unit) apart in style; with
    `groups=None` the whole batch is one group (Lucid's diversity).
    """

    def fn(acts: Acts) -> torch.Tensor:
        act = acts[layer].float()
        n, c = act.shape[:2]
        flat = act.reshape(n, c, -1)
        grams = torch.bmm(flat, flat.transpose(1, 2)).reshape(n, -1)
        grams = torch.nn.functional.normalize(grams, dim=1, eps=1e-10)
        sims = grams @ grams.T
        ids = torch.zeros(n, dtype=torch.long, device=act.device) if groups is None else \
            _index(groups, n, act.device)
        mask = (ids[:, None] == ids[None, :]) & ~torch.eye(n, dtype=torch.bool, device=act.device)
        count = mask.sum(1).clamp(min=1)
        return -(sims * mask).sum(1) / count

    return Objective(fn, [layer], f"diversity({layer})", None if groups is None else _batch(groups))


def as_objective(obj: Objective | str) -> Objective:
    """Accept an objective or a unit address ('conv5:3' -> channel, 'conv5:3@6,7' -> neuron)."""
    if isinstance(obj, Objective):
        return obj
    from ..units import Unit

    unit = Unit.parse(obj)
    return unit_objective(unit, unit.channels)


def unit_objective(unit, channels: Index | None) -> Objective:
    """The objective of a unit address for `channels` (one per batch element, or shared):
    channel mean, one position (neuron), the class token, or the whole layer."""
    from ..units import CLS

    if unit.position == CLS:
        return class_token(unit.layer, channels)
    if unit.position is not None:
        return neuron(unit.layer, channels, *unit.position)
    if channels is None:
        return layer(unit.layer)
    return channel(unit.layer, channels)
