"""A run directory: where verbs write artifacts and record them in `manifest.json`.

The explorer reads only the manifest and the files it names, never the model, so every verb
registers what it wrote here. Writes are atomic (temp file + rename) so a killed run never
leaves a half-written manifest.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import BadInputError, DataError

MANIFEST = "manifest.json"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temp file beside `path` to write; renamed onto `path` when the block succeeds, removed
    when it fails, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are shared files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a text file atomically (temp file + rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def safe_name(name: str, fallback: str) -> str:
    """A readable folder name for a model or image (unsafe runs of characters become '_');
    `fallback` when nothing is left. Not injective (report.paths.slug is): for default names."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._") or fallback


def default_out(out: str | Path | None, model_name: str) -> Path:
    """`out`, or runs/<model name> made safe as a folder name."""
    return Path(out) if out is not None else Path("runs") / safe_name(model_name, "model")


def save_torch_atomic(obj: Any, path: str | Path) -> None:
    """torch.save atomically (checkpoints, weights): a kill mid-write leaves the old file."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON atomically; NaN is refused rather than written as invalid JSON."""
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: str | Path, missing_ok: bool = False) -> dict[str, Any]:
    """A JSON object written by an earlier run; a missing file is {} when `missing_ok`, anything
    unreadable a one-line DataError that says to re-run the verb."""
    path = Path(path)
    if missing_ok and not path.is_file():
        return {}
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read '{path}': {exc}; re-run the verb that wrote it") from None
    if not isinstance(data, dict):
        raise DataError(f"'{path}' should hold a JSON object; re-run the verb that wrote it")
    return data


def _writable_folder(path: Path) -> None:
    """Create `path` and check that it takes files: a file in the way or a read-only folder is
    refused now, in one line naming it, not by a traceback from a verb's first write."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = "it is a file" if path.is_file() else exc.strerror or type(exc).__name__
        raise BadInputError(f"cannot use '{path}' as the run directory: {why}; "
                            "give --out a folder you can write to") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise BadInputError(f"cannot use '{path}' as the run directory: it is not writable; "
                            "give --out a folder you can write to")


class RunDir:
    """A folder of artifacts plus the manifest that indexes them by verb."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        _writable_folder(self.path)

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def manifest(self) -> dict[str, Any]:
        """The manifest as a dict ({'model': ..., 'verbs': {verb: entry}}); empty if none yet."""
        if not self.manifest_path.is_file():
            return {"verbs": {}}
        with open(self.manifest_path) as handle:
            return json.load(handle)

    def register(self, verb: str, entry: dict[str, Any], model: str | None = None) -> None:
        """Record (replace) what `verb` wrote; paths in `entry` are relative to the run dir."""
        data = self.manifest()
        data.setdefault("verbs", {})[verb] = entry
        if model is not None:
            data["model"] = model
        write_json_atomic(self.manifest_path, data)

    def add_to(self, verb: str, key: str, item: Any, model: str | None = None) -> None:
        """Append `item` to the list `entry[key]` of `verb` (e.g. one more composition tree)."""
        data = self.manifest()
        entry = data.setdefault("verbs", {}).setdefault(verb, {})
        items = entry.setdefault(key, [])
        if item not in items:
            items.append(item)
        if model is not None:
            data["model"] = model
        write_json_atomic(self.manifest_path, data)

    def relative(self, path: str | Path) -> str:
        """A path as stored in the manifest: relative to the run dir, with forward slashes."""
        return Path(os.path.relpath(Path(path), self.path)).as_posix()
