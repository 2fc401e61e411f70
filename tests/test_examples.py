"""Top/bottom examples: planted redness ranks the images, files follow docs/artifacts.md."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.cli import cli_error
from helpers.nets import rednet
from unitscope import examples
from unitscope import run as run_verb
from unitscope.cli import main
from unitscope.errors import BadInputError, BadUnitError
from unitscope.examples import ExamplesResult, ExamplesSettings
from unitscope.receptive_field import receptive_field

pytestmark = pytest.mark.usefixtures("one_thread")


def red_folder(root, n: int = 10, size: int = 48):
    """Gray images, each with a 12 px square of redness i/n at a random place; returns squares."""
    rng = np.random.default_rng(0)
    squares = {}
    for i in range(n):
        img = np.full((size, size, 3), 128, np.uint8)
        y, x = rng.integers(4, size - 16, 2)
        level = i / (n - 1)
        img[y:y + 12, x:x + 12] = [int(128 + 127 * level), int(128 - 128 * level), int(128 - 128 * level)]
        name = f"img_{i:02d}.png"
        Image.fromarray(img).save(root / name)
        squares[name] = (int(x), int(y))
    return squares


def test_examples_rank_by_planted_redness(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    squares = red_folder(data)
    model = rednet()
    out = tmp_path / "run"
    settings = ExamplesSettings(units=["conv1:0", "conv2"], top_k=3, batch_size=4, precision="fp32")
    result = examples.run(model, data, settings, out, progress=False)
    assert set(result["units"]) == {"conv1:0", "conv2:0", "conv2:1"}
    red = result["units"]["conv1:0"]
    assert [e["source"] for e in red["top"]] == ["img_09.png", "img_08.png", "img_07.png"]
    assert [e["source"] for e in red["bottom"]] == ["img_00.png", "img_01.png", "img_02.png"]
    assert red["top"][0]["value"] > red["top"][1]["value"] > red["top"][2]["value"]
    assert red["bottom_layer"] == "conv1.0" and red["after_relu"] == "conv1.1"  # grey: ties at 0 there too
    rf = receptive_field(model, "conv1", 48)
    for e in red["top"]:
        sx, sy = squares[e["source"]]
        x0, y0, x1, y1 = rf.box(e["x"], e["y"])
        assert x0 < sx + 12 and sx < x1 and y0 < sy + 12 and sy < y1  # the patch sees the square
        patch = Image.open(out / e["patch"])
        assert patch.size[0] >= x1 - x0 and patch.size[1] >= y1 - y0
        assert Image.open(out / e["thumb"]).size == (48, 48)
    assert red["top"][0]["thumb"] == "examples/conv1/0/top_0.png"
    assert red["top"][0]["patch"] == "examples/conv1/0/top_0_patch.png"
    saved = json.loads((out / "examples" / "examples.json").read_text())
    assert saved["k"] == 3 and saved["units"]["conv1:0"] == red
    assert set(saved) == {"dataset", "k", "units", "settings"} and saved["dataset"] == str(data)
    assert saved["settings"] == {"units": ["conv1:0", "conv2"], "top_k": 3, "batch_size": 4,
                                 "precision": "fp32", "workers": None}
    assert json.loads((out / "manifest.json").read_text())["verbs"]["examples"] == {
        "json": "examples/examples.json"}
    assert_table_matches_json(result, saved)
    # the files: 3 units x 2 sides x 3 ranks, a thumbnail and a patch each, and the JSON
    assert len(result.files) == 3 * 2 * 3 * 2 + 1 and all(p.is_file() for p in result.files)
    assert out / "examples" / "examples.json" in result.files
    assert out / "examples/conv2/1/bottom_2_patch.png" in result.files
    shown = result.display()
    assert [caption for _, caption in shown.images] == ["conv1:0", "conv2:0", "conv2:1"]
    assert shown.images[0][0] == out / "examples/conv1/0/top_0.png"
    assert "img_09.png" in result._repr_html_()


def assert_table_matches_json(result: ExamplesResult, saved: dict) -> None:
    """to_pandas(): one row per (unit, side, rank) carrying exactly examples.json's entries."""
    table = result.to_pandas()
    expected = [{"unit": unit, "side": side, "rank": rank, **example}
                for unit, entry in saved["units"].items()
                for side in ("top", "bottom") for rank, example in enumerate(entry[side])]
    assert len(table) == len(expected) > 0
    assert table.to_dict("records") == expected
    assert list(table.columns) == ["unit", "side", "rank", "source", "value", "x", "y", "thumb", "patch"]


def test_settings_refuse_bad_values():
    with pytest.raises(BadInputError, match=r"--top-k must be at least 1, got 0"):
        ExamplesSettings(units=["conv1"], top_k=0)
    with pytest.raises(BadInputError, match=r"--batch-size must be at least 1, got 0"):
        ExamplesSettings(units=["conv1"], batch_size=0)
    with pytest.raises(BadInputError, match=r"--workers must be at least 0, got -1"):
        ExamplesSettings(units=["conv1"], workers=-1)
    with pytest.raises(BadInputError, match=r"--precision 'fp16' is unknown"):
        ExamplesSettings(units=["conv1"], precision="fp16")
    with pytest.raises(BadUnitError, match=r"UNITS: give at least one unit address"):
        ExamplesSettings()
    with pytest.raises(BadUnitError, match=r"conv1:x"):
        ExamplesSettings(units=["conv1:x"])
    assert ExamplesSettings(units="conv1:0").units == ("conv1:0",)


def test_previous_units_kept_only_for_the_same_k(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    red_folder(data, n=4)
    model = rednet()
    out = tmp_path / "run"
    saved = out / "examples" / "examples.json"

    def examples_of(unit: str, k: int) -> set:
        settings = ExamplesSettings(units=[unit], top_k=k, batch_size=2, precision="fp32")
        return set(examples.run(model, data, settings, out, progress=False)["units"])

    assert examples_of("conv1:0", 2) == {"conv1:0"}
    assert examples_of("conv1:1", 2) == {"conv1:0", "conv1:1"}  # same k: kept
    assert examples_of("conv2:0", 3) == {"conv2:0"}  # another k: started afresh
    saved.write_text("{not json")
    assert examples_of("conv2:1", 3) == {"conv2:1"}  # unreadable: started afresh
    assert set(json.loads(saved.read_text())["units"]) == {"conv2:1"}


def test_run_dispatches_on_examples_settings(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    red_folder(data, n=3)
    model = rednet()
    result = run_verb(model, data, ExamplesSettings(units=["conv1:0"], top_k=1), tmp_path, progress=False)
    assert isinstance(result, ExamplesResult) and result.run_dir == tmp_path
    assert result["units"]["conv1:0"]["top"][0]["source"] == "img_02.png"
    assert math.isfinite(result.to_pandas()["value"].sum())


def test_thumbnail_overlay_marks_the_active_region(tmp_path):
    from unitscope.examples import overlay

    image = torch.full((3, 16, 16), 0.5)
    amap = torch.zeros(4, 4)
    amap[0, 0] = 1.0
    thumb = overlay(image, amap, 1.0).astype(int)
    assert thumb[0, 0].sum() > thumb[15, 15].sum() + 100  # hot where the unit fired


def test_examples_cli_and_bad_input(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    red_folder(data, n=4)
    spec = "helpers.nets:rednet"
    out = tmp_path / "run"
    assert main(["--quiet", "examples", spec, str(data), "conv1:1", "--k", "2", "--out", str(out)]) == 0
    assert (out / "examples" / "conv1" / "1" / "bottom_1_patch.png").is_file()
    # A layer without a spatial map: the patch is the whole image; both runs stay in the json.
    assert main(["--quiet", "examples", "toy", str(data), "fc8:0", "--weights", "none", "--k", "2",
                 "--out", str(out)]) == 0
    saved = json.loads((out / "examples" / "examples.json").read_text())
    assert set(saved["units"]) == {"conv1:1", "fc8:0"}
    assert Image.open(out / saved["units"]["fc8:0"]["top"][0]["patch"]).size == (128, 128)
    capsys.readouterr()
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv in ([spec, str(tmp_path / "missing"), "conv1"], [spec, str(empty), "conv1"],
                 [spec, str(data), "conv9"], [spec, str(data), "conv1:7"]):
        cli_error(capsys, ["--quiet", "examples", *argv, "--out", str(out)])


@pytest.mark.parametrize("flags, message", [
    (["--top-k", "0"], "--top-k must be at least 1, got 0"),
    (["--k", "0"], "--top-k must be at least 1, got 0"),  # the old spelling, still accepted
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["--batch", "-2"], "--batch-size must be at least 1, got -2"),
    (["--workers", "-1"], "--workers must be at least 0, got -1"),
])
def test_cli_refuses_bad_settings_before_loading_the_model(tmp_path, capsys, flags, message):
    # the model does not exist: the settings must fail first, naming the flag
    err = cli_error(capsys, ["--quiet", "examples", "no_such_model", str(tmp_path), "conv1", *flags])
    assert err == f"unitscope: error: {message}\n"


def test_cli_old_k_spelling_sets_top_k(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    red_folder(data, n=3)
    out = tmp_path / "run"
    assert main(["--quiet", "examples", "helpers.nets:rednet", str(data), "conv1:0", "--k", "2",
                 "--batch", "2", "--out", str(out)]) == 0
    saved = json.loads((out / "examples" / "examples.json").read_text())
    assert saved["k"] == 2 and saved["settings"]["top_k"] == 2 and saved["settings"]["batch_size"] == 2
    assert len(saved["units"]["conv1:0"]["top"]) == 2
    assert "examples: 1 units in" in capsys.readouterr().out


def red_minus_green():
    """`conv`: ReLU(red - green) after a 1x1 convolution (`conv.0`), for 24 px inputs; it is 0 on
    grey and on anything greener than red, where only `conv.0` still tells the images apart."""
    from torch import nn

    from helpers.nets import pointwise, sequential

    return sequential(24, conv=nn.Sequential(pointwise([[1.0, -1.0, 0.0]]), nn.ReLU()))


def colour_folder(root) -> None:
    """Grey 24 px images with an 8 px square: img_00-03 red (strongest first), img_04-07 green
    (weakest first), so the greenest images have the highest indices."""
    for i in range(8):
        img = np.full((24, 24, 3), 128, np.uint8)
        level = 120 - 25 * i if i < 4 else 20 + 25 * (i - 4)
        img[8:16, 8:16] = (128 + level, 128 - level, 128) if i < 4 else (128 - level, 128 + level, 128)
        Image.fromarray(img).save(root / f"img_{i:02d}.png")


def colour_examples(tmp_path, unit: str, top_k: int) -> dict:
    """The examples entry of `unit` of the red-minus-green net over `colour_folder`."""
    data = tmp_path / "data"
    data.mkdir()
    colour_folder(data)
    settings = ExamplesSettings(units=[unit], top_k=top_k, batch_size=4, precision="fp32")
    return examples.run(red_minus_green(), data, settings, tmp_path / "run", progress=False)["units"][unit]


def test_bottom_examples_after_a_relu_rank_the_relu_input(tmp_path):
    entry = colour_examples(tmp_path, "conv:0", 3)
    assert [e["source"] for e in entry["top"]] == ["img_00.png", "img_01.png", "img_02.png"]
    # On the ReLU output every green image is a tie at 0 (the lowest indices would win);
    # its input ranks the greenest first, by the most negative value anywhere in the image.
    assert [e["source"] for e in entry["bottom"]] == ["img_07.png", "img_06.png", "img_05.png"]
    values = [e["value"] for e in entry["bottom"]]
    assert values[0] < values[1] < values[2] < 0
    assert all(8 <= e["x"] < 16 and 8 <= e["y"] < 16 for e in entry["bottom"])  # inside the square
    assert entry["bottom_layer"] == "conv.0" and entry["after_relu"] == "conv.1"
    saved = json.loads((tmp_path / "run/examples/examples.json").read_text())
    assert saved["units"]["conv:0"] == entry
    thumb = np.asarray(Image.open(tmp_path / "run" / entry["bottom"][0]["thumb"]), dtype=int)
    assert thumb[12, 12].sum() > thumb[2, 2].sum() + 60  # the overlay lights the green square


def test_bottom_examples_of_a_layer_not_after_a_relu_stay_on_it(tmp_path):
    entry = colour_examples(tmp_path, "conv.0:0", 2)
    assert entry["bottom_layer"] == "conv.0" and entry["after_relu"] is None
    # ranked by the spatial max, as before: every green image's max is the grey background's 0
    assert [e["source"] for e in entry["bottom"]] == ["img_04.png", "img_05.png"]
