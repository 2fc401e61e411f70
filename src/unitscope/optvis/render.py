"""`render`: optimize a batch of images so each element maximizes its own objective value.

The step is one batched pass: parameterized images -> per-element transforms -> normalize ->
forward that stops after the deepest layer the objective reads (Probe) -> backward to the image
only (model weights are frozen for the duration) -> Adam. bf16 autocast and channels_last are
used where the hardware has them (`precision="fp32"` turns them off).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from .. import precision as prec
from ..errors import BadInputError
from ..models import Model, load_model
from ..probe import Probe
from .objectives import OUTPUT, Objective, as_objective
from .param import ImageParam, image_param
from .transforms import Pipeline, Transform, pipeline

MIN_SIZE = 8


@dataclass
class RenderResult:
    """Rendered images [N, 3, H, W] in [0, 1] and each element's final objective value."""

    images: torch.Tensor
    values: torch.Tensor
    objective: str
    settings: dict[str, Any] = field(default_factory=dict)
    loop_seconds: float = 0.0  # wall time of the optimization steps alone (for benchmarks)


def render(
    model: Model | nn.Module,
    objective: Objective | str,
    batch: int | None = None,
    size: int = 128,
    steps: int = 512,
    lr: float = 0.05,
    seed: int = 0,
    param: str = "fft",
    decorrelate: bool = True,
    transforms: str | Sequence[Transform] | None = "standard",
    init_image: torch.Tensor | None = None,
    progress: bool = True,
    precision: str | None = None,
    decay: float = 1.0,
    desc: str | None = None,
    revive: bool = True,
) -> RenderResult:
    """Optimize `batch` images of `size` px for `steps` Adam steps to maximize `objective`.

    `objective` is an `Objective` or a unit address; its per-element channels fix the batch.
    Final values are measured on the untransformed final images, in fp32. With `revive`,
    elements whose objective has no gradient at the near-grey start (a ReLU unit dead there)
    restart from noisier images; other elements keep Lucid's start.
    """
    model = model if isinstance(model, Model) else load_model(model)
    objective = as_objective(objective)
    batch = _batch_size(batch, objective, init_image)
    _check_settings(size, steps, param)
    device = _device(model.module)
    pipe = pipeline(transforms)
    chosen = prec.resolve(precision, device)
    image = image_param(batch, size, fft=param == "fft", decorrelate=decorrelate, decay=decay,
                        seed=seed, init=init_image, device=device)
    with _prepared(model.module, channels_last=chosen == "bf16"):
        forward = _Forward(model, objective)
        with forward:
            _check_input_size(model, forward, size, pipe.out_size(size), device)
            revived = _revive(image, model, forward, objective, pipe, chosen, device, seed) \
                if revive and init_image is None and steps else 0
            loop_seconds = _optimize(model, image, objective, forward, pipe, steps, lr, seed,
                                     chosen, device, desc or objective.name[:40], progress)
            with torch.no_grad():
                final = image().detach()
                values = objective(forward(model.input_spec.normalize(final))).float()
    settings = {"steps": steps, "size": size, "lr": lr, "seed": seed, "param": param,
                "decorrelate": decorrelate, "decay": decay, "precision": chosen,
                "transforms": _describe(transforms), "batch": batch,
                "init_image": init_image is not None, "revived": revived}
    return RenderResult(final.float().cpu(), values.detach().cpu(), objective.name, settings,
                        loop_seconds)


def _optimize(model: Model, image: ImageParam, objective: Objective, forward: _Forward,
              pipe: Pipeline, steps: int, lr: float, seed: int, chosen: str,
              device: torch.device, desc: str, progress: bool) -> float:
    """The Adam loop (one batched pass per step, no per-element Python); returns its seconds."""
    optimizer = torch.optim.Adam(image.params, lr=lr, fused=True)
    gen = torch.Generator().manual_seed(seed + 1)
    start = time.perf_counter()
    for _ in tqdm(range(steps), desc=desc, disable=_quiet(progress)):
        x = model.input_spec.normalize(pipe(image(), gen))
        x = x.contiguous(memory_format=torch.channels_last) if chosen == "bf16" else x
        with prec.autocast(chosen, device):
            values = objective(forward(x))
        optimizer.zero_grad(set_to_none=True)
        (-values.sum()).backward()
        optimizer.step()
    return time.perf_counter() - start


def evaluate(
    model: Model | nn.Module, objective: Objective | str, images: torch.Tensor, chunk: int = 64
) -> torch.Tensor:
    """Objective values of given [0, 1] images (fp32, no gradient, truncated forward)."""
    model = model if isinstance(model, Model) else load_model(model)
    objective = as_objective(objective)
    step = len(images) if objective.batch else chunk
    values = []
    with _prepared(model.module, channels_last=False), _Forward(model, objective) as forward:
        with torch.no_grad():
            for start in range(0, len(images), step):
                x = images[start:start + step].to(_device(model.module))
                values.append(objective(forward(model.input_spec.normalize(x))).float().cpu())
    return torch.cat(values) if values else torch.zeros(0)


REVIVE_SD = (0.1, 1.0)


def _revive(image: ImageParam, model: Model, forward: _Forward, objective: Objective,
            pipe: Pipeline, chosen: str, device: torch.device, seed: int) -> int:
    """Re-draw, with more noise, the start of elements whose objective gradient is exactly 0.

    Returns how many elements were re-drawn.
    """
    gen = torch.Generator().manual_seed(seed + 2)
    revived = torch.zeros(image.raw.shape[0], dtype=torch.bool)
    for sd in REVIVE_SD:
        x = model.input_spec.normalize(pipe(image(), gen))
        with prec.autocast(chosen, device):
            values = objective(forward(x))
        (grad,) = torch.autograd.grad(values.sum(), image.raw)
        dead = (grad.flatten(1).abs().amax(1) == 0).cpu()
        if not dead.any():
            break
        fresh = torch.randn(image.raw.shape, generator=gen) * sd
        with torch.no_grad():
            image.raw[dead.to(image.raw.device)] = fresh[dead].to(image.raw)
        revived |= dead
    return int(revived.sum())


class _Forward:
    """Calls the model through a Probe on just the objective's modules (early stop unless the
    objective reads the model output)."""

    def __init__(self, model: Model, objective: Objective) -> None:
        self.module = model.module
        self.needs_output = objective.needs_output
        self.probe = Probe(self.module, objective.modules, stop_early=not self.needs_output) \
            if objective.modules else None

    def __enter__(self) -> _Forward:
        if self.probe is not None:
            self.probe.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.probe is not None:
            self.probe.__exit__(*exc)

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.probe is None:
            return {OUTPUT: self.module(x)}
        acts = dict(self.probe(x))
        if self.needs_output:
            acts[OUTPUT] = self.probe.output
        return acts


@contextlib.contextmanager
def _prepared(module: nn.Module, channels_last: bool) -> Iterator[None]:
    """Eval mode, frozen weights (no weight gradients) and optionally channels_last; restored."""
    was_training = module.training
    flags = [(p, p.requires_grad) for p in module.parameters()]
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    was_cl = bool(convs) and convs[0].weight.is_contiguous(memory_format=torch.channels_last) \
        and not convs[0].weight.is_contiguous()
    module.eval().requires_grad_(False)
    if channels_last and not was_cl:
        prec.channels_last(module)
    try:
        yield
    finally:
        if channels_last and not was_cl:
            module.to(memory_format=torch.contiguous_format)
        for p, flag in flags:
            p.requires_grad_(flag)
        module.train(was_training)


def _batch_size(batch: int | None, objective: Objective, init: torch.Tensor | None) -> int:
    implied = objective.batch or (init.shape[0] if init is not None and init.dim() == 4 else None)
    if batch is None:
        return implied or 1
    if batch < 1:
        raise BadInputError(f"batch must be at least 1, got {batch}")
    if implied and implied != batch:
        raise BadInputError(f"objective '{objective.name}' targets {implied} elements, not {batch}")
    return batch


def _check_settings(size: int, steps: int, param: str) -> None:
    if size < MIN_SIZE:
        raise BadInputError(f"--size {size} is too small; use at least {MIN_SIZE} px")
    if steps < 0:
        raise BadInputError(f"--steps must be 0 or more, got {steps}")
    if param not in ("fft", "pixel"):
        raise BadInputError(f"unknown parameterization '{param}'; use 'fft' or 'pixel'")


def _device(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _quiet(progress: bool) -> bool:
    return not progress or not sys.stderr.isatty()


def _describe(transforms: Any) -> str | list[str] | None:
    if transforms is None or isinstance(transforms, str):
        return transforms
    return [repr(t) for t in transforms]


def _runs(forward: _Forward, model: Model, side: int, device: torch.device) -> str | None:
    """None if a 1-image forward at `side` px works, else the first line of the error."""
    x = torch.full((1, 3, side, side), 0.5, device=device)
    try:
        with torch.no_grad():
            forward(model.input_spec.normalize(x))
    except RuntimeError as exc:
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
    return None


def _check_input_size(model: Model, forward: _Forward, size: int, side: int,
                      device: torch.device) -> None:
    """A too-small input fails with a one-line error naming the smallest --size that works.

    Both the transformed (`side` px) and the plain `size` px image must pass the network;
    images are fed as they are (never upsampled), so the search only runs when a forward fails.
    """
    small = min(size, side)
    error = _runs(forward, model, small, device)
    if error is None:
        return
    top = max(model.input_spec.size, side, size) * 2
    if _runs(forward, model, top, device) is not None:
        raise BadInputError(f"the model fails on {small}px inputs: {error}")
    lo, hi = small, top  # fails at lo, works at hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _runs(forward, model, mid, device) is None else (mid, hi)
    need = hi + size - small
    raise BadInputError(
        f"--size {size} is too small for {model.name}: a {small}px input fails ({error}); "
        f"use --size {need} or more"
    )
