"""unitscope: see what the units of a neural network have learned."""

from .compose import compose_tree
from .dissect import run_dissect
from .errors import UnitscopeError
from .examples import run_examples
from .explore import build_site
from .models import InputSpec, Model, load_model, trace_layers
from .optvis import render, visualize_units
from .probe import Probe, record
from .receptive_field import receptive_field
from .units import Unit, parse_units

__version__ = "0.1.0"

__all__ = [
    "InputSpec",
    "Model",
    "Probe",
    "Unit",
    "UnitscopeError",
    "build_site",
    "compose_tree",
    "load_model",
    "parse_units",
    "receptive_field",
    "record",
    "render",
    "run_dissect",
    "run_examples",
    "trace_layers",
    "visualize_units",
]
