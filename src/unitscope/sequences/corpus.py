"""A labelled text corpus on disk: `text.txt` (UTF-8), `concepts.npz` (one array per concept, one
value per character) and `concepts.json` (each concept's kind, binary or numeric, and meaning).
A plain UTF-8 `.txt` file is a corpus without concepts (enough for `examples`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from ..result import Display, Result, files_under
from ..rundir import write_json_atomic, write_text_atomic
from .codeworld import CONCEPTS, generate, scan


@dataclass
class Corpus:
    """The text, its concepts (name -> per-character array) and their kinds."""

    text: str
    source: str
    concepts: dict[str, np.ndarray] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)


def write_code_world(out: str | Path, chars: int = 200_000, seed: int = 0) -> Path:
    """Draw a code world of about `chars` characters and write it as a labelled corpus."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    text = generate(chars, seed)
    write_text_atomic(folder / "text.txt", text)
    np.savez_compressed(folder / "concepts.npz", **scan(text))
    write_json_atomic(folder / "concepts.json", {
        "generator": "unitscope code world", "seed": seed, "characters": len(text),
        "concepts": {name: {"kind": kind, "description": text_} for name, (kind, text_) in CONCEPTS.items()}})
    return folder


class CodeWorldResult(Result):
    """A written code world: `data["labels"]` counts the characters where each concept is > 0."""

    verb = "concepts"

    def to_pandas(self) -> pd.DataFrame:
        return pd.DataFrame([{"concept": k, "characters": v} for k, v in self.data["labels"].items()])

    def display(self) -> Display:
        return Display("code world", [("characters", str(self.data["characters"]))], table=self.to_pandas())


def code_world_result(out: str | Path, settings: Any) -> CodeWorldResult:
    """`unitscope concepts --text`: write the code world and describe it."""
    folder = write_code_world(out, settings.chars, settings.seed)
    corpus = read_corpus(folder)
    labels = {name: int((values > 0).sum()) for name, values in corpus.concepts.items()}
    data = {"characters": len(corpus.text), "labels": labels, "settings": settings.to_dict()}
    return CodeWorldResult(folder, data, settings, files_under(folder))


def read_corpus(path: Any) -> Corpus:
    """A corpus folder or a plain UTF-8 text file; one-line errors for anything else."""
    if path is None:
        raise DataError("this verb needs text: give a corpus folder (unitscope concepts --text OUT) "
                        "or a .txt file")
    path = Path(path)
    if path.is_dir():
        return _read_folder(path)
    if not path.is_file():
        raise DataError(f"text '{path}' not found; give a corpus folder or a UTF-8 .txt file")
    return Corpus(_read_text(path), str(path))


def _read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"'{path}' is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    if not text.strip():
        raise DataError(f"'{path}' is empty; give a text with some characters")
    return text


def _read_folder(folder: Path) -> Corpus:
    if not (folder / "text.txt").is_file():
        raise DataError(f"'{folder}' has no text.txt; give a corpus folder (unitscope concepts --text OUT)")
    text = _read_text(folder / "text.txt")
    if not (folder / "concepts.npz").is_file():
        return Corpus(text, str(folder))
    try:
        described = json.loads((folder / "concepts.json").read_text(encoding="utf-8"))["concepts"]
        kinds = {name: entry["kind"] for name, entry in described.items()}
        with np.load(folder / "concepts.npz", allow_pickle=False) as arrays:
            concepts = {name: arrays[name] for name in arrays.files}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"the concepts of '{folder}' cannot be read ({type(exc).__name__}: {exc}); "
                        "write the corpus again") from None
    for name, values in concepts.items():
        if values.shape != (len(text),):
            raise DataError(f"concept '{name}' in {folder} has {values.shape[0]} values for {len(text)} "
                            "characters; write the corpus again")
    return Corpus(text, str(folder), concepts, {n: kinds.get(n, "numeric") for n in concepts})
