"""Gradient images: plain gradient, deconvnet and guided backprop, switched on only inside a context.

The ReLU backward rule is changed by a `TorchFunctionMode` that redirects every ReLU call made
while it is active (`nn.ReLU` modules, `F.relu`, `torch.relu`, `Tensor.relu_`, in place or not)
to a custom autograd Function. Nothing global is patched and no module hooks are needed, so
functional ReLUs inside `forward`, in-place ReLUs and modules called several times (torchvision's
ResNet) are all covered; the rule is fixed when the forward runs, so `backward()` may be called
after the context has closed.

Guided backprop (and deconvnet) barely change when a model's weights are randomized
(Adebayo et al. 2018, "Sanity Checks for Saliency Maps"): they show image structure more than
what the model computes. Prefer the plain gradient when the question is about the model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from .errors import BadInputError

RULES = ("gradient", "guided", "deconvnet")

_OUT_OF_PLACE = {F.relu, torch.relu, torch.Tensor.relu}
_IN_PLACE = {torch.relu_, torch.Tensor.relu_}


def _rule_backward(rule: str, grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Gradient through a ReLU with output `out` under `rule`."""
    if rule == "guided":
        return grad.clamp(min=0) * (out > 0)
    if rule == "deconvnet":
        return grad.clamp(min=0)
    return grad * (out > 0)


class _RuleReLU(torch.autograd.Function):
    """ReLU whose backward follows a rule; the mask comes from the output (same as x > 0). The
    in-place form marks its input dirty so autograd's version checks stay correct."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, rule: str, inplace: bool) -> torch.Tensor:
        out = x.clamp_(min=0) if inplace else x.clamp(min=0)
        if inplace:
            ctx.mark_dirty(x)
        ctx.rule = rule
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (out,) = ctx.saved_tensors
        return _rule_backward(ctx.rule, grad, out), None, None


class ReluRule(TorchFunctionMode):
    """While active, every ReLU call uses the backward rule `rule` ('guided' or 'deconvnet')."""

    def __init__(self, rule: str) -> None:
        super().__init__()
        self.rule = check_rule(rule)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _OUT_OF_PLACE or func in _IN_PLACE:
            x = args[0]
            inplace = func in _IN_PLACE or bool(kwargs.get("inplace", args[1] if len(args) > 1
                                                           else False))
            if not x.requires_grad or not torch.is_grad_enabled():
                return x.clamp_(min=0) if inplace else x.clamp(min=0)
            return _RuleReLU.apply(x, self.rule, inplace)
        return func(*args, **kwargs)


def check_rule(rule: str) -> str:
    """`rule` if known, else a one-line error listing the rules."""
    if rule not in RULES:
        raise BadInputError(f"unknown gradient rule '{rule}'; use one of {', '.join(RULES)}")
    return rule


@contextlib.contextmanager
def relu_rule(rule: str = "gradient") -> Iterator[None]:
    """Run the block's forward passes with `rule` for ReLU backward ('gradient' changes nothing)."""
    if check_rule(rule) == "gradient":
        yield
        return
    with ReluRule(rule):
        yield


def seed_like(act: torch.Tensor, channel: int, position: tuple[int, int] | None = None
              ) -> torch.Tensor:
    """A one-hot gradient seed for `act` (N, C[, H, W]): the channel, or one (x, y) position of it."""
    seed = torch.zeros_like(act)
    if act.dim() == 2 or position is None:
        seed[:, channel] = 1.0
    else:
        x, y = position
        seed[:, channel, y, x] = 1.0
    return seed


def max_position(act_map: torch.Tensor) -> tuple[int, int]:
    """(x, y) of the largest value of an HxW map (first one on ties)."""
    flat = int(act_map.reshape(-1).argmax())
    width = act_map.shape[-1]
    return flat % width, flat // width


def gradient_image(model, image: torch.Tensor, layer: str, channel: int,
                   rule: str = "gradient") -> torch.Tensor:
    """d unit / d image for one 3xHxW [0, 1] image; a conv unit is seeded at its maximum position.

    `model` is a `unitscope.Model`; the result is 3xHxW and signed.
    """

    x = image.detach().unsqueeze(0).clone().requires_grad_(True)
    with relu_rule(rule), model.probe([layer]) as probe:
        act = probe(model.input_spec.normalize(x))[layer]
    position = max_position(act[0, channel]) if act.dim() == 4 else None
    (grad,) = torch.autograd.grad(act, x, seed_like(act, channel, position))
    return grad[0].detach()
