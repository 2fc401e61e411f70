"""Loading models (models/loading.py, models/spec.py): torchvision, checkpoints, factories, the toy."""

import pytest
import torch

from unitscope import InputSpec, Model, load_model, trace_layers
from unitscope.errors import CheckpointError, UnitOutOfRangeError, UnknownModelError


def test_torchvision_random_weights_has_spec_from_metadata():
    model = load_model("resnet18", weights=None)
    assert isinstance(model, Model) and not model.module.training
    assert model.input_spec == InputSpec(224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert "layer4.1.conv2" in model.layer_names
    assert model.class_names is not None and len(model.class_names) == 1000


def test_checkpoint_roundtrip(tmp_path):
    source = load_model("resnet18", weights=None)
    path = tmp_path / "r18.pt"
    torch.save(source.module.state_dict(), path)
    loaded = load_model("resnet18", weights=str(path))
    assert torch.equal(loaded.module.fc.weight, source.module.fc.weight)
    via_path = load_model(str(path), arch="resnet18")
    assert torch.equal(via_path.module.conv1.weight, source.module.conv1.weight)


def test_checkpoint_errors(tmp_path):
    garbage = tmp_path / "bad.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_model("resnet18", weights=str(garbage))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model("resnet18", weights=str(tmp_path / "missing.pt"))
    wrong = tmp_path / "wrong.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_model("resnet18", weights=str(wrong))


def test_factory_spec():
    model = load_model("helpers.nets:tiny_net")
    assert model.layer_names == ["0", "1", "2", "3", "4"]
    assert model.channel_count("0") == 4
    with pytest.raises(UnknownModelError, match="not an nn.Module"):
        load_model("helpers.nets:not_a_module")
    with pytest.raises(UnknownModelError, match="cannot import"):
        load_model("no_such_pkg.mod:f")


def test_unknown_model_suggests():
    with pytest.raises(UnknownModelError, match="resnet18"):
        load_model("resnet81")


def test_toy_layers_and_units():
    model = load_model("toy")
    names = [info.name for info in trace_layers(model)]
    order = [n for n in names if n in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")]
    assert order == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
    n = model.channel_count("conv5")
    assert len(model.units("conv5")) == n
    with pytest.raises(UnitOutOfRangeError, match=f"has {n} channels"):
        model.check_unit(f"conv5:{n}")


def test_model_call_normalizes():
    model = load_model("helpers.nets:tiny_net", input_spec=InputSpec(32, (0.5,) * 3, (0.5,) * 3))
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(model(x), model.module((x - 0.5) / 0.5))
