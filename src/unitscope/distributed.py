"""One run over many processes: who does which chunk of the data, and how their counts meet.

A `Cluster` is this process's place in a run: alone; one rank of a `torchrun` job (found from
the launcher's environment, torch.distributed with gloo on CPUs and nccl on GPUs); or one shard
of a job array (`--shard I/N`: no collectives, a later `unitscope merge` finishes the run).
The data is cut into fixed chunks whose boundaries do not depend on the number of processes,
dealt round-robin; results merge exactly because everything merged is an integer count or a
top-k list with a fixed tie-break.
"""

from __future__ import annotations

import datetime
import logging
import os
import pickle
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from .errors import BadInputError, UnitscopeError

TIMEOUT = datetime.timedelta(minutes=30)
TRAFFIC = {"bytes": 0, "collectives": 0}  # what this process sent to the others (bench_scale reads it)
log = logging.getLogger(__name__)
CHUNK_BATCHES = 16  # chunk size of the verbs without checkpoints (examples, graph)


@dataclass(frozen=True)
class Cluster:
    """This process's rank among `world` processes; `collective` when they can talk (torchrun)."""

    rank: int = 0
    world: int = 1
    collective: bool = False

    @property
    def main(self) -> bool:
        """Whether this process writes the report (rank 0, or the only process)."""
        return self.rank == 0 and not self.shard

    @property
    def shard(self) -> bool:
        """A job-array shard: it does its chunks and leaves the rest to `unitscope merge`."""
        return self.world > 1 and not self.collective

    def mine(self, chunks: Sequence[int]) -> list[int]:
        """This process's share of `chunks`: every world-th one, starting at its rank."""
        return list(chunks)[self.rank :: self.world]

    def share(self, batches: int, most: int = CHUNK_BATCHES) -> list[int]:
        """This process's batch numbers: its round-robin share of the chunks (`chunk_size`)."""
        cut = chunks(batches, chunk_size(batches, most))
        return [b for c in self.mine(range(len(cut))) for b in cut[c]]

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor` summed over the processes, in place (integer counts stay exact). nccl sums
        GPU tensors only: CPU counts go there and back."""
        if not self.collective:
            return tensor
        _count(tensor.numel() * tensor.element_size())
        if dist.get_backend() == "nccl" and tensor.device.type == "cpu":
            on_gpu = tensor.cuda()
            dist.all_reduce(on_gpu, op=dist.ReduceOp.SUM)
            return tensor.copy_(on_gpu.cpu())
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def gather(self, obj: Any) -> list[Any]:
        """Every process's `obj`, in rank order (just [obj] alone)."""
        if not self.collective:
            return [obj]
        _count(len(pickle.dumps(obj)))
        found: list[Any] = [None] * self.world
        dist.all_gather_object(found, obj)
        return found

    def agree(self, error: BaseException | None) -> None:
        """A sync point: if any process failed, every process raises the same one-line error, so
        a bad image on one rank stops them all instead of leaving them waiting. A bug (not a
        user error) keeps its traceback on the rank where it happened."""
        if not self.collective:
            if error is not None:
                raise error
            return
        messages = self.gather(None if error is None else _one_line(error))
        failed = [(rank, text) for rank, text in enumerate(messages) if text is not None]
        if not failed:
            return
        if error is not None and not isinstance(error, UnitscopeError):
            raise error
        rank, text = failed[0]
        raise UnitscopeError(f"rank {rank}: {text}")

    def barrier(self) -> None:
        if self.collective:
            dist.barrier()


ALONE = Cluster()


def _count(nbytes: int) -> None:
    TRAFFIC["bytes"] += nbytes
    TRAFFIC["collectives"] += 1


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def chunk_size(batches: int, most: int) -> int:
    """Batches per chunk: at most `most`, and small enough that a run has about 64 chunks to deal
    (4 chunks of 20 batches split 40/23 between 2 processes); never the number of processes."""
    return max(1, min(most, -(-batches // 64)))


def chunks(batches: int, per_chunk: int) -> list[range]:
    """Batch numbers cut into chunks of `per_chunk` batches (the last may be shorter)."""
    return [range(start, min(start + per_chunk, batches)) for start in range(0, batches, per_chunk)]


def parse_shard(text: str | None) -> Cluster | None:
    """`--shard I/N` -> Cluster(I, N); None when not given."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 0 <= int(match.group(1)) < int(match.group(2)):
        raise BadInputError(f"--shard '{text}' must be I/N with 0 <= I < N, e.g. 0/4")
    return Cluster(int(match.group(1)), int(match.group(2)), collective=False)


def launched() -> bool:
    """Whether torchrun (or another launcher setting RANK and WORLD_SIZE) started this process."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1


def join(device: str | None = None) -> Cluster:
    """The Cluster of this process: torchrun's process group (joined here, once), else alone."""
    if not launched():
        return Cluster()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and device != "cpu" else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group(backend, timeout=TIMEOUT)
    return Cluster(dist.get_rank(), dist.get_world_size(), collective=True)


def leave() -> None:
    """Close the process group once every rank is done (an exit without it can abort a rank
    whose peer is still closing its connections)."""
    if dist.is_available() and dist.is_initialized():
        log.info("distributed: rank %d sent %d bytes in %d collectives", dist.get_rank(), TRAFFIC["bytes"],
                 TRAFFIC["collectives"])
        dist.barrier()
        dist.destroy_process_group()
