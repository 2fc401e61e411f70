"""The bar charts of a dissection: unique detectors per category, and the rotation curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def bar_chart(path: Path, title: str, series: dict[str, dict[str, int]]) -> None:
    """Grouped bars: one group per category, one bar per series (e.g. per definition or layer)."""
    categories = list(next(iter(series.values())).keys()) if series else []
    width = 0.8 / max(1, len(series))
    fig, ax = _figure(max(4.0, 1.2 * len(categories) + 2), 3.2)
    x = np.arange(len(categories))
    for i, (name, counts) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, [counts[c] for c in categories], width, label=name)
    ax.set_xticks(x, categories)
    ax.set_ylabel("unique detectors")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(title)
    ax.legend(fontsize=8)
    _save(fig, path)


def rotation_chart(path: Path, curve: list[dict[str, Any]]) -> None:
    """Detectors and unique labels against the rotation alpha, one pair of lines per layer."""
    fig, ax = _figure(4.5, 3.2)
    for layer in dict.fromkeys(e["layer"] for e in curve):
        pts = [e for e in curve if e["layer"] == layer]
        ax.plot([e["alpha"] for e in pts], [e["unique"] for e in pts], "o-", label=f"{layer} unique")
        ax.plot([e["alpha"] for e in pts], [e["detectors"] for e in pts], "s--", label=f"{layer} detectors")
    ax.set_xlabel("rotation alpha (Q**alpha)")
    ax.set_ylabel("count")
    ax.legend(fontsize=8)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    """Lay out and write the figure, every text drawn literally: a `$` in a label or model name
    would otherwise start matplotlib's mathtext (and `$\\foo` fail to parse)."""
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        text.set_parse_math(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})


def _figure(width: float, height: float):
    """A figure on its own Agg canvas: no pyplot, so no global state and no GUI backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()
