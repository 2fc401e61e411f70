"""Where weights come from without surprises: random weights drawn from a seed, published
weights read from the local torch cache, and a download only when the user allows it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from ..errors import CheckpointError


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Build random weights inside this block: the same seed gives the same weights (drawn on the
    CPU, so on every device), and the caller's random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def cached_file(weights: Any) -> Path:
    """Where torch keeps a torchvision weights enum's file once downloaded (torch.hub's cache)."""
    name = os.path.basename(urlparse(weights.url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def check_available(model_name: str, weights: Any, allow_download: bool) -> None:
    """Refuse, in one line, to download weights unless allowed; cached weights need no network."""
    path = cached_file(weights)
    if path.is_file() or allow_download:
        return
    raise CheckpointError(
        f"{model_name}: the weights {weights} are not in the local cache ({path}); give --weights PATH "
        "(a state_dict file), --weights none (random, seeded by --seed) or --allow-download")
