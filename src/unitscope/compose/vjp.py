"""Batched vector-Jacobian products: many backward seeds through one recorded forward.

Every composition computation (child scores, the dataset graph, local-path images) pushes a
stack of seeds from one probed point to another; `is_grads_batched` runs a chunk of them as one
vmapped backward instead of one backward per seed.
"""

from __future__ import annotations

import warnings

import torch


def batched_vjp(out: torch.Tensor, inp: torch.Tensor, seeds: torch.Tensor, chunk: int | None = None
                ) -> torch.Tensor:
    """(B, *inp.shape) gradients of `out` w.r.t. `inp`, one per seed of the (B, *out.shape)
    stack, `chunk` seeds per vmapped backward (all at once by default). Zeros where `inp` does
    not reach `out`; an op without a vmap rule falls back to one backward per seed."""
    chunk = chunk or max(1, len(seeds))
    parts = [_vjp(out, inp, seeds[start:start + chunk]) for start in range(0, len(seeds), chunk)]
    if not parts:
        return inp.new_zeros((0, *inp.shape))
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _vjp(out: torch.Tensor, inp: torch.Tensor, seeds: torch.Tensor) -> torch.Tensor:
    try:
        (grads,) = torch.autograd.grad(out, inp, seeds, retain_graph=True, is_grads_batched=True,
                                       allow_unused=True)
    except RuntimeError as exc:
        warnings.warn(f"batched backward unavailable ({str(exc)[:80]}); looping", stacklevel=3)
        rows = [torch.autograd.grad(out, inp, s, retain_graph=True, allow_unused=True)[0] for s in seeds]
        grads = None if rows[0] is None else torch.stack(rows)
    return grads if grads is not None else inp.new_zeros((len(seeds), *inp.shape))


def channel_seeds(act: torch.Tensor, channels: list[int] | range) -> torch.Tensor:
    """(B, *act.shape) grad outputs: seed b is all ones on channel `channels[b]`, zeros elsewhere."""
    seeds = act.new_zeros((len(channels), *act.shape))
    for b, channel in enumerate(channels):
        seeds[b, :, channel] = 1.0
    return seeds
