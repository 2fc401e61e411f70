"""`visualize_units` artifacts (docs/artifacts.md), reproducibility and the CLI's bad input."""

import json
from collections import OrderedDict

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from unitscope.cli import main
from unitscope.errors import BadInputError, UnitOutOfRangeError, UnknownLayerError
from unitscope.models import InputSpec, load_model
from unitscope.optvis import visualize_units

PLAIN = InputSpec(24, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
FAST = {"steps": 6, "size": 24}


def small_model():
    """conv (3 channels: red, green, blue detectors), then pooled fc logits (2 classes)."""
    conv = nn.Conv2d(3, 3, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1) * 1.5 - 0.5)
    net = nn.Sequential(OrderedDict(conv=conv, relu=nn.ReLU(), pool=nn.AdaptiveAvgPool2d(1),
                                    flat=nn.Flatten(), fc=nn.Linear(3, 2)))
    torch.manual_seed(0)
    nn.init.normal_(net.fc.weight)
    return load_model(net, input_spec=PLAIN)


def test_artifacts_follow_the_contract(tmp_path):
    model = small_model()
    data = visualize_units(model, ["conv", "fc:1"], tmp_path, negative=True, progress=False,
                           **FAST)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["verbs"]["visualize"] == {"json": "visualize/visualize.json"}
    assert json.loads((tmp_path / "visualize/visualize.json").read_text()) == data
    assert data["settings"]["steps"] == 6 and data["settings"]["transforms"] == "standard"
    keys = {(e["unit"], e["sign"]) for e in data["units"]}
    assert keys == {(f"conv:{c}", s) for c in range(3) for s in ("positive", "negative")} | {
        ("fc:1", "positive"), ("fc:1", "negative")}
    for e in data["units"]:
        suffix = "_neg" if e["sign"] == "negative" else ""
        assert e["image"] == f"visualize/{e['layer']}/{e['channel']}{suffix}.png"
        assert e["unit"] == f"{e['layer']}:{e['channel']}" and e["variant"] == 0
        assert isinstance(e["objective"], float)
        with Image.open(tmp_path / e["image"]) as img:
            assert img.size == (24, 24)
    assert data["sheets"] == ["visualize/conv_sheet.png", "visualize/fc_sheet.png"]
    with Image.open(tmp_path / "visualize/conv_sheet.png") as sheet:
        assert sheet.width > 24 * 3  # six labelled tiles


def test_negative_images_have_opposite_colours(tmp_path):
    model = small_model()
    data = visualize_units(model, "conv:0", tmp_path, negative=True, steps=80, size=24,
                           progress=False, lr=0.1)
    by_sign = {e["sign"]: e for e in data["units"]}
    pos = np.asarray(Image.open(tmp_path / by_sign["positive"]["image"]), dtype=float)
    neg = np.asarray(Image.open(tmp_path / by_sign["negative"]["image"]), dtype=float)
    assert pos[..., 0].mean() > pos[..., 1:].mean() + 40  # red unit: red image
    assert neg[..., 0].mean() < neg[..., 1:].mean() - 20  # its negative: not red
    assert by_sign["positive"]["activation"] > by_sign["negative"]["activation"]


def test_repeated_calls_merge_and_rebuild_the_sheet(tmp_path):
    model = small_model()
    visualize_units(model, "conv:0", tmp_path, progress=False, **FAST)
    data = visualize_units(model, "conv:2", tmp_path, progress=False, **FAST)
    assert [e["unit"] for e in data["units"]] == ["conv:0", "conv:2"]
    with Image.open(tmp_path / "visualize/conv_sheet.png") as sheet:
        two_tiles = sheet.size
    visualize_units(model, "conv:1", tmp_path, progress=False, **FAST)
    with Image.open(tmp_path / "visualize/conv_sheet.png") as sheet:
        assert sheet.size[0] * sheet.size[1] > two_tiles[0] * two_tiles[1]


def test_diversity_variants_are_written_and_differ(tmp_path):
    model = small_model()
    data = visualize_units(model, "conv:1", tmp_path, diversity=1.0, n_variants=3, progress=False,
                           **FAST)
    images = sorted(e["image"] for e in data["units"])
    assert images == ["visualize/conv/1.png", "visualize/conv/1_div1.png",
                      "visualize/conv/1_div2.png"]
    arrays = [np.asarray(Image.open(tmp_path / p)) for p in images]
    assert not np.array_equal(arrays[0], arrays[1])
    with pytest.raises(BadInputError, match="variants"):
        visualize_units(model, "conv:1", tmp_path, diversity=1.0, n_variants=1, progress=False)


def test_same_seed_same_bytes_other_seed_other_image(tmp_path):
    model = small_model()
    runs = {}
    for name, seed in [("a", 3), ("b", 3), ("c", 4)]:
        visualize_units(model, "conv:0-1", tmp_path / name, seed=seed, progress=False, **FAST)
        runs[name] = [(tmp_path / name / f"visualize/conv/{c}.png").read_bytes() for c in (0, 1)]
    assert runs["a"] == runs["b"]
    assert runs["a"][0] != runs["c"][0] and runs["a"][1] != runs["c"][1]


def test_start_from_a_photo(tmp_path):
    model = small_model()
    photo = np.zeros((24, 24, 3), dtype=np.uint8)
    photo[:, :12] = (200, 40, 40)
    photo[:, 12:] = (40, 40, 200)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    data = visualize_units(model, "conv:1", tmp_path / "run", steps=0, size=24, progress=False,
                           from_image=tmp_path / "photo.png")
    out = np.asarray(Image.open(tmp_path / "run" / data["units"][0]["image"]), dtype=int)
    assert np.abs(out - photo).max() <= 3  # zero steps: the photo itself


def test_units_are_validated(tmp_path):
    model = small_model()
    with pytest.raises(UnknownLayerError, match="closest"):
        visualize_units(model, "conv9:0", tmp_path, progress=False, **FAST)
    with pytest.raises(UnitOutOfRangeError, match="0-2"):
        visualize_units(model, "conv:7", tmp_path, progress=False, **FAST)


def _cli_error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("unitscope: error:")
    return err


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_cli_bad_input_exits_2(tmp_path, capsys):
    base = ["--quiet", "visualize", "toy", "--steps", "1", "--out", str(tmp_path)]
    assert "unknown layer" in _cli_error(capsys, base[:3] + ["conv9:1"] + base[3:])
    assert "out of range" in _cli_error(capsys, base[:3] + ["conv5:999"] + base[3:])
    assert "conv5:x" in _cli_error(capsys, base[:3] + ["conv5:x"] + base[3:])
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    assert "broken.png" in _cli_error(capsys, base + ["conv5:0", "--from-image", str(bad)])
    missing = tmp_path / "missing.jpg"
    assert "missing.jpg" in _cli_error(capsys, base + ["conv5:0", "--from-image", str(missing)])
    assert "--size" in _cli_error(capsys, base + ["conv5:0", "--size", "4"])
    # A network that really needs bigger inputs: AlexNet's pools run out of pixels.
    err = _cli_error(capsys, ["--quiet", "visualize", "alexnet", "--weights", "none",
                              "features.12:0", "--size", "16", "--steps", "1", "--out",
                              str(tmp_path)])
    assert "--size 16 is too small for alexnet" in err and "or more" in err


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_cli_writes_a_run(tmp_path, capsys):
    code = main(["--quiet", "visualize", "toy", "conv5:0,3", "fc8:1", "--steps", "2", "--size",
                 "32", "--negative", "--out", str(tmp_path)])
    assert code == 0
    data = json.loads((tmp_path / "visualize/visualize.json").read_text())
    assert {e["unit"] for e in data["units"]} == {"conv5:0", "conv5:3", "fc8:1"}
    assert (tmp_path / "visualize/conv5/3_neg.png").is_file()
    assert "visualize:" in capsys.readouterr().out
