"""Image parameterizations: pixels or a 1/f-scaled spectrum, decorrelated colour, sigmoid.

Optimizing the spectrum with 1/f scaling and decorrelated colour (Lucid's defaults) whitens the
gradient, so high frequencies do not dominate and images look natural rather than noisy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

# Square root of the ImageNet colour correlation (Lucid), columns scaled to max norm 1.
_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR_MATRIX = _COLOR_SQRT / _COLOR_SQRT.norm(dim=0).max()
FFT_MAGIC = 4.0  # Lucid divides the spatial image by 4 to keep early saturation down.
INIT_SD = 0.01


def fft_scale(height: int, width: int, decay: float = 1.0) -> torch.Tensor:
    """Per-frequency gain `1 / max(f, 1/max(h, w)) ** decay` for an rfft2 spectrum [h, w//2+1]."""
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    freqs = (fx * fx + fy * fy).sqrt()
    return 1.0 / freqs.clamp(min=1.0 / max(height, width)) ** decay


@dataclass
class ImageParam:
    """Trainable tensor plus the function that turns it into [N, 3, H, W] images in [0, 1]."""

    raw: torch.Tensor
    size: int
    fft: bool
    decorrelate: bool
    scale: torch.Tensor | None = None
    color: torch.Tensor = COLOR_MATRIX  # on the parameter's device, so no step copies it there

    @property
    def params(self) -> list[torch.Tensor]:
        return [self.raw]

    def spatial(self) -> torch.Tensor:
        """The unbounded image before the sigmoid (colours mixed when decorrelated)."""
        raw = self.raw
        if self.decorrelate:  # linear in colour, so mixing the (half-size) spectrum is the same
            raw = _mix(raw, self.color)
        if not self.fft:
            return raw
        spectrum = torch.view_as_complex(raw) * self.scale  # scale includes Lucid's / 4
        return torch.fft.irfft2(spectrum, s=(self.size, self.size), norm="ortho")

    def __call__(self) -> torch.Tensor:
        """Images in [0, 1]."""
        return torch.sigmoid(self.spatial())


def _mix(t: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 colour matrix to dim 1 (`t @ M.T` per pixel) as one batched matmul."""
    return (matrix.to(dtype=t.dtype) @ t.reshape(t.shape[0], 3, -1)).view(t.shape)


def image_param(
    batch: int,
    size: int,
    fft: bool = True,
    decorrelate: bool = True,
    decay: float = 1.0,
    seed: int = 0,
    init: torch.Tensor | None = None,
    place: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> ImageParam:
    """A batch of trainable images: random (sd 0.01, seeded) or starting from `init` images.

    Drawn on the CPU (the same start on every device), then put where `place` says (the model's
    `to_device`; the CPU by default)."""
    place = place or (lambda tensor: tensor)
    scale = place((fft_scale(size, size, decay) / FFT_MAGIC)[None, None]) if fft else None
    param = ImageParam(torch.empty(0), size, fft, decorrelate, scale)
    if init is None:
        gen = torch.Generator().manual_seed(seed)
        shape = (batch, 3, size, size // 2 + 1, 2) if fft else (batch, 3, size, size)
        raw = torch.randn(shape, generator=gen) * INIT_SD
    else:
        raw = _invert(param, _init_batch(init, batch, size))
    param.raw = place(raw).detach().requires_grad_(True)
    param.color = place(COLOR_MATRIX)
    return param


def _init_batch(init: torch.Tensor, batch: int, size: int) -> torch.Tensor:
    """`init` as [batch, 3, size, size] in [0, 1] (one image is repeated)."""
    images = init.float().cpu()
    images = images[None] if images.dim() == 3 else images
    if images.shape[-2:] != (size, size):
        images = torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear",
                                                 align_corners=False, antialias=True)
    return images.expand(batch, -1, -1, -1) if images.shape[0] == 1 else images


def _invert(param: ImageParam, images: torch.Tensor) -> torch.Tensor:
    """The raw parameter whose image is `images` (clamped away from 0 and 1 for the sigmoid)."""
    raw = torch.logit(images.clamp(0.01, 0.99))
    if param.fft:
        spectrum = torch.fft.rfft2(raw, norm="ortho") / param.scale.cpu()
        raw = torch.view_as_real(spectrum)
    if param.decorrelate:
        raw = _mix(raw, torch.linalg.inv(COLOR_MATRIX))
    return raw.contiguous()
