"""Streaming top-k (stats/topk.py) against sorting everything; merged shards == one pass."""

from __future__ import annotations

import torch

from unitscope.stats import TopK, spatial_extreme


def _topk_batches(seed: int, n: int, units: int = 3):
    g = torch.Generator().manual_seed(seed)
    out, index = [], 0
    for _ in range(n):
        acts = torch.randn(6, units, 4, 5, generator=g).round(decimals=1)  # ties on purpose
        out.append((acts, torch.arange(index, index + 6)))
        index += 6
    return out


def test_topk_matches_sorting_everything_and_merges():
    batches = _topk_batches(0, 10)
    one = TopK(3, 4, keep_maps=True)
    low = TopK(3, 4, largest=False)
    shards = [TopK(3, 4, keep_maps=True), TopK(3, 4, keep_maps=True)]
    for i, (acts, idx) in enumerate(batches):
        best, where = spatial_extreme(acts)
        one.update(best, idx, where, acts)
        shards[i % 2].update(best, idx, where, acts)
        worst, wpos = spatial_extreme(acts)
        low.update(worst, idx, wpos)
    merged = shards[1].merge(shards[0])
    allacts = torch.cat([a for a, _ in batches])
    maxima = allacts.flatten(2).amax(2)
    for u in range(3):
        # Reference: sort by value descending, then by image index ascending.
        ref = sorted(range(len(maxima)), key=lambda i: (-float(maxima[i, u]), i))[:4]
        assert one.images[u].tolist() == ref
        assert merged.images[u].tolist() == ref
        assert torch.equal(merged.maps[u], one.maps[u])
        for j, i in enumerate(ref):
            x, y = one.positions[u, j].tolist()
            assert float(allacts[i, u, y, x]) == float(maxima[i, u])
            assert torch.equal(one.maps[u, j], allacts[i, u])
        ref_low = sorted(range(len(maxima)), key=lambda i: (float(maxima[i, u]), i))[:4]
        assert low.images[u].tolist() == ref_low
    state = one.state_dict()
    again = TopK(3, 4)
    again.load_state_dict(state)
    assert torch.equal(again.values, one.values) and torch.equal(again.maps, one.maps)
