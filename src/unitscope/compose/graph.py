"""The dataset-wide composition graph: mean grad x act contribution between consecutive layers.

For each consecutive pair (child layer C, parent layer P) of `layers` and every parent unit j,
S[j, i] = mean over images of sum over positions of (df_j/da_i * a_i), f_j = sum of j's map.

Cost: a parent layer with U units needs U vector-Jacobian products per image batch (one per
parent unit; all images of a batch share it, since f_j summed over the batch has per-image
gradients). They run `chunk` at a time as one vmapped backward (`is_grads_batched`) through
only the segment between the two layers, on one recorded forward per batch of images. So the
total is sum over pairs of U_P segment-backwards per image batch, in U_P / chunk calls. The vmap
does not know each seed touches one output channel, so every one costs a full segment backward:
on `toy` (1164 parent units over 7 pairs) 8 images took ~47 s on a busy 2-core CPU, dominated
by conv2..conv4 (a few s per image when idle). `precision='auto'` (bf16 autocast where fast)
cuts that by about 1.6x. Use `images` to trade accuracy of the mean for time.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from tqdm.auto import tqdm

from ..distributed import ALONE, CHUNK_BATCHES, Cluster, chunk_size, chunks, join
from ..errors import DataError
from ..imageio import load_image, to_float
from ..modalities import delegate
from ..models import Model, load_model
from ..precision import autocast
from ..result import Display, Result
from ..rundir import RunDir, default_out, write_json_atomic
from ..settings import Settings, batch_size_option, option, precision_option, top_k_option
from .layers import check_layers, default_layers
from .vjp import batched_vjp, channel_seeds

if TYPE_CHECKING:
    import pandas as pd

MAX_GRAD_FLOATS = 2**24  # cap on one batched backward's output (64 MiB of float32)


def _sources(data, size: int, limit: int | None) -> Sequence:
    """The first `limit` images: a list of tensors/paths, or a dataset read lazily by index."""
    if isinstance(data, (torch.Tensor, list, tuple)):
        items: Sequence = list(data)
    else:
        from ..data.images import open_dataset

        items = open_dataset(data, size)
    count = len(items) if limit is None else min(limit, len(items))
    if count == 0:
        raise DataError("the dataset for the composition graph holds no images")
    return _Head(items, count)


class _Head(Sequence):
    """The first `count` items of a sequence, without loading the others."""

    def __init__(self, items: Sequence, count: int) -> None:
        self.items, self.count = items, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.count))]
        if not 0 <= index < self.count:
            raise IndexError(index)
        return self.items[index]


def _as_tensor(item, size: int) -> torch.Tensor:
    if isinstance(item, torch.Tensor):
        tensor = item
    elif isinstance(item, (str, Path)):
        tensor = load_image(item, size)
    else:
        tensor = item.image
    tensor = to_float(tensor)
    if tuple(tensor.shape[-2:]) != (size, size):
        tensor = torch.nn.functional.interpolate(tensor[None].float(), size=(size, size),
                                                 mode="bilinear", antialias=True)[0]
    return tensor.float()


def _batch(items: Sequence, size: int, batch: int, number: int) -> torch.Tensor:
    """Images number * batch onwards, as one tensor."""
    return torch.stack([_as_tensor(i, size) for i in items[number * batch : (number + 1) * batch]])


def pair_scores(out: torch.Tensor, inp: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """(U_parent, C_child) grad x act contributions summed over the batch's images."""
    units = out.shape[1]
    chunk = chunk or max(1, min(units, MAX_GRAD_FLOATS // max(inp.numel(), 1)))
    act = inp.detach().float()
    rows = []
    for start in range(0, units, chunk):
        channels = range(start, min(units, start + chunk))
        seeds = channel_seeds(out[0:1], channels).expand(len(channels), *out.shape)
        grads = batched_vjp(out, inp, seeds.contiguous())
        contrib = (grads.float() * act).reshape(len(channels), act.shape[0], act.shape[1], -1)
        rows.append(contrib.sum(dim=(1, 3)))
    return torch.cat(rows)


def _ranked(values: torch.Tensor, layer: str, top: int, negative: bool = False) -> list[dict]:
    """The `top` strongest positive (or negative) entries, ties in index order; in numpy, since a
    wide pair (3072 x 768 in a ViT block) has millions of entries to sift."""
    array = values.numpy()
    order = np.argsort(array if negative else -array, kind="stable")
    keep = order[(array[order] < 0) if negative else (array[order] > 0)][:top]
    return [{"unit": f"{layer}:{i}", "score": float(array[i])} for i in keep.tolist()]


def graph_edges(matrices: dict[tuple[str, str], torch.Tensor], layers: list[str], top: int
                ) -> dict[str, dict]:
    """{unit: {children, parents, inhibitory}} from the mean score matrices of each pair."""
    edges: dict[str, dict] = {}
    for child, parent in zip(layers, layers[1:], strict=False):
        scores = matrices[(child, parent)]
        for j in range(scores.shape[0]):
            entry = edges.setdefault(f"{parent}:{j}", {})
            entry["children"] = _ranked(scores[j], child, top)
            entry["inhibitory"] = _ranked(scores[j], child, top, negative=True)
        for i in range(scores.shape[1]):
            edges.setdefault(f"{child}:{i}", {})["parents"] = _ranked(scores[:, i], parent, top)
    return edges


def mean_scores(model: Model, items: Sequence, layers: list[str], batch: int = 16,
                progress: bool = False, precision: str | None = "fp32", cluster: Cluster = ALONE
                ) -> dict[tuple[str, str], torch.Tensor]:
    """Mean (over images) score matrix for every consecutive (child, parent) pair of `layers`.

    Sums are kept per chunk of batches and added in chunk order, so any number of processes
    (each doing its share of the chunks) gives the same floats as one. precision 'auto' or
    'bf16' records the forward under bf16 autocast where fast (about 1.6x here; scores then
    carry ~1 % error, fine for ranking).
    """
    batches = -(-len(items) // batch)
    cut = chunks(batches, chunk_size(batches, CHUNK_BATCHES))
    mine = cluster.mine(range(len(cut)))
    bar = tqdm(total=sum(len(cut[c]) for c in mine), desc="composition graph", disable=not progress)
    sums = {}
    for c in mine:
        sums[c] = _chunk_scores(model, items, layers, batch, precision, cut[c])
        bar.update(len(cut[c]))
    bar.close()
    every = {c: part for found in cluster.gather(sums) for c, part in found.items()}
    pairs = list(zip(layers, layers[1:], strict=False))
    return {pair: sum(every[c][pair] for c in range(len(cut))) / len(items) for pair in pairs}


def _chunk_scores(model: Model, items: Sequence, layers: list[str], batch: int, precision: str | None,
                  numbers: range) -> dict[tuple[str, str], torch.Tensor]:
    """Score matrices summed over the images of the batches `numbers`."""
    sums: dict[tuple[str, str], torch.Tensor] = {}
    pairs = list(zip(layers, layers[1:], strict=False))
    for number in numbers:
        x = model.to_device(_batch(items, model.input_spec.size, batch, number)).requires_grad_(True)
        with torch.enable_grad(), autocast(precision, model.device), \
                model.probe(layers) as probe:
            acts = probe(model.input_spec.normalize(x))
        for child, parent in pairs:
            part = pair_scores(acts[parent], acts[child]).cpu()
            sums[(child, parent)] = sums.get((child, parent), 0) + part
        del acts
    return sums


@dataclass(frozen=True)
class GraphSettings(Settings):
    """`unitscope graph`: which layers, over how many images, how many edges kept per unit."""

    VERB: ClassVar[str] = "graph"
    layers: tuple[str, ...] = option((), "comma-separated layers in forward order (default: the "
                                     "model's conv/fc layers)", show_default=False)
    images: int | None = option(64, "images averaged over (the first N of DATA)", low=1)
    top_k: int = top_k_option(8, "children and parents kept per unit")
    batch_size: int = batch_size_option(16)
    precision: str | None = precision_option("fp32")


class GraphResult(Result):
    """graph/graph.json: each unit's strongest children, inhibitory children and parents."""

    verb = "graph"

    def to_pandas(self) -> pd.DataFrame:
        """One row per edge: unit, relation (children / inhibitory / parents), rank, other, score."""
        import pandas as pd

        rows = [{"unit": unit, "relation": relation, "rank": rank, "other": link["unit"],
                 "score": link["score"]}
                for unit, entry in self.data["edges"].items()
                for relation in ("children", "inhibitory", "parents")
                for rank, link in enumerate(entry.get(relation, []))]
        return pd.DataFrame(rows, columns=["unit", "relation", "rank", "other", "score"])

    def display(self) -> Display:
        table = self.to_pandas()
        return Display(f"composition graph of {self.data['model']}",
                       [("layers", " -> ".join(self.data["layers"])), ("images", str(self.data["images"])),
                        ("edges", str(len(table)))], table=table[table["relation"] == "children"])


def run(model: Model | str, data: Any, settings: GraphSettings | None = None,
        out: str | Path | None = None, progress: bool = True) -> GraphResult:
    """Write graph/graph.json: each unit's top children and parents, averaged over images.

    `data`: a Broden directory, an image folder, or a list of 3xHxW tensors / image paths.
    """
    settings = settings or GraphSettings()
    cluster = join()
    model = load_model(model) if isinstance(model, str) else model
    delegate("graph", model, data, settings, out, progress)  # other inputs: refused in one line
    progress = progress and sys.stderr.isatty() and cluster.rank == 0
    layers = check_layers(model, list(settings.layers) or default_layers(model))
    items = _sources(data, model.input_spec.size, settings.images)
    matrices = mean_scores(model, items, layers, settings.batch_size, progress, settings.precision, cluster)
    result = {
        "layers": layers, "images": len(items), "top": settings.top_k, "model": model.name,
        "settings": settings.to_dict(),
        "score": "mean over images of sum over positions of grad * act; f = sum of parent map",
        "edges": graph_edges(matrices, layers, settings.top_k),
    }
    run_dir = RunDir(default_out(out, model.name))
    path = run_dir.path / "graph" / "graph.json"
    if not cluster.main:  # every rank holds the same result; rank 0 writes it
        return GraphResult(run_dir.path, result, settings, [])
    write_json_atomic(path, result)
    run_dir.register("graph", {"json": run_dir.relative(path)}, model=model.name)
    return GraphResult(run_dir.path, result, settings, [path])
