"""`run_dissect`: Network Dissection of some layers over a Broden-format dataset, one forward per image.

Pass 1 forwards each batch once, counts the top byte of every activation per unit (for exact
thresholds, stats/select.py), feeds the top-image accumulators, and writes the layer activations
(in the dtype they were computed in, so nothing is lost) plus the batch's compact labels to a
per-batch cache file on disk. Rescans of the cache, not of the model, finish the exact
thresholds. Pass 2 reads the cache again: the pixels whose float64 bilinear upsample crosses the
thresholds (only around hot source cells, see tally.py) are tallied. RSS is bounded by one batch;
disk holds one layer-sized copy of the activations, deleted at the end.
"""

from __future__ import annotations

import copy
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import precision as prec
from ..errors import BadInputError, DataError
from ..models.spec import Model
from ..models.tracing import layer_shapes
from ..run import RunDir
from ..scan import Batch, progress_bar, scan
from ..stats.iou import IoUTally, LabelBatch
from ..stats.select import WIDTH, RadixQuantiles
from ..stats.topk import TopK, spatial_extreme
from . import report
from .checkpoint import WorkDir
from .rotation import rotate, rotation
from .tally import is_dense, tally_batch
from .thresholds import exact_thresholds

MAIN, BASELINE = "model", "baseline_random"
CACHE_FORMAT = 2  # 2: labels as combinations (1: label planes); a resume across formats is refused
KEPT_THUMBNAILS = 2048  # 128 px uint8 thumbnails held for the report: 100 MB at most


@dataclass
class Stream:
    """One thing to dissect: a model variant's layer, seen in a basis rotated by alpha."""

    variant: str
    layer: str
    alpha: float
    units: int
    matrix: torch.Tensor | None

    @property
    def key(self) -> str:
        return f"{self.variant}/{self.layer}/{self.alpha:g}"

    def raw(self, acts: torch.Tensor) -> torch.Tensor:
        """The (B, U, h, w) activations this stream dissects, in the dtype they were computed in
        (bf16 under autocast), or float32 when rotated (alpha > 0) or computed in float64."""
        acts = rotate(acts, self.matrix)
        return acts if acts.dtype in WIDTH else acts.float()


@dataclass
class Concepts:
    """Label numbers -> names and primary categories, as dense tensors for the tally."""

    names: list[str]
    categories: list[str]
    label_category: torch.Tensor  # (C,) index into categories, -1 for 0 / unused

    @classmethod
    def from_dataset(cls, dataset) -> Concepts:
        categories = list(dataset.categories)
        table = dataset.labels_table
        entries = table.items() if hasattr(table, "items") else enumerate(table)
        entries = [(int(n), v) for n, v in entries if v is not None]
        size = max([n for n, _ in entries] + [0]) + 1
        names = [""] * size
        label_category = torch.full((size,), -1, dtype=torch.long)
        for number, (name, category) in entries:
            names[number] = str(name)
            if number > 0 and category in categories:
                label_category[number] = categories.index(category)
        return cls(names, categories, label_category)


def _check_args(quantile, iou_threshold, rotation_alphas, baseline, batch_size, checkpoint_every) -> None:
    if not 0.0 < quantile < 0.5:
        raise BadInputError(f"--quantile {quantile} must be in (0, 0.5), e.g. 0.005 for the top 0.5 %")
    if not 0.0 <= iou_threshold <= 1.0:
        raise BadInputError(f"--iou-threshold {iou_threshold} must be in [0, 1]")
    if any(not 0.0 <= a <= 1.0 for a in rotation_alphas):
        raise BadInputError(f"--rotation alphas {rotation_alphas} must lie in [0, 1]")
    if baseline not in (None, "random"):
        raise BadInputError(f"--baseline '{baseline}' is unknown; the only baseline is 'random'")
    if batch_size < 1 or checkpoint_every < 1:
        raise BadInputError("--batch-size and --checkpoint-every must be at least 1")


def _spatial_units(model: Model, layers: Sequence[str]) -> dict[str, int]:
    """Channel count per layer; layers without a spatial map are a user error."""
    for layer in layers:
        model.check_layer(layer)
    shapes = layer_shapes(model, layers)
    for layer in layers:
        if len(shapes[layer]) != 4:
            raise BadInputError(
                f"layer '{layer}' has no spatial map (output {tuple(shapes[layer][1:])}); dissect "
                "needs a convolutional layer (see `unitscope layers MODEL`)"
            )
    return {layer: int(shapes[layer][1]) for layer in layers}


def random_copy(model: Model, seed: int = 0) -> Model:
    """The same architecture with freshly initialized (seeded) weights, for the random baseline."""
    module = copy.deepcopy(model.module)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for sub in module.modules():
            if sub is not module and hasattr(sub, "reset_parameters"):
                sub.reset_parameters()
    module.eval()
    return Model(module, model.input_spec, f"{model.name} (random weights)", model.layer_names,
                 model.class_names)


def _fingerprint(model, dataset, broden, layers, settings) -> dict[str, Any]:
    checksum = sum(float(p.detach().contiguous().double().sum()) for p in model.module.parameters())
    if not math.isfinite(checksum):
        raise BadInputError(f"the weights of {model.name} contain NaN or inf values; load a sound checkpoint")
    return {"model": model.name, "weights": round(checksum, 6), "dataset": str(Path(broden).resolve()),
            "images": len(dataset), "layers": list(layers), **settings}


def run_dissect(
    model: Model,
    broden: str | Path,
    layers: Sequence[str] | str,
    out: str | Path,
    quantile: float = 0.005,
    iou_threshold: float = 0.04,
    rotation: Sequence[float] | None = None,
    negative: bool = False,
    baseline: str | None = None,
    batch_size: int = 32,
    checkpoint_every: int = 20,
    resume: bool = False,
    progress: bool = True,
    top_k: int = 5,
    seed: int = 0,
    precision: str | None = None,
    workers: int = 0,
    dataset=None,
    size: int | None = None,
) -> dict[str, Any]:
    """Dissect `layers` of `model` on the Broden dataset at `broden`; write `<out>/dissect/`.

    Returns the dissect.json content. `dataset` may pass an already opened BrodenDataset.
    """
    from ..data.images import open_broden

    layers = list(dict.fromkeys([layers] if isinstance(layers, str) else layers))
    alphas = sorted({0.0, *[float(a) for a in (rotation or [])]})
    _check_args(quantile, iou_threshold, alphas, baseline, batch_size, checkpoint_every)
    if not layers:
        raise BadInputError("no layers given; name at least one, e.g. conv5")
    units = _spatial_units(model, layers)
    dataset = dataset if dataset is not None else open_broden(broden, size)
    if len(dataset) == 0:
        raise DataError(f"Broden dataset '{broden}' has no images")
    concepts = Concepts.from_dataset(dataset)
    variants = {MAIN: model}
    if baseline == "random":
        variants[BASELINE] = random_copy(model, seed)
    streams = [Stream(MAIN, layer, a, units[layer], rotation_matrix(units[layer], a, seed))
               for layer in layers for a in alphas]
    if baseline:
        streams += [Stream(BASELINE, layer, 0.0, units[layer], None) for layer in layers]
    signs = [False, True] if negative else [False]
    settings = {"quantile": quantile, "rotation": alphas, "negative": negative, "baseline": baseline,
                "batch_size": batch_size, "seed": seed, "top_k": top_k,
                "precision": prec.resolve(precision), "cache_format": CACHE_FORMAT}
    fingerprint = _fingerprint(model, dataset, broden, layers, settings)
    run_dir = RunDir(out)
    work = WorkDir(run_dir.path / "dissect" / ".work")
    state = work.open(fingerprint, resume)
    if state["pass1"] > 0 and progress:
        print(f"dissect: resuming from batch {state['pass1']} of pass 1"
              + (f", batch {state['pass2']} of pass 2" if state["pass2"] else ""), file=sys.stderr)
    job = _Job(variants, dataset, layers, streams, signs, concepts, work, state, quantile,
               batch_size, checkpoint_every, precision, workers, progress, top_k, seed)
    try:
        job.pass1()
    except BaseException:
        if state["pass1"] == 0:  # nothing a resume could use: leave no trace
            work.remove()
            _remove_if_empty(work.root.parent)
        raise
    thresholds = job.thresholds()
    tallies = job.pass2(thresholds)
    result = report.write(run_dir, model, dataset, broden, streams, signs, concepts, tallies,
                          thresholds, job.top, quantile, iou_threshold, job.thumbs)
    work.remove()
    return result


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


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def rotation_matrix(units: int, alpha: float, seed: int) -> torch.Tensor | None:
    return rotation(units, alpha, seed)


class _Job:
    """The passes of one run, with their checkpoints."""

    def __init__(self, variants, dataset, layers, streams, signs, concepts, work, state, quantile,
                 batch_size, checkpoint_every, precision, workers, progress, top_k, seed) -> None:
        self.variants, self.dataset, self.layers = variants, dataset, layers
        self.streams, self.signs, self.concepts = streams, signs, concepts
        self.work, self.state, self.quantile = work, state, quantile
        self.batch_size, self.every, self.precision = batch_size, checkpoint_every, precision
        self.workers, self.progress = workers, progress
        self.batches = (len(dataset) + batch_size - 1) // batch_size
        self.counts = {s.key: RadixQuantiles(s.units) for s in streams}
        self.thumbs: dict[int, torch.Tensor] = {}  # top images' thumbnails, from the cache
        self.top = {s.key: TopK(s.units, top_k, keep_maps=True)
                    for s in streams if s.variant == MAIN and s.alpha == 0 and top_k > 0}
        if state["pass1"] > 0:
            saved = work.load("pass1.pt")
            for key, counts in self.counts.items():
                counts.load_state_dict(saved["counts"][key])
            for key, top in self.top.items():
                top.load_state_dict(saved["top"][key])

    # ---- pass 1: forward, count, cache ------------------------------------------------------
    def pass1(self) -> None:
        if self.state["pass1_done"]:
            return
        scan(self.variants, self.dataset, self.layers, [self._consume], self.batch_size,
             start_batch=int(self.state["pass1"]), precision=self.precision, workers=self.workers,
             progress=self.progress, desc="dissect: forward")
        self._checkpoint1(self.batches, done=True)

    def _consume(self, batch: Batch) -> None:
        labels = LabelBatch.build([it.labels for it in batch.items], [it.whole for it in batch.items],
                                  self.concepts.label_category, len(self.concepts.categories),
                                  getattr(self.dataset, "segmentation_size", None))
        acts = {f"{v}/{layer}": _cacheable(batch.acts[v][layer].detach())
                for v in self.variants for layer in self.layers}
        for stream in self.streams:
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
        if (batch.number + 1) % self.every == 0:
            self._checkpoint1(batch.number + 1, done=False)

    def _thumbnails(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Thumbnails of the batch's images that just entered some unit's top list (all of them
        early on, few later): the report shows them without decoding the images again."""
        if not self.top:
            return {}
        entered = torch.zeros(len(batch.indices), dtype=torch.bool)
        for top in self.top.values():
            entered |= torch.isin(batch.indices, top.images)
        return {"thumb_indices": batch.indices[entered], "thumbs": report.thumbnails(batch.images[entered])}

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
    def thresholds(self) -> dict[tuple[str, bool], torch.Tensor]:
        """Exact per-unit thresholds (np.quantile's), from pass 1's counts and rescans of the cache."""
        if self.state["thresholds"]:
            return self.work.load("thresholds.pt")
        levels = {neg: self.quantile if neg else 1.0 - self.quantile for neg in self.signs}
        found = exact_thresholds(self.streams, self.counts, levels, self._rescan)
        self.work.save("thresholds.pt", found)
        self.state["thresholds"] = True
        self.work.commit(self.state)
        return found

    def _rescan(self, round_number: int):
        """Every cached batch's activations again: {stream key: (n, units) raw values}."""
        by_key = {s.key: s for s in self.streams}
        bar = progress_bar(self.batches, f"dissect: exact thresholds {round_number}", self.progress)
        for b in range(self.batches):
            acts = self.work.read_cache(b)["acts"]
            yield {key: _rows(s.raw(acts[f"{s.variant}/{s.layer}"])) for key, s in by_key.items()}
            bar.update(1)
        bar.close()

    # ---- pass 2: binarize and tally -------------------------------------------------------------
    def pass2(self, thresholds: dict) -> dict[tuple[str, bool], IoUTally]:
        n_cat = len(self.concepts.categories)
        tallies = {(s.key, neg): IoUTally(s.units, self.concepts.label_category, n_cat)
                   for s in self.streams for neg in self.signs}
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
            for stream in self.streams:
                raw = stream.raw(payload["acts"][f"{stream.variant}/{stream.layer}"])
                for neg in self.signs:
                    tally_batch(tallies[(stream.key, neg)], raw, thresholds[(stream.key, neg)], labels, neg)
            bar.update(1)
            if (b + 1) % self.every == 0 or b + 1 == self.batches:
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
