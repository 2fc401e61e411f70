"""Cutting a long text into windows a model reads with full context: whole blocks (text between
blank lines) packed up to WINDOW characters; a longer block is cut into pieces that overlap by
WARMUP characters, whose activations are discarded (they only give the next piece its context)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from ..models import Model
from .vocabulary import UNKNOWN, Vocabulary

WINDOW = 512
WARMUP = 128


@dataclass(frozen=True)
class Span:
    """Characters [start, end) are read; positions from `keep` on are recorded."""

    start: int
    end: int
    keep: int


def spans(text: str, window: int = WINDOW, warmup: int = WARMUP) -> list[Span]:
    """Windows over the whole text, each position recorded exactly once."""
    starts = [0] + [m.end() for m in re.finditer(r"\n\n+", text)]
    bounds = [*starts, len(text)]
    found: list[Span] = []
    begin = 0
    for i in range(1, len(bounds)):
        if bounds[i] - begin > window and bounds[i - 1] > begin:  # close the window before this block
            found += _cut(begin, bounds[i - 1], window, warmup)
            begin = bounds[i - 1]
    found += _cut(begin, len(text), window, warmup)
    return [s for s in found if s.end > s.keep]


def _cut(start: int, end: int, window: int, warmup: int) -> list[Span]:
    pieces, keep = [], start
    while keep < end:
        begin = max(start, keep - warmup)
        stop = min(end, begin + window)
        pieces.append(Span(begin, stop, keep))
        keep = stop
    return pieces


def record_positions(model: Model, text: str, vocabulary: Vocabulary, layers: list[str],
                     batch_size: int = 32) -> dict[str, np.ndarray]:
    """[characters, channels] float32 per layer: every position's activations, read in windows."""
    ids = vocabulary.encode(text)
    text_spans = spans(text)
    out = {layer: None for layer in layers}
    probe = model.probe(layers)
    with probe, torch.no_grad():
        for first in range(0, len(text_spans), batch_size):
            group = text_spans[first:first + batch_size]
            batch = np.full((len(group), max(s.end - s.start for s in group)), UNKNOWN, np.int64)
            for row, span in enumerate(group):
                batch[row, :span.end - span.start] = ids[span.start:span.end]
            acts = probe(model.to_device(torch.from_numpy(batch)))
            for layer, value in acts.items():
                value = value.float().cpu().numpy()  # [B, C, T]
                if out[layer] is None:
                    out[layer] = np.zeros((len(ids), value.shape[1]), np.float32)
                for row, span in enumerate(group):
                    kept = value[row, :, span.keep - span.start:span.end - span.start]
                    out[layer][span.keep:span.end] = kept.T
    return out

