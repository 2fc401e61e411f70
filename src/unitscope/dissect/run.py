"""`run`: Network Dissection of some layers over a Broden-format dataset, one forward per image.

The passes are in job.py, the labels in labels.py, the files in report.py; this module opens
the data, checks a resume against the checkpoint, and hands each part its settings. The same
call runs alone, as one rank of a torchrun job (each does its share; rank 0 writes the report),
or as one shard of a job array (`settings.shard`; `merge.py` finishes the run).
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from ..distributed import Cluster, chunk_size, join, parse_shard
from ..errors import BadInputError, DataError
from ..modalities import delegate
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
    cluster = parse_shard(settings.shard) or join()
    if isinstance(model, str):
        model = load_model(model)
    if (other := delegate("dissect", model, data, settings, out, progress)) is not None:
        return other
    if not settings.layers:
        raise BadInputError("no layers given; name at least one, e.g. conv5")
    if isinstance(data, (str, Path)):  # images read at a ViT's own size (a dataset object has its own)
        settings = settings.replace(size=model.default_size(settings.size))
    if settings.size is not None:
        model.check_input_size(settings.size)
    plan = Plan.build(model, settings)
    dataset, source, identity = _open(data, settings.size)
    key = fingerprint(model, settings, identity, len(dataset))
    run_dir = RunDir(default_out(out, model.name))
    first = cluster.rank == 0 or cluster.shard  # the process that owns the run directory
    with lock.hold(run_dir.path) if first else contextlib.nullcontext():
        work = WorkDir(run_dir.path / "dissect" / ".work")
        extra = {"units": plan.units(), "source": source, "settings": settings.to_dict(), "model": model.name}
        state = _open_work(work, key, settings, cluster, extra)
        job = Job(plan, dataset, Concepts.from_dataset(dataset), work, state, settings,
                  progress and first, cluster)
        start = time.perf_counter()
        try:
            found = job.run()
        except BaseException:
            if first and work.done_count() == 0:  # nothing a resume could use: leave no trace
                work.remove()
                _remove_if_empty(work.root.parent)
            raise
        if first:
            processes = cluster.world if cluster.collective else 1
            log.info("dissect: %d images in %.1f s over %d process(es) (the passes, without start-up and "
                     "report)", len(dataset), time.perf_counter() - start, processes)
        if cluster.shard:
            return _shard_result(run_dir, settings, cluster, job)
        return _finish(run_dir, model.name, dataset, source, settings, cluster, work, found)


def _open_work(work: WorkDir, key: dict[str, Any], settings: DissectSettings, cluster: Cluster,
               extra: dict[str, Any]) -> dict[str, Any]:
    """The owner of the run directory opens or resumes the work folder; the other ranks join."""
    if cluster.rank == 0 or cluster.shard:
        batches = -(-int(key["images"]) // settings.batch_size)
        state = work.open(key, settings.resume, chunk_size(batches, settings.checkpoint_every), extra)
        done = work.done_count()
        if done:
            log.info("dissect: resuming with %d chunks of pass 1 done", done)
    cluster.barrier()
    return state if cluster.rank == 0 or cluster.shard else work.join()


def _finish(run_dir: RunDir, name: str, dataset, source: str, settings: DissectSettings,
            cluster: Cluster, work: WorkDir, found) -> DissectResult:
    """Rank 0 writes the report and removes the work folder once every rank is past it; every
    rank returns the same dissect.json content."""
    data_out, files = {}, []
    if cluster.main:
        data_out, files = report.write(run_dir, name, dataset, source, settings, found)
        work.remove()
    data_out = cluster.gather(data_out)[0]
    return DissectResult(run_dir.path, data_out, settings, files)


def _shard_result(run_dir: RunDir, settings: DissectSettings, cluster: Cluster, job: Job) -> DissectResult:
    """A shard's outcome: which chunks it holds; `unitscope merge` turns the shards into a run."""
    mine = cluster.mine(range(len(job.chunks)))
    data = {"shard": settings.shard, "chunks": len(job.chunks), "chunks_here": mine,
            "work": str(job.work.root)}
    return DissectResult(run_dir.path, data, settings, [])


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
    with contextlib.suppress(OSError):
        folder.rmdir()
