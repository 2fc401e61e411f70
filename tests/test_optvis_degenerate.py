"""A channel objective that only sees the image border (a linear edge detector) is warned about."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from helpers.nets import opponent_colours, sequential
from unitscope.optvis import VisualizeSettings, run
from unitscope.optvis.degenerate import DegenerateObjectiveWarning, border_term

pytestmark = pytest.mark.usefixtures("one_thread")
SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def edge_detector() -> nn.Module:
    """`conv`: one 3x3 vertical-edge (d/dx Sobel) filter on the grey level, then `relu`.

    Its taps sum to zero, so the mean of `conv` over the image only depends on the border columns:
    maximizing it gives a dark-to-bright ramp; after `relu` the same filter asks for vertical stripes.
    Also the factory 'test_optvis_degenerate:edge_detector'.
    """
    conv = nn.Conv2d(3, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(SOBEL_X.expand(1, 3, 3, 3) / 3)
    return nn.Sequential(conv, nn.ReLU())


def edges():
    """The edge detector for 32 px inputs with its layers named `conv` and `relu`."""
    conv, relu = edge_detector()
    return sequential(32, conv=conv, relu=relu)


def visualize(model, unit: str, out: Path, **changes) -> list[warnings.WarningMessage]:
    """Render `unit` and return the DegenerateObjectiveWarnings raised."""
    settings = VisualizeSettings(units=(unit,), **{"steps": 2, "size": 32, **changes})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(model, None, settings, out, progress=False)
    return [w for w in caught if issubclass(w.category, DegenerateObjectiveWarning)]


def test_edge_detector_before_its_relu_is_warned_after_it_not(tmp_path):
    model = edges()
    found = visualize(model, "conv:0", tmp_path / "before")
    assert len(found) == 1
    message = str(found[0].message)
    assert "\n" not in message and "'conv' is linear in the image" in message
    assert "read it after its ReLU ('relu')" in message and "'conv:0@16,16'" in message
    assert issubclass(DegenerateObjectiveWarning, UserWarning)
    assert visualize(model, "relu:0", tmp_path / "after") == []


def test_the_negative_after_the_relu_is_optimized_before_it_and_warned(tmp_path):
    found = visualize(edges(), "relu:0", tmp_path, negative=True)
    assert len(found) == 1
    assert "the negative of 'relu' is optimized on 'conv'" in str(found[0].message)
    assert "'relu:0@16,16' with --negative" in str(found[0].message)


def test_a_linear_colour_detector_is_not_a_border_term():
    """A 1x1 colour filter is linear too, but its gradient is the same everywhere: a flat red image
    is its true optimum, not a border effect."""
    model = opponent_colours()
    assert border_term(model, "conv", [0, 1, 2], 24) is None
    assert border_term(edges(), "conv", [0], 32) == (32, 32)  # the layer's map, for the neuron
    assert border_term(edges(), "relu", [0], 32) is None  # depends on the image


def test_the_relu_shows_stripes(tmp_path):
    """The advice holds: read after its ReLU, the filter renders vertical stripes (grey level
    changing along x far more than along y); read before, no direction stands out."""
    model = edges()
    ratios = {}
    for layer in ("conv", "relu"):
        visualize(model, f"{layer}:0", tmp_path, steps=64, lr=0.1)
        grey = np.asarray(Image.open(tmp_path / f"visualize/{layer}/0.png"), dtype=float).mean(2)
        ratios[layer] = np.abs(np.diff(grey, axis=1)).mean() / np.abs(np.diff(grey, axis=0)).mean()
    assert ratios["relu"] > 1.4 and ratios["conv"] < 1.2, ratios


def test_the_cli_shows_the_warning(tmp_path):
    tests = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])}
    argv = ["--quiet", "visualize", "test_optvis_degenerate:edge_detector", "0:0", "--steps", "1",
            "--size", "32", "--out", str(tmp_path)]
    done = subprocess.run([sys.executable, "-c", "import sys; from unitscope.cli import main; "
                           "sys.exit(main(sys.argv[1:]))", *argv],
                          env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "DegenerateObjectiveWarning" in line]
    assert len(lines) == 1 and "read it after its ReLU ('1')" in lines[0]
