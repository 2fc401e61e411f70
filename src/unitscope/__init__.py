"""unitscope: see what the units of a neural network have learned."""

from .errors import UnitscopeError
from .models import InputSpec, Model, load_model, trace_layers
from .probe import Probe, record
from .units import Unit, parse_units

__version__ = "0.1.0"

__all__ = [
    "InputSpec",
    "Model",
    "Probe",
    "Unit",
    "UnitscopeError",
    "load_model",
    "parse_units",
    "record",
    "trace_layers",
]
