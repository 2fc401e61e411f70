"""The working state of a dissection run: activation cache, accumulator snapshots, progress.

Everything lives in `<out>/dissect/.work`. Files are written to a temp name and renamed, and
`state.json` (what a resume trusts) is written last, naming only batches already on disk, so a
run killed at any moment resumes from its last checkpoint and produces the identical tally.
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

    def open(self, fingerprint: dict[str, Any], resume: bool) -> dict[str, Any]:
        """The state to continue from: fresh unless `resume` and a matching checkpoint exists."""
        state = self._read_state() if resume else None
        if state is not None and state.get("fingerprint") != fingerprint:
            diff = _first_difference(state.get("fingerprint") or {}, fingerprint)
            raise CheckpointError(
                f"the checkpoint in '{self.root}' was made with different settings ({diff}); "
                "run again without --resume to start over"
            )
        if state is None:
            self.remove()
            state = {"fingerprint": fingerprint, "pass1": 0, "pass1_done": False,
                     "thresholds": False, "pass2": 0, "pass2_done": False}
            self.cache.mkdir(parents=True, exist_ok=True)
            self.commit(state)
        self.prune(int(state["pass1"]))
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
            raise CheckpointError(f"activation cache file '{path}' is missing; run without --resume")
        return torch.load(path, map_location="cpu", weights_only=True)

    def save(self, name: str, obj: Any) -> None:
        save_torch_atomic(obj, self.root / name)

    def load(self, name: str) -> Any:
        return torch.load(self.root / name, map_location="cpu", weights_only=True)

    def prune(self, keep: int) -> None:
        """Delete cache files of batches >= keep (written after the last checkpoint) and temps."""
        if not self.cache.is_dir():
            return
        for path in self.cache.iterdir():
            if path.name.startswith(".") or (path.suffix == ".pt" and int(path.stem[1:]) >= keep):
                path.unlink(missing_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _first_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            return f"{key}: {old.get(key)!r} then, {new.get(key)!r} now"
    return "unknown"
