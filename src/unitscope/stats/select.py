"""Exact per-unit quantiles of a stream in bounded memory: radix selection on the bits of floats.

A float's bits, with the sign bit flipped for positives and every bit flipped for negatives, sort
like the floats. One pass counts, per unit, the top digit of those keys: U x 2**b counts, so
memory does not grow with the stream, and counts merge by addition. The wanted order statistics
then lie in known bins; each rescan of the same data counts the next digit among the values still
in play, until every bit is known. bfloat16/float16 values need one rescan, float32 two. Results
equal np.quantile(..., method="linear") bit for bit; counting is O(n), where a sketch sorts.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import torch

WIDTH = {torch.bfloat16: 16, torch.float16: 16, torch.float32: 32}
DIGITS = {16: (8, 8), 32: (8, 12, 12)}  # bits fixed per round; the first round is the top byte
_AS_INT = {16: torch.int16, 32: torch.int32}
_KEY = {16: torch.int32, 32: torch.int64}
# The top byte (sign + exponent bits) as read from memory, and the order of the floats it starts:
# positives (raw < 128) come after negatives, whose order is reversed.
_ORDERED_OF_RAW = torch.tensor([r + 128 if r < 128 else 255 - r for r in range(256)])
_RAW_OF_ORDERED = torch.argsort(_ORDERED_OF_RAW).to(torch.uint8)


def order_keys(values: torch.Tensor) -> torch.Tensor:
    """Non-negative integers that sort exactly like `values` (bf16, fp16 or fp32)."""
    width = WIDTH[values.dtype]
    full = (1 << width) - 1
    top = 1 << (width - 1)
    raw = values.view(_AS_INT[width]).to(_KEY[width]) & full
    negative = raw >= top
    return torch.where(negative, raw ^ full, raw ^ top)


def top_bytes(values: torch.Tensor) -> torch.Tensor:
    """A free view of each value's most significant byte (sign and top exponent bits)."""
    step = WIDTH[values.dtype] // 8
    first = step - 1 if sys.byteorder == "little" else 0
    return values.view(torch.uint8)[..., first::step]


def keys_to_values(keys: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The float64 values of `order_keys` results (the inverse map)."""
    width = WIDTH[dtype]
    full, top = (1 << width) - 1, 1 << (width - 1)
    raw = torch.where(keys >= top, keys ^ top, keys ^ full)
    signed = torch.where(raw >= top, raw - (1 << width), raw)
    return signed.to(_AS_INT[width]).view(dtype).double()


def linear_ranks(n: int, q: float) -> tuple[int, int, float]:
    """np.quantile's linear method: the two 0-based ranks it reads and the weight between them."""
    virtual = (n - 1) * q
    below = math.floor(virtual)
    gamma = virtual - below
    if virtual >= n - 1:
        return n - 1, n - 1, gamma
    return max(below, 0), max(below + 1, 0), gamma


def lerp(a: torch.Tensor, b: torch.Tensor, gamma: float) -> torch.Tensor:
    """numpy's _lerp, operation for operation, so float64 results agree to the last bit."""
    diff = b - a
    return b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma


class RadixQuantiles:
    """Per-unit counts of the values' top bytes, in memory order; `selection` finishes the job."""

    def __init__(self, units: int) -> None:
        self.units = int(units)
        self.count = 0
        self.dtype: torch.dtype | None = None
        self.counts: torch.Tensor | None = None

    def update(self, values: torch.Tensor) -> None:
        """Count a (n, units) batch; every batch of one stream must have the same dtype."""
        if values.dim() != 2 or values.shape[1] != self.units:
            raise ValueError(f"expected (n, {self.units}) values, got {tuple(values.shape)}")
        if values.dtype not in WIDTH:
            raise ValueError(f"values of dtype {values.dtype} are not supported; use float32")
        if self.dtype is None:
            self.dtype = values.dtype
            self.counts = torch.zeros(self.units, 256, dtype=torch.long)
        elif values.dtype != self.dtype:
            raise ValueError(f"values changed dtype from {self.dtype} to {values.dtype} mid-stream")
        self.counts += _count(top_bytes(values.contiguous()).to(torch.int32), 256)
        self.count += values.shape[0]

    @property
    def width(self) -> int:
        return WIDTH[self.dtype]

    @property
    def digits(self) -> tuple[int, ...]:
        return DIGITS[self.width]

    def merge(self, other: RadixQuantiles) -> RadixQuantiles:
        """Fold another stream's counts over the same units in (in place); returns self."""
        if other.units != self.units:
            raise ValueError(f"cannot merge counts over {other.units} and {self.units} units")
        if other.dtype is None:
            return self
        if self.dtype is None:
            self.dtype, self.counts = other.dtype, torch.zeros_like(other.counts)
        elif other.dtype != self.dtype:
            raise ValueError(f"cannot merge {other.dtype} counts into {self.dtype} counts")
        self.counts += other.counts
        self.count += other.count
        return self

    def selection(self, quantiles: Sequence[float]) -> Selection:
        """Start finding the exact `quantiles`; feed it the same stream again until it is done."""
        if self.count == 0:
            raise ValueError("no values seen yet")
        return Selection(self, list(quantiles))

    def state_dict(self) -> dict:
        return {"units": self.units, "count": self.count,
                "dtype": None if self.dtype is None else str(self.dtype).removeprefix("torch."),
                "counts": None if self.counts is None else self.counts.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.units, self.count = int(state["units"]), int(state["count"])
        names = {str(d).removeprefix("torch."): d for d in WIDTH}
        if state["dtype"] is not None and state["dtype"] not in names:
            raise ValueError(f"counts of unknown dtype {state['dtype']!r}")
        self.dtype = None if state["dtype"] is None else names[state["dtype"]]
        self.counts = None if state["counts"] is None else state["counts"].clone()


def _count(digits: torch.Tensor, bins: int) -> torch.Tensor:
    """(units, bins) counts of (n, units) digits: one bincount over unit-offset digits."""
    units = digits.shape[1]
    offsets = torch.arange(units, dtype=digits.dtype) * bins
    return torch.bincount((digits + offsets).reshape(-1), minlength=units * bins).view(units, bins)


class Selection:
    """The order statistics behind some quantiles, narrowed one digit per rescan."""

    def __init__(self, counts: RadixQuantiles, quantiles: list[float]) -> None:
        self.source, self.quantiles = counts, quantiles
        self.plans = [linear_ranks(counts.count, q) for q in quantiles]
        self.ranks = sorted({r for lo, hi, _ in self.plans for r in (lo, hi)})
        units, targets = counts.units, len(self.ranks)
        self.prefix = torch.zeros(units, targets, dtype=torch.long)  # known top bits of each key
        self.remaining = torch.tensor(self.ranks).repeat(units, 1)  # rank among keys with that prefix
        self.in_play = torch.full((units, targets), counts.count)  # how many keys have that prefix
        self.known = 0
        self._narrow([counts.counts[:, _RAW_OF_ORDERED.long()]] * targets)
        self.round = 1
        self._start_round()

    @property
    def done(self) -> bool:
        return self.known == self.source.width

    def _start_round(self) -> None:
        if self.done:
            return
        self.bits = self.source.digits[self.round]
        self.shift = self.source.width - self.known - self.bits
        self.columns = self._distinct_columns()
        units = self.source.units
        self.tables = {j: torch.zeros(units, 1 << self.bits, dtype=torch.long) for j in self.columns}

    def _distinct_columns(self) -> dict[int, int]:
        """Target column -> the first column with the same prefixes (ranks in one bin share work)."""
        first: dict[int, int] = {}
        for j in range(self.prefix.shape[1]):
            same = [i for i in set(first.values()) if torch.equal(self.prefix[:, i], self.prefix[:, j])]
            first[j] = same[0] if same else j
        return first

    def update(self, values: torch.Tensor) -> None:
        """Count the next digit of the values that share each target's known prefix.

        A compare of top bytes finds the few candidates; only those get full keys."""
        units = self.source.units
        values = values.contiguous()
        flat, top = values.view(-1), top_bytes(values)
        for j in set(self.columns.values()):
            byte = _RAW_OF_ORDERED[self.prefix[:, j] >> (self.known - 8)]
            where = (top == byte).view(-1).nonzero().squeeze(1)
            unit = where % units
            keys = order_keys(flat[where])
            if self.known > 8:
                keep = (keys >> (self.source.width - self.known)) == self.prefix[unit, j]
                keys, unit = keys[keep], unit[keep]
            digit = (keys >> self.shift) & ((1 << self.bits) - 1)
            counts = torch.bincount((unit << self.bits) + digit, minlength=units << self.bits)
            self.tables[j] += counts.view(units, -1)

    def end_round(self) -> None:
        """Fix one more digit of every target from the counts of this rescan."""
        self._narrow([self.tables[self.columns[j]] for j in range(self.prefix.shape[1])])
        self.round += 1
        self._start_round()

    def _narrow(self, tables: list[torch.Tensor]) -> None:
        """Per target: the digit whose bin holds its remaining rank; the rank within that bin."""
        bits = tables[0].shape[1].bit_length() - 1
        for j, table in enumerate(tables):
            if not torch.equal(table.sum(1), self.in_play[:, j]):
                raise ValueError(f"the rescan saw different values than the first pass ({int(table.sum())} "
                                 f"vs {int(self.in_play[:, j].sum())} in play): the data changed")
            cum = torch.cumsum(table, dim=1)
            digit = torch.searchsorted(cum, self.remaining[:, j : j + 1].contiguous(), right=True)
            self.remaining[:, j] -= (cum - table).gather(1, digit).squeeze(1)
            self.in_play[:, j] = table.gather(1, digit).squeeze(1)
            self.prefix[:, j] = (self.prefix[:, j] << bits) | digit.squeeze(1)
        self.known += bits

    def result(self) -> dict[float, torch.Tensor]:
        """q -> per-unit float64 quantile, equal to np.quantile's linear method."""
        if not self.done:
            raise RuntimeError("selection needs more rescans of the data")
        values = keys_to_values(self.prefix, self.source.dtype)
        column = {r: j for j, r in enumerate(self.ranks)}
        return {q: lerp(values[:, column[lo]], values[:, column[hi]], gamma)
                for q, (lo, hi, gamma) in zip(self.quantiles, self.plans, strict=True)}
