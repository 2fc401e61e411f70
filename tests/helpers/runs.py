"""Shortcuts over the verbs for tests that need their outputs, not their API."""

from __future__ import annotations

from pathlib import Path

from unitscope import explore


def build_site(run_dir: Path, out: Path | None = None, progress: bool = False) -> Path:
    """The explorer site of `run_dir` (into `out`, default RUN_DIR/site); returns its index.html."""
    return Path(explore.run(None, run_dir, None, out, progress=progress)["index"])
