"""A run directory: where verbs write artifacts and record them in `manifest.json`.

The explorer reads only the manifest and the files it names, never the model, so every verb
registers what it wrote here. Writes are atomic (temp file + rename) so a killed run never
leaves a half-written manifest.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write JSON via a temp file in the same folder and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=1, sort_keys=True, allow_nan=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunDir:
    """A folder of artifacts plus the manifest that indexes them by verb."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

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
