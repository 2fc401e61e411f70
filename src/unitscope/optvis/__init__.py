"""Feature visualization by optimization: objectives, image parameterizations, transforms and
the batched renderer (`render`, `RenderSettings`), plus the run-dir verb `run` (`VisualizeSettings`)."""

from .maco import MacoParam, maco_param, magnitude_spectrum
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
from .render import RenderResult, RenderSettings, evaluate, render
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
from .visualize import VisualizeResult, VisualizeSettings, run

__all__ = [
    "COLOR_MATRIX",
    "OUTPUT",
    "ImageParam",
    "Jitter",
    "MacoParam",
    "Objective",
    "Pad",
    "Pipeline",
    "RandomRotate",
    "RandomScale",
    "RenderResult",
    "RenderSettings",
    "VisualizeResult",
    "VisualizeSettings",
    "as_objective",
    "channel",
    "class_logit",
    "direction",
    "diversity",
    "evaluate",
    "image_param",
    "layer",
    "maco_param",
    "magnitude_spectrum",
    "make_sheet",
    "neuron",
    "pipeline",
    "render",
    "run",
    "save_sheet",
    "standard_transforms",
]
