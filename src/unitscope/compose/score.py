"""Contribution scores: how much each channel of a lower layer adds to one unit above it.

For parent unit j, f = sum of j's activation map (its value for an fc unit) and g = df/da for
the activations a of the layer below; child channel i scores sum over positions of g * a.
Scores are signed, so inhibitory children show up as negative scores. The gradient goes through
whatever connects the two probed points (pools, skips, flatten), so any pair of layers works.

Many parents are scored with one batched vector-Jacobian product (`is_grads_batched`, i.e.
vmap over the backward) on a single recorded forward, not one backward per parent.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .vjp import batched_vjp, channel_seeds


def unit_value(act: torch.Tensor, channel: int) -> float:
    """f for a unit: its activation summed over positions (batch of one)."""
    return float(act[0, channel].detach().sum())


def contribution_scores(acts: dict[str, torch.Tensor], parent: str, child: str,
                        channels: Sequence[int], batch: int = 32) -> torch.Tensor:
    """(len(channels), C_child) signed scores of every child channel for each parent channel."""
    out, inp = acts[parent], acts[child]
    rows = []
    for start in range(0, len(channels), batch):
        chunk = list(channels[start : start + batch])
        grads = batched_vjp(out, inp, channel_seeds(out, chunk))
        contrib = grads[:, 0] * inp[0].detach()
        rows.append(contrib.reshape(len(chunk), contrib.shape[1], -1).sum(-1))
    return torch.cat(rows).detach()


def split_children(scores: torch.Tensor, k: int, k_negative: int | None = None
                   ) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """Top-k positive (channel, score) pairs, largest first, and the strongest negative ones."""
    k_negative = k if k_negative is None else k_negative
    order = torch.argsort(scores, descending=True, stable=True).tolist()
    positive = [(c, float(scores[c])) for c in order if scores[c] > 0][:k]
    negative = [(c, float(scores[c])) for c in reversed(order) if scores[c] < 0][:k_negative]
    return positive, negative


def positive_total(scores: torch.Tensor) -> float:
    """The parent's total positive contribution from the layer below (coverage denominator)."""
    return float(scores.clamp(min=0).sum())
