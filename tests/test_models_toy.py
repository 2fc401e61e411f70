"""The shipped `toy` model: trained (>= 95 % on fresh world images), loadable, reproducible recipe."""

from __future__ import annotations

import pytest
import torch

from helpers.cli import cli_error
from unitscope.data.concepts import OBJECT_CLASSES
from unitscope.models import TOY_LAYERS, load_model
from unitscope.models.loading import read_state_dict
from unitscope.models.toy import ToyNet, fold_batchnorm
from unitscope.models.train_toy import (
    TRAIN_WORLD_SEED,
    VAL_WORLD_SEED,
    TrainToySettings,
    train_toy,
    world_images,
)

TEST_WORLD_SEED = 424242  # never used in training (train 1000, validation 1001)
N_TEST = 1000


@pytest.fixture(scope="module")
def fresh_world():
    assert TEST_WORLD_SEED not in (TRAIN_WORLD_SEED, VAL_WORLD_SEED)
    return world_images(TEST_WORLD_SEED, N_TEST, workers=1)


@torch.no_grad()
def _top1(model, images, labels) -> float:
    correct = 0
    for start in range(0, len(labels), 200):
        x = images[start : start + 200].float() / 255  # [0, 1]; Model normalizes
        correct += int((model(x).argmax(1) == labels[start : start + 200]).sum())
    return correct / len(labels)


def test_shipped_toy_is_trained(fresh_world):
    model = load_model("toy")
    assert model.class_names == list(OBJECT_CLASSES)
    acc = _top1(model, *fresh_world)
    print(f"toy top-1 on {N_TEST} fresh images (seed {TEST_WORLD_SEED}): {acc:.4f}")
    assert acc >= 0.95


def test_random_toy_is_at_chance(fresh_world):
    torch.manual_seed(0)
    model = load_model("toy", weights=None)
    acc = _top1(model, *fresh_world)
    assert acc < 2.5 / len(OBJECT_CLASSES), f"random weights scored {acc:.3f}"


def test_layer_names_and_shapes():
    model = load_model("toy")
    for name in TOY_LAYERS:
        assert name in model.layer_names
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5"):
        seq = getattr(model.module, name)
        assert isinstance(seq[0], torch.nn.Conv2d) and isinstance(seq[1], torch.nn.ReLU)
        assert len(seq) == 2
    assert model.channel_count("fc8") == len(OBJECT_CLASSES)


def test_weights_file_is_small_and_documented():
    from importlib import resources

    ref = resources.files("unitscope.models") / "weights" / "toy.pt"
    with resources.as_file(ref) as path:
        assert path.stat().st_size <= 10 * 2**20
        blob = torch.load(path, map_location="cpu", weights_only=True)
    assert blob["class_names"] == list(OBJECT_CLASSES)
    meta = blob["meta"]
    assert meta["val_top1"] >= 0.95 and meta["train_seconds"] > 0
    assert meta["params"] == sum(p.numel() for p in ToyNet(len(OBJECT_CLASSES)).parameters())


def test_fold_batchnorm_is_exact():
    torch.manual_seed(1)
    net = ToyNet(5, norm=True)
    for module in net.modules():  # plant non-trivial statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    net.eval()
    plain = fold_batchnorm(net).eval()
    x = torch.randn(3, 3, 128, 128)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), net(x), rtol=1e-4, atol=1e-4)


def test_training_recipe_runs_and_writes_a_loadable_file(tmp_path):
    out = tmp_path / "toy.pt"
    settings = TrainToySettings(images=32, epochs=1, batch_size=16, workers=1, val_images=16)
    meta = train_toy(out, settings, progress=False, log=lambda _line: None)
    assert 0.0 <= meta["val_top1"] <= 1.0 and meta["train_images"] == 32
    state = read_state_dict(out)
    assert not any("running_mean" in k for k in state), "batch norm must be folded away"
    model = load_model("toy", weights=out)
    assert model(torch.rand(2, 3, 128, 128)).shape == (2, len(OBJECT_CLASSES))


def test_train_toy_cli_rejects_bad_arguments(capsys):
    assert "--epochs" in cli_error(capsys, ["train-toy", "--epochs", "0"])
