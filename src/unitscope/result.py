"""What every verb returns: its run directory, the files it wrote, its JSON, and a notebook view.

A Result shows itself in Jupyter (`_repr_html_`: a few facts, an image grid and a compact table,
all escaped) and exports its table with `to_pandas()` where it holds one. Indexing reads the
verb's JSON (`result["units"]`), which is what the verb also wrote to disk.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .settings import Settings

if TYPE_CHECKING:
    import pandas as pd

GRID_IMAGES = 24  # images embedded in a notebook view at most
TABLE_ROWS = 12
_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


@dataclass
class Display:
    """What a notebook shows of a result: facts, captioned images (run-dir paths), a table."""

    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    images: list[tuple[Path, str]] = field(default_factory=list)
    table: pd.DataFrame | None = None
    link: Path | None = None


@dataclass
class Result(Mapping):
    """A verb's outcome: where it wrote (`run_dir`, `files`), what (`data`), and how (`settings`)."""

    run_dir: Path
    data: dict[str, Any]
    settings: Settings | None = None
    files: list[Path] = field(default_factory=list)

    verb = "result"

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {len(self.files)} files in {self.run_dir}>"

    def to_pandas(self) -> pd.DataFrame:
        """The result's table (one row per unit, example or node)."""
        raise NotImplementedError(f"{type(self).__name__} holds no table")

    def display(self) -> Display:
        """What the notebook view shows; each verb's Result fills it in."""
        return Display(self.verb)

    def _repr_html_(self) -> str:
        from .report.templating import render

        shown = self.display()
        images = [(data_uri(path), caption) for path, caption in shown.images[:GRID_IMAGES]
                  if path.is_file()]
        table = None
        if shown.table is not None:
            table = shown.table.head(TABLE_ROWS).to_html(index=False, escape=True, border=0,
                                                         classes="unitscope-table", na_rep="")
        return render("result.html.j2", title=shown.title, facts=shown.facts, images=images,
                      table=table, rows=0 if shown.table is None else len(shown.table),
                      shown_rows=TABLE_ROWS, link=shown.link.resolve().as_uri() if shown.link else None,
                      more=max(0, len(shown.images) - GRID_IMAGES))


def data_uri(path: Path) -> str:
    """A small image file as a data: URI, so the notebook view needs no file server."""
    mime = _MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def files_under(folder: Path) -> list[Path]:
    """Every file under a folder a verb wrote (sorted), for `Result.files`."""
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
