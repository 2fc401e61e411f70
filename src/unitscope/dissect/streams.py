"""What one run dissects: each model variant's layers, in each rotated basis, for each sign."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..errors import BadInputError
from ..models.spec import Model
from ..models.tracing import layer_shapes
from ..stats.select import WIDTH
from .rotation import rotate, rotation
from .settings import DissectSettings

MAIN, BASELINE = "model", "baseline_random"


@dataclass
class Stream:
    """One thing to dissect: a model variant's layer, seen in a basis rotated by alpha."""

    variant: str
    layer: str
    alpha: float
    units: int
    matrix: torch.Tensor | None

    @property
    def key(self) -> str:
        return f"{self.variant}/{self.layer}/{self.alpha:g}"

    def raw(self, acts: torch.Tensor) -> torch.Tensor:
        """The (B, U, h, w) activations this stream dissects, in the dtype they were computed in
        (bf16 under autocast), or float32 when rotated (alpha > 0) or computed in float64."""
        acts = rotate(acts, self.matrix)
        return acts if acts.dtype in WIDTH else acts.float()


@dataclass
class Plan:
    """The models forwarded (the trained one, maybe a random copy), the streams, the signs."""

    variants: dict[str, Model]
    layers: list[str]
    streams: list[Stream]
    signs: list[bool]  # False: top quantile; True: bottom quantile too (--negative)

    def units(self) -> dict[str, int]:
        """Units per layer (what `merge` needs to rebuild the plan without the model)."""
        return {s.layer: s.units for s in self.streams}

    @classmethod
    def from_units(cls, units: dict[str, int], settings: DissectSettings) -> Plan:
        """The plan of a run whose activations are already cached: no model is forwarded."""
        streams = [Stream(MAIN, layer, a, units[layer], rotation(units[layer], a, settings.seed))
                   for layer in settings.layers for a in settings.alphas()]
        if settings.baseline:
            streams += [Stream(BASELINE, layer, 0.0, units[layer], None) for layer in settings.layers]
        return cls({}, list(settings.layers), streams, [False, True] if settings.negative else [False])

    @classmethod
    def build(cls, model: Model, settings: DissectSettings) -> Plan:
        plan = cls.from_units(spatial_units(model, list(settings.layers)), settings)
        plan.variants = {MAIN: model}
        if settings.baseline == "random":
            plan.variants[BASELINE] = random_copy(model, settings.seed)
        return plan


def spatial_units(model: Model, layers: Sequence[str]) -> dict[str, int]:
    """Channel count per layer; layers without a spatial map are a user error."""
    for layer in layers:
        model.check_layer(layer)
    shapes = layer_shapes(model, layers)
    for layer in layers:
        if len(shapes[layer]) != 4:
            raise BadInputError(
                f"layer '{layer}' has no spatial map (output {tuple(shapes[layer][1:])}); dissect "
                "needs a convolutional layer (see `unitscope layers MODEL`)"
            )
    return {layer: int(shapes[layer][1]) for layer in layers}


def random_copy(model: Model, seed: int = 0) -> Model:
    """The same architecture with freshly initialized (seeded) weights, for the random baseline;
    drawn on the CPU, so the baseline is the same on every device."""
    module = copy.deepcopy(model.module).cpu()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for sub in module.modules():
            if sub is not module and hasattr(sub, "reset_parameters"):
                sub.reset_parameters()
    module.eval().to(model.device)
    return Model(module, model.input_spec, f"{model.name} (random weights)", model.layer_names,
                 model.class_names)
