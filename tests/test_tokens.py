"""Token models in every verb, on a planted ViT-shaped net whose answers are known (helpers.nets.
PlantedTokens: block feature 0 = redness of its patch, 1 = vertical edges, 2 = blueness)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.broden import planted_broden
from helpers.cli import cli_error
from helpers.nets import planted_tokens
from unitscope import compose, examples
from unitscope.compose.graph import GraphSettings
from unitscope.compose.graph import run as graph_run
from unitscope.dissect import DissectSettings
from unitscope.dissect import run as dissect_run
from unitscope.errors import BadInputError
from unitscope.models.layout import CHANNELS_LAST, MAP, TOKENS, VECTOR, layout_of
from unitscope.optvis import VisualizeSettings
from unitscope.optvis import run as visualize_run
from unitscope.optvis.render import render
from unitscope.receptive_field import receptive_field
from unitscope.units import CLS, Unit

pytestmark = pytest.mark.usefixtures("one_thread")


def test_layouts_are_read_from_shapes():
    assert layout_of((2, 197, 768), 1) == layout_of((2, 197, 768))  # a class token: 196 = 14 x 14
    vit = layout_of((2, 197, 768))
    assert (vit.kind, vit.channels, vit.grid, vit.prefix) == (TOKENS, 768, (14, 14), 1)
    assert layout_of((1, 201, 384), 5).prefix == 5  # class + 4 registers, as the model declares
    assert layout_of((1, 196, 64)).prefix == 0
    swin = layout_of((1, 56, 56, 96))
    assert (swin.kind, swin.channels, swin.grid) == (CHANNELS_LAST, 96, (56, 56))
    conv = layout_of((1, 96, 56, 56))
    assert (conv.kind, conv.channels, conv.grid) == (MAP, 96, (56, 56))
    assert layout_of((3, 1000)).kind == VECTOR
    assert layout_of((64, 49, 96), None, 1).unreadable  # Swin's window attention: 64 windows, 1 image
    assert layout_of((1, 3, 197, 64)).unreadable  # attention heads
    tokens = torch.arange(2 * 5 * 3.0).view(2, 5, 3)  # 1 class token + a 2x2 grid, 3 features
    as_map = layout_of(tuple(tokens.shape)).to_map(tokens)
    assert as_map.shape == (2, 3, 2, 2)
    assert torch.equal(as_map[1, 2].flatten(), tokens[1, 1:, 2])  # feature 2 over the patches, row-major
    channels_last = torch.randn(2, 4, 4, 7)
    assert torch.equal(layout_of((2, 4, 4, 7)).to_map(channels_last)[:, 5], channels_last[..., 5])


def test_the_planted_model_reads_as_channels_over_a_patch_grid():
    model = planted_tokens()
    assert model.fixed_size and model.channel_count("blocks.0") == 4
    layout = model.layout("blocks.0")
    assert (layout.kind, layout.grid, layout.prefix) == (TOKENS, (16, 16), 1)
    image = torch.full((1, 3, 64, 64), 0.5)
    image[:, :, 8:12, 20:24] = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)  # patch row 2, column 5
    with model.probe(["blocks.0"]) as probe:
        act = probe(image)["blocks.0"]
    assert act.shape == (1, 4, 16, 16)
    hot = (act[0, 0] > 0).nonzero().tolist()
    assert hot == [[2, 5]]  # (row, column) of the red patch, not a token index
    assert probe.prefix_tokens["blocks.0"].shape == (1, 4, 1)
    cls = Unit.parse("blocks.0:3@cls")
    assert cls.position == CLS and str(cls) == "blocks.0:3@cls"


def test_a_size_the_model_cannot_take_is_one_line(capsys):
    model = planted_tokens()
    with pytest.raises(BadInputError, match="takes only 64px inputs.*--size 64"):
        model.check_input_size(48)
    line = cli_error(capsys, ["dissect", "helpers.nets:planted_tokens", "nowhere", "blocks.0",
                              "--size", "32"])
    assert "takes only 64px" in line


def test_visualize_token_features_red_and_vertical_stripes(tmp_path):
    settings = VisualizeSettings(units=["blocks.0:0-1"], steps=128, precision="fp32", negative=False,
                                 transforms=False)  # patch-aligned stripes, not jittered ones
    result = visualize_run(planted_tokens(), None, settings, tmp_path, progress=False)
    saved = json.loads((tmp_path / "visualize" / "visualize.json").read_text())
    assert saved["settings"]["size"] == 64  # the model's own size, since it fixes it
    red = np.asarray(Image.open(tmp_path / "visualize/blocks.0/0.png"), dtype=float) / 255
    assert red[..., 0].mean() > red[..., 1].mean() + 0.2 and red[..., 0].mean() > red[..., 2].mean() + 0.2
    edges = np.asarray(Image.open(tmp_path / "visualize/blocks.0/1.png").convert("L"), dtype=float) / 255
    columns = np.arange(64) % 4  # within each 4 px patch: columns 0-1 dark, 2-3 bright
    assert edges[:, columns >= 2].mean() - edges[:, columns < 2].mean() > 0.3
    rows = np.arange(64) % 4  # nothing planted along the rows
    assert abs(edges[rows >= 2].mean() - edges[rows < 2].mean()) < 0.05
    assert all(entry["activation"] > 0.1 for entry in result["units"])


def test_class_token_and_patch_neurons_are_objectives():
    model = planted_tokens()
    patch = render(model, "blocks.0:0@5,2", steps=24, precision="fp32", progress=False, transforms=False)
    image = patch.images[0]
    inside = image[:, 8:12, 20:24]  # the patch at column 5, row 2
    assert inside[0].mean() > inside[1:].mean() + 0.3  # red where the neuron looks
    with pytest.raises(BadInputError, match="has no class token"):
        render(model, "patch_embed:0@cls", steps=1, progress=False)  # a convolution's map
    token = render(model, "blocks.0:3@cls", steps=1, progress=False)  # GELU(0) on the zero class token
    assert token.values.tolist() == [0.0] and token.objective == "class_token(blocks.0:3)"


def test_dissect_names_the_planted_token_features(tmp_path):
    settings = DissectSettings(layers=("blocks.0",), quantile=0.08, batch_size=8, precision="fp32")
    result = dissect_run(planted_tokens(), planted_broden(), settings, tmp_path, progress=False)
    units = result["layers"]["blocks.0"]["units"]
    assert (units["blocks.0:0"]["label"], units["blocks.0:0"]["category"]) == ("red-c", "color")
    assert units["blocks.0:0"]["iou"] > 0.5
    assert units["blocks.0:1"]["label"] == "striped"
    assert units["blocks.0:2"]["label"] == "box"


def test_examples_of_a_token_feature_are_red_patches(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i, item in enumerate(planted_broden(n=12).items):
        pixels = (item.image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        Image.fromarray(pixels).save(data / f"img_{i:02d}.png")
    settings = examples.ExamplesSettings(units=["blocks.0:0"], top_k=3, batch_size=4, precision="fp32")
    result = examples.run(planted_tokens(), data, settings, tmp_path / "run", progress=False)
    field = receptive_field(planted_tokens(), "blocks.0")
    assert field.size == (4, 4) and field.stride == (4, 4)  # the first block sees its own patch
    for entry in result["units"]["blocks.0:0"]["top"]:
        assert 0 <= entry["x"] < 16 and 0 <= entry["y"] < 16
        patch = np.asarray(Image.open(tmp_path / "run" / entry["patch"]), dtype=float) / 255
        assert patch[..., 0].mean() > 0.6 and patch[..., 1].mean() < 0.3  # red


def test_compose_and_graph_find_the_feature_a_parent_sums(tmp_path):
    image = planted_broden(n=1).items[0].image
    settings = compose.ComposeSettings(root="summary:0", layers=("blocks.0.mlp.act", "summary"), top_k=2,
                                       max_nodes=3, sanity=False)
    tree = compose.run(planted_tokens(), image, settings, tmp_path, progress=False)
    root = tree["nodes"][0]
    children = [n for n in tree["nodes"] if n.get("parent") == root["id"]]
    assert children[0]["unit"].startswith("blocks.0.mlp.act:0")
    settings = GraphSettings(layers=("blocks.0.mlp.act", "summary"), images=None, top_k=2, batch_size=2)
    graph = graph_run(planted_tokens(), [item.image for item in planted_broden(n=4).items], settings,
                      tmp_path, progress=False)
    assert graph["edges"]["summary:0"]["children"][0]["unit"] == "blocks.0.mlp.act:0"
    assert graph["edges"]["summary:1"]["children"][0]["unit"] == "blocks.0.mlp.act:2"
