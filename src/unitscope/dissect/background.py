"""Threads for the report's slow, GIL-free parts, so they overlap the tensor work in front."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from .strips import save_strip


class Background:
    """JPEG encoding and file writes of the strips (two threads), and the matplotlib charts (one
    thread, as matplotlib is not thread-safe), overlapping the tensor work of the next strips.
    Leaving the block waits and re-raises."""

    QUEUED_STRIPS = 64  # ~16 MB of strips waiting at most

    def __init__(self) -> None:
        self.strips = ThreadPoolExecutor(max_workers=2)
        self.charts = ThreadPoolExecutor(max_workers=1)
        self.pending: list[Future] = []
        self.queued: deque[Future] = deque()

    def strip(self, row: torch.Tensor, path: Path) -> None:
        while len(self.queued) >= self.QUEUED_STRIPS:
            self.queued.popleft().result()
        self.queued.append(self.strips.submit(save_strip, row.numpy(), path))
        self.pending.append(self.queued[-1])

    def chart(self, draw: Callable[..., None], *args: Any) -> None:
        self.pending.append(self.charts.submit(draw, *args))

    def __enter__(self) -> Background:
        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the foreground's tensor work takes one core, the threads the other
        return self

    def __exit__(self, error_type, *exc) -> None:
        self.strips.shutdown(wait=True)
        self.charts.shutdown(wait=True)
        torch.set_num_threads(self.threads)
        if error_type is None:  # else the error in the foreground is the one to report
            for done in self.pending:
                done.result()
