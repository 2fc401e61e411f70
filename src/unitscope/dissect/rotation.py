"""Random rotations of a layer's basis, Q**alpha, for the "is interpretability axis-aligned?" test.

Q is a random orthogonal matrix with det +1 (seeded). Its real Schur form is block diagonal with
2x2 rotations by angles theta (and +-1 entries); Q**alpha rotates each block by alpha*theta, so
alpha = 0 is the identity and alpha = 1 is Q itself (Bau, Zhou et al. 2017, section 3.2).
"""

from __future__ import annotations

import numpy as np
import torch


def random_orthogonal(units: int, seed: int = 0) -> np.ndarray:
    """A Haar-random orthogonal matrix with determinant +1."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((units, units)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def fractional_power(q: np.ndarray, alpha: float) -> np.ndarray:
    """Q**alpha for a rotation Q via its real Schur decomposition (real result)."""
    try:
        from scipy.linalg import schur
    except ImportError:
        return _power_by_eig(q, alpha)
    t, z = schur(q, output="real")
    n = t.shape[0]
    power = np.zeros_like(t)
    i, minus_ones = 0, []
    while i < n:
        if i + 1 < n and abs(t[i + 1, i]) > 1e-12:
            theta = np.arctan2(t[i + 1, i], t[i, i]) * alpha
            power[i : i + 2, i : i + 2] = [[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]
            i += 2
            continue
        if t[i, i] > 0:
            power[i, i] = 1.0
        else:
            minus_ones.append(i)
        i += 1
    # Pairs of -1 eigenvalues are rotations by pi in their plane (det +1 makes the count even).
    for a, b in zip(minus_ones[::2], minus_ones[1::2], strict=False):
        c, s = np.cos(np.pi * alpha), np.sin(np.pi * alpha)
        power[a, a], power[a, b], power[b, a], power[b, b] = c, -s, s, c
    return z @ power @ z.T


def _power_by_eig(q: np.ndarray, alpha: float) -> np.ndarray:
    """Without scipy: principal powers of the (unit-modulus) eigenvalues, same angles as Schur."""
    values, vectors = np.linalg.eig(q)
    powered = np.exp(1j * alpha * np.angle(values))
    return np.real(vectors @ np.diag(powered) @ np.linalg.inv(vectors))


def rotation(units: int, alpha: float, seed: int = 0) -> torch.Tensor | None:
    """The (units x units) float32 matrix Q**alpha, or None for alpha = 0 (the original basis)."""
    if alpha == 0:
        return None
    matrix = fractional_power(random_orthogonal(units, seed), float(alpha))
    return torch.from_numpy(matrix).float()


def rotate(acts: torch.Tensor, matrix: torch.Tensor | None) -> torch.Tensor:
    """Project (B, U, H, W) activations onto the rotated basis: new unit i = sum_j R[i, j] a_j."""
    if matrix is None:
        return acts
    return torch.einsum("ij,bjhw->bihw", matrix, acts.float()).contiguous()
