"""Warn when a channel objective's optimum is fixed by the image border rather than by a feature.

A layer that is linear in the image (a first convolution read before its ReLU) makes the mean of a
channel a fixed weighting of the pixels, so its optimum is that weighting's sign. For a filter whose
taps sum to zero (an edge detector) the weighting vanishes away from the border: the rendered image
is a smooth ramp set by the padding, not the filter's stripes. Decided exactly, not from the layer's
type: the objective's image gradient is the same at two random images (linear) and zero in the
middle of the image (a border term).
"""

from __future__ import annotations

import warnings

import torch

from ..models import Model
from ..models.preactivation import ReluLinks, relu_links
from . import objectives as obj

SAMPLE = 4  # channels of a layer whose gradients are compared
SAME = 1e-5  # relative difference under which two gradients are the same
FLAT = 1e-4  # relative gradient size under which the image's middle does not matter


class DegenerateObjectiveWarning(UserWarning):
    """A channel objective that is linear in the image and only sees its border."""


def border_term(model: Model, layer: str, channels: list[int], size: int) -> tuple[int, int] | None:
    """The layer's map size (w, h) if the channel means of `layer` are linear in the image with no
    gradient in its middle half, else None."""
    channels = channels[:SAMPLE]
    try:
        first, shape = _gradient(model, layer, channels, size, seed=0)
        second, _ = _gradient(model, layer, channels, size, seed=1)
    except RuntimeError:  # e.g. too small an image for the network: render says so in one line
        return None
    scale = first.flatten(1).abs().amax(1)
    live = scale > 0
    if not live.any() or len(shape) != 4:
        return None
    if ((first - second).flatten(1).abs().amax(1) > SAME * scale).any():
        return None  # not linear: the gradient depends on the image
    quarter = size // 4
    middle = first[..., quarter:size - quarter, quarter:size - quarter].flatten(1).abs().amax(1)
    return (shape[3], shape[2]) if bool((middle[live] <= FLAT * scale[live]).all()) else None


def warn_if_border(model: Model, layer: str, unit_layer: str, channels: list[int], size: int) -> bool:
    """Warn when the channel objective on `layer` is a border term; True if it is.

    `unit_layer` is the layer the user asked for; `layer` differs when a negative is optimized on
    the module before the unit's ReLU.
    """
    found = border_term(model, layer, channels, size)
    if found is None:
        return False
    neuron = f"'{unit_layer}:{channels[0]}@{found[0] // 2},{found[1] // 2}'"
    post = relu_links(model, size).get(layer, ReluLinks()).post
    warnings.warn(_message(layer, unit_layer, neuron, post), DegenerateObjectiveWarning, stacklevel=4)
    return True


def _message(layer: str, unit_layer: str, neuron: str, post: str | None) -> str:
    if layer != unit_layer:
        what = f"the negative of '{unit_layer}' is optimized on '{layer}' (before its ReLU), which"
        instead = f"use a neuron objective such as {neuron} with --negative"
    else:
        what = f"'{layer}'"
        instead = f"read it after its ReLU ('{post}') or use a neuron objective such as {neuron}" if post \
            else f"read a layer after a nonlinearity or use a neuron objective such as {neuron}"
    return (f"{what} is linear in the image: a channel objective there only sees the image border "
            f"(it renders a smooth ramp, not the unit's pattern); {instead}")


def _gradient(model: Model, layer: str, channels: list[int], size: int,
              seed: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """d(channel means)/d(image) at a random [0, 1] image per channel (fp32), and the layer's shape."""
    gen = torch.Generator().manual_seed(seed)
    image = model.to_device(torch.rand(len(channels), 3, size, size, generator=gen)).requires_grad_(True)
    module = model.module
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode(False), torch.enable_grad(), \
                model.probe([layer]) as probe:
            acts = probe(model.input_spec.normalize(image))
            values = obj.channel(layer, channels)(acts)
            (grad,) = torch.autograd.grad(values.sum(), image)
    finally:
        module.train(was_training)
    return grad.detach().float().cpu(), tuple(acts[layer].shape)
