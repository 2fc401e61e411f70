"""Which layers are ReLU outputs, and which module's output each such ReLU reads, traced once.

Below its threshold a ReLU output is a flat 0: a negative objective has no gradient there and a
bottom-k ranking is all ties, while the module that feeds the ReLU still orders them. The link is
found by following tensors through one forward pass, never from names: a ReLU's pre-activation is
the module whose output tensor the ReLU reads, unchanged since (the tensor's version counter
catches in-place ops such as ResNet's `out += identity`, whose ReLU then reads no single module).
"""

from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass

import torch
from torch import nn

from .spec import Model

RELUS = (nn.ReLU, nn.ReLU6)  # flat (zero gradient) below their threshold

_CACHE: weakref.WeakKeyDictionary[nn.Module, dict] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class ReluLinks:
    """How one layer's output relates to ReLU modules in the forward pass (its last call)."""

    relu: str | None = None  # the layer's output is this ReLU module's output
    pre: str | None = None  # ...which read exactly this module's output (None: no single module did)
    post: str | None = None  # the layer's output is read by a ReLU, exposed as this layer

    @property
    def after_relu(self) -> bool:
        return self.relu is not None


@dataclass(frozen=True)
class _Call:
    """One module call seen by its hooks: when it started and finished, which tensor it returned
    (or, for a ReLU's input, read) and that tensor's version then."""

    name: str
    start: int
    seq: int
    tensor: torch.Tensor
    version: int

    def same(self, other: _Call) -> bool:
        """The same tensor object, not modified in place in between."""
        return self.tensor is other.tensor and self.version == other.version

    def encloses(self, other: _Call) -> bool:
        return self.start <= other.start and self.seq >= other.seq


def relu_links(model: Model, size: int | None = None) -> dict[str, ReluLinks]:
    """{layer: ReluLinks} for every module run in one forward of a `size` px image (default: the
    model's input size), cached per model; {} if the model cannot run at that size (the verb
    then reports that in its own words)."""
    key = (size or model.input_spec.size, model.device)
    cache = _CACHE.setdefault(model.module, {})
    if key not in cache:
        try:
            outs, reads = _trace(model.module, model.prepare(model.example_input(1, key[0])))
        except RuntimeError:
            return {}
        cache[key] = _links(outs, reads)
    return cache[key]


def pre_activation(model: Model, layer: str) -> str | None:
    """The module whose output the ReLU that produces `layer` reads, or None (not a ReLU output,
    or no single module's output is the ReLU's input, e.g. ResNet's `relu(bn2(x) + identity)`)."""
    return relu_links(model).get(layer, ReluLinks()).pre


def _trace(module: nn.Module, x: torch.Tensor) -> tuple[list[_Call], dict[int, _Call]]:
    """Every module call in finishing order, and each ReLU call's input (keyed by the call's seq)."""
    counter = itertools.count()
    outs: list[_Call] = []
    starts: dict[str, list[tuple[int, torch.Tensor | None, int]]] = {}
    reads: dict[int, _Call] = {}

    def before(name: str):
        def hook(_m, args):
            first = args[0] if args and isinstance(args[0], torch.Tensor) else None
            version = first._version if first is not None else 0
            starts.setdefault(name, []).append((next(counter), first, version))
        return hook

    def after(name: str, relu: bool):
        def hook(_m, _args, out):
            start, read, version = starts[name].pop()
            if not isinstance(out, torch.Tensor):
                return
            outs.append(_Call(name, start, next(counter), out, out._version))
            if relu and read is not None:
                reads[outs[-1].seq] = _Call(name, start, start, read, version)
        return hook

    handles = []
    for name, sub in module.named_modules():
        if name:
            handles.append(sub.register_forward_pre_hook(before(name)))
            handles.append(sub.register_forward_hook(after(name, isinstance(sub, RELUS))))
    try:
        with torch.inference_mode(False), torch.no_grad():  # version counters need normal tensors
            module(x)
    finally:
        for handle in handles:
            handle.remove()
    return outs, reads


def _links(outs: list[_Call], reads: dict[int, _Call]) -> dict[str, ReluLinks]:
    last = {call.name: call for call in outs}
    relu_calls = [call for call in outs if call.seq in reads]
    found = {}
    for name, call in last.items():
        made = [r for r in relu_calls if r.seq <= call.seq and r.same(call)]
        fed = next((r for r in relu_calls if r.start > call.seq and reads[r.seq].same(call)), None)
        found[name] = ReluLinks(relu=made[-1].name if made else None,
                                pre=_producer(outs, last, reads[made[-1].seq]) if made else None,
                                post=_outermost(outs, last, fed) if fed else None)
    return found


def _producer(outs: list[_Call], last: dict[str, _Call], read: _Call) -> str | None:
    """The module that made the tensor a ReLU read (the outermost one whose last call returned
    it, as it was read), or None when no module returned it."""
    made = [c for c in outs if c.seq < read.start and c.same(read)]
    return _outermost(outs, last, made[0]) if made else None


def _outermost(outs: list[_Call], last: dict[str, _Call], inner: _Call) -> str | None:
    """The outermost module call around `inner` returning its tensor unchanged that is its
    module's last call (what a Probe records), or None."""
    hits = [c for c in outs if c.encloses(inner) and c.same(inner) and last[c.name] is c]
    return hits[-1].name if hits else None
