"""`run`: Network Dissection of some layers over a Broden-format dataset, one forward per image.

The passes are in job.py, the labels in labels.py, the files in report.py; this module opens
the data, checks a resume against the checkpoint, and hands each part its settings.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import BadInputError, DataError
from ..models import Model, load_model
from ..rundir import RunDir, default_out
from . import lock, report
from .checkpoint import WorkDir, fingerprint
from .job import Job
from .labels import Concepts
from .result import DissectResult
from .settings import DissectSettings
from .streams import Plan

log = logging.getLogger(__name__)


def run(model: Model | str, data: Any, settings: DissectSettings | None = None,
        out: str | Path | None = None, progress: bool = True) -> DissectResult:
    """Dissect `settings.layers` of `model` on `data` (a Broden directory, or a BrodenDataset
    already opened); write `<out>/dissect/` and return its DissectResult."""
    settings = settings or DissectSettings()
    model = load_model(model) if isinstance(model, str) else model
    if not settings.layers:
        raise BadInputError("no layers given; name at least one, e.g. conv5")
    if settings.size is not None:
        model.check_input_size(settings.size)
    plan = Plan.build(model, settings)
    dataset, source, identity = _open(data, settings.size)
    key = fingerprint(model, settings, identity, len(dataset))
    run_dir = RunDir(default_out(out, model.name))
    with lock.hold(run_dir.path):  # one run per --out: a second would rewrite this one's cache
        work = WorkDir(run_dir.path / "dissect" / ".work")
        state = work.open(key, settings.resume)
        if state["pass1"] > 0:
            log.info("dissect: resuming from batch %d of pass 1%s", state["pass1"],
                     f", batch {state['pass2']} of pass 2" if state["pass2"] else "")
        job = Job(plan, dataset, Concepts.from_dataset(dataset), work, state, settings, progress)
        try:
            job.pass1()
        except BaseException:
            if state["pass1"] == 0:  # nothing a resume could use: leave no trace
                work.remove()
                _remove_if_empty(work.root.parent)
            raise
        data_out, files = report.write(run_dir, model.name, dataset, source, settings, job.run())
        work.remove()
    return DissectResult(run_dir.path, data_out, settings, files)


def _open(data: Any, size: int | None) -> tuple[Any, str, str]:
    """(dataset, its name for dissect.json, its identity for the resume fingerprint)."""
    if isinstance(data, (str, Path)):
        from ..data.images import open_broden

        dataset, source, identity = open_broden(data, size), str(data), str(Path(data).resolve())
    else:
        if size is not None and getattr(data, "size", None) != size:
            raise BadInputError(f"--size {size} applies to a dataset given as a path; open this one "
                                f"with size={size} instead")
        root = getattr(data, "root", None)
        dataset = data
        source = str(root) if root is not None else f"<{type(data).__name__}>"
        identity = str(Path(root).resolve()) if root is not None else source
    if len(dataset) == 0:
        raise DataError(f"Broden dataset '{source}' has no images")
    return dataset, source, identity


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
