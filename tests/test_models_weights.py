"""Weights without surprises: nothing is downloaded unless asked, cached weights load offline,
random weights come from a seed, and every bad weights file is one line."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers.cli import cli_error, run_cli
from unitscope.dissect import DissectSettings
from unitscope.dissect.checkpoint import fingerprint
from unitscope.errors import CheckpointError, UnknownModelError
from unitscope.models import load_model, read_state_dict
from unitscope.models.weights import cached_file


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """A torch hub cache with nothing in it, and torchvision forbidden to fetch anything."""
    import torchvision.models as tvm

    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    original = tvm.get_model

    def offline(name, weights=None, **kwargs):
        assert weights is None or cached_file(weights).is_file(), f"would download {weights}"
        return original(name, weights=weights, **kwargs)

    monkeypatch.setattr(tvm, "get_model", offline)
    return hub


def test_layers_reads_no_weights(empty_cache, capsys):
    code, out, err = run_cli(capsys, "layers", "resnet18")
    assert code == 0, err
    assert "input 3x224x224" in out and "layer4" in out


def test_missing_published_weights_are_one_line_naming_the_file_and_fixes(empty_cache, capsys, tmp_path):
    err = cli_error(capsys, ["examples", "resnet18", str(tmp_path), "conv1"])
    assert "resnet18-f37072fd.pth" in err and str(empty_cache) in err
    assert "--weights PATH" in err and "--weights none" in err and "--allow-download" in err


def test_cached_weights_load_without_network(empty_cache):
    import torchvision.models as tvm

    state = tvm.resnet18().state_dict()
    state["fc.bias"] = torch.full_like(state["fc.bias"], 0.25)
    path = cached_file(tvm.ResNet18_Weights.DEFAULT)
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    model = load_model("resnet18", device="cpu")
    assert torch.equal(model.module.fc.bias, torch.full((1000,), 0.25))


def test_allow_download_hands_the_weights_to_torchvision(monkeypatch, tmp_path):
    import torchvision.models as tvm

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    asked = []
    monkeypatch.setattr(tvm, "get_model",
                        lambda name, weights=None, **kw: asked.append(weights) or nn.Linear(1, 1))
    load_model("resnet18", device="cpu", allow_download=True)
    assert asked == [tvm.ResNet18_Weights.DEFAULT]
    with pytest.raises(CheckpointError, match="--allow-download"):
        load_model("resnet18", device="cpu")


@pytest.mark.parametrize("spec", ["toy", "resnet18"])
def test_random_weights_come_from_the_seed(spec):
    one, two, other = (load_model(spec, weights=None, seed=s, device="cpu") for s in (3, 3, 4))
    pairs = list(zip(one.module.parameters(), two.module.parameters(), strict=True))
    assert all(torch.equal(a, b) for a, b in pairs)
    assert not all(torch.equal(a, b) for a, b in zip(one.module.parameters(), other.module.parameters(),
                                                      strict=True))


def test_a_random_weights_dissection_can_resume():
    """The resume fingerprint holds a checksum of the weights: seeded random weights repeat it."""
    settings = DissectSettings(layers=["conv5"])
    prints = [fingerprint(load_model("toy", weights=None, seed=1, device="cpu"), settings, "w", 10)
              for _ in range(2)]
    assert prints[0] == prints[1]


def test_a_factory_that_is_not_callable_is_one_line(capsys):
    with pytest.raises(UnknownModelError, match="not a function that builds a model"):
        load_model("helpers.nets:REDNESS")
    cli_error(capsys, ["layers", "helpers.nets:REDNESS"])


def test_a_checkpoint_for_another_architecture_is_one_short_line(tmp_path, capsys):
    path = tmp_path / "toy.pt"
    torch.save(load_model("toy", weights=None, device="cpu").module.state_dict(), path)
    err = cli_error(capsys, ["examples", str(path), "--arch", "resnet18", str(tmp_path), "conv1"])
    assert "does not fit ResNet" in err and "missing" in err and "more" in err and len(err) < 600


def test_a_checkpoint_holding_code_is_refused_without_torchs_advice(tmp_path):
    path = tmp_path / "pickled.pt"
    torch.save(nn.Linear(2, 2), path)  # the whole module object: unpickling it runs code
    with pytest.raises(CheckpointError) as refused:
        read_state_dict(path)
    message = str(refused.value)
    assert "pickled Python objects" in message and "was not loaded" in message
    assert "state_dict()" in message and "Re-running" not in message and "\n" not in message


def test_a_file_that_is_not_a_checkpoint_says_so_without_torchs_advice(tmp_path):
    path = tmp_path / "garbage.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint") as refused:
        read_state_dict(path)
    assert "weights_only" not in str(refused.value) and "\n" not in str(refused.value)
