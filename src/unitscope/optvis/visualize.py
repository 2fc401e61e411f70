"""`visualize`: render many units in batches and write the run-dir artifacts.

Writes `visualize/<layer>/<c>.png` (plus `<c>_neg.png`, `<c>_div<k>.png`; with --param maco also
each image's transparency map `<c>..._alpha.png`, the entry's `alpha`), one labelled sheet per
layer, `visualize/visualize.json` and the manifest entry (docs/artifacts.md); repeated runs
on one run dir merge (see artifacts.py). A negative image of a unit read after a ReLU is
optimized on the ReLU's input (models/preactivation.py): below 0 the ReLU output is flat.
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from ..errors import BadInputError
from ..imageio import load_image, save_png
from ..modalities import delegate
from ..models import Model, load_model
from ..models.preactivation import ReluLinks, relu_links
from ..result import Display, Result
from ..rundir import RunDir, default_out
from ..settings import batch_size_option, option
from ..units import Unit, parse_units
from . import artifacts
from . import objectives as obj
from .degenerate import warn_if_border
from .render import RenderSettings, evaluate, render, render_size

if TYPE_CHECKING:
    import pandas as pd

BATCH_SEED_STRIDE = 1_000_003  # batch i renders with seed + i * stride
COLUMNS = ["unit", "layer", "channel", "sign", "variant", "objective", "activation", "position",
           "objective_layer", "after_relu", "image"]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VisualizeSettings(RenderSettings):
    """`unitscope visualize`: which units, which signs and variants, on top of the render recipe."""

    VERB: ClassVar[str] = "visualize"
    units: tuple[str, ...] = option((), "unit addresses: conv5 (all channels), conv5:3, conv5:0-63, fc8:2",
                                    positional=True)
    negative: bool = option(False, "also render the image that drives each unit most negative (for a unit "
                            "read after a ReLU: its input, before the ReLU)")
    diversity: float = option(0.0, "weight of the diversity term between variants of a unit", low=0,
                              metavar="W")
    variants: int | None = option(None, "images per unit (default 4 with --diversity, else 1)", low=1,
                                  metavar="N", show_default=False)
    batch_size: int = batch_size_option(32)
    prior: float = option(0.1, "tabular models: weight of the penalty that keeps the optimized row near "
                          "the data (squared Mahalanobis distance to the data's mean)", low=0, metavar="W")
    temperature: float = option(1.0, "text models: softmax temperature of the relaxed one-hot characters",
                                above=0, metavar="T")
    length: int = option(24, "text models: characters in the optimized string", low=1, metavar="N")

    @property
    def n_variants(self) -> int:
        """Images per unit and sign: `variants`, else 4 with diversity and 1 without."""
        return self.variants or (4 if self.diversity else 1)

    def check(self) -> None:
        super().check()
        parse_units(" ".join(self.units))  # a malformed address fails before the model loads
        if self.diversity and self.n_variants < 2:
            raise BadInputError("--diversity needs several variants per unit; use --variants 2 or more")
        if self.batch_size < self.n_variants:
            raise BadInputError(f"--batch-size {self.batch_size} cannot hold the {self.n_variants} "
                                f"variants of one unit; use --batch-size {self.n_variants} or more")


class VisualizeResult(Result):
    """visualize/visualize.json: one entry per rendered image, plus the layer sheets."""

    verb = "visualize"

    def to_pandas(self) -> pd.DataFrame:
        """One row per image, the columns of visualize.json's `units` entries (image: run-relative;
        objective_layer: the layer optimized, after_relu: the ReLU the unit is read after; alpha:
        the transparency map of --param maco images, a column only when some image has one)."""
        import pandas as pd

        entries = self.data["units"]
        columns = COLUMNS + (["alpha"] if any("alpha" in e for e in entries) else [])
        return pd.DataFrame([{c: e.get(c) for c in columns} for e in entries], columns=columns)

    def display(self) -> Display:
        entries = self.data["units"]
        settings = self.data["settings"]
        images = [(self.run_dir / e["image"], _caption(e)) for e in entries]
        facts = [("units", str(len({e["unit"] for e in entries}))), ("images", str(len(entries))),
                 ("steps", str(settings.get("steps"))), ("size", f"{settings.get('size')} px")]
        table = self.to_pandas()[["unit", "sign", "variant", "objective", "activation"]]
        return Display(f"feature visualization of {settings.get('model')}", facts, images, table)


def _caption(entry: dict) -> str:
    return f"{entry['unit']} {entry['sign']}" + (f" v{entry['variant']}" if entry["variant"] else "")


@dataclass(frozen=True)
class _Job:
    """One image to render: a single-channel unit, a sign, a diversity variant and the layer whose
    channel is optimized (the unit's own, or for a negative after a ReLU the ReLU's input)."""

    unit: Unit
    sign: int
    variant: int
    layer: str


def run(model: Model | str, data: str | Path | torch.Tensor | None = None,
        settings: VisualizeSettings | None = None, out: str | Path | None = None,
        progress: bool = True) -> VisualizeResult:
    """Render every unit of `settings.units` (whole layers expand to all channels) into `out`.

    `data`: a photo (path or 3xHxW tensor in [0, 1]) to start from instead of noise, or None.
    """
    settings = settings or VisualizeSettings()
    model = load_model(model) if isinstance(model, str) else model
    if (other := delegate("visualize", model, data, settings, out, progress)) is not None:
        return other
    settings = settings.replace(size=render_size(model, settings.size))
    singles = model.expand(" ".join(settings.units))
    _check_weights(model)
    init = _init_image(data, settings.size)
    run_dir = RunDir(default_out(out, model.name))
    signs = (1, -1) if settings.negative else (1,)
    fed = model.input_spec.size if model.fixed_size else settings.size  # what the network sees
    links = relu_links(model, fed)
    jobs = [_Job(u, s, v, _objective_layer(u, s, links)) for u in singles for s in signs
            for v in range(settings.n_variants)]
    _note_flat_negatives(jobs, links)
    _check_objectives(model, jobs, fed)
    chunks = list(_batches(jobs, settings.batch_size, settings.n_variants))
    entries: list[dict[str, Any]] = []
    for number, chunk in enumerate(chunks):
        entries += _render_batch(model, chunk, run_dir, settings, number, init, progress,
                                 desc=f"visualize {number + 1}/{len(chunks)}", links=links)
    block = {**settings.to_dict(), "model": model.name, "from_image": _source_name(data),
             "batch": settings.batch_size, "n_variants": settings.n_variants}
    written, files = artifacts.write(run_dir, model.name, entries, block)
    pngs = [run_dir.path / e[key] for e in entries for key in ("image", "alpha") if key in e]
    return VisualizeResult(run_dir.path, written, settings, pngs + files)


def _init_image(source: str | Path | torch.Tensor | None, size: int) -> torch.Tensor | None:
    if source is None or isinstance(source, torch.Tensor):
        return source
    return load_image(source, size)


def _source_name(source: str | Path | torch.Tensor | None) -> str | None:
    """How visualize.json records the starting photo: its path, 'tensor', or None."""
    if source is None:
        return None
    return "tensor" if isinstance(source, torch.Tensor) else str(source)


def _objective_layer(unit: Unit, sign: int, links: dict[str, ReluLinks]) -> str:
    """The layer a job optimizes: a negative after a ReLU reads the ReLU's input, where the values
    below 0 still differ; without one module giving that input, the unit's layer itself."""
    link = links.get(unit.layer, ReluLinks())
    return (link.pre or unit.layer) if sign < 0 and link.after_relu else unit.layer


def _note_flat_negatives(jobs: list[_Job], links: dict[str, ReluLinks]) -> None:
    """Log once per layer whose negatives stay on a ReLU output (no module gives its input)."""
    for layer in dict.fromkeys(j.unit.layer for j in jobs if j.sign < 0 and j.layer == j.unit.layer):
        relu = links.get(layer, ReluLinks()).relu
        if relu is not None:
            log.info("%s is read after the ReLU %s, whose input is no single module's output: its "
                     "negatives are optimized on %s itself and can only reach 0", layer, relu, layer)


def _check_objectives(model: Model, jobs: list[_Job], size: int) -> None:
    """Warn once per optimized layer whose channel objective only sees the image border."""
    channels: dict[tuple[str, str], list[int]] = {}
    for job in jobs:
        if job.unit.position is None:
            channels.setdefault((job.layer, job.unit.layer), []).append(job.unit.index)
    warned: set[str] = set()
    for (layer, unit_layer), chans in channels.items():
        if layer not in warned and warn_if_border(model, layer, unit_layer, list(dict.fromkeys(chans)), size):
            warned.add(layer)


def _batches(jobs: list[_Job], batch: int, n_variants: int) -> Iterator[list[_Job]]:
    """Chunks of jobs from one layer and position; a unit's variants stay in one chunk."""
    per = batch // n_variants * n_variants
    keys: dict[tuple, list[_Job]] = {}
    for job in jobs:
        keys.setdefault((job.unit.layer, job.unit.position), []).append(job)
    for group in keys.values():
        for start in range(0, len(group), per):
            yield group[start:start + per]


def _unit_objective(chunk: list[_Job], layer: str | None = None) -> obj.Objective:
    """Each element's own unit, read on its layer (or `layer`): a channel mean, or one neuron for
    addresses with a position."""
    unit = chunk[0].unit
    target = Unit(layer or unit.layer, position=unit.position)
    return obj.unit_objective(target, [job.unit.index for job in chunk])


def _objective(chunk: list[_Job], diversity: float) -> obj.Objective:
    """The units' objectives with their signs, each on its job's layer, plus diversity within
    each (unit, sign) group (on that group's layer)."""
    ids: dict[tuple[str, int], int] = {}
    groups = [ids.setdefault((str(job.unit), job.sign), len(ids)) for job in chunk]
    parts = []
    for layer in dict.fromkeys(job.layer for job in chunk):
        mine = torch.tensor([float(job.layer == layer) for job in chunk])
        signs = torch.tensor([float(job.sign) for job in chunk]) * mine
        part = _unit_objective(chunk, layer)
        part = part * signs if (signs != 1).any() else part
        if diversity:
            spread = obj.diversity(layer, groups)
            part = part + diversity * (spread * mine if (mine == 0).any() else spread)
        parts.append(part)
    return functools.reduce(operator.add, parts)


def _check_weights(model: Model) -> None:
    """NaN or inf weights make every image and value NaN: refuse them before any step is spent."""
    tensors = [*model.module.named_parameters(), *model.module.named_buffers()]
    bad = next((name for name, t in tensors if t.is_floating_point() and not torch.isfinite(t).all()), None)
    if bad is not None:
        raise BadInputError(f"the weights of {model.name} contain NaN or inf values (first in '{bad}'); "
                            "load a sound checkpoint")


def _check_finite(model: Model, chunk: list[_Job], values: torch.Tensor, activations: torch.Tensor) -> None:
    """A NaN or inf objective (activations that overflow) cannot be written to visualize.json."""
    bad = ~(torch.isfinite(values) & torch.isfinite(activations))
    if bad.any():
        i = int(bad.nonzero()[0])
        value = float(values[i]) if not torch.isfinite(values[i]) else float(activations[i])
        raise BadInputError(f"{model.name} gives {chunk[i].unit} a non-finite value ({value}) "
                            "on its rendered image: its activations overflow; check the checkpoint")


def _render_batch(model: Model, chunk: list[_Job], run_dir: RunDir, settings: VisualizeSettings,
                  number: int, init: torch.Tensor | None, progress: bool, desc: str,
                  links: dict[str, ReluLinks]) -> list[dict]:
    """Render one chunk, save its PNGs and return their visualize.json entries (activation: the
    unit's own value on its image; objective: the optimized one, on `objective_layer`)."""
    result = render(model, _objective(chunk, settings.diversity), settings, batch=len(chunk),
                    init_image=init, progress=progress, desc=desc,
                    seed=settings.seed + BATCH_SEED_STRIDE * number)
    activations = evaluate(model, _unit_objective(chunk), result.images)
    _check_finite(model, chunk, result.values, activations)
    entries = []
    for i, job in enumerate(chunk):
        path = run_dir.path / artifacts.image_name(job.unit, job.sign, job.variant)
        save_png(result.images[i], path)
        entry = {"unit": str(job.unit), "layer": job.unit.layer,
                        "channel": job.unit.index, "sign": artifacts.sign_name(job.sign),
                        "variant": job.variant, "image": run_dir.relative(path),
                        "objective": float(result.values[i]) + 0.0,
                        "activation": float(activations[i]) + 0.0,
                        "position": _position(job.unit),
                        "objective_layer": job.layer,
                        "after_relu": links.get(job.unit.layer, ReluLinks()).relu}
        if result.alpha is not None:  # --param maco: where the unit looked, as a grey PNG
            entry["alpha"] = run_dir.relative(save_png(result.alpha[i], alpha_path(path)))
        entries.append(entry)
    return entries


def alpha_path(image: Path) -> Path:
    """The MACO transparency map saved next to an image: `<c>...png` -> `<c>..._alpha.png`."""
    return image.with_name(image.stem + "_alpha.png")


def _position(unit: Unit) -> list[int] | str | None:
    """[x, y], 'cls' or None, as visualize.json records it."""
    return list(unit.position) if isinstance(unit.position, tuple) else unit.position
