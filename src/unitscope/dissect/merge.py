"""`unitscope merge SHARD_OUT... --out DIR`: finish a dissection whose pass 1 ran as job-array shards.

Each shard (`dissect --shard I/N`) left its chunks' accumulators and activation cache in its own
`--out`. The merge checks that the shards belong to one run (same model, weights, layers,
settings and data) and together hold every chunk, then does what one process would do after
pass 1, reading the shards' caches (on a shared disk), and writes the same files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, DataError
from ..rundir import RunDir
from . import report
from .checkpoint import WorkDir, first_difference
from .job import Job, Store
from .labels import Concepts
from .result import DissectResult
from .settings import DissectSettings
from .streams import Plan


def merge(shards: Sequence[str | Path], out: str | Path, progress: bool = True) -> DissectResult:
    """Turn the shards' pass 1 into a finished dissection in `out`; nothing is written when the
    shards do not fit together."""
    works = [WorkDir(Path(shard) / "dissect" / ".work") for shard in shards]
    states = [_state(work) for work in works]
    _check_same_run(shards, states)
    state = states[0]
    settings = DissectSettings(**state["settings"])
    dataset = _dataset(state, settings)
    run_dir = RunDir(out)
    own = WorkDir(run_dir.path / "dissect" / ".work")
    kept = {key: state[key] for key in ("units", "source", "settings", "model")}
    fresh = own.open(state["fingerprint"], False, int(state["chunk_batches"]), extra=kept)
    plan = Plan.from_units(state["units"], settings)
    job = Job(plan, dataset, Concepts.from_dataset(dataset), own, fresh, settings, progress)
    job.store = Store(works, job.chunk_of)
    missing = [c for c in range(len(job.chunks)) if not job.store.done(c)]
    if missing:
        own.remove()
        raise DataError(f"chunks {_listed(missing)} of {len(job.chunks)} are in none of the shards; run "
                        "every shard to the end (`dissect --shard I/N --resume` continues one)")
    data, files = report.write(run_dir, state["model"], dataset, state["source"], settings, job.finish())
    own.remove()
    return DissectResult(run_dir.path, data, settings, files)


def _state(work: WorkDir) -> dict[str, Any]:
    try:
        return work.join()
    except CheckpointError:
        raise DataError(f"'{work.root.parent.parent}' holds no dissect shard (no {work.root}/state.json); "
                        "give the --out of each `dissect --shard I/N` run") from None


def _check_same_run(shards: Sequence[str | Path], states: list[dict[str, Any]]) -> None:
    """The shards of one run share everything that decides the result."""
    for shard, state in zip(shards[1:], states[1:], strict=True):
        for key in ("fingerprint", "chunk_batches"):
            if state.get(key) != states[0].get(key):
                diff = first_difference(states[0].get(key) or {}, state.get(key) or {}) \
                    if key == "fingerprint" else f"{states[0].get(key)} vs {state.get(key)}"
                raise DataError(f"shard '{shard}' is not from the same run as '{shards[0]}' ({diff}); "
                                "merge the shards of one dissect command")


def _dataset(state: dict[str, Any], settings: DissectSettings):
    from ..data.images import open_broden

    if state["source"].startswith("<"):
        raise DataError(f"the shards dissected an in-memory dataset ({state['source']}); merge needs a "
                        "Broden folder")
    return open_broden(state["fingerprint"]["dataset"], settings.size)  # the resolved path


def _listed(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:8]))
    return shown + (f" and {len(numbers) - 8} more" if len(numbers) > 8 else "")
