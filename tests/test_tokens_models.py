"""Every verb on real transformer and hybrid architectures (random weights, offline): torchvision
vit_b_16, timm ViT / Swin / ConvNeXt, and a tiny transformers ViT saved to a local folder. The
checks are about shapes: channels are features, never tokens, and positions are the patch grid."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from helpers.broden import concept_world
from helpers.cli import run_cli
from unitscope import compose, examples
from unitscope.compose.graph import GraphSettings
from unitscope.compose.graph import run as graph_run
from unitscope.dissect import DissectSettings
from unitscope.dissect import run as dissect_run
from unitscope.imageio import load_image
from unitscope.models import load_model
from unitscope.models.layout import CHANNELS_LAST, MAP, TOKENS
from unitscope.optvis import VisualizeSettings
from unitscope.optvis import run as visualize_run

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


@dataclass(frozen=True)
class Case:
    spec: str
    block: str  # a block's output: the parent layer
    inner: str  # a layer inside it (the MLP's activation): the child layer
    channels: int
    inner_channels: int
    kind: str
    grid: int
    prefix: int = 0


CASES = [
    Case("vit_b_16", "encoder.layers.encoder_layer_5", "encoder.layers.encoder_layer_5.mlp.1", 768, 3072,
         TOKENS, 14, 1),
    Case("timm:vit_tiny_patch16_224", "blocks.5", "blocks.5.mlp.act", 192, 768, TOKENS, 14, 1),
    Case("timm:swin_tiny_patch4_window7_224", "layers.2.blocks.1", "layers.2.blocks.1.mlp.act", 384, 1536,
         CHANNELS_LAST, 14),
    Case("timm:convnext_atto", "stages.2.blocks.0", "stages.2.blocks.0.mlp.act", 160, 640, MAP, 14),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return concept_world(tmp_path_factory.mktemp("world"), n=6, size=64)


@pytest.fixture(scope="module")
def hf_vit(tmp_path_factory):
    """A tiny random transformers ViT (32 px, 8 px patches: a 4x4 grid + class token) in a folder."""
    transformers = pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("hf_vit")
    config = transformers.ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=64, num_labels=3)
    transformers.ViTForImageClassification(config).save_pretrained(folder)
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return f"hf:{folder}"


def test_layers_prints_features_and_the_patch_grid(capsys):
    code, out, _ = run_cli(capsys, "layers", "vit_b_16", "--weights", "none")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line and not line.startswith("#")}
    block = rows["encoder.layers.encoder_layer_5"]
    assert block[2] == "768" and block[3:6] == ["14x14", "tokens", "+1"] and block[-1] == "197x768"
    assert rows["encoder.layers.encoder_layer_5.mlp.1"][2] == "3072"


@pytest.mark.parametrize("case", CASES, ids=[case.spec for case in CASES])
def test_every_verb_on_a_published_architecture(case, world, tmp_path):
    pytest.importorskip("timm") if case.spec.startswith("timm:") else None
    model = load_model(case.spec, weights=None, device="cpu")
    _check_layout(model, case)
    _every_verb(model, case.block, case.inner, case.channels, case.grid, world, tmp_path)


def test_every_verb_on_a_local_transformers_vit(hf_vit, world, tmp_path):
    model = load_model(hf_vit, device="cpu")
    case = Case(hf_vit, "vit.layers.1", "vit.layers.1.mlp.activation_fn", 32, 64, TOKENS, 4, 1)
    _check_layout(model, case)
    _every_verb(model, case.block, case.inner, case.channels, case.grid, world, tmp_path)


def _check_layout(model, case: Case) -> None:
    layout = model.layout(case.block)
    assert (layout.kind, layout.channels, layout.grid, layout.prefix) == \
        (case.kind, case.channels, (case.grid, case.grid), case.prefix)
    assert model.channel_count(case.inner) == case.inner_channels
    assert model.fixed_size == (case.kind != MAP)  # position embeddings / windows fix the size


def _every_verb(model, block: str, inner: str, channels: int, grid: int, world, out) -> None:
    size = model.input_spec.size
    settings = VisualizeSettings(units=[f"{inner}:0-1", f"{block}:0@1,1"], steps=2, negative=False)
    shown = visualize_run(model, None, settings, out, progress=False)
    saved = json.loads((out / "visualize" / "visualize.json").read_text())
    assert saved["settings"]["size"] == (size if model.fixed_size else 128) and len(shown["units"]) == 3
    assert all(abs(entry["activation"]) < 1e6 for entry in shown["units"])

    settings = examples.ExamplesSettings(units=[f"{block}:0-1"], top_k=2, batch_size=3)
    found = examples.run(model, world, settings, out, progress=False)
    for entry in found["units"][f"{block}:0"]["top"]:
        assert 0 <= entry["x"] < grid and 0 <= entry["y"] < grid  # a patch, not a token index

    dissected = dissect_run(model, world, DissectSettings(layers=(block,), batch_size=3, top_k=2), out,
                            progress=False)
    units = dissected["layers"][block]["units"]
    assert len(units) == channels and f"{block}:{channels - 1}" in units

    files = sorted(path for path in (world / "images").rglob("*") if path.is_file())
    image = load_image(files[0], size)
    settings = compose.ComposeSettings(root=f"{block}:auto", layers=(inner, block), top_k=2, max_nodes=3,
                                       sanity=False)
    tree = compose.run(model, image, settings, out, progress=False)
    children = [n for n in tree["nodes"] if n["parent"] == 0]
    assert children and all(n["layer"] == inner and 0 <= n["channel"] < model.channel_count(inner)
                            for n in children)

    images = [load_image(path, size) for path in files[:2]]
    settings = GraphSettings(layers=(inner, block), images=None, top_k=2, batch_size=2)
    graph = graph_run(model, images, settings, out, progress=False)
    assert len(graph["edges"]) > 0


def test_timm_weights_missing_from_the_cache_stop_without_touching_the_network(monkeypatch, tmp_path):
    pytest.importorskip("timm")
    import socket

    from unitscope.errors import CheckpointError

    lookups = []
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kw: lookups.append(args) or [])
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    with pytest.raises(CheckpointError, match="not in the local Hugging Face cache.*--weights none"):
        load_model("timm:vit_tiny_patch16_224", device="cpu")
    assert lookups == []
