"""Exact streaming quantiles by radix selection: np.quantile bit for bit, in any dtype, merged or resumed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unitscope.stats.select import RadixQuantiles, keys_to_values, order_keys

QS = [0.0, 0.005, 0.3333, 0.5, 0.995, 1.0]


def _data(dtype: torch.dtype, n: int = 6000, seed: int = 0) -> torch.Tensor:
    """Gaussian, ReLU'd with ties, constant, signed zeros and infinities: the awkward cases."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g) * 3
    x[:, 1] = torch.relu(x[:, 1]).round()
    x[:50, 2], x[50:90, 2] = float("inf"), -0.0
    x[:, 3] = 2.5
    x[:, 4] = -torch.exp(x[:, 4])
    return x.to(dtype)


def _solve(counts: RadixQuantiles, data: torch.Tensor, qs=QS) -> tuple[dict, int]:
    selection = counts.selection(qs)
    rescans = 0
    while not selection.done:
        for chunk in data.split(1111):
            selection.update(chunk)
        selection.end_round()
        rescans += 1
    return selection.result(), rescans


@pytest.mark.parametrize("dtype, rescans", [(torch.bfloat16, 1), (torch.float16, 1), (torch.float32, 2)])
def test_equals_numpy_quantile_bit_for_bit(dtype, rescans):
    data = _data(dtype)
    counts = RadixQuantiles(6)
    for chunk in data.split(777):
        counts.update(chunk)
    got, used = _solve(counts, data)
    assert used == rescans
    for q in QS:
        with np.errstate(invalid="ignore"):  # inf - inf in the column with infinities
            want = np.quantile(data.double().numpy(), q, axis=0)
        assert np.array_equal(got[q].numpy(), want, equal_nan=True), (dtype, q)


def test_order_keys_sort_like_the_floats_and_invert():
    values = torch.tensor([-float("inf"), -3.5, -1e-30, -0.0, 0.0, 1e-30, 2.0, float("inf")])
    keys = order_keys(values)
    assert bool((keys[1:] >= keys[:-1]).all()) and int(keys[3]) < int(keys[4])
    assert torch.equal(keys_to_values(keys, torch.float32), values.double())


def test_merge_of_shards_and_resume_equal_one_pass():
    data = _data(torch.float32, seed=3)
    whole = RadixQuantiles(6)
    whole.update(data)
    shards = [RadixQuantiles(6) for _ in range(3)]
    for shard, chunk in zip(shards, data.chunk(3), strict=True):
        shard.update(chunk)
    merged = shards[0].merge(shards[1]).merge(shards[2])
    resumed = RadixQuantiles(6)
    resumed.load_state_dict(merged.state_dict())
    assert torch.equal(resumed.counts, whole.counts) and resumed.count == whole.count
    for a, b in zip(_solve(resumed, data)[0].values(), _solve(whole, data)[0].values(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy(), equal_nan=True)


def test_memory_does_not_grow_with_the_stream():
    counts = RadixQuantiles(3)
    counts.update(torch.randn(10, 3))
    size = counts.counts.numel()
    for _ in range(5):
        counts.update(torch.randn(20000, 3))
    assert counts.counts.numel() == size == 3 * 256


def test_a_rescan_over_other_data_is_an_error():
    data = _data(torch.bfloat16)
    counts = RadixQuantiles(6)
    counts.update(data)
    selection = counts.selection([0.5])
    selection.update(data[:-10])
    with pytest.raises(ValueError, match="different values"):
        selection.end_round()


def test_mixed_dtypes_are_refused():
    counts = RadixQuantiles(2)
    counts.update(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="dtype"):
        counts.update(torch.zeros(4, 2, dtype=torch.bfloat16))


def test_a_checkpoint_with_an_unknown_dtype_is_refused():
    counts = RadixQuantiles(2)
    counts.update(torch.zeros(4, 2))
    state = counts.state_dict()
    assert state["dtype"] == "float32"
    state["dtype"] = "nn"
    with pytest.raises(ValueError, match="unknown dtype 'nn'"):
        RadixQuantiles(2).load_state_dict(state)
