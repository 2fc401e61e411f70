"""The one streaming pass over a dataset: batches -> probe (stops at the deepest layer) -> consumers.

Every dataset verb (examples, dissect) runs through `scan`, so each image is read and forwarded
once, in channels_last layout under bf16 autocast where the CPU has it (`precision`), and only
accumulators of bounded size remember anything.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from . import precision as prec
from .devices import default_workers
from .errors import DataError
from .imageio import to_float
from .models.spec import Model
from .probe import Probe


@dataclass
class Batch:
    """One batch as consumers see it: batch number, dataset indices, items, images (on the CPU,
    as the dataset gave them: uint8 or [0, 1] floats), activations.

    `acts[model_key][layer]` is the layer's output (bf16 under autocast, fp32 otherwise).
    """

    number: int
    indices: torch.Tensor
    items: list[Any]
    images: torch.Tensor
    acts: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)


class _Indexed(Dataset):
    """Items with their dataset index, so batches dealt out of order keep global indices."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        return i, self.dataset[i]


def _collate(pairs):
    return pairs


def _map_leaves(value: Any, leaf: type, convert: Callable[[Any], Any]) -> Any:
    """`value` with every `leaf` inside it (through dicts, lists, tuples, dataclasses) converted."""
    if isinstance(value, leaf):
        return convert(value)
    if isinstance(value, dict):
        return {k: _map_leaves(v, leaf, convert) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_map_leaves(v, leaf, convert) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _map_leaves(getattr(value, f.name), leaf, convert)
                                             for f in dataclasses.fields(value) if f.init})
    return value


def _collate_numpy(pairs):
    """Tensors inside items as numpy arrays: they cross from a worker process as bytes in the
    pipe, ~7x cheaper for the main process here than torch's shared-memory handles (measured)."""
    return _map_leaves(pairs, torch.Tensor, torch.Tensor.numpy)


def _from_numpy(pairs):
    """The inverse of `_collate_numpy`, without copies."""
    return _map_leaves(pairs, np.ndarray, torch.from_numpy)


def batch_count(dataset, batch_size: int) -> int:
    return (len(dataset) + batch_size - 1) // batch_size


def batches(dataset, batch_size: int, numbers: Sequence[int] | None = None, workers: int = 0
            ) -> Iterator[tuple]:
    """(batch number, indices, items) of the batches `numbers` (all by default), in that order;
    batch b holds images b * batch_size onwards, whoever reads it."""
    numbers = range(batch_count(dataset, batch_size)) if numbers is None else list(numbers)
    if not numbers:
        return
    sampler = [range(b * batch_size, min((b + 1) * batch_size, len(dataset))) for b in numbers]
    loader = DataLoader(_Indexed(dataset), batch_sampler=sampler, num_workers=workers,
                        collate_fn=_collate_numpy if workers else _collate)
    for number, pairs in zip(numbers, loader, strict=True):
        pairs = _from_numpy(pairs) if workers else pairs
        indices = torch.tensor([i for i, _ in pairs], dtype=torch.long)
        yield number, indices, [item for _, item in pairs]


def stack_images(items: Sequence[Any]) -> torch.Tensor:
    """Stack item images into an NCHW batch; different sizes are a data error."""
    shapes = {tuple(it.image.shape) for it in items}
    if len(shapes) != 1:
        raise DataError(f"images of different sizes {sorted(shapes)} in one batch; give a fixed --size")
    return torch.stack([it.image for it in items])


def progress_bar(total: int, desc: str, enabled: bool, initial: int = 0):
    """A tqdm bar, off when disabled or stderr is not a terminal."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, initial=initial, disable=not enabled or not sys.stderr.isatty())


def prepare(model: Model) -> Model:
    """Put the model's conv weights in channels_last (in place) for faster CPU convolutions."""
    prec.channels_last(model.module)
    return model


def _forward(models: Mapping[str, Model], probes: dict[str, Probe], batch: Batch, precision: str | None,
             keep: bool) -> Any:
    """Launch the batch's forwards and, when someone consumes them, the copies of the activations
    to the CPU (into pinned memory, without waiting, on a GPU); returns what marks them done."""
    first = next(iter(models.values()))
    x = to_float(first.to_device(batch.images)).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), prec.autocast(precision, first.device):
        for key, model in models.items():
            acts = probes[key](model.input_spec.normalize(x))
            batch.acts[key] = {k: _to_cpu(a) for k, a in acts.items()} if keep else dict(acts)
    if first.device.type != "cuda":
        return None
    done = torch.cuda.Event()
    done.record()
    return done


def _to_cpu(acts: torch.Tensor) -> torch.Tensor:
    """A copy on the CPU, layout kept; from a GPU into pinned memory without blocking."""
    if acts.device.type == "cpu":
        return acts
    if acts.device.type != "cuda":
        return acts.cpu()
    host = torch.empty_like(acts, device="cpu", pin_memory=True)
    return host.copy_(acts, non_blocking=True)


def _consume(batch: Batch, copied: Any, consumers: Sequence[Callable[[Batch], None]], bar) -> None:
    if copied is not None:
        copied.synchronize()
    for consume in consumers:
        consume(batch)
    bar.update(getattr(bar, "step", 1))


def scan(
    models: Mapping[str, Model],
    dataset,
    layers: Sequence[str],
    consumers: Sequence[Callable[[Batch], None]],
    batch_size: int = 64,
    numbers: Sequence[int] | None = None,
    precision: str | None = None,
    workers: int | None = None,
    progress: bool = True,
    desc: str = "scan",
    processes: int = 1,
) -> int:
    """Forward every batch once through each model, probing `layers`, and hand it to consumers.

    The batch goes to the models' device; consumers get the activations on the CPU, where the
    exact statistics accumulate (counts, not floats, so the device never changes a result). On
    a GPU the next batch's forward is launched before the last batch is consumed, so the two
    overlap; consumers still see batches in order, one at a time.

    `numbers`: which batches (all by default), e.g. this process's share of a distributed run;
    `processes`: how many share the run, so one bar shows the whole job's images/s.
    Returns the number of batches the dataset has.
    """
    total = batch_count(dataset, batch_size)
    numbers = range(total) if numbers is None else list(numbers)
    first = next(iter(models.values()))
    device = first.device
    workers = default_workers(device) if workers is None else workers
    probes = {key: m.probe(layers) for key, m in models.items()}
    for m in models.values():
        prepare(m)
    bar = progress_bar(len(numbers) * processes, desc, progress)
    bar.step = processes  # the bar of rank 0 of a torchrun job stands for all of them
    pending: tuple[Batch, Any] | None = None
    try:
        for probe in probes.values():
            probe.__enter__()
        for number, indices, items in batches(dataset, batch_size, numbers, workers):
            batch = Batch(number, indices, items, stack_images(items))
            copied = _forward(models, probes, batch, precision, bool(consumers))
            if pending is not None:  # on a GPU this batch's forward runs while the last is consumed
                _consume(*pending, consumers, bar)
            pending = (batch, copied)
        if pending is not None:
            _consume(*pending, consumers, bar)
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # the last batches' kernels count in the caller's timing
    finally:
        for probe in probes.values():
            probe.__exit__(None, None, None)
        bar.close()
    return total
