"""Per-unit thresholds, exact (np.quantile's linear method, bit for bit), in bounded memory.

Pass 1 counted the top byte of every activation per unit (stats/select.py). Each rescan of the
activation cache fixes the next digit of the wanted order statistics, for every stream at once:
one rescan for bf16 activations, two for float32 (and for rotated streams). Memory is a few
(units x 4096) count tables; nothing grows with the number of images.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import torch

from ..errors import CheckpointError
from ..stats.select import RadixQuantiles

Rescan = Callable[[int], Iterator[Mapping[str, torch.Tensor]]]


def exact_thresholds(streams, counts: Mapping[str, RadixQuantiles], levels: Mapping[bool, float],
                     rescan: Rescan, reduce: Callable[[torch.Tensor], torch.Tensor] = lambda t: t
                     ) -> dict[tuple[str, bool], torch.Tensor]:
    """{(stream key, negative): float64 per-unit threshold at quantile level levels[negative]}.

    `rescan(n)` yields, batch by batch, {stream key: (positions, units) values}; `reduce` sums a
    round's count table over the processes of a distributed run (each rescanned its own share),
    so every process fixes the same digits: the thresholds of the whole dataset."""
    qs = list(levels.values())
    selections = {s.key: counts[s.key].selection(qs) for s in streams}
    round_number = 1
    while not all(sel.done for sel in selections.values()):
        for batch in rescan(round_number):
            for key, sel in selections.items():
                if not sel.done:
                    sel.update(batch[key])
        for key, sel in selections.items():
            if not sel.done:
                for table in sel.tables.values():
                    reduce(table)
                _end_round(key, sel)
        round_number += 1
    results = {key: sel.result() for key, sel in selections.items()}
    return {(s.key, neg): results[s.key][q] for s in streams for neg, q in levels.items()}


def _end_round(key: str, selection) -> None:
    try:
        selection.end_round()
    except ValueError as exc:  # counts of pass 1 and of the rescan disagree
        raise CheckpointError(f"{key}: the activation cache does not match pass 1 ({exc}); "
                              "run again without --resume") from None
