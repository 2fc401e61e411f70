"""Pass 2 of dissection: the pixels where a unit's upsampled map crosses its threshold, tallied.

The mask of unit u on an image is {pixel : bilinear(a_u)(pixel) > T_u}, the bilinear upsample
(PyTorch's align_corners=False rule) computed in float64. An upsampled pixel is a convex
combination of the 2x2 source cells it reads, so it can cross T only where the largest of those
four cells does: only the output pixels of such "hot" cells are computed, directly at their
positions, and the rest of the map is never upsampled. With a top-0.5 % threshold that is a few
percent of the pixels, and the result is the same set a dense upsample would give.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import torch

from ..stats.iou import IoUTally, LabelBatch

CHUNK_PIXELS = 1 << 21  # candidate pixels per chunk (float64 blocks of 16 MiB)


class _Axis:
    """One axis of a bilinear resize: each output index reads source i0 and i1 with weights
    w0 and w1 (float64), and each source index s is the i0 of the output range first[s] + count[s]."""

    def __init__(self, n_in: int, n_out: int) -> None:
        dst = torch.arange(n_out, dtype=torch.float64)
        src = ((n_in / n_out) * (dst + 0.5) - 0.5).clamp(min=0.0)
        self.i0 = src.floor().long().clamp(max=n_in - 1)
        self.w1 = (src - self.i0.double()).clamp(0.0, 1.0)
        self.w0 = 1.0 - self.w1
        self.i1 = torch.where(self.i0 < n_in - 1, self.i0 + 1, self.i0)
        self.count = torch.bincount(self.i0, minlength=n_in)
        self.first = torch.cumsum(self.count, 0) - self.count


@lru_cache(maxsize=16)
def _axes(h: int, w: int, sh: int, sw: int) -> tuple[_Axis, _Axis]:
    return _Axis(h, sh), _Axis(w, sw)


def quad_extreme(acts: torch.Tensor, negative: bool) -> torch.Tensor:
    """(B, U, h, w): max (min if negative) of the 2x2 cells from (y, x) down-right, edges clamped:
    an upper (lower) bound on every upsampled pixel whose top-left source cell is (y, x)."""
    pick = torch.minimum if negative else torch.maximum
    across = acts.clone()
    across[..., :-1] = pick(acts[..., :-1], acts[..., 1:])
    both = across.clone()
    both[..., :-1, :] = pick(across[..., :-1, :], across[..., 1:, :])
    return both


def active_pixels(
    acts: torch.Tensor, thresholds: torch.Tensor, size: tuple[int, int], negative: bool = False
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield chunks (image, unit, y, x) of the pixels of the (size)-upsampled maps of acts
    (B, U, h, w) above thresholds (U,) float64 (below them if negative)."""
    acts = acts.float().contiguous()
    _, units, h, w = acts.shape
    rows, cols = _axes(h, w, int(size[0]), int(size[1]))
    limit = float32_limit(thresholds, negative).view(1, -1, 1, 1)
    extreme = quad_extreme(acts, negative)
    image, unit, cy, cx = torch.nonzero(extreme < limit if negative else extreme > limit, as_tuple=True)
    step = max(1, CHUNK_PIXELS // (int(rows.count.max()) * int(cols.count.max())))
    for start in range(0, image.numel(), step):
        cells = slice(start, start + step)
        i, u = image[cells], unit[cells]
        first = (i * units + u) * (h * w)
        value, ys, xs = _cell_blocks(acts.view(-1), first, w, cy[cells], cx[cells], rows, cols)
        limit64 = thresholds[u].view(-1, 1, 1)
        k, r, c = torch.nonzero(value < limit64 if negative else value > limit64, as_tuple=True)
        yield i[k], u[k], ys[k, 0] + r, xs[k, 0] + c


def _cell_blocks(flat: torch.Tensor, first: torch.Tensor, w: int, cy: torch.Tensor, cx: torch.Tensor,
                 rows: _Axis, cols: _Axis):
    """Float64 values (K, R, C) of the output blocks whose top-left source cell is (cy, cx) in the
    maps starting at flat[first] (NaN, which compares false, at padding), and the blocks' output
    rows (K, R) and columns (K, C). PyTorch's bilinear formula; it agrees with F.interpolate in
    float64 to ~1e-15 (measured), not bit for bit, which flips a pixel only at an exact tie."""
    ys, valid_y = _block_index(cy, rows)
    xs, valid_x = _block_index(cx, cols)
    top, bottom = first + cy * w, first + rows.i1[ys[:, 0]] * w
    left, right = cx, cols.i1[xs[:, 0]]
    wl, wr = _padded(cols.w0, xs, valid_x), _padded(cols.w1, xs, valid_x)
    upper = flat[top + left].double().unsqueeze(1) * wl + flat[top + right].double().unsqueeze(1) * wr
    lower = flat[bottom + left].double().unsqueeze(1) * wl + flat[bottom + right].double().unsqueeze(1) * wr
    above, below = _padded(rows.w0, ys, valid_y).unsqueeze(2), _padded(rows.w1, ys, valid_y).unsqueeze(2)
    return upper.unsqueeze(1) * above + lower.unsqueeze(1) * below, ys, xs


def _padded(weights: torch.Tensor, index: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Weights at index, NaN where the index is padding, so padded pixels never count."""
    return weights[index].masked_fill(~valid, float("nan"))


def _block_index(cells: torch.Tensor, axis: _Axis) -> tuple[torch.Tensor, torch.Tensor]:
    """Output indices (K, n) read by source cells (K,), padded to the longest range, and validity."""
    span = torch.arange(int(axis.count.max()))
    valid = span < axis.count[cells].unsqueeze(1)
    index = (axis.first[cells].unsqueeze(1) + span).clamp(max=axis.i0.numel() - 1)
    return index, valid


def upsample_masks(acts: torch.Tensor, thresholds: torch.Tensor, size: tuple[int, int],
                   negative: bool = False) -> torch.Tensor:
    """Dense (B, U, sh, sw) bool masks from `active_pixels`, for small inputs and tests."""
    masks = torch.zeros(acts.shape[0], acts.shape[1], *size, dtype=torch.bool)
    for i, u, y, x in active_pixels(acts, thresholds, size, negative):
        masks[i, u, y, x] = True
    return masks


def float32_limit(thresholds: torch.Tensor, negative: bool) -> torch.Tensor:
    """float32 limits L with (x > L) == (x > T) for every float32 x (and likewise for <), so the
    cell filter runs in float32 without changing a single pixel: T rounded down (up for <)."""
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
    for image, unit, y, x in active_pixels(acts, thresholds.double(), labels.size, negative):
        tally.add_pixels(image, unit, y, x, labels)
    tally.add_labels(labels)
