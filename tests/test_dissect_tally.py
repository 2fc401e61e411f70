"""Per-unit masks of the tally (dissect/tally.py): float32 limits and sparse upsampling equal float64."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from unitscope.dissect.tally import active_pixels, float32_limit, upsample_masks


def test_float32_limits_compare_exactly_like_float64():
    g = torch.Generator().manual_seed(0)
    t = torch.randn(50, dtype=torch.float64, generator=g)
    t[:5] = t[:5].float().double()  # some thresholds exactly representable
    x = torch.randn(50, 400, generator=g)
    x[:, 0] = t.float()
    x[:, 1] = torch.nextafter(t.float(), torch.tensor(np.inf, dtype=torch.float32))
    x[:, 2] = torch.nextafter(t.float(), torch.tensor(-np.inf, dtype=torch.float32))
    for negative in (False, True):
        limit = float32_limit(t, negative).view(-1, 1)
        ours = x < limit if negative else x > limit
        exact = x.double() < t.view(-1, 1) if negative else x.double() > t.view(-1, 1)
        assert torch.equal(ours, exact)


def test_sparse_upsample_equals_a_dense_float64_upsample():
    """Only hot cells are expanded, yet the masks equal thresholding F.interpolate in float64."""
    g = torch.Generator().manual_seed(2)
    for (h, w), size in [((7, 7), (56, 56)), ((13, 17), (113, 100)), ((5, 9), (37, 61)), ((4, 4), (4, 4)),
                         ((9, 12), (5, 7))]:  # the last one shrinks: some source rows own no pixel
        base = torch.randn(3, 6, h, w, generator=g)
        base[:, 1] = torch.relu(base[:, 1])  # mostly zero: a positive threshold of 0 is never crossed
        base[0, 2] = 0.0
        # as the cache holds them: float32 or bf16, NCHW or channels_last
        for acts in (base, base.contiguous(memory_format=torch.channels_last),
                     base.bfloat16().contiguous(memory_format=torch.channels_last), base.double()):
            dense = F.interpolate(acts.double(), size=size, mode="bilinear", align_corners=False)
            for negative in (False, True):
                t = torch.quantile(acts.transpose(0, 1).flatten(1).double(), 0.1 if negative else 0.9, dim=1)
                want = dense < t.view(1, -1, 1, 1) if negative else dense > t.view(1, -1, 1, 1)
                assert torch.equal(upsample_masks(acts, t, size, negative), want), (acts.dtype, acts.stride())
            assert 0 < int(want.sum()) < want.numel()


def test_only_cells_that_can_cross_the_threshold_are_expanded():
    acts = torch.zeros(2, 2, 3, 3)
    acts[0, 0, 1, 1] = 5.0
    acts[1, 1] = 1.0
    pixels = [torch.cat(c) for c in zip(*active_pixels(acts, torch.tensor([1.0, 0.5], dtype=torch.float64),
                                                       (6, 6)), strict=True)]
    pairs = set(zip(pixels[0].tolist(), pixels[1].tolist(), strict=True))
    assert pairs == {(0, 0), (1, 1)}
    on_11 = (pixels[0] == 1) & (pixels[1] == 1)
    assert int(on_11.sum()) == 36 and 0 < int((~on_11).sum()) < 36
