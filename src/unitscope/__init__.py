"""unitscope: see what the units of a neural network have learned.

Every verb is `unitscope.run(model, data, settings, out) -> Result`, the verb chosen by its
settings class (`VisualizeSettings`, `ExamplesSettings`, `DissectSettings`, `ComposeSettings`,
`GraphSettings`, `ExploreSettings`, `ConceptsSettings`); each verb module also has its own `run`.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import UnitscopeError
from .models import InputSpec, Model, load_model, trace_layers
from .probe import Probe, record
from .receptive_field import receptive_field
from .result import Result
from .settings import Settings
from .units import Unit, parse_units
from .verbs import VERB_MODULES, run

__version__ = "0.1.0"

_LAZY = {**VERB_MODULES, "render": "unitscope.optvis.render", "RenderSettings": "unitscope.optvis.render"}


def __getattr__(name: str) -> Any:
    """Settings classes and `render` load with their verb, so `import unitscope` stays light."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'unitscope' has no attribute '{name}'")


__all__ = [
    "ComposeSettings",
    "ConceptsSettings",
    "DissectSettings",
    "ExamplesSettings",
    "ExploreSettings",
    "GraphSettings",
    "InputSpec",
    "Model",
    "Probe",
    "RenderSettings",
    "Result",
    "Settings",
    "Unit",
    "UnitscopeError",
    "VisualizeSettings",
    "load_model",
    "parse_units",
    "receptive_field",
    "record",
    "render",
    "run",
    "trace_layers",
]
