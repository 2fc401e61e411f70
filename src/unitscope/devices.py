"""Choosing the device: `--device auto|cpu|cuda|cuda:N|mps`, resolved when a model is loaded.

Nothing picks a device at import time; after loading, the model's device is the device (every
verb moves its inputs there and takes autocast's device type from it).
"""

from __future__ import annotations

import os

import torch

from .errors import BadInputError

DEVICE_HELP = "auto (CUDA (a torchrun rank: its own GPU), then MPS, then CPU), cpu, cuda, cuda:N or mps"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(text: str | torch.device | None) -> torch.device:
    """The torch device for a `--device` value; one-line errors for unknown or absent devices."""
    if isinstance(text, torch.device):
        return text
    name = (text or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():  # a torchrun rank takes its own GPU
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise BadInputError(f"--device '{text}' is not a device; use {DEVICE_HELP}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BadInputError(f"--device {text}: this machine has no usable CUDA GPU; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise BadInputError(f"--device {text}: there are only {torch.cuda.device_count()} CUDA devices "
                                f"(cuda:0-{torch.cuda.device_count() - 1})")
    elif device.type == "mps" and not _mps_available():
        raise BadInputError(f"--device {text}: MPS is not available here; use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise BadInputError(f"--device '{text}' is not supported; use {DEVICE_HELP}")
    return device


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU tensor (a batch of images) on `device`: through pinned memory without blocking for a
    GPU, untouched for the CPU. Every verb moves its inputs with this one function."""
    if device.type == "cpu":
        return tensor
    if device.type == "cuda" and tensor.device.type == "cpu":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True)


def default_workers(device: torch.device) -> int:
    """Data-loading processes when --workers is not given: none on the CPU, where workers compete
    with the forward's threads (measured on 2 cores), and enough to feed an accelerator, whose
    forward is many times faster than decoding images on one core."""
    if device.type == "cpu":
        return 0
    return max(1, min(8, (os.cpu_count() or 2) - 1))
