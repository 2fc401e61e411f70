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

from dataclasses import dataclass
from typing import Any

import torch

from ..errors import DataError
from ..scan import Batch, progress_bar, scan
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


class Job:
    """The passes of one run over `dataset`, resumable from the checkpoint `state` in `work`."""

    def __init__(self, plan: Plan, dataset, concepts: Concepts, work: WorkDir, state: dict[str, Any],
                 settings: DissectSettings, progress: bool) -> None:
        self.plan, self.dataset, self.concepts = plan, dataset, concepts
        self.work, self.state, self.settings, self.progress = work, state, settings, progress
        self.batches = (len(dataset) + settings.batch_size - 1) // settings.batch_size
        self.counts = {s.key: RadixQuantiles(s.units) for s in plan.streams}
        self.thumbs: dict[int, torch.Tensor] = {}  # top images' thumbnails, from the cache
        self.top = {s.key: TopK(s.units, settings.top_k, keep_maps=True)
                    for s in plan.streams if s.variant == MAIN and s.alpha == 0 and settings.top_k > 0}
        if state["pass1"] > 0:
            saved = work.load("pass1.pt")
            for key, counts in self.counts.items():
                counts.load_state_dict(saved["counts"][key])
            for key, top in self.top.items():
                top.load_state_dict(saved["top"][key])

    def run(self) -> Dissection:
        """Every pass still to do; returns what the report needs."""
        self.pass1()
        thresholds = self.thresholds()
        tallies = self.pass2(thresholds)
        return Dissection(self.plan, self.concepts, thresholds, tallies, self.top, self.thumbs)

    # ---- pass 1: forward, count, cache ------------------------------------------------------
    def pass1(self) -> None:
        if self.state["pass1_done"]:
            return
        scan(self.plan.variants, self.dataset, self.plan.layers, [self._consume], self.settings.batch_size,
             start_batch=int(self.state["pass1"]), precision=self.settings.precision,
             workers=self.settings.workers, progress=self.progress, desc="dissect: forward")
        self._checkpoint1(self.batches, done=True)

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
        if (batch.number + 1) % self.settings.checkpoint_every == 0:
            self._checkpoint1(batch.number + 1, done=False)

    def _thumbnails(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Thumbnails of the batch's images that just entered some unit's top list (all of them
        early on, few later): the report shows them without decoding the images again."""
        if not self.top:
            return {}
        entered = torch.zeros(len(batch.indices), dtype=torch.bool)
        for top in self.top.values():
            entered |= torch.isin(batch.indices, top.images)
        return {"thumb_indices": batch.indices[entered], "thumbs": thumbnails(batch.images[entered])}

    def _checkpoint1(self, batches: int, done: bool) -> None:
        self.work.save("pass1.pt", {
            "counts": {k: c.state_dict() for k, c in self.counts.items()},
            "top": {k: t.state_dict() for k, t in self.top.items()}})
        self.state.update(pass1=batches, pass1_done=done)
        self.work.commit(self.state)

    def _cached(self, batch: int) -> tuple[dict, LabelBatch]:
        payload = self.work.read_cache(batch)
        labels = LabelBatch(payload["combo"], payload["combos"].long(), payload["combo_image"],
                            payload["whole"], payload["present"])
        return payload, labels

    # ---- thresholds ------------------------------------------------------------------------
    def thresholds(self) -> Thresholds:
        """Exact per-unit thresholds (np.quantile's), from pass 1's counts and rescans of the cache."""
        if self.state["thresholds"]:
            return self.work.load("thresholds.pt")
        quantile = self.settings.quantile
        levels = {neg: quantile if neg else 1.0 - quantile for neg in self.plan.signs}
        found = exact_thresholds(self.plan.streams, self.counts, levels, self._rescan)
        self.work.save("thresholds.pt", found)
        self.state["thresholds"] = True
        self.work.commit(self.state)
        return found

    def _rescan(self, round_number: int):
        """Every cached batch's activations again: {stream key: (n, units) raw values}."""
        by_key = {s.key: s for s in self.plan.streams}
        bar = progress_bar(self.batches, f"dissect: exact thresholds {round_number}", self.progress)
        for b in range(self.batches):
            acts = self.work.read_cache(b)["acts"]
            yield {key: _rows(s.raw(acts[f"{s.variant}/{s.layer}"])) for key, s in by_key.items()}
            bar.update(1)
        bar.close()

    # ---- pass 2: binarize and tally -------------------------------------------------------------
    def pass2(self, thresholds: Thresholds) -> dict[tuple[str, bool], IoUTally]:
        n_cat = len(self.concepts.categories)
        tallies = {(s.key, neg): IoUTally(s.units, self.concepts.label_category, n_cat)
                   for s in self.plan.streams for neg in self.plan.signs}
        if self.state["pass2"] > 0:
            saved = self.work.load("pass2.pt")
            for key, tally in tallies.items():
                tally.load_state_dict(saved[f"{key[0]}|{int(key[1])}"])
        if self.state["pass2_done"]:
            return tallies
        start = int(self.state["pass2"])
        bar = progress_bar(self.batches, "dissect: tally", self.progress, initial=start)
        wanted = {int(i) for top in self.top.values() for i in top.images.reshape(-1)}
        for b in range(start, self.batches):
            payload, labels = self._cached(b)
            self._keep_thumbnails(payload, wanted)
            for stream in self.plan.streams:
                raw = stream.raw(payload["acts"][f"{stream.variant}/{stream.layer}"])
                for neg in self.plan.signs:
                    tally_batch(tallies[(stream.key, neg)], raw, thresholds[(stream.key, neg)], labels, neg)
            bar.update(1)
            if (b + 1) % self.settings.checkpoint_every == 0 or b + 1 == self.batches:
                self._checkpoint2(tallies, b + 1, done=b + 1 == self.batches)
        bar.close()
        if start >= self.batches:
            self._checkpoint2(tallies, self.batches, done=True)
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

    def _checkpoint2(self, tallies: dict, batches: int, done: bool) -> None:
        self.work.save("pass2.pt", {f"{k[0]}|{int(k[1])}": t.state_dict() for k, t in tallies.items()})
        self.state.update(pass2=batches, pass2_done=done)
        self.work.commit(self.state)


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
