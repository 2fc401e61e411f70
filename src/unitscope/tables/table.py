"""Reading a tabular dataset: a CSV file, or `breast-cancer` (scikit-learn's copy of the UCI
table, 569 rows, 30 features and `target`, 1 = benign). The model's input columns are its
`TableSpec.features`; a model without one reads the first n numeric columns (n = the in_features
of its first Linear), so a user's CSV puts the input columns first. Every numeric column, inputs
included, is a concept for `dissect`."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from .spec import TableSpec

BUILTIN = "breast-cancer"


@dataclass
class Table:
    """The rows, the model's input matrix (float32, in `spec.features` order) and its spec."""

    frame: pd.DataFrame
    inputs: np.ndarray
    spec: TableSpec
    source: str

    @functools.cached_property
    def median_and_iqr(self) -> tuple[np.ndarray, np.ndarray]:
        """Per input column: the median and the interquartile range (1 where it is 0)."""
        spread = np.subtract(*np.percentile(self.inputs, [75, 25], 0))
        spread[spread == 0] = 1.0
        return np.median(self.inputs, 0), spread

    def concept_columns(self) -> dict[str, np.ndarray]:
        """Every numeric column that varies, by name (as float64)."""
        numeric = self.frame.select_dtypes("number")
        return {str(c): numeric[c].to_numpy(np.float64) for c in numeric.columns
                if numeric[c].nunique(dropna=True) > 1 and not numeric[c].isna().any()}


def open_table(data: Any, model: Any) -> Table:
    """The table `data` names (path or `breast-cancer`), checked against the model's inputs."""
    if data is None:
        raise DataError("this verb needs a table: give a CSV file or 'breast-cancer'")
    frame, source = _read(data)
    features = _features(frame, model)
    _check_values(frame, features)
    own = isinstance(model.data_spec, TableSpec)
    spec = model.data_spec if own else TableSpec.from_frame(frame, features)
    return Table(frame, frame[features].to_numpy(np.float32), spec, source)


def builtin_frame() -> pd.DataFrame:
    """scikit-learn's breast-cancer table: 30 numeric features and `target` (1 = benign)."""
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(as_frame=True).frame


def _read(data: Any) -> tuple[pd.DataFrame, str]:
    if isinstance(data, pd.DataFrame):
        frame, source = data, "DataFrame"
    elif str(data) == BUILTIN:
        frame, source = builtin_frame(), BUILTIN
    else:
        frame, source = _read_csv(Path(data)), str(data)
    if frame.empty:
        raise DataError(f"table '{source}' has no rows; give a CSV with a header line and data rows")
    return frame, source


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"table '{path}' not found; give a CSV file or '{BUILTIN}'")
    try:
        return pd.read_csv(path, encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"table '{path}' is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"table '{path}' is empty; give a CSV with a header line and data rows") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"table '{path}' is not a valid CSV: {str(exc).splitlines()[0]}") from None


def _features(frame: pd.DataFrame, model: Any) -> list[str]:
    """The model's input columns: its spec's names, else the first n numeric columns."""
    if isinstance(model.data_spec, TableSpec):
        missing = [f for f in model.data_spec.features if f not in frame.columns]
        if missing:
            raise DataError(f"table lacks {len(missing)} column(s) the model reads: "
                            f"{', '.join(missing[:5])}; give the table the model was trained on")
        return list(model.data_spec.features)
    width = int(model.example_input(1).shape[1])
    columns = [str(c) for c in frame.columns]
    if len(columns) < width:
        raise DataError(f"the model reads {width} features but the table has {len(columns)} columns; "
                        "put the model's input columns first")
    return columns[:width]


def _check_values(frame: pd.DataFrame, features: list[str]) -> None:
    """Every input column numeric and complete: name the column and the first bad row."""
    for column in features:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy())
        if len(bad):
            row = int(bad[0])
            value = frame[column].iloc[row]
            raise DataError(f"column '{column}' row {row + 1} holds {value!r}, not a number; "
                            "fix or drop that row")
        frame[column] = values
