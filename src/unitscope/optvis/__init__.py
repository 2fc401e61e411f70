"""Feature visualization by optimization: objectives, image parameterizations, transforms and
the batched renderer, plus the run-dir job `visualize_units`."""

from .objectives import (
    OUTPUT,
    Objective,
    as_objective,
    channel,
    class_logit,
    direction,
    diversity,
    layer,
    neuron,
)
from .param import COLOR_MATRIX, ImageParam, image_param
from .render import RenderResult, evaluate, render
from .sheet import make_sheet, save_sheet
from .transforms import (
    Jitter,
    Pad,
    Pipeline,
    RandomRotate,
    RandomScale,
    pipeline,
    standard_transforms,
)
from .visualize import visualize_units

__all__ = [
    "COLOR_MATRIX",
    "OUTPUT",
    "ImageParam",
    "Jitter",
    "Objective",
    "Pad",
    "Pipeline",
    "RandomRotate",
    "RandomScale",
    "RenderResult",
    "as_objective",
    "channel",
    "class_logit",
    "direction",
    "diversity",
    "evaluate",
    "image_param",
    "layer",
    "make_sheet",
    "neuron",
    "pipeline",
    "render",
    "save_sheet",
    "standard_transforms",
    "visualize_units",
]
