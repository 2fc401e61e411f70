"""MACO (Fel et al., NeurIPS 2023): optimize only the phase of the image's Fourier spectrum.

Why: in deep layers a freely optimized spectrum (the fft parameterization) drifts into
high-frequency, high-contrast patterns that no natural image has. MACO fixes the magnitude of
every frequency to the mean magnitude of natural images and optimizes the phase alone (where an
image's structure lives; Oppenheim & Lim 1981), so the images keep natural spectral statistics.
Summed absolute input gradients over the steps give a transparency map: where the unit looks.

The magnitude is estimated from local images (`magnitude_spectrum`, `spectrum`): a folder, a
Broden directory or, by default, images drawn from the concept world; nothing is downloaded.
As in the paper's code, the spectrum is that of colour-decorrelated images when colours are
decorrelated, and the spatial image is standardized per image before the sigmoid.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .param import COLOR_MATRIX, _init_batch, _mix

SPECTRUM_SEED = 0  # the concept world drawn for the default spectrum
SPECTRUM_IMAGES = 32  # concept-world images averaged for the default spectrum
MAX_SPECTRUM_IMAGES = 256  # a folder or Broden dir contributes at most this many, evenly spaced
SPECTRUM_CHUNK = 32  # images transformed at once (bounds memory for large sizes)
ALPHA_QUANTILE = 0.9  # the most-looked-at 10 % of pixels are opaque; one hot pixel cannot hide the rest
STD_EPS = 1e-4


def magnitude_spectrum(images: torch.Tensor, size: int, decorrelate: bool = False) -> torch.Tensor:
    """Mean |rfft2| (ortho) per colour channel of `images` [N, 3, H, W] in [0, 1] (or uint8),
    resized to `size` x `size` first: a [3, size, size // 2 + 1] tensor.

    The images, not the spectrum, are resized, so the estimate is exactly the spectrum of real
    images at the render size (and Hermitian-symmetric where a real image's spectrum must be).
    With `decorrelate`, it is the spectrum of the colour-decorrelated images (Lucid's matrix
    inverted), the space in which the decorrelated parameterization draws.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise DataError(f"magnitude_spectrum needs [N, 3, H, W] images, got shape {tuple(images.shape)}")
    if len(images) == 0:
        raise DataError("magnitude_spectrum needs at least one image")
    total = torch.zeros(3, size, size // 2 + 1)
    unmix = torch.linalg.inv(COLOR_MATRIX)
    for start in range(0, len(images), SPECTRUM_CHUNK):
        chunk = images[start:start + SPECTRUM_CHUNK].cpu()
        chunk = chunk.float().div(255.0) if chunk.dtype == torch.uint8 else chunk.float()
        chunk = _init_batch(chunk, len(chunk), size)
        if decorrelate:
            chunk = _mix(chunk.contiguous(), unmix)
        total += torch.fft.rfft2(chunk, norm="ortho").abs().sum(0)
    return _symmetrize(total / len(images))


def spectrum(source: str | Path | None, size: int, decorrelate: bool = True) -> torch.Tensor:
    """The magnitude MACO keeps: that of the images in `source` (a folder of images or a Broden
    directory; at most MAX_SPECTRUM_IMAGES, evenly spaced), or of SPECTRUM_IMAGES concept-world
    images when None. Cached per (source, size, decorrelate) for the process; do not modify it."""
    key = None if source is None else str(Path(source).expanduser().resolve())
    return _cached_spectrum(key, size, decorrelate)


@functools.lru_cache(maxsize=16)
def _cached_spectrum(source: str | None, size: int, decorrelate: bool) -> torch.Tensor:
    images = _concept_images(size) if source is None else _folder_images(source, size)
    magnitude = magnitude_spectrum(images, size, decorrelate)
    if not magnitude.amax() > 0:
        raise DataError(f"the images of '{source}' are all black: their spectrum is 0 everywhere; "
                        "give --maco-spectrum images with content")
    return magnitude


def _concept_images(size: int) -> torch.Tensor:
    """SPECTRUM_IMAGES concept-world images drawn at `size` px (seeded; no files written)."""
    from ..data.concepts import render_sample

    samples = [render_sample(SPECTRUM_SEED, i, size).image for i in range(SPECTRUM_IMAGES)]
    return torch.from_numpy(np.stack(samples)).permute(0, 3, 1, 2)


def _folder_images(source: str, size: int) -> torch.Tensor:
    """Up to MAX_SPECTRUM_IMAGES images of a folder or Broden directory, evenly spaced, at `size`."""
    from ..data.images import image_only, open_dataset

    dataset = open_dataset(source, size)
    count = len(dataset)
    if count == 0:
        raise DataError(f"'{source}' holds no images to estimate the MACO spectrum from")
    n = min(count, MAX_SPECTRUM_IMAGES)
    return torch.stack([image_only(dataset, i * count // n)[0] for i in range(n)])


# ---- the parameterization --------------------------------------------------------------------------


@dataclass
class MacoParam:
    """Trainable phases [N, 3, size, size // 2 + 1] with a fixed magnitude; same interface as
    `ImageParam` (`.raw`, `.params`, `.size`, `spatial()`, `__call__()` -> [N, 3, H, W] in [0, 1]).

    `saliency` [N, size, size] sums |d objective / d image| (over colours) as render steps;
    `alpha()` turns it into the transparency map.
    """

    raw: torch.Tensor
    magnitude: torch.Tensor
    size: int
    decorrelate: bool
    color: torch.Tensor
    edge: torch.Tensor  # [size, size // 2 + 1] bool: columns whose phases must be odd in y
    real: torch.Tensor  # [size, size // 2 + 1] bool: the bins a real image's spectrum has real
    saliency: torch.Tensor

    @property
    def params(self) -> list[torch.Tensor]:
        return [self.raw]

    def spectrum(self) -> torch.Tensor:
        """The complex spectrum: `magnitude * exp(i phase)`, the phase made odd in y on the
        x-frequency 0 and Nyquist columns (the only Hermitian-consistent choice there, else
        irfft2 would silently shrink those magnitudes). At the few bins that must be real (DC
        and Nyquist corners) the value is `magnitude * cos(phase)`: its sign is what moves the
        mean colour, so those bins alone may fall below the template."""
        raw = self.raw
        mirrored = torch.roll(torch.flip(raw, [-2]), 1, -2)  # phase at -ky
        phase = torch.where(self.edge, (raw - mirrored) / 2, raw)
        gain = torch.where(self.real, torch.cos(raw), torch.ones_like(raw))
        return torch.complex(torch.cos(phase), torch.sin(phase)) * (self.magnitude * gain)

    def spatial(self) -> torch.Tensor:
        """The image whose spectrum magnitude is the template (decorrelated colours when
        `decorrelate`), before standardization and sigmoid."""
        return torch.fft.irfft2(self.spectrum(), s=(self.size, self.size), norm="ortho")

    def __call__(self) -> torch.Tensor:
        """Images in [0, 1]: colours mixed, standardized per image, sigmoid."""
        x = self.spatial()
        if self.decorrelate:
            x = _mix(x, self.color)
        flat = x.flatten(1)
        mean = flat.mean(1).view(-1, 1, 1, 1)
        std = flat.std(1).view(-1, 1, 1, 1)
        return torch.sigmoid((x - mean) / (std + STD_EPS))

    def alpha(self) -> torch.Tensor:
        """Transparency [N, size, size] in [0, 1]: the summed gradient magnitudes divided by
        their per-image ALPHA_QUANTILE quantile (its max where that is 0), clipped at 1."""
        flat = self.saliency.detach().float().flatten(1)
        scale = torch.quantile(flat, ALPHA_QUANTILE, dim=1)
        scale = torch.where(scale > 0, scale, flat.amax(1)).clamp_min(torch.finfo(flat.dtype).tiny)
        return (flat / scale[:, None]).clamp(max=1.0).view_as(self.saliency)


def maco_param(
    batch: int,
    size: int,
    magnitude: torch.Tensor,
    decorrelate: bool = True,
    seed: int = 0,
    init: torch.Tensor | None = None,
    place: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> MacoParam:
    """A batch of MACO images with `magnitude` [3, size, size // 2 + 1] (see `spectrum`).

    Phases start uniform in [-pi, pi) (seeded, drawn on the CPU), or as the phases of `init`
    images: MACO keeps only a photo's phase (its structure), never its magnitude, so the start is
    the photo's layout with the template's spectrum (random phases where the photo has no energy)."""
    place = place or (lambda tensor: tensor)
    shape = (batch, 3, size, size // 2 + 1)
    if tuple(magnitude.shape) != shape[1:]:
        raise DataError(f"a MACO magnitude for {size} px images is {list(shape[1:])}, got "
                        f"{list(magnitude.shape)}")
    gen = torch.Generator().manual_seed(seed)
    raw = (torch.rand(shape, generator=gen) * 2 - 1) * math.pi
    if init is not None:  # bins the photo lacks (|X| ~ 0, e.g. a flat photo) keep random phases
        images = _init_batch(init, batch, size).contiguous()
        if decorrelate:
            images = _mix(images, torch.linalg.inv(COLOR_MATRIX))
        photo = torch.fft.rfft2(images, norm="ortho")
        present = photo.abs() > 1e-4 * photo.abs().flatten(1).amax(1).view(-1, 1, 1, 1)
        raw = torch.where(present, torch.angle(photo), raw)
    edge, real = _hermitian_masks(size)
    return MacoParam(place(raw).detach().requires_grad_(True), place(magnitude.float().clone()), size,
                     decorrelate, place(COLOR_MATRIX), place(edge), place(real),
                     place(torch.zeros(batch, size, size)))


def _hermitian_masks(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(edge, real) masks over an rfft2 of a size x size real image: `edge` marks the x-frequency
    0 and Nyquist columns (there X[-ky] = conj X[ky]); `real` the bins equal to their own mirror."""
    width = size // 2 + 1
    cols = torch.zeros(width, dtype=torch.bool)
    cols[0] = True
    cols[-1] = size % 2 == 0
    rows = torch.zeros(size, dtype=torch.bool)
    rows[0] = True
    rows[size // 2] = size % 2 == 0
    edge = cols[None, :].expand(size, width).clone()
    return edge, edge & rows[:, None]


def _symmetrize(magnitude: torch.Tensor) -> torch.Tensor:
    """Make the edge columns exactly even in y (a real image's are, up to rounding)."""
    edge, _ = _hermitian_masks(magnitude.shape[-2])
    mirrored = torch.roll(torch.flip(magnitude, [-2]), 1, -2)
    return torch.where(edge, (magnitude + mirrored) / 2, magnitude)
