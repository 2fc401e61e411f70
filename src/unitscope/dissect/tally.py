"""Pass 2 of dissection: binarize upsampled activation maps at the unit thresholds and tally.

A bilinear upsample (align_corners=False) is a convex combination of neighbouring values, so a
map whose maximum is below the threshold has no pixel above it: only (image, unit) pairs that
reach the threshold are upsampled, in chunks of bounded size. The upsample uses PyTorch's
channels-last kernel, whose results can differ from the NCHW kernel's in the last bit (order of
the four products); a pixel flips only if its value lies within one float32 ulp of the
threshold, which the exactness test (against an NCHW reference) has never seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from ..stats.iou import IoUTally, LabelBatch

CHUNK_PIXELS = 1 << 23  # upsampled pixels per chunk (32 MiB of float32)


def binarize(
    acts: torch.Tensor, thresholds: torch.Tensor, size: tuple[int, int], negative: bool = False
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield (masks (n, sh, sw) bool, image index (n,), unit index (n,)) chunks of a batch.

    Positive: mask = upsample(a) > T; negative: mask = upsample(a) < T. Pairs not yielded are
    entirely off. The comparison is done in float64 against float64 thresholds.
    """
    acts = acts.float()
    limits = float32_limit(thresholds, negative)
    flat = acts.flatten(2)
    extreme = flat.amin(2) if negative else flat.amax(2)
    reach = extreme.double() <= thresholds if negative else extreme.double() >= thresholds
    pair_image, pair_unit = torch.nonzero(reach, as_tuple=True)
    step = max(1, CHUNK_PIXELS // max(1, size[0] * size[1]))
    positions_first = acts.permute(2, 3, 0, 1)
    for start in range(0, pair_image.numel(), step):
        pi, pu = pair_image[start : start + step], pair_unit[start : start + step]
        # Pairs as the channels of one channels-last image: PyTorch's NHWC bilinear kernel
        # vectorizes over channels and runs several times faster than one map at a time.
        gathered = positions_first[:, :, pi, pu]  # (h, w, n), contiguous
        maps = gathered.view(1, *gathered.shape).permute(0, 3, 1, 2)
        up = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)[0]
        limit = limits[pu].view(-1, 1, 1)
        yield (up < limit if negative else up > limit), pi, pu


def float32_limit(thresholds: torch.Tensor, negative: bool) -> torch.Tensor:
    """float32 limits L with (x > L) == (x > T) for every float32 x (and likewise for <), so the
    big comparisons run in float32 without changing a single pixel: T rounded down (up for <)."""
    nearest = thresholds.double().float()
    if negative:
        off = nearest.double() < thresholds
        return torch.where(off, torch.nextafter(nearest, torch.full_like(nearest, float("inf"))), nearest)
    off = nearest.double() > thresholds
    return torch.where(off, torch.nextafter(nearest, torch.full_like(nearest, float("-inf"))), nearest)


def tally_batch(
    tally: IoUTally, acts: torch.Tensor, thresholds: torch.Tensor, labels: LabelBatch, negative: bool
) -> None:
    """Add one batch of activations (B, U, h, w) and its labels to `tally`."""
    for masks, pi, pu in binarize(acts, thresholds, labels.size, negative):
        tally.add_masks(masks, pi, pu, labels)
    tally.add_labels(labels)
