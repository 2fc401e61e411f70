"""`build_site`: the static explorer for a run directory (public API of `unitscope explore`)."""

from __future__ import annotations

from pathlib import Path

from .report.site import write_site
from .run import RunDir


def build_site(run_dir: str | Path, out: str | Path | None = None, progress: bool = True) -> Path:
    """Build the self-contained site for `run_dir` into `out` (default RUN_DIR/site); return index.html."""
    run_dir = Path(run_dir)
    site = Path(out) if out is not None else run_dir / "site"
    index = write_site(run_dir, site, progress=progress)
    RunDir(run_dir).register("explore", {"index": RunDir(run_dir).relative(index)})
    return index
