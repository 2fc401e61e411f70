"""`run_examples`: for each unit, the k dataset images that excite it most and least.

One streaming pass (scan) feeds per-layer TopK accumulators (by spatial max, maps kept), so
memory is O(units x k) whatever the dataset size. Each example is saved as a thumbnail with the
activation map overlaid and as the receptive-field patch around the max position, with the
receptive field measured from the network (unitscope.receptive_field), not guessed.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .data.images import image_only, open_dataset
from .errors import BadInputError, UnitscopeError
from .imageio import save_png
from .models.spec import Model
from .run import RunDir, write_json_atomic
from .scan import Batch, scan
from .stats.topk import TopK, spatial_extreme
from .units import Unit, parse_units

THUMB = 128
PATCH_MIN = 64


def _expand(model: Model, units: Sequence[str | Unit] | str) -> dict[str, list[int]]:
    """{layer: channels}, in the order given, whole layers expanded."""
    parsed = parse_units(units) if isinstance(units, str) else [
        u if isinstance(u, Unit) else Unit.parse(u) for u in units]
    if not parsed:
        raise BadInputError("no units given; write e.g. conv5 or conv5:0-9")
    wanted: dict[str, list[int]] = {}
    for unit in parsed:
        for single in model.units(unit):
            chans = wanted.setdefault(single.layer, [])
            if single.index not in chans:
                chans.append(single.index)
    return wanted


class _Collector:
    """The scan consumer: per layer, top-k and bottom-k by spatial max, with maps."""

    def __init__(self, wanted: dict[str, list[int]], k: int) -> None:
        self.wanted = wanted
        self.index = {layer: torch.tensor(chans) for layer, chans in wanted.items()}
        self.top = {layer: TopK(len(c), k, True, keep_maps=True) for layer, c in wanted.items()}
        self.bottom = {layer: TopK(len(c), k, False, keep_maps=True) for layer, c in wanted.items()}

    def __call__(self, batch: Batch) -> None:
        for layer, acts in batch.acts["model"].items():
            acts = acts.float()
            if acts.dim() == 2:
                acts = acts[:, :, None, None]
            acts = acts.index_select(1, self.index[layer])
            best, where = spatial_extreme(acts)
            self.top[layer].update(best, batch.indices, where, acts)
            self.bottom[layer].update(best, batch.indices, where, acts)


def run_examples(
    model: Model,
    data: str | Path | Any,
    units: Sequence[str | Unit] | str,
    out: str | Path,
    k: int = 8,
    batch_size: int = 64,
    progress: bool = True,
    precision: str | None = None,
    workers: int = 0,
) -> dict[str, Any]:
    """Find and save the top/bottom-k examples of every unit; returns examples.json's content.

    `data` is a folder of images, a Broden directory, or a dataset object whose items have
    `.image` and `.name`.
    """
    if k < 1 or batch_size < 1:
        raise BadInputError("--k and --batch-size must be at least 1")
    wanted = _expand(model, units)
    dataset = open_dataset(data, model.input_spec.size) if isinstance(data, (str, Path)) else data
    if len(dataset) == 0:
        raise BadInputError(f"dataset '{data}' has no images")
    collector = _Collector(wanted, k)
    scan({"model": model}, dataset, list(wanted), [collector], batch_size, precision=precision,
         workers=workers, progress=progress, desc="examples")
    run_dir = RunDir(out)
    found = _render(run_dir, model, dataset, collector)
    path = run_dir.path / "examples" / "examples.json"
    result = {"dataset": str(data) if isinstance(data, (str, Path)) else type(data).__name__,
              "k": k, "units": {**_previous_units(path, k), **found}}
    write_json_atomic(path, result)
    run_dir.register("examples", {"json": "examples/examples.json"}, model=model.name)
    return result


def _previous_units(path: Path, k: int) -> dict[str, Any]:
    """Units from an earlier examples run into the same folder (kept if k matches)."""
    if not path.is_file():
        return {}
    try:
        old = json.loads(path.read_text())
    except ValueError:
        return {}
    return old.get("units", {}) if old.get("k") == k else {}


class _ImageCache:
    def __init__(self, dataset, size: int = 512) -> None:
        self.dataset, self.size, self.items = dataset, size, OrderedDict()

    def __getitem__(self, index: int):
        if index not in self.items:
            self.items[index] = image_only(self.dataset, index)
            if len(self.items) > self.size:
                self.items.popitem(last=False)
        self.items.move_to_end(index)
        return self.items[index]


def _render(run_dir: RunDir, model: Model, dataset, collector: _Collector) -> dict[str, Any]:
    images = _ImageCache(dataset)
    found: dict[str, Any] = {}
    for layer, chans in collector.wanted.items():
        top, bottom = collector.top[layer], collector.bottom[layer]
        rf = _field(model, layer, images[int(top.images[0, 0])][0].shape[-1])
        scale = top.values[:, :1].clamp(min=1e-12).float()  # per-unit top value: comparable overlays
        for j, channel in enumerate(chans):
            entry = {}
            for side, acc in (("top", top), ("bottom", bottom)):
                entry[side] = [
                    _save_example(run_dir, rf, layer, channel, side, n, images[int(acc.images[j, n])],
                                  acc, j, n, float(scale[j, 0]))
                    for n in range(acc.images.shape[1])]
            found[f"{layer}:{channel}"] = entry
    return found


def _save_example(run_dir, rf, layer, channel, side, n, loaded, acc: TopK, j, rank, scale) -> dict:
    image, name = loaded
    amap = acc.maps[j, rank]
    x, y = (int(v) for v in acc.positions[j, rank])
    folder = run_dir.path / "examples" / layer / str(channel)
    thumb = save_png(overlay(image, amap, scale), folder / f"{side}_{n}.png")
    patch = save_png(_patch(rf, image, x, y), folder / f"{side}_{n}_patch.png")
    return {"source": name, "value": float(acc.values[j, rank]), "x": x, "y": y,
            "thumb": run_dir.relative(thumb), "patch": run_dir.relative(patch)}


def overlay(image: torch.Tensor, amap: torch.Tensor, scale: float) -> np.ndarray:
    """The image with its activation map (bilinearly upsampled, divided by `scale`) as a heatmap."""
    from matplotlib import colormaps

    h, w = image.shape[1:]
    up = F.interpolate(amap[None, None].float(), size=(h, w), mode="bilinear", align_corners=False)[0, 0]
    heat = torch.from_numpy(colormaps["inferno"]((up / scale).clamp(0, 1).numpy())[..., :3]).float()
    blend = 0.5 * image + 0.5 * heat.permute(2, 0, 1)
    if max(h, w) > THUMB:
        blend = F.interpolate(blend[None], size=(THUMB, THUMB), mode="bilinear", antialias=True,
                              align_corners=False)[0]
    return _uint8(blend)


def _field(model: Model, layer: str, size: int):
    """The layer's receptive field at this input size, or None for layers without a spatial map."""
    from .receptive_field import receptive_field

    try:
        return receptive_field(model, layer, size)
    except UnitscopeError:
        return None


def _patch(rf, image: torch.Tensor, x: int, y: int) -> np.ndarray:
    """The receptive field of position (x, y) cropped from the image (whole image if none)."""
    x0, y0, x1, y1 = rf.box(x, y) if rf is not None else (0, 0, image.shape[2], image.shape[1])
    crop = image[:, y0:y1, x0:x1]
    side = max(crop.shape[1:])
    if side < PATCH_MIN:
        factor = int(np.ceil(PATCH_MIN / side))
        crop = crop.repeat_interleave(factor, 1).repeat_interleave(factor, 2)
    return _uint8(crop)


def _uint8(image: torch.Tensor) -> np.ndarray:
    return image.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
