"""Copy the artifacts a site shows into its `files/` folder so the site is self-contained.

Files keep their run-relative paths under `files/`, so a composition tree's HTML keeps
finding its images next to it. Unchanged files are not copied again and files no longer
referenced are removed, so a rebuild is quick and leaves nothing stale.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

FILES = "files"


def _same(src: Path, dst: Path) -> bool:
    if not dst.is_file():
        return False
    a, b = src.stat(), dst.stat()
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns


def folder_files(run_dir: Path, folder: str) -> list[str]:
    """Every plain file under `run_dir/folder` (no symlinks), as run-relative POSIX paths."""
    base = run_dir / folder
    if not base.is_dir() or base.is_symlink():
        return []
    found = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not (Path(dirpath) / d).is_symlink())
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                found.append(path.relative_to(run_dir).as_posix())
    return found


def sync_files(run_dir: Path, site_dir: Path, paths: set[str]) -> int:
    """Mirror `paths` (run-relative) into `site_dir/files`; return how many were copied."""
    target = site_dir / FILES
    copied = 0
    for rel in sorted(paths):
        src, dst = run_dir / rel, target / rel
        if _same(src, dst):
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        copied += 1
    _remove_stale(target, paths)
    return copied


def _remove_stale(target: Path, keep: set[str]) -> None:
    if not target.is_dir():
        return
    for dirpath, _, filenames in os.walk(target, topdown=False):
        for name in filenames:
            path = Path(dirpath) / name
            if path.relative_to(target).as_posix() not in keep:
                path.unlink()
        if Path(dirpath) != target and not any(Path(dirpath).iterdir()):
            Path(dirpath).rmdir()
