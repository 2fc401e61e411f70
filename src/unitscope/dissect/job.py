"""The passes of one dissection, with their checkpoints: forward and cache, thresholds, tally.

Pass 1 forwards each batch once, counts the top byte of every activation per unit (for exact
thresholds, stats/select.py), feeds the top-image accumulators, and writes the layer activations
(in the dtype they were computed in, so nothing is lost) plus the batch's compact labels to a
per-batch cache file on disk. Rescans of the cache, not of the model, finish the exact
thresholds. Pass 2 reads the cache again: the pixels whose float64 bilinear upsample crosses the
thresholds (only around hot source cells, see tally.py) are tallied. RSS is bounded by one batch;
disk holds one layer-sized copy of the activations, deleted at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..distributed import ALONE, Cluster, chunks
from ..errors import DataError
from ..scan import Batch, batch_count, progress_bar, scan
from ..stats.iou import IoUTally, LabelBatch
from ..stats.select import RadixQuantiles
from ..stats.topk import TopK, spatial_extreme
from .checkpoint import WorkDir
from .labels import Concepts
from .settings import DissectSettings
from .streams import MAIN, Plan, Stream
from .strips import thumbnails
from .tally import is_dense, tally_batch
from .thresholds import exact_thresholds

KEPT_THUMBNAILS = 2048  # 128 px uint8 thumbnails held for the report: 100 MB at most

Thresholds = dict[tuple[str, bool], torch.Tensor]  # (stream key, negative) -> per-unit float64


@dataclass
class Dissection:
    """What the passes found, for the report: thresholds and tallies per (stream key, negative),
    the top images of the unrotated main-model streams, and thumbnails of some of them."""

    plan: Plan
    concepts: Concepts
    thresholds: Thresholds
    tallies: dict[tuple[str, bool], IoUTally]
    top: dict[str, TopK]
    thumbs: dict[int, torch.Tensor]


class Store:
    """Where each chunk's accumulators and cache files are: this run's work folder, or, for
    `unitscope merge`, the work folders of every shard (on a shared disk)."""

    def __init__(self, works: Sequence[WorkDir], chunk_of: Callable[[int], int]) -> None:
        self.works, self.chunk_of = list(works), chunk_of

    def done(self, chunk: int) -> bool:
        return any(work.done(chunk) for work in self.works)

    def _holder(self, chunk: int) -> WorkDir:
        return next((work for work in self.works if work.done(chunk)), self.works[0])

    def load_chunk(self, chunk: int) -> dict[str, Any]:
        return self._holder(chunk).load_chunk(chunk)

    def read_cache(self, batch: int) -> dict[str, Any]:
        return self._holder(self.chunk_of(batch)).read_cache(batch)


class Job:
    """The passes of one run over `dataset`: this process's share of the chunks (all of them
    alone), resumable from the chunks already done, merged exactly across processes."""

    def __init__(self, plan: Plan, dataset, concepts: Concepts, work: WorkDir, state: dict[str, Any],
                 settings: DissectSettings, progress: bool, cluster: Cluster = ALONE,
                 store: Store | None = None) -> None:
        self.plan, self.dataset, self.concepts = plan, dataset, concepts
        self.work, self.state, self.settings, self.progress = work, state, settings, progress
        self.cluster = cluster
        self.batches = batch_count(dataset, settings.batch_size)
        self.chunks = chunks(self.batches, int(state["chunk_batches"]))
        self.store = store or Store([work], self.chunk_of)
        self.thumbs: dict[int, torch.Tensor] = {}  # top images' thumbnails, from the cache
        self._fresh()

    def chunk_of(self, batch: int) -> int:
        return batch // int(self.state["chunk_batches"])

    def _fresh(self) -> None:
        """Empty accumulators for the next chunk: each chunk's are saved alone."""
        self.counts = {s.key: RadixQuantiles(s.units) for s in self.plan.streams}
        self.top = {s.key: TopK(s.units, self.settings.top_k, keep_maps=True) for s in self.plan.streams
                    if s.variant == MAIN and s.alpha == 0 and self.settings.top_k > 0}

    def run(self) -> Dissection | None:
        """Every pass still to do; returns what the report needs (None for a job-array shard,
        which only does its share of pass 1)."""
        self.pass1()
        return None if self.cluster.shard else self.finish()

    def finish(self) -> Dissection:
        """Everything after pass 1 (which `unitscope merge` finds done by the shards)."""
        counts, top = self.totals()
        thresholds = self.thresholds(counts)
        tallies = self.pass2(thresholds, top)
        return Dissection(self.plan, self.concepts, thresholds, tallies, top, self.thumbs)

    def _share(self, chunk_ids: Sequence[int]) -> list[int]:
        """The batches of this process's share of `chunk_ids` (those not done yet, in pass 1)."""
        return [b for c in self.cluster.mine(chunk_ids) for b in self.chunks[c]]

    # ---- pass 1: forward, count, cache ------------------------------------------------------
    def pass1(self) -> None:
        todo = [c for c in range(len(self.chunks)) if not self.store.done(c)]
        error = None
        try:
            scan(self.plan.variants, self.dataset, self.plan.layers, [self._consume],
                 self.settings.batch_size, numbers=self._share(todo), precision=self.settings.precision,
                 workers=self.settings.workers, progress=self.progress, desc="dissect: forward",
                 processes=self.cluster.world if self.cluster.collective else 1)
        except Exception as exc:  # noqa: BLE001 - every process must hear of it (Cluster.agree)
            error = exc
        self.cluster.agree(error)

    def _consume(self, batch: Batch) -> None:
        labels = LabelBatch.build([it.labels for it in batch.items], [it.whole for it in batch.items],
                                  self.concepts.label_category, len(self.concepts.categories),
                                  getattr(self.dataset, "segmentation_size", None))
        acts = {f"{v}/{layer}": _cacheable(batch.acts[v][layer].detach())
                for v in self.plan.variants for layer in self.plan.layers}
        for stream in self.plan.streams:
            raw = stream.raw(acts[f"{stream.variant}/{stream.layer}"])
            _check_finite(raw, stream, batch)
            self.counts[stream.key].update(_rows(raw))
            if stream.key in self.top:
                best, where = spatial_extreme(raw)
                self.top[stream.key].update(best, batch.indices, where, raw)
        self.work.write_cache(batch.number, {
            "indices": batch.indices, "combo": _compact(labels.combo), "combos": _compact(labels.combos),
            "combo_image": labels.combo_image, "whole": labels.whole, "present": labels.present,
            "acts": acts, **self._thumbnails(batch)})
        chunk = self.chunk_of(batch.number)
        if batch.number == self.chunks[chunk][-1]:  # the chunk's last cache file is on disk
            self.work.save_chunk(chunk, {"counts": {k: c.state_dict() for k, c in self.counts.items()},
                                         "top": {k: t.state_dict() for k, t in self.top.items()}})
            self._fresh()

    def _thumbnails(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Thumbnails of the batch's images that just entered some unit's top list (all of them
        early on, few later): the report shows them without decoding the images again."""
        if not self.top:
            return {}
        entered = torch.zeros(len(batch.indices), dtype=torch.bool)
        for top in self.top.values():
            entered |= torch.isin(batch.indices, top.images)
        return {"thumb_indices": batch.indices[entered], "thumbs": thumbnails(batch.images[entered])}

    def totals(self) -> tuple[dict[str, RadixQuantiles], dict[str, TopK]]:
        """Pass 1's counts and top lists over the whole dataset: this process's share of the
        chunks merged here, then summed (counts) and gathered (top lists) across processes."""
        self._fresh()
        counts, top = self.counts, self.top
        for c in self.cluster.mine(range(len(self.chunks))):
            saved = self.store.load_chunk(c)
            for key, total in counts.items():
                total.merge(_radix(saved["counts"][key]))
            for key, best in top.items():
                best.merge(_top(saved["top"][key]))
        for total in counts.values():
            _sum_counts(total, self.cluster)
        if self.cluster.collective:
            mine = {key: best.state_dict() for key, best in top.items()}
            self._fresh()
            for states in self.cluster.gather(mine):
                for key, best in self.top.items():
                    best.merge(_top(states[key]))
            top = self.top
        return counts, top

    # ---- thresholds ------------------------------------------------------------------------
    def thresholds(self, counts: dict[str, RadixQuantiles]) -> Thresholds:
        """Exact per-unit thresholds (np.quantile's), from pass 1's counts and rescans of the
        cache: each process rescans its share, and each round's counts are summed."""
        if self.state["thresholds"]:
            return self.work.load("thresholds.pt")
        quantile = self.settings.quantile
        levels = {neg: quantile if neg else 1.0 - quantile for neg in self.plan.signs}
        found = exact_thresholds(self.plan.streams, counts, levels, self._rescan, reduce=self.cluster.sum_)
        if self.cluster.main:
            self.work.save("thresholds.pt", found)
            self.state["thresholds"] = True
            self.work.commit(self.state)
        return found

    def _rescan(self, round_number: int):
        """This process's cached batches again: {stream key: (n, units) raw values}."""
        by_key = {s.key: s for s in self.plan.streams}
        numbers = self._share(range(len(self.chunks)))
        bar = progress_bar(len(numbers), f"dissect: exact thresholds {round_number}", self.progress)
        for b in numbers:
            acts = self.store.read_cache(b)["acts"]
            yield {key: _rows(s.raw(acts[f"{s.variant}/{s.layer}"])) for key, s in by_key.items()}
            bar.update(1)
        bar.close()

    # ---- pass 2: binarize and tally -------------------------------------------------------------
    def pass2(self, thresholds: Thresholds, top: dict[str, TopK]) -> dict[tuple[str, bool], IoUTally]:
        """IoU counts of this process's share, summed across processes (they are integer counts,
        so the sum is exact in any order). Cheap next to pass 1, so a resume redoes it."""
        n_cat = len(self.concepts.categories)
        tallies = {(s.key, neg): IoUTally(s.units, self.concepts.label_category, n_cat)
                   for s in self.plan.streams for neg in self.plan.signs}
        numbers = self._share(range(len(self.chunks)))
        bar = progress_bar(len(numbers), "dissect: tally", self.progress)
        wanted = ({int(i) for best in top.values() for i in best.images.reshape(-1)}
                  if self.cluster.main else set())  # only the report's process keeps thumbnails
        for b in numbers:
            payload = self.store.read_cache(b)
            labels = LabelBatch(payload["combo"], payload["combos"].long(), payload["combo_image"],
                                payload["whole"], payload["present"])
            self._keep_thumbnails(payload, wanted)
            for stream in self.plan.streams:
                raw = stream.raw(payload["acts"][f"{stream.variant}/{stream.layer}"])
                for neg in self.plan.signs:
                    tally_batch(tallies[(stream.key, neg)], raw, thresholds[(stream.key, neg)], labels, neg)
            bar.update(1)
        bar.close()
        for tally in tallies.values():
            _sum_tally(tally, self.cluster)
        return tallies

    def _keep_thumbnails(self, payload: dict, wanted: set[int]) -> None:
        """Keep the cached thumbnails of final top images, up to KEPT_THUMBNAILS (~100 MB); the
        report decodes any others again."""
        if "thumbs" not in payload:
            return
        for i, index in enumerate(payload["thumb_indices"].tolist()):
            if len(self.thumbs) >= KEPT_THUMBNAILS:
                return
            if index in wanted and index not in self.thumbs:
                self.thumbs[index] = payload["thumbs"][i].clone()


def _radix(state: dict) -> RadixQuantiles:
    counts = RadixQuantiles(int(state["units"]))
    counts.load_state_dict(state)
    return counts


def _top(state: dict) -> TopK:
    best = TopK(int(state["units"]), int(state["k"]))
    best.load_state_dict(state)
    return best


def _sum_counts(counts: RadixQuantiles, cluster: Cluster) -> None:
    """Sum one stream's top-byte counts over the processes; one that read no chunk (more
    processes than chunks) joins with zeros of the dtype the others saw."""
    if not cluster.collective:
        return
    dtype = next((d for d in cluster.gather(counts.state_dict()["dtype"]) if d is not None), None)
    if dtype is None:
        return
    if counts.dtype is None:
        counts.load_state_dict({"units": counts.units, "count": 0, "dtype": dtype,
                                "counts": torch.zeros(counts.units, 256, dtype=torch.long)})
    cluster.sum_(counts.counts)
    counts.count = int(cluster.sum_(torch.tensor([counts.count]))[0])


def _sum_tally(tally: IoUTally, cluster: Cluster) -> None:
    for part in (tally.intersection, tally.category_area, tally.label_area, tally.unit_area):
        cluster.sum_(part)
    tally.images = int(cluster.sum_(torch.tensor([tally.images]))[0])


def _compact(numbers: torch.Tensor) -> torch.Tensor:
    """Label or combination numbers in the smallest integer type that holds them (int16 for
    Broden's 1198 labels and a batch's few hundred combinations)."""
    return numbers.to(torch.int16 if numbers.numel() == 0 or int(numbers.max()) < 2**15 else torch.int32)


def _cacheable(acts: torch.Tensor) -> torch.Tensor:
    """The tensor itself when it is dense and owns exactly its storage (channels_last from the
    forward stays so: every reader takes either layout), else a compact copy."""
    if is_dense(acts) and acts.untyped_storage().nbytes() == acts.numel() * acts.element_size():
        return acts
    return acts.contiguous()


def _rows(acts: torch.Tensor) -> torch.Tensor:
    """(B, U, h, w) -> (positions, U); a view for channels_last activations."""
    return acts.permute(0, 2, 3, 1).reshape(-1, acts.shape[1])


def _check_finite(acts: torch.Tensor, stream: Stream, batch: Batch) -> None:
    """NaN would silently poison thresholds and IoUs: stop, naming the images that caused it."""
    if bool(torch.isnan(acts).any()):
        first, last = int(batch.indices[0]), int(batch.indices[-1])
        raise DataError(f"layer '{stream.layer}' ({stream.variant}) gave NaN activations on images "
                        f"{first}-{last}; check the weights and input normalization, or try --precision fp32")
