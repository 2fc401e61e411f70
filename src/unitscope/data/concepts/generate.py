"""`unitscope concepts OUT`: draw n concept-world images and write them as a Broden-format dataset."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from tqdm.auto import tqdm

from ...result import Display, Result, files_under
from ...settings import Settings, option, seed_option
from ..broden import BrodenDataset
from .world import render_sample
from .writer import BrodenWriter

if TYPE_CHECKING:
    import pandas as pd

PREVIEW = 12  # images shown in a notebook


@dataclass(frozen=True)
class ConceptsSettings(Settings):
    """`unitscope concepts`: how many images, how large, which world."""

    VERB: ClassVar[str] = "concepts"
    n: int = option(2000, "number of images", low=1)
    size: int = option(128, "image side in pixels", low=16)
    seed: int = seed_option("world seed")
    text: bool = option(False, "write the code world instead: code-like text whose every character is "
                        "labelled (bracket depth, inside a string or comment, ...) for text models")
    chars: int = option(200_000, "characters of the code world (with --text)", low=1)


class ConceptsResult(Result):
    """The written dataset; `data` holds its label counts per category and its first images."""

    verb = "concepts"

    def to_pandas(self) -> pd.DataFrame:
        """label.csv: number, name, category, frequency, coverage, syns (one row per label)."""
        import pandas as pd

        return pd.read_csv(self.run_dir / "label.csv", keep_default_na=False)

    def display(self) -> Display:
        images = [(self.run_dir / "images" / name, name) for name in self.data["preview"]]
        facts = [("images", str(self.data["images"])), ("size", f"{self.data['size']} px"),
                 *((cat, f"{count} labels") for cat, count in self.data["labels"].items())]
        return Display(f"concept world in {self.run_dir}", facts, images, self.to_pandas())


def generate(out_dir: str | Path, n: int = 2000, size: int = 128, seed: int = 0,
             progress: bool | None = None, val_fraction: float = 0.1) -> Path:
    """Write images 0..n-1 of the world drawn with `seed` (size x size) to `out_dir`; return it.

    The same (n, size, seed) gives the same bytes. Every tenth image is in split 'val'.
    """
    ConceptsSettings(n=n, size=size, seed=seed)  # refuses a bad n or size in one line
    writer = BrodenWriter(out_dir)
    show = sys.stderr.isatty() if progress is None else progress
    period = round(1 / val_fraction) if val_fraction > 0 else 0
    for index in tqdm(range(n), desc="concepts", unit="img", disable=not show):
        split = "val" if period and index % period == period - 1 else "train"
        writer.add(render_sample(seed, index, size), f"{index:06d}", split)
    return writer.close()


def run(model: Any, data: Any, settings: ConceptsSettings | None = None, out: str | Path | None = None,
        progress: bool = True) -> ConceptsResult:
    """Draw the concept world into `out` (default runs/concepts); `model` and `data` are unused."""
    import pandas as pd

    settings = settings or ConceptsSettings()
    if settings.text:
        from ...sequences.corpus import code_world_result

        return code_world_result(out if out is not None else Path("runs") / "codeworld", settings)
    root = generate(out if out is not None else Path("runs") / "concepts", n=settings.n,
                    size=settings.size, seed=settings.seed, progress=progress and sys.stderr.isatty())
    categories = pd.read_csv(root / "category.csv")
    data = {"images": settings.n, "size": settings.size, "settings": settings.to_dict(),
            "labels": dict(zip(categories["name"], categories["count"].astype(int).tolist(), strict=True)),
            "preview": BrodenDataset(root).names[:PREVIEW]}
    return ConceptsResult(root, data, settings, files_under(root))
