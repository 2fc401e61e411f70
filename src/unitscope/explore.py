"""`unitscope explore RUN_DIR`: the static explorer site for a run directory, as a verb."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .report.feature_site import feature_units, run_modality
from .report.paths import unit_url
from .report.runview import load_run
from .report.site import write_site
from .result import Display, Result, files_under
from .rundir import RunDir
from .settings import Settings

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ExploreSettings(Settings):
    """`unitscope explore`: the site needs nothing but the run directory (and where to write)."""

    VERB: ClassVar[str] = "explore"


class ExploreResult(Result):
    """The written site: `data["index"]` is its index.html; one page per unit."""

    verb = "explore"

    def to_pandas(self) -> pd.DataFrame:
        """One row per unit page: unit, layer, channel, best concept label (if dissected), page."""
        import pandas as pd

        return pd.DataFrame(self.data["units"], columns=["unit", "layer", "channel", "label", "page"])

    def display(self) -> Display:
        return Display(f"explorer site for {self.data['model']}",
                       [("pages", str(sum(p.suffix == ".html" for p in self.files))),
                        ("units", str(len(self.data["units"])))],
                       table=self.to_pandas(), link=Path(self.data["index"]))


def run(model: Any, data: str | Path, settings: ExploreSettings | None = None,
        out: str | Path | None = None, progress: bool = True) -> ExploreResult:
    """Build the self-contained site for the run directory `data` into `out` (default
    DATA/site). `model` is unused: the site reads only the run's artifacts."""
    run_dir = Path(data)
    site = Path(out) if out is not None else run_dir / "site"
    index = write_site(run_dir, site, progress=progress)
    RunDir(run_dir).register("explore", {"index": RunDir(run_dir).relative(index)})
    modality = run_modality(run_dir)
    if modality != "image":
        units = feature_units(run_dir, site, modality)
        data_out = {"index": str(index), "model": run_dir.name, "units": units}
        return ExploreResult(run_dir, data_out, settings or ExploreSettings(), files_under(site))
    view = load_run(run_dir)
    units = [{"unit": u.address, "layer": u.layer, "channel": u.channel,
              "label": (u.dissect or {}).get("label"), "page": str(site / unit_url(u.layer, u.channel))}
             for layer in view.layers for u in view.layer_units(layer)]
    data_out = {"index": str(index), "model": view.model, "units": units}
    return ExploreResult(run_dir, data_out, settings or ExploreSettings(), files_under(site))
