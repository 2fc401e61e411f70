"""`visualize_units`: render many units in batches and write the run-dir artifacts.

Writes `visualize/<layer>/<c>.png` (plus `<c>_neg.png`, `<c>_div<k>.png`), one labelled sheet
per layer, `visualize/visualize.json` and the manifest entry (docs/artifacts.md). Repeated calls
on one run dir merge: entries of the same unit/sign/variant are replaced, others kept, and the
sheets of the touched layers are rebuilt from every image the JSON lists.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import BadInputError
from ..imageio import load_image, save_png
from ..models import Model, load_model
from ..run import RunDir, write_json_atomic
from ..units import Unit, parse_units
from . import objectives as obj
from .render import evaluate, render
from .sheet import save_sheet

DEFAULT_BATCH = 32
SUBDIR = "visualize"


@dataclass(frozen=True)
class _Job:
    """One image to render: a single-channel unit, a sign and a diversity variant."""

    unit: Unit
    sign: int
    variant: int

    @property
    def key(self) -> tuple[str, str, int]:
        return str(self.unit), _sign_name(self.sign), self.variant


def _sign_name(sign: int) -> str:
    return "positive" if sign > 0 else "negative"


def visualize_units(
    model: Model | str,
    units: str | Unit | Sequence[str | Unit],
    out: str | Path,
    steps: int = 512,
    size: int = 128,
    batch: int | None = None,
    seed: int = 0,
    negative: bool = False,
    diversity: float = 0.0,
    n_variants: int = 1,
    from_image: str | Path | torch.Tensor | None = None,
    progress: bool = True,
    precision: str | None = None,
    **render_options: Any,
) -> dict[str, Any]:
    """Render every unit (whole layers expand to all channels), save PNGs, sheets and JSON.

    negative=True also renders each unit's most negative image; diversity > 0 renders
    `n_variants` images per unit pushed apart by the diversity objective. Returns the JSON.
    """
    model = load_model(model) if isinstance(model, str) else model
    singles = _expand(model, units)
    _check_options(diversity, n_variants, batch)
    init = _init_image(from_image, size)
    run = RunDir(out)
    signs = (1, -1) if negative else (1,)
    jobs = [_Job(u, s, v) for u in singles for s in signs for v in range(n_variants)]
    entries: list[dict[str, Any]] = []
    batches = list(_batches(jobs, batch or DEFAULT_BATCH, n_variants))
    for number, chunk in enumerate(batches):
        entries += _render_batch(model, chunk, run, steps=steps, size=size,
                                 seed=seed + 1_000_003 * number, diversity=diversity, init=init,
                                 progress=progress, precision=precision,
                                 desc=f"visualize {number + 1}/{len(batches)}", **render_options)
    settings = {"steps": steps, "size": size, "seed": seed, "batch": batch or DEFAULT_BATCH,
                "negative": negative, "diversity": diversity, "n_variants": n_variants,
                "from_image": str(from_image) if isinstance(from_image, (str, Path)) else
                (None if from_image is None else "tensor"),
                "transforms": render_options.get("transforms", "standard"),
                "param": render_options.get("param", "fft"),
                "decorrelate": render_options.get("decorrelate", True),
                "lr": render_options.get("lr", 0.05), "model": model.name}
    if not isinstance(settings["transforms"], (str, type(None))):
        settings["transforms"] = [repr(t) for t in settings["transforms"]]
    return _write(run, model, entries, settings)


def _expand(model: Model, units: str | Unit | Sequence[str | Unit]) -> list[Unit]:
    """Validated single-channel units in order, duplicates dropped."""
    if isinstance(units, (str, Unit)):
        units = parse_units(units) if isinstance(units, str) else [units]
    if not units:
        raise BadInputError("no units given; write e.g. conv5:0-7 or conv5")
    found: dict[str, Unit] = {}
    for spec in units:
        for unit in model.units(spec):
            found.setdefault(str(unit), unit)
    return list(found.values())


def _check_options(diversity: float, n_variants: int, batch: int | None) -> None:
    if n_variants < 1:
        raise BadInputError(f"n_variants must be at least 1, got {n_variants}")
    if diversity and n_variants < 2:
        raise BadInputError("--diversity needs several variants per unit; use --variants 2 or more")
    if batch is not None and batch < 1:
        raise BadInputError(f"--batch must be at least 1, got {batch}")


def _init_image(source: str | Path | torch.Tensor | None, size: int) -> torch.Tensor | None:
    if source is None or isinstance(source, torch.Tensor):
        return source
    return load_image(source, size)


def _batches(jobs: list[_Job], batch: int, n_variants: int):
    """Chunks of jobs from one layer and position; a unit's variants stay in one chunk."""
    per = max(n_variants, batch // n_variants * n_variants)
    keys: dict[tuple, list[_Job]] = {}
    for job in jobs:
        keys.setdefault((job.unit.layer, job.unit.position), []).append(job)
    for group in keys.values():
        for start in range(0, len(group), per):
            yield group[start:start + per]


def _unit_objective(chunk: list[_Job]) -> obj.Objective:
    """Each element's own unit: a channel mean, or one neuron for addresses with a position."""
    unit = chunk[0].unit
    channels = [job.unit.index for job in chunk]
    if unit.position is not None:
        return obj.neuron(unit.layer, channels, *unit.position)
    return obj.channel(unit.layer, channels)


def _render_batch(model: Model, chunk: list[_Job], run: RunDir, steps: int, size: int, seed: int,
                  diversity: float, init: torch.Tensor | None, **options: Any) -> list[dict]:
    unit_obj = _unit_objective(chunk)
    signs = torch.tensor([float(job.sign) for job in chunk])
    objective = unit_obj * signs if (signs < 0).any() else unit_obj
    if diversity:
        ids: dict[tuple[str, int], int] = {}
        groups = [ids.setdefault((str(job.unit), job.sign), len(ids)) for job in chunk]
        objective = objective + diversity * obj.diversity(chunk[0].unit.layer, groups)
    result = render(model, objective, batch=len(chunk), size=size, steps=steps, seed=seed,
                    init_image=init, **options)
    activations = evaluate(model, unit_obj, result.images)
    entries = []
    for i, job in enumerate(chunk):
        path = run.path / _image_name(job)
        save_png(result.images[i], path)
        entries.append({"unit": str(job.unit), "layer": job.unit.layer,
                        "channel": job.unit.index, "sign": _sign_name(job.sign),
                        "variant": job.variant, "image": run.relative(path),
                        "objective": float(result.values[i]) + 0.0,
                        "activation": float(activations[i]) + 0.0,
                        "position": list(job.unit.position) if job.unit.position else None})
    return entries


def _image_name(job: _Job) -> str:
    """visualize/<layer>/<c>[_at<x>_<y>][_neg][_div<k>].png"""
    name = str(job.unit.index)
    if job.unit.position is not None:
        name += f"_at{job.unit.position[0]}_{job.unit.position[1]}"
    name += "_neg" if job.sign < 0 else ""
    name += f"_div{job.variant}" if job.variant else ""
    return f"{SUBDIR}/{job.unit.layer}/{name}.png"


def _load_existing(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(run: RunDir, model: Model, entries: list[dict], settings: dict) -> dict[str, Any]:
    """Merge into visualize.json, rebuild the touched layers' sheets, register in the manifest."""
    json_path = run.path / SUBDIR / "visualize.json"
    old = _load_existing(json_path)
    merged = {(e["unit"], e["sign"], e["variant"]): e for e in old.get("units", [])
              if isinstance(e, dict) and {"unit", "sign", "variant"} <= e.keys()}
    merged.update({(e["unit"], e["sign"], e["variant"]): e for e in entries})
    units = sorted(merged.values(), key=_entry_order)
    sheets = set(old.get("sheets", []))
    for layer in dict.fromkeys(e["layer"] for e in entries):
        sheets.add(_layer_sheet(run, layer, [e for e in units if e["layer"] == layer]))
    data = {"settings": settings, "units": units, "sheets": sorted(sheets)}
    write_json_atomic(json_path, data)
    run.register("visualize", {"json": run.relative(json_path)}, model=model.name)
    return data


def _entry_order(e: dict) -> tuple:
    return (e["layer"], e.get("channel", 0), str(e.get("position")), e["sign"] != "positive",
            e["variant"])


def _layer_sheet(run: RunDir, layer: str, entries: list[dict]) -> str:
    present = [e for e in entries if (run.path / e["image"]).is_file()]
    labels = [_label(e) for e in present]
    out = run.path / SUBDIR / f"{layer}_sheet.png"
    save_sheet([run.path / e["image"] for e in present], labels, out)
    return run.relative(out)


def _label(entry: dict) -> str:
    label = str(entry["channel"])
    if entry.get("position"):
        label += "@{},{}".format(*entry["position"])
    label += " neg" if entry["sign"] == "negative" else ""
    label += f" v{entry['variant']}" if entry["variant"] else ""
    return label
