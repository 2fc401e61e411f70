"""Loading models by spec and describing their inputs and layers."""

from .checkpoints import read_state_dict
from .loading import load_model
from .spec import InputSpec, Model
from .toy import TOY_LAYERS, ToyNet
from .tracing import LayerInfo, trace_layers

__all__ = [
    "InputSpec",
    "LayerInfo",
    "Model",
    "TOY_LAYERS",
    "ToyNet",
    "load_model",
    "read_state_dict",
    "trace_layers",
]
