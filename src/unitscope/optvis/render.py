"""`render`: optimize a batch of images so each element maximizes its own objective value.

The step is one batched pass: parameterized images -> per-element transforms -> normalize ->
forward that stops after the deepest layer the objective reads (Probe) -> backward to the image
only (model weights are frozen for the duration) -> Adam. bf16 autocast and channels_last are
used where the hardware has them (`precision="fp32"` turns them off). The recipe (steps, size,
lr, parameterization, transforms, precision) is one `RenderSettings`; `render(..., steps=256)`
overrides single fields.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .. import precision as prec
from ..errors import BadInputError
from ..models import Model, load_model
from ..settings import Settings, option, precision_option, seed_option
from .maco import MacoParam, maco_param, spectrum
from .objectives import OUTPUT, Objective, as_objective, class_token_key
from .param import ImageParam, image_param
from .transforms import Pipeline, Resize, Transform, pipeline

MIN_SIZE = 8  # px; smaller images leave nothing for the transforms
DEFAULT_SIZE = 128  # px, Lucid's
PARAMS = ("fft", "pixel", "maco")


@dataclass(frozen=True)
class RenderSettings(Settings):
    """The optimization recipe (Lucid's defaults), written once for `render` and `visualize`."""

    steps: int = option(512, "optimization steps", low=0)
    size: int | None = option(None, f"image side in pixels (default: the model's input size if it fixes "
                              f"one, as ViTs do, else {DEFAULT_SIZE})", low=MIN_SIZE)
    lr: float = option(0.05, "Adam learning rate", above=0)
    seed: int = seed_option()
    param: str = option("fft", "image parameterization", choices=PARAMS)
    decorrelate: bool = option(True, "optimize decorrelated colours")
    transforms: bool = option(True, "pad/jitter/scale/rotate robustness transforms")
    decay: float = option(1.0, "spectrum decay exponent of the fft parameterization")
    maco_spectrum: str | None = option(None, "images whose mean magnitude spectrum --param maco keeps (a "
                                       "folder or Broden dir; default: the concept world)", metavar="DIR")
    precision: str | None = precision_option()

    def check(self) -> None:
        if self.maco_spectrum is not None and self.param != "maco":
            raise BadInputError("--maco-spectrum only applies to --param maco")


@dataclass
class RenderResult:
    """Rendered images [N, 3, H, W] in [0, 1] and each element's final objective value; for
    --param maco also `alpha` [N, H, W] in [0, 1], where the objective's gradients were (maco.py)."""

    images: torch.Tensor
    values: torch.Tensor
    objective: str
    settings: dict[str, Any] = field(default_factory=dict)
    loop_seconds: float = 0.0  # wall time of the optimization steps alone (for benchmarks)
    alpha: torch.Tensor | None = None


def render(
    model: Model | nn.Module,
    objective: Objective | str,
    settings: RenderSettings | None = None,
    *,
    batch: int | None = None,
    init_image: torch.Tensor | None = None,
    progress: bool = True,
    desc: str | None = None,
    custom_transforms: Sequence[Transform] | None = None,
    revive: bool = True,
    **overrides: Any,
) -> RenderResult:
    """Optimize `batch` images to maximize `objective`; keywords override fields of `settings`.

    `objective` is an `Objective` or a unit address; its per-element channels fix the batch.
    `custom_transforms` replaces the standard transforms. Final values are measured on the
    untransformed final images, in fp32. With `revive`, elements whose objective has no gradient
    at the near-grey start (a ReLU unit dead there) restart from noisier images.
    """
    settings = _with_overrides(settings or RenderSettings(), overrides)
    model = model if isinstance(model, Model) else load_model(model)
    settings = settings.replace(size=render_size(model, settings.size))
    if isinstance(objective, str):  # an address: its channels checked before anything expands them
        model.check_unit(objective)
    objective = as_objective(objective)
    batch = _batch_size(batch, objective, init_image)
    device = model.device
    pipe = Pipeline(list(custom_transforms)) if custom_transforms is not None else \
        pipeline("standard" if settings.transforms else None)
    if model.fixed_size and pipe.out_size(settings.size) != model.input_spec.size:
        pipe = Pipeline([*pipe.transforms, Resize(model.input_spec.size)])  # what a ViT takes
    chosen = prec.resolve(settings.precision, device)
    if settings.param == "maco":
        magnitude = spectrum(settings.maco_spectrum, settings.size, settings.decorrelate)
        image = maco_param(batch, settings.size, magnitude, decorrelate=settings.decorrelate,
                           seed=settings.seed, init=init_image, place=model.to_device)
    else:
        image = image_param(batch, settings.size, fft=settings.param == "fft",
                            decorrelate=settings.decorrelate, decay=settings.decay, seed=settings.seed,
                            init=init_image, place=model.to_device)
    with _prepared(model.module, channels_last=_channels_last(chosen, model.device)):
        forward = _Forward(model, objective)
        with forward:
            model.check_input_size(settings.size, forward=forward,
                                   fed=min(settings.size, pipe.out_size(settings.size)))
            revived = _revive(image, model, forward, objective, pipe, chosen, device, settings.seed) \
                if revive and init_image is None and settings.steps else 0
            loop_seconds = _optimize(model, image, objective, forward, pipe, settings, chosen,
                                     desc or objective.name[:40], progress)
            with torch.no_grad():
                final = image().detach()
                values = objective(forward(model.input_spec.normalize(final))).float()
    used = {**settings.to_dict(), "precision": chosen, "batch": batch,
            "init_image": init_image is not None, "revived": revived}
    if custom_transforms is not None:
        used["custom_transforms"] = [repr(t) for t in custom_transforms]
    alpha = image.alpha().cpu() if isinstance(image, MacoParam) else None
    return RenderResult(final.float().cpu(), values.detach().cpu(), objective.name, used,
                        loop_seconds, alpha)


def render_size(model: Model, size: int | None) -> int:
    """The side rendered: `size`, else the model's input size when it fixes one (a ViT), else 128.
    A model that fixes its size is fed the transformed image resized to that size."""
    if size is not None:
        return size
    return model.input_spec.size if model.fixed_size else DEFAULT_SIZE


def _with_overrides(settings: RenderSettings, overrides: dict[str, Any]) -> RenderSettings:
    """`settings` with keyword overrides (`steps=256`); an unknown keyword is a TypeError."""
    names = {f.name for f in dataclasses.fields(settings)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(f"render() got unexpected keyword(s) {', '.join(unknown)}; "
                        f"settings fields are {', '.join(sorted(names))}")
    return settings.replace(**overrides) if overrides else settings


def _optimize(model: Model, image: ImageParam | MacoParam, objective: Objective, forward: _Forward,
              pipe: Pipeline, settings: RenderSettings, chosen: str, desc: str, progress: bool) -> float:
    """The Adam loop (one batched pass per step, no per-element Python); returns its seconds.
    A MacoParam also sums |d objective / d image| into its saliency (one tensor op per step)."""
    optimizer = torch.optim.Adam(image.params, lr=settings.lr, fused=True)
    gen = torch.Generator().manual_seed(settings.seed + 1)
    device = model.device
    start = time.perf_counter()
    saliency = image.saliency if isinstance(image, MacoParam) else None  # MACO's transparency
    drawn = pipe.schedule(settings.steps, image.raw.shape[0], settings.size, gen, device)
    for step in tqdm(range(settings.steps), desc=desc, disable=_quiet(progress)):
        images = image()
        if saliency is not None:
            images.retain_grad()
        x = model.input_spec.normalize(pipe.apply(images, drawn[step]))
        x = x.contiguous(memory_format=torch.channels_last) if _channels_last(chosen, device) else x
        with prec.autocast(chosen, device):
            values = objective(forward(x))
        optimizer.zero_grad(set_to_none=True)
        (-values.sum()).backward()
        if saliency is not None:
            saliency += images.grad.abs().sum(1)
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
                x = model.to_device(images[start:start + step])
                values.append(objective(forward(model.input_spec.normalize(x))).float().cpu())
    return torch.cat(values) if values else torch.zeros(0)


REVIVE_SD = (0.1, 1.0)


def _revive(image: ImageParam | MacoParam, model: Model, forward: _Forward, objective: Objective,
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
        self.probe = model.probe(objective.modules, stop_early=not self.needs_output) \
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
        acts.update({class_token_key(name): tokens for name, tokens in self.probe.prefix_tokens.items()})
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


def _channels_last(chosen: str, device: torch.device) -> bool:
    """channels_last pays with bf16 on CPUs, and always on GPUs (cuDNN's tensor-core kernels
    take NHWC; an NCHW input costs two layout transposes per convolution)."""
    return chosen == "bf16" or device.type == "cuda"


def _batch_size(batch: int | None, objective: Objective, init: torch.Tensor | None) -> int:
    implied = objective.batch or (init.shape[0] if init is not None and init.dim() == 4 else None)
    if batch is None:
        return implied or 1
    if batch < 1:
        raise BadInputError(f"batch must be at least 1, got {batch}")
    if implied and implied != batch:
        raise BadInputError(f"objective '{objective.name}' targets {implied} elements, not {batch}")
    return batch


def _quiet(progress: bool) -> bool:
    return not progress or not sys.stderr.isatty()
