"""Fractional rotations of a layer's units (dissect/rotation.py) against their closed forms."""

from __future__ import annotations

import numpy as np
import torch

from unitscope.dissect.rotation import fractional_power, random_orthogonal, rotate, rotation


def test_fractional_powers_of_a_rotation():
    q = random_orthogonal(9, seed=3)
    assert np.allclose(q @ q.T, np.eye(9)) and np.isclose(np.linalg.det(q), 1.0)
    assert np.allclose(fractional_power(q, 0.0), np.eye(9))
    assert np.allclose(fractional_power(q, 1.0), q)
    half = fractional_power(q, 0.5)
    assert np.allclose(half @ half, q) and np.allclose(half @ half.T, np.eye(9))
    third = fractional_power(q, 1 / 3)
    assert np.allclose(third @ third @ third, q)
    assert rotation(9, 0.0) is None
    assert np.array_equal(random_orthogonal(9, seed=3), q)  # seeded


def test_rotate_mixes_channels_per_position():
    acts = torch.randn(2, 3, 4, 5)
    matrix = torch.from_numpy(fractional_power(random_orthogonal(3, 1), 0.7)).float()
    out = rotate(acts, matrix)
    assert torch.allclose(out[1, :, 2, 3], matrix @ acts[1, :, 2, 3], atol=1e-6)
    assert torch.allclose(out.pow(2).sum(1), acts.pow(2).sum(1), atol=1e-5)  # norms kept


def test_eig_fallback_agrees_with_real_schur():
    from unitscope.dissect.rotation import _power_by_eig

    q = random_orthogonal(16, seed=5)
    for alpha in (0.25, 0.5, 1.0):
        assert np.allclose(_power_by_eig(q, alpha), fractional_power(q, alpha), atol=1e-10)
