"""Devices: `--device` resolution, and every verb moving its inputs to the model's device.

CI has no GPU, so the wrong-device check is planted: `Model.to_device` is patched to mark what
it returns, and a wrapper model refuses any input that was not marked, as a CUDA model refuses
a CPU tensor. A verb that feeds the model a tensor it did not move fails here.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

import unitscope as us
from unitscope.devices import resolve_device
from unitscope.errors import BadInputError
from unitscope.models import InputSpec, Model, load_model


class Moved(torch.Tensor):
    """A tensor that went through `Model.to_device` (ops on it stay `Moved`)."""


class DeviceChecked(nn.Module):
    """conv1 -> relu -> conv2 -> relu -> pool -> fc, living on a pretend device: it refuses inputs
    that were not moved there, until `.cpu()` brings it back (receptive fields are measured on a
    CPU copy); `.to(...)` puts it on the pretend device again."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(OrderedDict(
            conv1=nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()),
            conv2=nn.Sequential(nn.Conv2d(4, 5, 3, padding=1, stride=2), nn.ReLU()),
            pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=nn.Linear(5, 3)))
        self.seen, self.away = 0, True

    def cpu(self) -> DeviceChecked:
        self.away = False
        return super().cpu()

    def to(self, *args, **kwargs) -> DeviceChecked:
        self.away = True
        return super().to(*args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.away and x.device.type != "meta":  # the probe's shape discovery runs on meta
            assert isinstance(x, Moved), "the verb fed the model an input it did not move to its device"
            self.seen += 1
        return self.body(x.as_subclass(torch.Tensor))


@pytest.fixture
def checked(monkeypatch) -> Model:
    original = Model.to_device
    monkeypatch.setattr(Model, "to_device", lambda self, t: original(self, t).as_subclass(Moved))
    torch.manual_seed(0)
    return load_model(DeviceChecked(), input_spec=InputSpec(32, (0.5,) * 3, (0.25,) * 3), device="cpu")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from unitscope.data.concepts.generate import generate

    return generate(tmp_path_factory.mktemp("world") / "w", n=12, size=32, seed=3, progress=False)


def test_the_planted_check_catches_an_unmoved_input(checked):
    with pytest.raises(AssertionError, match="did not move"):
        checked.module(torch.rand(1, 3, 32, 32))


@pytest.mark.parametrize("settings", [
    us.ExamplesSettings(units=["body.conv2"], top_k=2, batch_size=5),
    us.DissectSettings(layers=["body.conv2"], batch_size=5, baseline="random", rotation=[1.0]),
    us.GraphSettings(layers=["body.conv1", "body.conv2"], images=4, batch_size=2),
], ids=["examples", "dissect", "graph"])
def test_dataset_verbs_move_every_batch(checked, world, tmp_path, settings):
    us.run(checked, world, settings, tmp_path, progress=False)
    assert checked.module.seen > 0


def test_compose_and_visualize_move_their_images(checked, world, tmp_path):
    image = next((world / "images").rglob("*.jpg"))
    us.run(checked, image, us.ComposeSettings(layers=["body.conv1", "body.conv2"], max_nodes=4,
                                              sanity=False), tmp_path, progress=False)
    seen = checked.module.seen
    assert seen > 0
    us.run(checked, image, us.VisualizeSettings(units=["body.conv2:0"], steps=0, size=32), tmp_path,
           progress=False)
    assert checked.module.seen > seen


def test_device_names_resolve_or_fail_in_one_line():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(BadInputError, match="is not a device"):
        resolve_device("bogus")
    with pytest.raises(BadInputError, match="not supported"):
        resolve_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(BadInputError, match="no usable CUDA GPU"):
            resolve_device("cuda:0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")
def test_dissect_on_cuda_matches_the_cpu(world, tmp_path):
    """Strict fp32 (no TF32): the forwards agree to float rounding, so IoUs agree to 1e-5 and a
    label differs only where two concepts tie that closely."""
    settings = us.DissectSettings(layers=["conv5"], batch_size=4, precision="fp32")
    cpu = us.run(load_model("toy", device="cpu"), world, settings, tmp_path / "cpu", progress=False)
    gpu = us.run(load_model("toy", device="cuda"), world, settings, tmp_path / "gpu", progress=False)
    a, b = (r.to_pandas("conv5").sort_values("unit").reset_index(drop=True) for r in (cpu, gpu))
    assert (a["score"] - b["score"]).abs().max() < 1e-5
    runner_up = [max((e["iou"] for e in r["runners_up"]), default=0.0)
                 for r in (cpu["layers"]["conv5"]["units"][f"conv5:{u}"] for u in a["unit"])]
    clear = (a["score"] - pd.Series(runner_up)).abs() > 1e-5
    assert (a["label"] == b["label"])[clear].all()
