"""Reduced-precision execution: bf16 autocast where the hardware has it, strict fp32 otherwise.

bf16 autocast plus channels_last made forward+backward several times faster on CPUs with
AVX512-BF16 or AMX; on CPUs without them bf16 is emulated and slower, so support is detected,
never assumed, and `precision="fp32"` (or UNITSCOPE_PRECISION=fp32) switches it off.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from typing import Literal

import torch
from torch import nn

from .errors import BadInputError

Precision = Literal["auto", "bf16", "fp32"]
PRECISIONS = ("auto", "bf16", "fp32")


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True when the CPU runs bf16 matrix products natively (AMX or AVX512-BF16)."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    for name in checks:
        probe = getattr(cpu, name, None)
        if probe is not None:
            with contextlib.suppress(Exception):
                if probe():
                    return True
    return False


def resolve(precision: str | None = None, device: torch.device | str = "cpu") -> str:
    """Turn 'auto' (or the UNITSCOPE_PRECISION variable) into 'bf16' or 'fp32' for this device."""
    chosen = precision or os.environ.get("UNITSCOPE_PRECISION", "auto")
    if chosen not in PRECISIONS:
        raise BadInputError(f"unknown precision '{chosen}'; use one of {', '.join(PRECISIONS)}")
    if chosen != "auto":
        return chosen
    kind = torch.device(device).type
    if kind == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if kind == "cpu" and cpu_has_fast_bf16() else "fp32"


@contextlib.contextmanager
def autocast(precision: str | None = None, device: torch.device | str = "cpu") -> Iterator[str]:
    """Run the block under bf16 autocast when `precision` resolves to bf16, else in strict fp32
    (on CUDA, TF32 off: the forward then matches the CPU's to float rounding); yields the choice."""
    chosen = resolve(precision, device)
    if chosen == "bf16":
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
            yield chosen
    else:
        with strict_fp32(device):
            yield chosen


@contextlib.contextmanager
def strict_fp32(device: torch.device | str = "cpu") -> Iterator[None]:
    """No TF32 inside the block on CUDA (torch lets cuDNN convolutions use it by default, which
    rounds fp32 inputs to 10-bit mantissas); nothing changes elsewhere. Restored on exit."""
    if torch.device(device).type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def channels_last(module: nn.Module) -> nn.Module:
    """Put conv weights in channels_last layout (in place); a no-op for layers without 4-D weights."""
    return module.to(memory_format=torch.channels_last)
