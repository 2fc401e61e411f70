"""`visualize` on a text model: the string each unit wants most, by optimizing a relaxed one-hot.

Each of `length` positions holds logits over the vocabulary; softmax(logits / temperature) mixes
the embedding rows into what the model's Embedding outputs (a forward hook replaces it). The
objective is the unit's activation at the last position (a causal model reads the string up to
there). The result is the arg-max string, whose activation is measured by a plain forward.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from torch import nn

from ..errors import BadInputError
from ..models import Model
from ..result import Display, Result, files_under
from ..rundir import RunDir, default_out, write_json_atomic
from ..units import Unit
from .reading import vocabulary_of
from .vocabulary import UNKNOWN

if TYPE_CHECKING:
    from ..optvis.visualize import VisualizeSettings


class TextVisualizeResult(Result):
    """`data["units"]`: per unit and sign, the string found and its activation."""

    verb = "visualize"

    def to_pandas(self) -> pd.DataFrame:
        columns = ["unit", "sign", "text", "activation", "activation_relaxed"]
        return pd.DataFrame([{k: e[k] for k in columns} for e in self.data["units"]], columns=columns)

    def summary(self, out: str) -> str:
        return f"visualize: {len(self['units'])} strings in {out}/visualize/visualize.json"

    def display(self) -> Display:
        return Display(f"optimal strings of {len(self.data['units'])} text units",
                       [("length", str(self.data["settings"]["length"]))], table=self.to_pandas())


def run(model: Model, data: Any, settings: VisualizeSettings, out: str | Path | None = None,
        progress: bool = True) -> TextVisualizeResult:
    """Optimize one string per unit (and per sign with `negative`); write visualize/."""
    vocabulary = vocabulary_of(model)
    embedding = _embedding(model)
    signs = (1, -1) if settings.negative else (1,)
    jobs = [(u, s) for u in model.expand(" ".join(settings.units)) for s in signs]
    ids, relaxed = _optimize(model, embedding, [u for u, _ in jobs], [s for _, s in jobs], settings)
    with torch.no_grad():
        hard = _values(model, [u for u, _ in jobs], model.to_device(ids))
    entries = [{"unit": str(u), "layer": u.layer, "channel": u.index, "sign": s,
                "text": vocabulary.decode(ids[r].tolist()), "activation": float(hard[r]),
                "activation_relaxed": float(relaxed[r])} for r, (u, s) in enumerate(jobs)]
    run_dir = RunDir(default_out(out, model.name))
    folder = run_dir.path / "visualize"
    folder.mkdir(parents=True, exist_ok=True)
    content = {"modality": "text", "model": model.name, "units": entries, "settings": settings.to_dict()}
    result = TextVisualizeResult(run_dir.path, content, settings)
    result.to_pandas().to_csv(folder / "strings.csv", index=False)
    write_json_atomic(folder / "visualize.json", content)
    run_dir.register("visualize", {"json": "visualize/visualize.json"}, model=model.name)
    result.files = files_under(folder)
    return result


def _embedding(model: Model) -> nn.Embedding:
    found = next((m for m in model.module.modules() if isinstance(m, nn.Embedding)), None)
    if found is None:
        raise BadInputError(f"{model.name} has no nn.Embedding, so its input cannot be relaxed to "
                            "character mixtures; text visualize needs one")
    return found


class _RelaxedStrings:
    """R strings as logits [R, length, vocabulary]; while entered, the model's Embedding outputs
    their softmax mixtures of its rows instead of looking ids up."""

    def __init__(self, model: Model, embedding: nn.Embedding, count: int,
                 settings: VisualizeSettings) -> None:
        generator = torch.Generator().manual_seed(settings.seed)
        shape = (count, settings.length, embedding.num_embeddings)
        self.logits = torch.nn.Parameter(0.01 * torch.randn(shape, generator=generator).to(model.device))
        self.blocked = torch.zeros(shape[-1], device=model.device)
        self.blocked[UNKNOWN] = float("-inf")  # never the unknown/padding id
        self.embedding, self.temperature = embedding, settings.temperature
        self.placeholder = torch.zeros(shape[:2], dtype=torch.long, device=model.device)  # hook ignores them

    def __enter__(self) -> _RelaxedStrings:
        self.handle = self.embedding.register_forward_hook(lambda _m, _i, _o: self.mixtures())
        return self

    def __exit__(self, *_: object) -> None:
        self.handle.remove()

    def mixtures(self) -> torch.Tensor:
        weights = torch.softmax((self.logits + self.blocked) / self.temperature, -1)
        return weights @ self.embedding.weight

    def ids(self) -> torch.Tensor:
        return (self.logits + self.blocked).argmax(-1).cpu()


def _optimize(model: Model, embedding: nn.Embedding, units: list[Unit], signs: list[int],
              settings: VisualizeSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam on the logits; returns the arg-max ids [R, length] and the final relaxed activations.
    cuDNN's RNN has no backward in eval mode, so the optimization runs without cuDNN."""
    sign = torch.tensor(signs, dtype=torch.float32, device=model.device)
    with _RelaxedStrings(model, embedding, len(units), settings) as strings, \
            torch.backends.cudnn.flags(enabled=False):
        optimizer = torch.optim.Adam([strings.logits], lr=settings.lr)
        for _ in range(settings.steps):
            values = _values(model, units, strings.placeholder)
            strings.logits.grad, = torch.autograd.grad(-(sign * values).sum(), [strings.logits])
            optimizer.step()
        values = _values(model, units, strings.placeholder).detach().cpu()
    return strings.ids(), values


def _values(model: Model, units: list[Unit], ids: torch.Tensor) -> torch.Tensor:
    """Row r's unit activation at the last position."""
    probe = model.probe(list(dict.fromkeys(u.layer for u in units)))
    with probe:
        acts = probe(ids)
    return torch.stack([acts[u.layer][r, u.index, -1] for r, u in enumerate(units)]).float()
