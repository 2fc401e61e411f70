"""`examples` on a text model: the text windows around the characters where each unit fires most
and least, with the unit's activation at every character of the window (Karpathy et al. 2015)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..models import Model
from ..result import Display, Result, files_under
from ..rundir import RunDir, default_out, write_json_atomic
from .corpus import Corpus, read_corpus
from .reading import unit_activations

if TYPE_CHECKING:
    from ..examples import ExamplesSettings

BEFORE, AFTER = 60, 16  # characters shown before and after the example's character
SPACING = BEFORE  # two examples of a unit are at least this far apart


class TextExamplesResult(Result):
    """`data["units"]`: per unit its top and bottom windows."""

    verb = "examples"

    def to_pandas(self) -> pd.DataFrame:
        return pd.DataFrame([{"unit": u["unit"], "side": side, "rank": k, "position": e["position"],
                              "activation": e["activation"], "char": e["text"][e["offset"]]}
                             for u in self.data["units"] for side in ("top", "bottom")
                             for k, e in enumerate(u[side])])

    def summary(self, out: str) -> str:
        return f"examples: {len(self['units'])} units in {out}/examples/examples.json"

    def display(self) -> Display:
        return Display(f"top and bottom text of {len(self.data['units'])} units",
                       [("characters", str(self.data["characters"]))], table=self.to_pandas())


def run(model: Model, data: Any, settings: ExamplesSettings, out: str | Path | None = None,
        progress: bool = True) -> TextExamplesResult:
    """One pass over the corpus; write examples/examples.json."""
    units = model.expand(" ".join(settings.units))
    corpus = read_corpus(data)
    acts = unit_activations(model, corpus, units, settings.batch_size)
    entries = [_unit_entry(u, corpus, acts[:, i], settings.top_k) for i, u in enumerate(units)]
    run_dir = RunDir(default_out(out, model.name))
    folder = run_dir.path / "examples"
    folder.mkdir(parents=True, exist_ok=True)
    content = {"modality": "text", "model": model.name, "data": corpus.source, "characters": len(corpus.text),
               "units": entries, "settings": settings.to_dict()}
    write_json_atomic(folder / "examples.json", content)
    run_dir.register("examples", {"json": "examples/examples.json"}, model=model.name)
    return TextExamplesResult(run_dir.path, content, settings, files_under(folder))


def _unit_entry(unit: Any, corpus: Corpus, values: np.ndarray, k: int) -> dict[str, Any]:
    """The unit's top and bottom windows; `scale` (its largest |activation|) sets the shading."""
    return {"unit": str(unit), "layer": unit.layer, "channel": unit.index,
            "scale": float(np.abs(values).max()), "top": _windows(corpus, values, _spread(values, k)),
            "bottom": _windows(corpus, values, _spread(-values, k))}


def _spread(values: np.ndarray, k: int) -> list[int]:
    """The k highest positions, each at least SPACING from those already taken (ties: earlier)."""
    taken: list[int] = []
    for position in np.lexsort((np.arange(len(values)), -values)):
        if all(abs(int(position) - t) >= SPACING for t in taken):
            taken.append(int(position))
            if len(taken) == k:
                break
    return taken


def _windows(corpus: Corpus, values: np.ndarray, positions: list[int]) -> list[dict[str, Any]]:
    found = []
    for position in positions:
        start, end = max(0, position - BEFORE), min(len(corpus.text), position + AFTER + 1)
        found.append({"position": position, "activation": float(values[position]), "offset": position - start,
                      "text": corpus.text[start:end], "values": np.round(values[start:end], 4).tolist(),
                      "concepts": {name: float(array[position]) for name, array in corpus.concepts.items()}})
    return found
