"""Random, differentiable image transforms drawn independently for every batch element.

Transformation robustness (Lucid's pad, jitter, scale, rotate) keeps visualizations free of
high-frequency tricks. Pad, crop-jitter, scale and rotate are all affine maps of the canvas, so
a run of them is composed into one per-element matrix and applied with a single batched
`affine_grid` + `grid_sample` (no per-element loop, one interpolation instead of three). The
canvas keeps a fixed size through scale and rotate so the batch stays one tensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import BadInputError


class Affine:
    """A canvas transform: output size from input size, and per-element maps out -> in.

    Maps work on centred pixel coordinates (x right, y down): `in = A @ out + b`.
    """

    fill = 0.5

    def out_size(self, size: int) -> int:
        return size

    def maps(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A: [n, 2, 2], b: [n, 2] on the CPU."""
        raise NotImplementedError

    def maps_at(self, n: int, gen: torch.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The maps for a `size` px input canvas (only a resize depends on it)."""
        return self.maps(n, gen)


def _identity(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.eye(2).expand(n, 2, 2).clone(), torch.zeros(n, 2)


def _choose(values: Sequence[float], n: int, gen: torch.Generator) -> torch.Tensor:
    """n independent uniform draws from `values`."""
    table = torch.tensor(list(values), dtype=torch.float32)
    return table[torch.randint(len(table), (n,), generator=gen)]


class Pad(Affine):
    """Add `width` pixels of a constant colour on every side."""

    def __init__(self, width: int, fill: float = 0.5) -> None:
        self.width = int(width)
        self.fill = float(fill)

    def out_size(self, size: int) -> int:
        return size + 2 * self.width

    def maps(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return _identity(n)

    def __repr__(self) -> str:
        return f"Pad({self.width})"


class Jitter(Affine):
    """Random crop `d` pixels smaller: offsets 0..d in x and y (Lucid's jitter)."""

    def __init__(self, d: int) -> None:
        self.d = int(d)

    def out_size(self, size: int) -> int:
        return size - self.d

    def maps(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        a, _ = _identity(n)
        offsets = torch.randint(self.d + 1, (n, 2), generator=gen).float()
        return a, offsets - self.d / 2

    def __repr__(self) -> str:
        return f"Jitter({self.d})"


class Resize(Affine):
    """Scale the canvas to `size` px (last, for a model that takes only one input size)."""

    def __init__(self, size: int) -> None:
        self.size = int(size)

    def out_size(self, size: int) -> int:
        return self.size

    def maps_at(self, n: int, gen: torch.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.eye(2).expand(n, 2, 2) * (size / self.size), torch.zeros(n, 2)

    def __repr__(self) -> str:
        return f"Resize({self.size})"


class _Drawn(Affine):
    """A linear map about the centre whose parameter is drawn per element from `values`."""

    def __init__(self, values: Sequence[float]) -> None:
        self.values = [float(v) for v in values]

    def matrices(self, drawn: torch.Tensor) -> torch.Tensor:
        """[n, 2, 2] maps for the drawn parameters."""
        raise NotImplementedError

    def maps(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        return self.matrices(_choose(self.values, n, gen)), torch.zeros(n, 2)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({min(self.values):g}..{max(self.values):g})"


class RandomScale(_Drawn):
    """Zoom by a factor drawn from `scales` (about the centre, canvas size kept)."""

    def matrices(self, drawn: torch.Tensor) -> torch.Tensor:
        return torch.diag_embed(torch.stack([1 / drawn, 1 / drawn], dim=1))


class RandomRotate(_Drawn):
    """Rotate by an angle in degrees drawn from `angles` (about the centre)."""

    def matrices(self, drawn: torch.Tensor) -> torch.Tensor:
        theta = drawn * (math.pi / 180)
        cos, sin = theta.cos(), theta.sin()
        return torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)


def standard_transforms() -> list[Affine]:
    """Lucid's standard list: pad 12, jitter 8, scale 0.90..1.10, rotate -10..10 (0 x6), jitter 4."""
    return [
        Pad(12, fill=0.5),
        Jitter(8),
        RandomScale([1 + (i - 5) / 50 for i in range(11)]),
        RandomRotate(list(range(-10, 11)) + 5 * [0]),
        Jitter(4),
    ]


Transform = Affine | Callable[[torch.Tensor], torch.Tensor]


class Pipeline:
    """Apply a list of transforms; consecutive `Affine` ones become one grid_sample."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def out_size(self, size: int) -> int:
        """Canvas size after the affine transforms (callables are assumed to keep it)."""
        for t in self.transforms:
            if isinstance(t, Affine):
                size = t.out_size(size)
        return size

    def __call__(self, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Transform a batch with maps drawn now from `gen` (`schedule` draws many steps ahead)."""
        drawn = self.draw(images.shape[0], images.shape[-1], gen)
        return self.apply(images, [run.to(images.device) for run in drawn])

    def draw(self, n: int, size: int, gen: torch.Generator) -> list[Resample]:
        """One `Resample` per run of affine transforms, drawn on the CPU from `gen`."""
        drawn, group = [], []
        for t in [*self.transforms, None]:
            if isinstance(t, Affine):
                group.append(t)
            elif group:
                drawn.append(_compose(group, n, size, gen))
                size, group = drawn[-1].size, []
        return drawn

    def schedule(self, steps: int, n: int, size: int, gen: torch.Generator, device: torch.device
                 ) -> list[list[Resample]]:
        """Every step's draws, in the order `__call__` would make them, sent to `device` in one
        copy: a copy per step would block the optimization loop on a GPU."""
        draws = [self.draw(n, size, gen) for _ in range(steps)]
        if not draws or not draws[0]:
            return [[] for _ in range(steps)]
        stacked = torch.stack([torch.stack([run.theta for run in step]) for step in draws])
        if device.type == "cuda":
            stacked = stacked.pin_memory()
        moved = stacked.to(device, non_blocking=True)
        return [[Resample(moved[s, g], run.size, run.fill) for g, run in enumerate(step)]
                for s, step in enumerate(draws)]

    def apply(self, images: torch.Tensor, drawn: Sequence[Resample]) -> torch.Tensor:
        """Resample with drawn maps (on the images' device), running the other transforms between."""
        runs, in_run = iter(drawn), False
        for t in [*self.transforms, None]:
            if isinstance(t, Affine):
                in_run = True
                continue
            if in_run:
                images = next(runs).resample(images)
            in_run = False
            images = t(images) if t is not None else images
        return images

    def __repr__(self) -> str:
        return f"Pipeline({self.transforms})"


@dataclass(frozen=True)
class Resample:
    """One drawn run of affine transforms: [n, 2, 3] sampling matrices, output side, pad colour."""

    theta: torch.Tensor
    size: int
    fill: float

    def to(self, device: torch.device) -> Resample:
        return Resample(self.theta.to(device), self.size, self.fill)

    def resample(self, images: torch.Tensor) -> torch.Tensor:
        """One bilinear resampling of the batch (outside the canvas is the pad colour)."""
        grid = _affine_grid(self.theta.to(dtype=images.dtype), self.size)
        out = F.grid_sample(images - self.fill, grid, mode="bilinear", padding_mode="zeros",
                            align_corners=False)
        return out + self.fill


def _compose(group: list[Affine], n: int, size_in: int, gen: torch.Generator) -> Resample:
    """The group's per-element maps composed into one resampling."""
    size_out = size_in
    maps = []
    for t in group:
        maps.append(t.maps_at(n, gen, size_out))
        size_out = t.out_size(size_out)
    if size_out < 1:
        raise BadInputError(f"image of {size_in}px is too small for transforms {group}")
    a, b = _identity(n)
    for ai, bi in reversed(maps):  # in_0 = M1(M2(...Mk(out)))
        a, b = ai @ a, (ai @ b[..., None])[..., 0] + bi
    theta = torch.cat([a * (size_out / size_in), (2 * b / size_in)[..., None]], dim=2)
    fill = next((t.fill for t in group if isinstance(t, Pad)), Affine.fill)
    return Resample(theta, size_out, fill)


def _affine_grid(theta: torch.Tensor, size: int) -> torch.Tensor:
    """`F.affine_grid(theta, [n, c, size, size], align_corners=False)` by broadcasting
    (the library version runs a batched matmul that is slow for 2x3 matrices on CPUs)."""
    lin = (torch.arange(size, device=theta.device, dtype=theta.dtype) * 2 + 1) / size - 1
    x, y = lin.view(1, 1, size, 1), lin.view(1, size, 1, 1)
    return x * theta[:, None, None, :, 0] + y * theta[:, None, None, :, 1] \
        + theta[:, None, None, :, 2]


def pipeline(transforms: str | Sequence[Transform] | None) -> Pipeline:
    """'standard' -> Lucid's list; None -> no transforms; or a list of transforms."""
    if transforms is None:
        return Pipeline([])
    if isinstance(transforms, str):
        if transforms != "standard":
            raise BadInputError(f"unknown transforms '{transforms}'; use 'standard', None or a list")
        return Pipeline(standard_transforms())
    return Pipeline(transforms)
