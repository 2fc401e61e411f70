"""One dissection per run directory at a time: a second run on the same --out is refused at once,
not left to fail later on a cache the first run rewrote under it.

The lock is an `fcntl.flock` on `<out>/.dissect.lock`. The kernel drops it when its process exits
or is killed, so a killed run never blocks a later --resume. Where there is no fcntl (Windows),
runs are not locked.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ..errors import BadInputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK = ".dissect.lock"


@contextlib.contextmanager
def hold(run_dir: Path) -> Iterator[None]:
    """Hold the dissect lock of `run_dir` for the block (the file is removed on the way out); raise
    `BadInputError` if another process holds it."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    path = Path(run_dir) / LOCK
    handle = _acquire(path)
    try:
        yield
    finally:
        if handle is not None:
            path.unlink(missing_ok=True)  # while still held: a run opening it now retries on a new file
            handle.close()


def _acquire(path: Path) -> IO[str] | None:
    """The lock file, opened and locked, with this process's id in it; None where the file system
    cannot lock (the run goes on unlocked)."""
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            who = f" (process {holder})" if holder.isdigit() else ""
            raise BadInputError(f"another dissect run{who} is writing to '{path.parent}'; wait for it to "
                                "finish, or give this one another --out") from None
        except OSError:  # e.g. ENOLCK on some network file systems
            handle.close()
            path.unlink(missing_ok=True)
            return None
        if _same_file(handle, path):  # else the holder removed it as we opened it: try afresh
            handle.truncate(0)
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            return handle
        handle.close()


def _same_file(handle: IO[str], path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False
