"""`visualize` on a tabular model: each unit's optimal input row, as a table (value, percentile in
the data, gradient x input per feature) and a bar chart (see `optimize.py` for the objective)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import DataError
from ..models import Model
from ..result import Display, Result, files_under
from ..rundir import RunDir, default_out, safe_name, write_json_atomic
from .charts import row_chart
from .optimize import optimize_rows
from .spec import TableSpec
from .table import open_table

if TYPE_CHECKING:
    from ..optvis.visualize import VisualizeSettings


class TabularVisualizeResult(Result):
    """`data["units"]`: per unit and sign, the activation reached and its feature table."""

    verb = "visualize"

    def to_pandas(self) -> pd.DataFrame:
        """One row per (unit, sign, feature)."""
        return pd.DataFrame([{"unit": e["unit"], "sign": e["sign"], **f}
                             for e in self.data["units"] for f in e["features"]])

    def summary(self, out: str) -> str:
        return f"visualize: {len(self['units'])} optimal rows in {out}/visualize (visualize.json, CSV, PNG)"

    def display(self) -> Display:
        return Display(f"optimal rows of {len(self.data['units'])} tabular units",
                       [("steps", str(self.data["settings"]["steps"]))],
                       [(self.run_dir / e["chart"], f"{e['unit']} ({'+' if e['sign'] > 0 else '-'})")
                        for e in self.data["units"]], self.to_pandas())


def run(model: Model, data: Any, settings: VisualizeSettings, out: str | Path | None = None,
        progress: bool = True) -> TabularVisualizeResult:
    """Optimize one row per unit (and per sign with `negative`) and write visualize/."""
    spec = _spec(model, data)
    units = model.expand(" ".join(settings.units))
    signs = (1, -1) if settings.negative else (1,)
    jobs = [(u, s) for u in units for s in signs]
    found = optimize_rows(model, spec, [u for u, _ in jobs], [s for _, s in jobs], settings.steps,
                          settings.lr, settings.prior, settings.seed)
    run_dir = RunDir(default_out(out, model.name))
    folder = run_dir.path / "visualize"
    folder.mkdir(parents=True, exist_ok=True)
    entries = [_write_unit(folder, run_dir, spec, unit, sign, found, r)
               for r, (unit, sign) in enumerate(jobs)]
    content = {"modality": "tabular", "model": model.name, "units": entries, "settings": settings.to_dict()}
    write_json_atomic(folder / "visualize.json", content)
    run_dir.register("visualize", {"json": "visualize/visualize.json"}, model=model.name)
    return TabularVisualizeResult(run_dir.path, content, settings, files_under(folder))


def _spec(model: Model, data: Any) -> TableSpec:
    """The model's own spec, else the statistics of the table given with --data."""
    if isinstance(model.data_spec, TableSpec):
        return model.data_spec
    if data is None:
        raise DataError(f"{model.name} carries no feature statistics; give the table it reads with "
                        "--data TABLE.csv (its ranges bound the optimized row)")
    return open_table(data, model).spec


def _write_unit(folder: Path, run_dir: RunDir, spec: TableSpec, unit: Any, sign: int, found: Any,
                row: int) -> dict[str, Any]:
    """The unit's feature table (CSV) and bar chart (PNG); its JSON entry."""
    values, grads = found.rows[row], found.grad_x_input[row]
    z = (values - spec.mean) / spec.std
    features = [{"feature": name, "value": float(values[i]), "z": float(z[i]),
                 "percentile": spec.percentile_of(i, float(values[i])), "grad_x_input": float(grads[i])}
                for i, name in enumerate(spec.features)]
    stem = safe_name(f"{unit.layer}_{unit.index}{'' if sign > 0 else '_neg'}", "unit")
    table = folder / f"{stem}.csv"
    pd.DataFrame(features).to_csv(table, index=False)
    chart = folder / f"{stem}.png"
    title = f"{unit} {'maximized' if sign > 0 else 'minimized'}: activation {found.activation[row]:.3g}"
    row_chart(chart, title, spec.features, z, grads)
    return {"unit": str(unit), "layer": unit.layer, "channel": unit.index, "sign": sign,
            "activation": float(found.activation[row]), "activation_relaxed": float(found.relaxed[row]),
            "features": features, "table": run_dir.relative(table), "chart": run_dir.relative(chart)}
