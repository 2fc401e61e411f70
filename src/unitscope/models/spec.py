"""What a loaded model carries besides its weights: input size and normalization, layer names."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .. import devices
from ..errors import BadInputError, BadUnitError, unknown_layer
from ..units import Unit, parse_units
from .tracing import layer_shapes


@dataclass(frozen=True)
class InputSpec:
    """The input the model expects: square size in pixels and per-channel mean/std of [0, 1] images."""

    size: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Map [0, 1] NCHW images to what the model was trained on."""
        mean, std = _constants(self.mean, self.std, images.device, images.dtype)
        return (images - mean) / std


@functools.lru_cache(maxsize=64)
def _constants(mean: tuple, std: tuple, device: torch.device, dtype: torch.dtype
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std as (1, 3, 1, 1) tensors, made once per device and dtype: building them per
    call costs a blocking host-to-GPU copy in every optimization step."""
    def make(values: tuple) -> torch.Tensor:
        return torch.tensor(values, dtype=dtype).view(1, 3, 1, 1).to(device)

    with torch.inference_mode(False):  # usable later under autograd, even if first made in a scan
        return make(mean), make(std)


@dataclass
class Model:
    """An `nn.Module` in eval mode with its `InputSpec`, hookable layer names and class names."""

    module: nn.Module
    input_spec: InputSpec
    name: str
    layer_names: list[str]
    class_names: list[str] | None = None
    _channels: dict[str, int] = field(default_factory=dict, repr=False)
    source: dict[str, Any] | None = field(default=None, repr=False)  # ModelSource fields, to load it again

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Forward [0, 1] images (normalized here, never by the caller)."""
        return self.module(self.input_spec.normalize(images))

    def check_layer(self, layer: str) -> str:
        """Return `layer` if it is a module of the model, else raise listing the closest names."""
        if layer not in self.layer_names:
            raise unknown_layer(layer, self.layer_names)
        return layer

    def channel_count(self, layer: str) -> int:
        """Channels (dim 1) of a layer's output, found with one dummy forward and cached."""
        self.check_layer(layer)
        if layer not in self._channels:
            for name, shape in layer_shapes(self, [layer]).items():
                self._channels[name] = shape[1] if len(shape) > 1 else 1
        return self._channels[layer]

    def check_input_size(self, size: int, flag: str = "--size", fed: int | None = None,
                         forward: Callable[[torch.Tensor], Any] | None = None) -> None:
        """Refuse `size` px inputs the network cannot take (a kernel larger than its input fails deep
        inside torch), in one line naming the smallest size that works; one forward when it works.
        `forward` runs normalized inputs (default: the whole model; visualize passes its truncated
        forward); `fed` is the smallest side actually fed when it differs from `size`."""
        run = forward or self.module
        fed = size if fed is None else fed
        error = self._fails_at(fed, run)
        if error is None:
            return
        top = max(self.input_spec.size, size, fed) * 2
        if self._fails_at(top, run) is not None:
            raise BadInputError(f"{self.name} fails on {fed}px inputs: {error}")
        lo, hi = fed, top  # fails at lo, works at hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if self._fails_at(mid, run) is None else (mid, hi)
        raise BadInputError(f"{flag} {size} is too small for {self.name}: a {fed}px input fails ({error}); "
                            f"use {flag} {hi + size - fed} or more")

    def _fails_at(self, size: int, run: Callable[[torch.Tensor], Any]) -> str | None:
        """None if a one-image forward at `size` px works, else the first line of its error."""
        try:
            with torch.no_grad():
                run(self.input_spec.normalize(self.example_input(1, size)))
        except RuntimeError as exc:
            return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        return None

    def check_unit(self, unit: Unit | str) -> Unit:
        """Validate a unit address against the model: known layer, channels in range (each range
        checked by its ends, before anything expands it: conv1:0-99999999999 must not fill memory)."""
        unit = Unit.parse(unit) if isinstance(unit, str) else unit
        self.check_layer(unit.layer)
        unit.check_channels(self.channel_count(unit.layer))
        return unit

    def units(self, unit: Unit | str) -> list[Unit]:
        """Expand an address into validated single-channel units."""
        unit = self.check_unit(unit)
        return unit.expand(self.channel_count(unit.layer))

    def expand(self, units: str | Unit | Sequence[str | Unit]) -> list[Unit]:
        """Every single-channel unit of several addresses ('conv5 fc8:0-3'), in order, each once."""
        if isinstance(units, (str, Unit)):
            units = parse_units(units) if isinstance(units, str) else [units]
        if not units:
            raise BadUnitError("no units given; write e.g. conv5:0-7 or conv5")
        found: dict[str, Unit] = {}
        for spec in units:
            for unit in self.units(spec):
                found.setdefault(str(unit), unit)
        return list(found.values())

    @property
    def device(self) -> torch.device:
        """Where the weights live: every verb moves its inputs here (CPU for a weightless model)."""
        param = next(self.module.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    def to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor` (inputs built on the CPU) on the model's device: the one way verbs move data."""
        return devices.to_device(tensor, self.device)

    def example_input(self, batch: int = 1, size: int | None = None) -> torch.Tensor:
        """A mid-gray batch at the model's input size, for shape discovery."""
        size = size or self.input_spec.size
        return self.to_device(torch.full((batch, 3, size, size), 0.5))
