"""One probed forward pass, shared by every composition computation (scores, paths, ablations).

The input batch is made a leaf that requires grad, so the recorded activations stay in the
autograd graph even when the weights are frozen; `rule` sets the ReLU backward of that graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..attribution import relu_rule


def forward(model, images: torch.Tensor, layers: Sequence[str], rule: str = "gradient",
            grad: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(the input leaf, {layer: activations}) for an NCHW [0, 1] batch; no graph when not `grad`."""
    x = images.detach().requires_grad_(grad)
    with torch.set_grad_enabled(grad), relu_rule(rule), model.probe(layers) as probe:
        acts = probe(model.input_spec.normalize(x))
    return x, acts


def record(model, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Activations of `layers` for one 3xHxW [0, 1] image, kept in the autograd graph."""
    return forward(model, image.unsqueeze(0), layers)[1]
