"""`hf:PATH`: a local transformers folder loads offline with Hugging Face's own layer names, plain
tensor outputs, the saved processor's normalization and the config's class names."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
import torch

from helpers.cli import cli_error, run_cli
from unitscope.errors import CheckpointError, UnknownModelError
from unitscope.models import load_model
from unitscope.models.huggingface import _spec_from_processor, class_names, main_tensor
from unitscope.models.source import ModelSource

transformers = pytest.importorskip("transformers")

MEAN, STD = (0.1, 0.2, 0.3), (0.3, 0.4, 0.5)
LABELS = {0: "cat", 1: "dog", 2: "fish"}


def tiny_config(**extra) -> transformers.ViTConfig:
    return transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=64, **extra)


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory) -> Path:
    """A tiny random ViT classifier with named labels and its image processor, as save_pretrained writes."""
    path = tmp_path_factory.mktemp("hf") / "tiny-vit"
    config = tiny_config(num_labels=3, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        transformers.ViTForImageClassification(config).save_pretrained(path)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=list(MEAN),
                                   image_std=list(STD)).save_pretrained(path)
    return path


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to resolve or connect fails the test; the hub is told it is offline too."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:2]}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_logits_equal_hf_model_on_normalized_input(vit_dir, no_network):
    model = load_model(f"hf:{vit_dir}", device="cpu")
    reference = transformers.AutoModelForImageClassification.from_pretrained(vit_dir, local_files_only=True)
    images = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        out = model(images)
        expected = reference.eval()(pixel_values=model.input_spec.normalize(images)).logits
    assert isinstance(out, torch.Tensor) and out.shape == (4, 3)
    assert torch.allclose(out, expected, atol=1e-6)
    assert not model.module.training


def test_spec_classes_and_layer_names(vit_dir):
    model = load_model(f"hf:{vit_dir}", device="cpu")
    assert model.input_spec.size == 32
    assert model.input_spec.mean == pytest.approx(MEAN) and model.input_spec.std == pytest.approx(STD)
    assert model.class_names == ["cat", "dog", "fish"]
    fresh = transformers.ViTForImageClassification(tiny_config())
    hf_names = [name for name, _ in fresh.named_modules() if name]
    assert model.layer_names == hf_names  # Hugging Face's own names, no wrapper prefix
    assert {"vit.layers.0", "vit.layers.1", "vit.layers.1.mlp", "classifier"} <= set(model.layer_names)
    assert model.name == f"hf:{vit_dir}"


def test_layers_are_probed_as_token_maps(vit_dir):
    """Blocks (tensors) and attention (a tuple) read as 4x4 patch maps with the class token aside."""
    model = load_model(f"hf:{vit_dir}", device="cpu")
    probe = model.probe(["vit.layers.0.attention", "vit.layers.1"])
    with probe, torch.no_grad():
        acts = probe(model.input_spec.normalize(torch.rand(2, 3, 32, 32)))
    assert {name: tuple(a.shape) for name, a in acts.items()} == {
        "vit.layers.0.attention": (2, 32, 4, 4), "vit.layers.1": (2, 32, 4, 4)}
    assert model.fixed_size  # position embeddings fix the size


def test_cli_layers(vit_dir, capsys):
    code, out, err = run_cli(capsys, "layers", f"hf:{vit_dir}")
    assert code == 0, err
    assert "input 3x32x32" in out and "vit.layers.1.mlp" in out and "4x4 tokens +1 cls" in out
    assert "Traceback" not in err


def test_cli_missing_folder(tmp_path, capsys):
    err = cli_error(capsys, ["layers", f"hf:{tmp_path / 'nope'}"])
    assert "no such folder" in err and "save_pretrained" in err


def test_cli_folder_without_config(tmp_path, capsys):
    err = cli_error(capsys, ["layers", f"hf:{tmp_path}"])
    assert "no config.json" in err and str(tmp_path) in err


def test_folder_without_weights(tmp_path):
    tiny_config(num_labels=3).save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="no weights file.*--weights none"):
        load_model(f"hf:{tmp_path}", device="cpu")
    with pytest.warns(UserWarning, match="no preprocessor_config.json"):
        assert load_model(f"hf:{tmp_path}", weights=None, device="cpu").layer_names  # the config is enough


def test_random_weights_follow_the_seed(vit_dir, no_network):
    images = torch.rand(2, 3, 32, 32)

    def logits(seed: int) -> torch.Tensor:
        source = ModelSource(model=f"hf:{vit_dir}", weights="none", device="cpu", seed=seed)
        with torch.no_grad():
            return source.load()(images)

    first = logits(3)
    assert torch.equal(first, logits(3))
    assert not torch.equal(first, logits(4))
    trained = load_model(f"hf:{vit_dir}", device="cpu")
    assert not torch.equal(first, trained(images))


def test_state_dict_path_loads_into_the_architecture(vit_dir, tmp_path):
    """--weights PATH: a state_dict saved from the loaded model (Hugging Face keys) fits."""
    trained = load_model(f"hf:{vit_dir}", device="cpu")
    torch.save(trained.module.state_dict(), tmp_path / "vit.pt")
    again = load_model(f"hf:{vit_dir}", weights=tmp_path / "vit.pt", device="cpu", seed=9)
    images = torch.rand(2, 3, 32, 32)
    assert torch.equal(again(images), trained(images))


def test_base_model_without_head(tmp_path, no_network):
    """A bare ViTModel loads with AutoModel (no random head) and returns its pooled vector."""
    base = transformers.ViTModel(tiny_config())
    base.save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="no preprocessor_config.json"):
        model = load_model(f"hf:{tmp_path}", device="cpu")
    assert model.input_spec.size == 32 and model.input_spec.mean == pytest.approx((0.5, 0.5, 0.5))
    assert model.class_names is None and "classifier" not in model.layer_names
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        expected = base.eval()(pixel_values=model.input_spec.normalize(images)).pooler_output
        assert torch.allclose(model(images), expected, atol=1e-6)


def test_without_transformers(vit_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(UnknownModelError, match="pip install transformers"):
        load_model(f"hf:{vit_dir}", device="cpu")


def test_processor_values_for_unit_range_images():
    """Crop size wins when the processor crops; a 0..255 model (no rescale) gets mean and std / 255."""
    spec = _spec_from_processor({"do_center_crop": True, "crop_size": {"height": 24, "width": 24},
                                 "size": {"shortest_edge": 28}, "image_mean": [0.5] * 3,
                                 "image_std": [0.25] * 3}, None)
    assert (spec.size, spec.mean, spec.std) == (24, (0.5,) * 3, (0.25,) * 3)
    raw = _spec_from_processor({"size": 40, "do_rescale": False, "image_mean": [127.5] * 3,
                                "image_std": [255.0] * 3}, None)
    assert raw.size == 40 and raw.mean == pytest.approx((0.5,) * 3) and raw.std == pytest.approx((1.0,) * 3)


def test_generic_labels_are_not_class_names():
    assert class_names(tiny_config(num_labels=3)) is None
    assert class_names(tiny_config(num_labels=2, id2label={0: "no", 1: "yes"})) == ["no", "yes"]


def test_main_tensor_of_tuples_and_outputs():
    logits = torch.zeros(1, 3)
    assert main_tensor((logits, torch.ones(1))) is logits
    output = transformers.modeling_outputs.BaseModelOutputWithPooling(last_hidden_state=torch.ones(1, 5, 2))
    assert main_tensor(output) is output.last_hidden_state
