"""The working state of a dissection run: activation cache, per-chunk accumulators, thresholds.

Everything lives in `<out>/dissect/.work`: `state.json` (the run's fingerprint and chunk size),
`cache/b<batch>.pt` per batch, and `chunks/c<chunk>.pt`, pass 1's accumulators of one chunk
alone, written (atomically) after every cache file of that chunk: its presence is what says the
chunk is done. Progress therefore does not belong to a process, so a run killed with any number
of processes resumes with any other, and the merged counts are the same as one pass's.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
from pathlib import Path
from typing import Any

import torch

from .. import precision as prec
from ..errors import BadInputError, CheckpointError
from ..models.spec import Model
from ..rundir import save_torch_atomic, write_json_atomic
from .settings import DissectSettings

STATE = "state.json"
CACHE_FORMAT = 2  # 2: labels as combinations (1: label planes); a resume across formats is refused


def fingerprint(model: Model, settings: DissectSettings, dataset: str, images: int) -> dict[str, Any]:
    """What decides a run's content: the settings (not --workers etc.), the weights, the data and
    the cache format. A resume is refused unless the checkpoint's fingerprint is the same."""
    checksum = sum(float(p.detach().contiguous().double().sum()) for p in model.module.parameters())
    if not math.isfinite(checksum):
        raise BadInputError(f"the weights of {model.name} contain NaN or inf values; load a sound checkpoint")
    return {**settings.fingerprint(), "model": model.name, "weights": round(checksum, 6), "dataset": dataset,
            "images": images, "rotation": settings.alphas(),  # the bases run: '1' and '0,1' alike
            "precision": prec.resolve(settings.precision, model.device), "cache_format": CACHE_FORMAT}


def _without_crc32() -> contextlib.AbstractContextManager:
    """torch.save without zip CRC32s (28 % faster on a batch's cache file, measured), for the
    activation cache only: a torn write is already ruled out by the atomic rename and state.json.
    A no-op on a torch without the option."""
    try:
        from torch.utils.serialization import config
    except ImportError:
        return contextlib.nullcontext()
    return config.patch({"save.compute_crc32": False})


class WorkDir:
    """Cache files per batch plus named snapshots, under one folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def chunks(self) -> Path:
        return self.root / "chunks"

    def open(self, fingerprint: dict[str, Any], resume: bool, chunk_batches: int,
             extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The state to continue from: fresh unless `resume` and a matching checkpoint exists (whose
        chunk size then holds, whatever --checkpoint-every says now)."""
        state = self._read_state() if resume else None
        if state is not None and state.get("fingerprint") != fingerprint:
            diff = first_difference(state.get("fingerprint") or {}, fingerprint)
            raise CheckpointError(
                f"the checkpoint in '{self.root}' was made with different settings ({diff}); "
                "run again without --resume to start over"
            )
        if state is None:
            self.remove()
            state = {"fingerprint": fingerprint, "chunk_batches": chunk_batches, "thresholds": False,
                     **(extra or {})}
            self.cache.mkdir(parents=True, exist_ok=True)
            self.chunks.mkdir(parents=True, exist_ok=True)
            self.commit(state)
        return state

    def join(self) -> dict[str, Any]:
        """The state another process of the same run opened (it must exist)."""
        state = self._read_state()
        if state is None:
            raise CheckpointError(f"'{self.root}' holds no run to join; is --out the same on every rank?")
        return state

    def _read_state(self) -> dict[str, Any] | None:
        path = self.root / STATE
        if not path.is_file():
            return None
        try:
            with open(path) as handle:
                return json.load(handle)
        except (OSError, ValueError):
            raise CheckpointError(
                f"cannot read '{path}'; delete '{self.root}' or run again without --resume"
            ) from None

    def commit(self, state: dict[str, Any]) -> None:
        write_json_atomic(self.root / STATE, state)

    def cache_path(self, batch: int) -> Path:
        return self.cache / f"b{batch:07d}.pt"

    def write_cache(self, batch: int, payload: dict[str, Any]) -> None:
        with _without_crc32():
            save_torch_atomic(payload, self.cache_path(batch))

    def read_cache(self, batch: int) -> dict[str, Any]:
        path = self.cache_path(batch)
        if not path.is_file():
            raise CheckpointError(f"activation cache file '{path}' is missing; run without --resume (a "
                                  "resume with other processes needs the run directory on a shared disk)")
        return torch.load(path, map_location="cpu", weights_only=True)

    def save(self, name: str, obj: Any) -> None:
        save_torch_atomic(obj, self.root / name)

    def load(self, name: str) -> Any:
        return torch.load(self.root / name, map_location="cpu", weights_only=True)

    def chunk_path(self, chunk: int) -> Path:
        return self.chunks / f"c{chunk:06d}.pt"

    def done(self, chunk: int) -> bool:
        return self.chunk_path(chunk).is_file()

    def done_count(self) -> int:
        """How many chunks have finished pass 1 here."""
        return len(list(self.chunks.glob("c*.pt"))) if self.chunks.is_dir() else 0

    def save_chunk(self, chunk: int, state: dict[str, Any]) -> None:
        save_torch_atomic(state, self.chunk_path(chunk))

    def load_chunk(self, chunk: int) -> dict[str, Any]:
        return torch.load(self.chunk_path(chunk), map_location="cpu", weights_only=True)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def first_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            return f"{key}: {old.get(key)!r} then, {new.get(key)!r} now"
    return "unknown"
