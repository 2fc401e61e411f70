"""Per-unit thresholds: from the quantile sketch, or exact (np.quantile's definition) by a scan.

The exact mode re-reads the activation cache once: the sketch brackets each wanted rank in a
window [lo, hi] (its rank error is far below `MARGIN`), the scan counts values below lo and keeps
the few inside the window, and the exact order statistics are read from those. Units whose rank
fell outside the window (never seen in tests) are redone in a second scan that keeps all values
of just those units. Memory: about 2 * MARGIN of one layer's activations.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..stats.quantile import QuantileSketch

MARGIN = 0.004


def sketch_threshold(sketch: QuantileSketch, quantile: float, negative: bool) -> torch.Tensor:
    """T for the top `quantile` fraction (positive) or the bottom one (negative), float64."""
    return sketch.quantile(quantile if negative else 1.0 - quantile)


def numpy_quantile(value_at, n: int, q: float) -> float | None:
    """np.quantile(data, q) (linear method) given `value_at(rank)` -> the rank-th smallest of
    the n values (or None if unknown); numpy's own formulas, so results match bit for bit."""
    virtual = n * q + (1 + q * (1 - 1 - 1)) - 1
    prev = math.floor(virtual)
    gamma = virtual - prev
    a = value_at(min(max(prev, 0), n - 1))
    b = value_at(min(max(prev + 1, 0), n - 1))
    if a is None or b is None:
        return None
    diff = b - a
    return float(b - diff * (1 - gamma)) if gamma >= 0.5 else float(a + diff * gamma)


class ExactWindow:
    """Collect what an exact quantile needs from a stream of (n, units) values: counts below lo,
    equal to lo, equal to hi, and the values strictly between (ties cost nothing)."""

    def __init__(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        self.lo = lo.double()
        self.hi = torch.maximum(hi.double(), self.lo)
        self.below = torch.zeros_like(self.lo, dtype=torch.long)
        self.at_lo = torch.zeros_like(self.below)
        self.at_hi = torch.zeros_like(self.below)
        self.count = 0
        self.kept_units: list[torch.Tensor] = []
        self.kept_values: list[torch.Tensor] = []

    def update(self, values: torch.Tensor) -> None:
        v = values.double()
        self.count += v.shape[0]
        self.below += (v < self.lo).sum(0)
        self.at_lo += (v == self.lo).sum(0)
        self.at_hi += ((v == self.hi) & (self.hi > self.lo)).sum(0)
        inside = (v > self.lo) & (v < self.hi)
        rows, units = torch.nonzero(inside, as_tuple=True)
        self.kept_units.append(units)
        self.kept_values.append(v[rows, units])

    def solve(self, q: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(thresholds, ok): exact q-quantiles where the window held the needed ranks."""
        units = torch.cat(self.kept_units) if self.kept_units else torch.empty(0, dtype=torch.long)
        values = torch.cat(self.kept_values) if self.kept_values else torch.empty(0, dtype=torch.float64)
        order = torch.argsort(units, stable=True)
        units, values = units[order], values[order]
        n_units = self.lo.shape[0]
        counts = torch.bincount(units, minlength=n_units)
        starts = torch.cumsum(counts, 0) - counts
        out = torch.full((n_units,), math.nan, dtype=torch.float64)
        ok = torch.zeros(n_units, dtype=torch.bool)
        for u in range(n_units):
            s, size = int(starts[u]), int(counts[u])
            window = np.sort(values[s : s + size].numpy())
            value = numpy_quantile(self._value_at(u, window), self.count, q)
            if value is not None:
                out[u], ok[u] = value, True
        return out, ok

    def _value_at(self, u: int, window: np.ndarray):
        below, at_lo, at_hi = int(self.below[u]), int(self.at_lo[u]), int(self.at_hi[u])
        lo, hi = float(self.lo[u]), float(self.hi[u])

        def value_at(rank: int) -> float | None:
            r = rank - below
            if r < 0:
                return None
            if r < at_lo:
                return lo
            r -= at_lo
            if r < len(window):
                return float(window[r])
            r -= len(window)
            return hi if r < at_hi else None

        return value_at


def window_for(sketch: QuantileSketch, q: float) -> ExactWindow:
    """A window around the sketch's estimate of the q-quantile, MARGIN of rank either side."""
    lo = sketch.quantile(max(q - MARGIN, 0.0))
    hi = sketch.quantile(min(q + MARGIN, 1.0))
    return ExactWindow(lo, hi)


def fallback_window(failed: torch.Tensor) -> ExactWindow:
    """A window that keeps every value of the failed units and nothing of the others."""
    lo = torch.where(failed, -math.inf, math.inf).double()
    hi = torch.where(failed, math.inf, -math.inf).double()
    return ExactWindow(lo, hi)
