"""`examples.run`: for each unit, the k dataset images that excite it most and least.

One streaming pass (scan) feeds per-layer TopK accumulators (by spatial max, maps kept), so
memory is O(units x k) whatever the dataset size. Each example is saved as a thumbnail with the
activation map overlaid and as the receptive-field patch around the max position, with the
receptive field measured from the network (unitscope.receptive_field), not guessed. A unit read
after a ReLU is flat 0 at its bottom, so its bottom examples rank the ReLU's input by its spatial
minimum (models/preactivation.py); the top examples stay on the unit's own layer.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from .data.images import image_only, open_dataset
from .distributed import Cluster, join, parse_shard
from .errors import BadInputError, BadUnitError, DataError, UnitscopeError
from .imageio import save_png, to_uint8
from .modalities import delegate
from .models import Model, load_model
from .models.preactivation import ReluLinks, relu_links
from .result import Display, Result
from .rundir import RunDir, default_out, read_json, save_torch_atomic, write_json_atomic
from .scan import Batch, batch_count, scan
from .settings import Settings, batch_size_option, option, precision_option, top_k_option, workers_option
from .stats.topk import TopK, spatial_extreme
from .units import Unit, parse_units

if TYPE_CHECKING:
    import pandas as pd

THUMB = 128
PATCH_MIN = 64
IMAGE_CACHE = 512  # decoded dataset images kept while the examples are drawn
SIDES = ("top", "bottom")
EXAMPLE_COLUMNS = ["unit", "side", "rank", "source", "value", "x", "y", "thumb", "patch"]


@dataclass(frozen=True)
class ExamplesSettings(Settings):
    """`unitscope examples`: which units, how many examples per side, how the data is read."""

    VERB: ClassVar[str] = "examples"
    units: tuple[str, ...] = option((), "unit addresses, e.g. conv5 conv3:0-9", positional=True)
    top_k: int = top_k_option(8, "examples per unit and side")
    batch_size: int = batch_size_option(64)
    precision: str | None = precision_option()
    workers: int | None = workers_option()
    shard: str | None = option(None, "do shard I/N of the scan only, as one job of an array; "
                               "`unitscope merge` finishes the run", metavar="I/N", record=False)

    def check(self) -> None:
        if not self.units:
            raise BadUnitError("UNITS: give at least one unit address, e.g. conv5 or conv3:0-9")
        parse_units(" ".join(self.units))  # a malformed address fails here, before any model loads


class ExamplesResult(Result):
    """examples/examples.json: per unit, the top and bottom examples with their thumbnails."""

    verb = "examples"

    def to_pandas(self) -> pd.DataFrame:
        """One row per (unit, side, rank): the example's source image, value, position and files."""
        import pandas as pd

        rows = [{"unit": unit, "side": side, "rank": rank, **example}
                for unit, entry in self.data["units"].items()
                for side in SIDES for rank, example in enumerate(entry[side])]
        return pd.DataFrame(rows, columns=EXAMPLE_COLUMNS)

    def display(self) -> Display:
        units = self.data["units"]
        images = [(self.run_dir / entry["top"][0]["thumb"], unit)
                  for unit, entry in units.items() if entry["top"]]
        facts = [("dataset", str(self.data["dataset"])), ("units", str(len(units))),
                 ("examples per side", str(self.data["k"]))]
        table = self.to_pandas()[["unit", "side", "rank", "source", "value"]]
        return Display(f"top and bottom examples of {len(units)} units", facts, images, table)


def channels_by_layer(units: list[Unit]) -> dict[str, list[int]]:
    """{layer: channels} of single-channel units, in the order given, each channel once."""
    wanted: dict[str, list[int]] = {}
    for unit in units:
        chans = wanted.setdefault(unit.layer, [])
        if unit.index not in chans:
            chans.append(unit.index)
    return wanted


def bottom_layers(model: Model, layers: list[str]) -> dict[str, str]:
    """{layer: the layer its bottom examples rank}: the ReLU's input for a layer read after a ReLU
    (when one module gives it), else the layer itself."""
    links = relu_links(model)
    return {layer: links.get(layer, ReluLinks()).pre or layer for layer in layers}


class _Collector:
    """The scan consumer: per layer, top-k by spatial max and bottom-k by spatial max (or, on a
    ReLU's input, by spatial min), with maps."""

    def __init__(self, wanted: dict[str, list[int]], k: int, bottom_of: dict[str, str]) -> None:
        self.wanted, self.k = wanted, k
        self.bottom_of = bottom_of
        self.layers = list(dict.fromkeys([*wanted, *bottom_of.values()]))
        self.index = {layer: torch.tensor(chans) for layer, chans in wanted.items()}
        self._fresh()

    def _fresh(self) -> None:
        self.top = {layer: TopK(len(c), self.k, True, keep_maps=True) for layer, c in self.wanted.items()}
        self.bottom = {layer: TopK(len(c), self.k, False, keep_maps=True) for layer, c in self.wanted.items()}

    def state_dict(self) -> dict[str, Any]:
        return {layer: (self.top[layer].state_dict(), self.bottom[layer].state_dict())
                for layer in self.wanted}

    def merge_states(self, states: list[dict[str, Any]]) -> None:
        """These top lists become the merge of `states` (ties break by image index, so any order
        gives what one pass over everything gives)."""
        self._fresh()
        for state in states:
            for layer, (top, bottom) in state.items():
                self.top[layer].merge(_top_list(top))
                self.bottom[layer].merge(_top_list(bottom))

    def gather(self, cluster: Cluster) -> None:
        """Every process's top lists merged, on every process."""
        if cluster.collective:
            self.merge_states(cluster.gather(self.state_dict()))

    def __call__(self, batch: Batch) -> None:
        recorded = batch.acts["model"]
        for layer in self.wanted:
            acts = self._channels(recorded[layer], layer)
            best, where = spatial_extreme(acts)
            self.top[layer].update(best, batch.indices, where, acts)
            source = self.bottom_of[layer]
            if source == layer:
                self.bottom[layer].update(best, batch.indices, where, acts)
            else:
                pre = self._channels(recorded[source], layer)
                worst, where = spatial_extreme(pre, largest=False)
                self.bottom[layer].update(worst, batch.indices, where, pre)

    def _channels(self, acts: torch.Tensor, layer: str) -> torch.Tensor:
        acts = acts.float()
        if acts.dim() == 2:
            acts = acts[:, :, None, None]
        return acts.index_select(1, self.index[layer])


def _open(data: str | Path | Any, size: int):
    """The dataset behind DATA: a folder or Broden directory is opened, an object used as is."""
    if data is None:
        raise BadInputError("examples needs DATA: a folder of images, a Broden directory or a dataset")
    dataset = open_dataset(data, size) if isinstance(data, (str, Path)) else data
    if len(dataset) == 0:
        raise BadInputError(f"dataset '{data}' has no images")
    return dataset


def run(model: Model | str, data: str | Path | Any, settings: ExamplesSettings | None = None,
        out: str | Path | None = None, progress: bool = True) -> ExamplesResult:
    """Find and save the top/bottom-k examples of every unit into examples/ of the run dir.

    `data` is a folder of images, a Broden directory, or a dataset object whose items have
    `.image` and `.name`; `out` defaults to runs/<model>.
    """
    settings = settings or ExamplesSettings()
    cluster = parse_shard(settings.shard) or join()
    model = load_model(model) if isinstance(model, str) else model
    if (other := delegate("examples", model, data, settings, out, progress)) is not None:
        return other
    wanted = channels_by_layer(model.expand(" ".join(settings.units)))
    dataset = _open(data, model.input_spec.size)
    collector = _Collector(wanted, settings.top_k, bottom_layers(model, list(wanted)))
    error = None
    try:
        scan({"model": model}, dataset, collector.layers, [collector], settings.batch_size,
             numbers=cluster.share(batch_count(dataset, settings.batch_size)), precision=settings.precision,
             workers=settings.workers, progress=progress and cluster.rank == 0, desc="examples",
             processes=cluster.world if cluster.collective else 1)
    except Exception as exc:  # noqa: BLE001 - every process must hear of it (Cluster.agree)
        error = exc
    cluster.agree(error)
    collector.gather(cluster)
    run_dir = RunDir(default_out(out, model.name))
    if cluster.shard:
        return _save_shard(run_dir, model, data, settings, collector)
    result, files = ({}, []) if not cluster.main else write_examples(run_dir, model, dataset, data, settings,
                                                                      collector)
    return ExamplesResult(run_dir.path, cluster.gather(result)[0], settings, files)


def write_examples(run_dir: RunDir, model: Model, dataset, data: Any, settings: ExamplesSettings,
                   collector: _Collector) -> tuple[dict[str, Any], list[Path]]:
    """Render every example, write examples.json and register it; returns (its content, files)."""
    found = _render(run_dir, model, dataset, collector, relu_links(model))
    path = run_dir.path / "examples" / "examples.json"
    result = {"dataset": str(data) if isinstance(data, (str, Path)) else type(data).__name__,
              "k": settings.top_k, "settings": settings.to_dict(),
              "units": {**_previous_units(path, settings.top_k), **found}}
    write_json_atomic(path, result)
    run_dir.register("examples", {"json": "examples/examples.json"}, model=model.name)
    files = [run_dir.path / example[key] for entry in found.values() for side in SIDES
             for example in entry[side] for key in ("thumb", "patch")]
    return result, [*files, path]


def _save_shard(run_dir: RunDir, model: Model, data: Any, settings: ExamplesSettings,
                collector: _Collector) -> ExamplesResult:
    """A shard's top lists and what `unitscope merge` needs to finish the run: the model's spec,
    the data and the settings."""
    if not isinstance(data, (str, Path)):
        raise BadInputError("--shard needs DATA as a folder: `unitscope merge` opens it again")
    state = {"top": collector.state_dict(), "settings": settings.to_dict(), "model": model.name,
             "source": model.source, "data": str(data), "dataset": str(Path(data).resolve())}
    path = run_dir.path / "examples" / "shard.pt"
    save_torch_atomic(state, path)
    return ExamplesResult(run_dir.path, {"shard": settings.shard, "path": str(path)}, settings, [path])


def merge_shards(shards: list[Path], out: str | Path) -> ExamplesResult:
    """Finish an examples run done as `--shard I/N` jobs: merge their top lists and render, the
    model loaded again from the spec the shards recorded. Nothing is written on a mismatch."""
    states = [_shard_state(Path(shard)) for shard in shards]
    first = states[0]
    for shard, state in zip(shards[1:], states[1:], strict=True):
        for key in ("settings", "model", "source", "dataset"):
            if state[key] != first[key]:
                raise DataError(f"examples shard '{shard}' is not from the same run as '{shards[0]}' "
                                f"({key} differs); merge the shards of one examples command")
    if first["source"] is None:
        raise DataError("the shards' model was given as a Python object; merge needs one named on the "
                        "command line (MODEL and its flags)")
    from .models.source import ModelSource

    settings = ExamplesSettings(**first["settings"])
    model = ModelSource(**first["source"]).load()
    wanted = channels_by_layer(model.expand(" ".join(settings.units)))
    collector = _Collector(wanted, settings.top_k, bottom_layers(model, list(wanted)))
    collector.merge_states([state["top"] for state in states])
    dataset = _open(first["dataset"], model.input_spec.size)
    result, files = write_examples(RunDir(out), model, dataset, first["data"], settings, collector)
    return ExamplesResult(Path(out), result, settings, files)


def _shard_state(shard: Path) -> dict[str, Any]:
    path = shard / "examples" / "shard.pt"
    if not path.is_file():
        raise DataError(f"'{shard}' holds no examples shard ({path}); give the --out of each "
                        "`examples --shard I/N` run")
    return torch.load(path, map_location="cpu", weights_only=True)


def _top_list(state: dict[str, Any]) -> TopK:
    best = TopK(int(state["units"]), int(state["k"]))
    best.load_state_dict(state)
    return best


def _previous_units(path: Path, k: int) -> dict[str, Any]:
    """Units from an earlier examples run into the same folder (kept if k matches; an unreadable
    file is started afresh)."""
    try:
        old = read_json(path, missing_ok=True)
    except DataError:
        return {}
    return old.get("units", {}) if old.get("k") == k else {}


def _render(run_dir: RunDir, model: Model, dataset, collector: _Collector,
            links: dict[str, ReluLinks]) -> dict[str, Any]:
    images = functools.lru_cache(maxsize=IMAGE_CACHE)(functools.partial(image_only, dataset))
    found: dict[str, Any] = {}
    for layer, chans in collector.wanted.items():
        top, bottom = collector.top[layer], collector.bottom[layer]
        rf = _field(model, layer, images(int(top.images[0, 0]))[0].shape[-1])
        below = collector.bottom_of[layer] != layer  # bottom maps: the ReLU's input, shown where < 0
        scales = {"top": top.values[:, 0], "bottom": -bottom.values[:, 0] if below else top.values[:, 0]}
        for j, channel in enumerate(chans):
            entry: dict[str, Any] = {}
            for side, acc in (("top", top), ("bottom", bottom)):
                flip = -1.0 if side == "bottom" and below else 1.0
                scale = max(float(scales[side][j]), 1e-12)  # per unit and side: comparable overlays
                entry[side] = [
                    _save_example(run_dir, rf, layer, channel, side, n, images(int(acc.images[j, n])),
                                  acc, j, n, scale, flip)
                    for n in range(acc.images.shape[1])]
            entry["bottom_layer"] = collector.bottom_of[layer]
            entry["after_relu"] = links.get(layer, ReluLinks()).relu
            found[f"{layer}:{channel}"] = entry
    return found


def _save_example(run_dir, rf, layer, channel, side, n, loaded, acc: TopK, j, rank, scale,
                  flip: float = 1.0) -> dict:
    image, name = loaded
    amap = acc.maps[j, rank] * flip
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
    return to_uint8(blend)


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
    return to_uint8(crop)
