"""Feature-composition trees: which units of the layer below built a unit's response on an image.

`run` (with `ComposeSettings`) draws one image's tree; `graph.run` averages the same
contribution scores over a dataset.
"""

from . import graph
from .pipeline import ComposeResult, ComposeSettings, run

__all__ = ["ComposeResult", "ComposeSettings", "graph", "run"]
