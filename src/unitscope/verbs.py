"""`unitscope.run(model, data, settings, out)`: the verb is the one its settings belong to."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from .errors import BadInputError
from .result import Result
from .settings import Settings

# settings class name -> module whose `run` carries out that verb
VERB_MODULES = {
    "VisualizeSettings": "unitscope.optvis.visualize",
    "ExamplesSettings": "unitscope.examples",
    "DissectSettings": "unitscope.dissect.run",
    "ComposeSettings": "unitscope.compose.pipeline",
    "GraphSettings": "unitscope.compose.graph",
    "ExploreSettings": "unitscope.explore",
    "ConceptsSettings": "unitscope.data.concepts.generate",
}


def run(model: Any, data: Any, settings: Settings, out: str | Path | None = None,
        progress: bool = True) -> Result:
    """Run the verb of `settings` (e.g. `DissectSettings(layers=["conv5"])`) and return its Result.

    `model`: a Model or spec (None for explore and concepts); `data`: the dataset, image or run
    directory the verb reads (None where it reads nothing); `out`: the run directory.
    """
    name = type(settings).__name__
    if name not in VERB_MODULES:
        raise BadInputError(f"{name} is not the settings of a verb; use one of {', '.join(VERB_MODULES)}")
    module = importlib.import_module(VERB_MODULES[name])
    return module.run(model, data, settings, out, progress=progress)
