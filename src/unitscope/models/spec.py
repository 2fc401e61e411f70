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
from ..probe import Probe
from ..units import Unit, parse_units
from .layout import Layout, layout_of, prefix_hint, sequence_layout
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
    _layouts: dict[str, Layout] = field(default_factory=dict, repr=False)
    _fixed_size: bool | None = field(default=None, repr=False)
    source: dict[str, Any] | None = field(default=None, repr=False)  # ModelSource fields, to load it again
    modality: str = "image"  # "image", "tabular" (feature vectors) or "text" (characters): which verbs apply
    data_spec: Any = None  # non-image inputs: a tabular TableSpec or a text Vocabulary (what the input means)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Forward [0, 1] images (normalized here, never by the caller); other inputs as they are."""
        return self.module(self.prepare(images))

    def prepare(self, inputs: torch.Tensor) -> torch.Tensor:
        """What the module is fed: images normalized by the `InputSpec`; feature vectors and
        character ids unchanged (a tabular model standardizes inside itself)."""
        return self.input_spec.normalize(inputs) if self.modality == "image" else inputs

    def layout_of(self, shape: tuple[int, ...], batch: int | None) -> Layout:
        """A raw output shape's layout; [B, T, C] is a character sequence in a text model."""
        if self.modality == "text":
            return sequence_layout(shape)
        return layout_of(shape, self._prefix_hint, batch)

    @functools.cached_property
    def _prefix_hint(self) -> int | None:
        """The class/register tokens the module declares (looked up once: probes ask per call)."""
        return prefix_hint(self.module)

    def check_layer(self, layer: str) -> str:
        """Return `layer` if it is a module of the model, else raise listing the closest names."""
        if layer not in self.layer_names:
            raise unknown_layer(layer, self.layer_names)
        return layer

    def layout(self, layer: str) -> Layout:
        """How `layer` holds channels and positions (map, tokens, channels-last, vector), found
        with one dummy forward and cached: every verb reads the layer through it."""
        self.check_layer(layer)
        if layer not in self._layouts:
            for name, shape in layer_shapes(self, [layer], raw=True).items():
                self._layouts[name] = self.layout_of(shape, 1)
        return self._layouts[layer]

    def channel_count(self, layer: str) -> int:
        """Channels of a layer: dim 1 of a convolutional map, the feature dim of tokens."""
        return self.layout(layer).channels

    def probe(self, layers: Sequence[str], stop_early: bool = True) -> Probe:
        """A `Probe` on `layers` that records each as the verbs read it: [B, C, H, W] maps (token
        layers' patch grids, channels-last maps permuted) or [B, C] vectors; a token layer's
        class tokens go to `probe.prefix_tokens`. The layout follows each call's own shape."""
        probe = Probe(self.module, layers, stop_early=stop_early)

        def as_map(name: str, out: torch.Tensor) -> torch.Tensor:
            layout = self.layout_of(tuple(out.shape), probe.batch)
            if layout.prefix:
                probe.prefix_tokens[name] = layout.prefix_tokens(out)
            return layout.to_map(out)

        def from_map(_name: str, as_map: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
            return self.layout_of(tuple(out.shape), probe.batch).from_map(as_map, out)

        probe.transform, probe.rebuild = as_map, from_map
        return probe

    @property
    def fixed_size(self) -> bool:
        """True when the model takes only its own input size (ViTs' position embeddings, Swin's
        windows): checked once with shape-only forwards on the meta device where possible."""
        if self.modality != "image":
            return False
        if self._fixed_size is None:
            size = self.input_spec.size
            other = size + 32
            if self._meta_runs(size):
                self._fixed_size = not self._meta_runs(other)
            else:
                self._fixed_size = self._fails_at(size, self.module) is None and \
                    self._fails_at(other, self.module) is not None
        return self._fixed_size

    def _meta_runs(self, size: int) -> bool:
        """Whether a shape-only forward at `size` px runs (False too when meta is unsupported)."""
        meta = {name: torch.empty_like(t, device="meta")
                for name, t in [*self.module.named_parameters(), *self.module.named_buffers()]}
        try:
            with torch.no_grad():
                torch.func.functional_call(self.module, meta, (torch.empty(1, 3, size, size, device="meta"),))
        except Exception:  # noqa: BLE001 - a size check (assert, ValueError, RuntimeError) or no meta
            return False
        return True

    def default_size(self, size: int | None, fallback: int | None = None) -> int | None:
        """The input size a verb uses: `size` if given (refused in one line when the model takes
        only its own), else the model's own when it fixes one, else `fallback`."""
        if size is not None:
            if self.fixed_size and size != self.input_spec.size:
                raise BadInputError(f"{self.name} takes only {self.input_spec.size}px inputs (its position "
                                    f"embeddings or windows fix the size); use --size {self.input_spec.size}")
            return size
        return self.input_spec.size if self.fixed_size else fallback

    def check_input_size(self, size: int, flag: str = "--size", fed: int | None = None,
                         forward: Callable[[torch.Tensor], Any] | None = None) -> None:
        """Refuse `size` px inputs the network cannot take (a kernel larger than its input fails deep
        inside torch), in one line naming the smallest size that works; one forward when it works.
        `forward` runs normalized inputs (default: the whole model; visualize passes its truncated
        forward); `fed` is the smallest side actually fed when it differs from `size`."""
        run = forward or self.module
        fed = size if fed is None else fed
        if fed != self.input_spec.size and self.fixed_size:
            self.default_size(fed)  # refused in one line naming the one size it takes
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
                run(self.prepare(self.example_input(1, size)))
        except (RuntimeError, AssertionError, ValueError) as exc:  # ViTs assert their input size
            return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        return None

    def check_unit(self, unit: Unit | str) -> Unit:
        """Validate a unit address against the model: known layer, channels in range (each range
        checked by its ends, before anything expands it: conv1:0-99999999999 must not fill memory)."""
        unit = Unit.parse(unit) if isinstance(unit, str) else unit
        layout = self.layout(unit.layer)
        if layout.unreadable:
            raise BadUnitError(f"layer '{unit.layer}' {layout.unreadable}, so it has no units per image; "
                               "address the block or projection around it instead")
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
        """A mid-gray batch at the model's input size, for shape discovery (for other inputs, the
        `data_spec`'s own: typical feature values, a line of characters)."""
        if self.data_spec is not None:
            return self.to_device(self.data_spec.example_input(batch))
        if self.modality != "image":
            from ..modalities import example_input

            return self.to_device(example_input(self.module, self.modality, batch))
        size = size or self.input_spec.size
        return self.to_device(torch.full((batch, 3, size, size), 0.5))
