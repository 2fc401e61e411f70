"""The visualize verb: artifacts (docs/artifacts.md), its Result, settings refusals and the CLI."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.cli import cli_error, help_text
from helpers.nets import opponent_colours
from unitscope import run as run_verb
from unitscope.cli import main
from unitscope.errors import BadInputError, BadUnitError, UnitOutOfRangeError, UnknownLayerError
from unitscope.optvis import VisualizeResult, VisualizeSettings, run
from unitscope.report.runview import load_run

FAST = {"steps": 6, "size": 24}


def fast(units, **changes) -> VisualizeSettings:
    return VisualizeSettings(units=units, **{**FAST, **changes})


def test_artifacts_follow_the_contract(tmp_path):
    model = opponent_colours()
    result = run(model, None, fast(["conv", "fc:1"], negative=True), tmp_path, progress=False)
    data = result.data
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["verbs"]["visualize"] == {"json": "visualize/visualize.json"}
    assert json.loads((tmp_path / "visualize/visualize.json").read_text()) == data
    assert data["settings"]["steps"] == 6 and data["settings"]["transforms"] is True
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


def test_settings_block_is_the_settings_plus_what_the_run_records(tmp_path):
    model = opponent_colours()
    settings = fast(["conv:0"], seed=2, batch_size=5, lr=0.07)
    data = run(model, None, settings, tmp_path, progress=False).data
    assert data["settings"] == {**settings.to_dict(), "model": model.name, "from_image": None,
                                "batch": 5, "n_variants": 1}
    assert data["settings"]["lr"] == 0.07 and data["settings"]["units"] == ["conv:0"]
    view = load_run(tmp_path)  # the explorer reads the same file
    assert view.settings == data["settings"]
    assert [u for u in view.units] == ["conv:0"] and view.sheets == ["visualize/conv_sheet.png"]


def test_result_table_files_and_notebook_view(tmp_path):
    model = opponent_colours()
    result = run(model, None, fast(["conv:0-1", "fc:0"], negative=True), tmp_path, progress=False)
    assert isinstance(result, VisualizeResult) and result["units"] == result.data["units"]
    saved = json.loads((tmp_path / "visualize/visualize.json").read_text())
    table = result.to_pandas()
    assert list(table.columns) == ["unit", "layer", "channel", "sign", "variant", "objective",
                                   "activation", "position", "objective_layer", "after_relu", "image"]
    assert table.to_dict("records") == saved["units"]  # one row per image, same values
    pngs = {tmp_path / e["image"] for e in saved["units"]}
    sheets = {tmp_path / s for s in saved["sheets"]}
    assert set(result.files) == pngs | sheets | {tmp_path / "visualize/visualize.json"}
    assert len(result.files) == 6 + 2 + 1 and all(p.is_file() for p in result.files)
    shown = result.display()
    assert dict(shown.facts)["units"] == "3" and dict(shown.facts)["steps"] == "6"
    assert dict(shown.facts)["size"] == "24 px" and dict(shown.facts)["images"] == "6"
    captions = [caption for _path, caption in shown.images]
    assert "conv:1 negative" in captions and "fc:0 positive" in captions
    assert all(path in pngs for path, _caption in shown.images)
    html = result._repr_html_()
    assert html.count("data:image/png;base64,") == 6 and "conv:1 negative" in html


def test_one_call_per_verb_through_unitscope_run(tmp_path):
    result = run_verb(opponent_colours(), None, fast("conv:2"), tmp_path, progress=False)
    assert isinstance(result, VisualizeResult)
    assert [e["unit"] for e in result["units"]] == ["conv:2"]
    assert (tmp_path / "visualize/conv/2.png").is_file()


def test_negative_images_have_opposite_colours(tmp_path):
    model = opponent_colours()
    settings = VisualizeSettings(units=("conv:0",), negative=True, steps=80, size=24, lr=0.1)
    data = run(model, None, settings, tmp_path, progress=False)
    by_sign = {e["sign"]: e for e in data["units"]}
    pos = np.asarray(Image.open(tmp_path / by_sign["positive"]["image"]), dtype=float)
    neg = np.asarray(Image.open(tmp_path / by_sign["negative"]["image"]), dtype=float)
    assert pos[..., 0].mean() > pos[..., 1:].mean() + 40  # red unit: red image
    assert neg[..., 0].mean() < neg[..., 1:].mean() - 20  # its negative: not red
    assert by_sign["positive"]["activation"] > by_sign["negative"]["activation"]


def test_repeated_calls_merge_and_rebuild_the_sheet(tmp_path):
    model = opponent_colours()
    run(model, None, fast("conv:0"), tmp_path, progress=False)
    data = run(model, None, fast("conv:2"), tmp_path, progress=False)
    assert [e["unit"] for e in data["units"]] == ["conv:0", "conv:2"]
    assert data.to_pandas()["unit"].tolist() == ["conv:0", "conv:2"]
    assert data.files[0] == tmp_path / "visualize/conv/2.png"  # this call's image, not conv:0's
    with Image.open(tmp_path / "visualize/conv_sheet.png") as sheet:
        two_tiles = sheet.size
    run(model, None, fast("conv:1"), tmp_path, progress=False)
    with Image.open(tmp_path / "visualize/conv_sheet.png") as sheet:
        assert sheet.size[0] * sheet.size[1] > two_tiles[0] * two_tiles[1]


def test_an_unreadable_old_json_is_started_afresh(tmp_path):
    model = opponent_colours()
    broken = tmp_path / "visualize/visualize.json"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    data = run(model, None, fast("conv:1"), tmp_path, progress=False)
    assert [e["unit"] for e in data["units"]] == ["conv:1"]
    assert json.loads(broken.read_text()) == data.data


def test_diversity_variants_are_written_and_differ(tmp_path):
    model = opponent_colours()
    data = run(model, None, fast("conv:1", diversity=1.0, variants=3), tmp_path, progress=False)
    images = sorted(e["image"] for e in data["units"])
    assert images == ["visualize/conv/1.png", "visualize/conv/1_div1.png",
                      "visualize/conv/1_div2.png"]
    arrays = [np.asarray(Image.open(tmp_path / p)) for p in images]
    assert not np.array_equal(arrays[0], arrays[1])
    assert data["settings"]["n_variants"] == 3 and data["settings"]["variants"] == 3
    assert VisualizeSettings(diversity=0.5).n_variants == 4 and VisualizeSettings().n_variants == 1


def test_variants_of_one_unit_share_a_batch(tmp_path):
    model = opponent_colours()
    data = run(model, None, fast("conv", diversity=1.0, variants=2, batch_size=3), tmp_path,
               progress=False)
    assert len(data["units"]) == 6 and {e["variant"] for e in data["units"]} == {0, 1}


def test_settings_refuse_bad_values():
    cases = [({"size": 0}, r"--size must be at least 8, got 0"),
             ({"steps": -1}, r"--steps must be at least 0, got -1"),
             ({"lr": float("nan")}, r"--lr must be a finite number above 0, got nan"),
             ({"lr": -0.1}, r"--lr must be above 0, got -0.1"),
             ({"variants": 0}, r"--variants must be at least 1, got 0"),
             ({"diversity": -1.0}, r"--diversity must be at least 0, got -1"),
             ({"batch_size": 0}, r"--batch-size must be at least 1, got 0"),
             ({"precision": "fp16"}, r"--precision 'fp16' is unknown"),
             ({"diversity": 1.0, "variants": 1}, r"--diversity needs several variants per unit"),
             ({"variants": 5, "batch_size": 4}, r"--batch-size 4 cannot hold the 5 variants"),
             ({"diversity": 1.0, "batch_size": 2}, r"--batch-size 2 cannot hold the 4 variants")]
    for changes, message in cases:
        with pytest.raises(BadInputError, match=message):
            VisualizeSettings(units=("conv:0",), **changes)
    with pytest.raises(BadUnitError, match="conv:x"):
        VisualizeSettings(units=("conv:x",))
    with pytest.raises(BadInputError, match="--steps"):
        fast("conv:0").replace(steps=-5)


def test_same_seed_same_bytes_other_seed_other_image(tmp_path):
    model = opponent_colours()
    runs = {}
    for name, seed in [("a", 3), ("b", 3), ("c", 4)]:
        run(model, None, fast("conv:0-1", seed=seed), tmp_path / name, progress=False)
        runs[name] = [(tmp_path / name / f"visualize/conv/{c}.png").read_bytes() for c in (0, 1)]
    assert runs["a"] == runs["b"]
    assert runs["a"][0] != runs["c"][0] and runs["a"][1] != runs["c"][1]


def test_start_from_a_photo(tmp_path):
    model = opponent_colours()
    photo = np.zeros((24, 24, 3), dtype=np.uint8)
    photo[:, :12] = (200, 40, 40)
    photo[:, 12:] = (40, 40, 200)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    data = run(model, tmp_path / "photo.png", fast("conv:1", steps=0), tmp_path / "run",
               progress=False)
    out = np.asarray(Image.open(tmp_path / "run" / data["units"][0]["image"]), dtype=int)
    assert np.abs(out - photo).max() <= 3  # zero steps: the photo itself
    assert data["settings"]["from_image"] == str(tmp_path / "photo.png")
    tensor = torch.from_numpy(photo).permute(2, 0, 1).float() / 255
    again = run(model, tensor, fast("conv:1", steps=0), tmp_path / "tensor", progress=False)
    out = np.asarray(Image.open(tmp_path / "tensor" / again["units"][0]["image"]), dtype=int)
    assert np.abs(out - photo).max() <= 3 and again["settings"]["from_image"] == "tensor"


def test_units_are_validated(tmp_path):
    model = opponent_colours()
    with pytest.raises(UnknownLayerError, match="closest"):
        run(model, None, fast("conv9:0"), tmp_path, progress=False)
    with pytest.raises(UnitOutOfRangeError, match="0-2"):
        run(model, None, fast("conv:7"), tmp_path, progress=False)
    with pytest.raises(BadUnitError, match="no units given"):
        run(model, None, VisualizeSettings(**FAST), tmp_path, progress=False)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_cli_bad_input_exits_2(tmp_path, capsys):
    base = ["--quiet", "visualize", "toy", "--steps", "1", "--out", str(tmp_path)]
    assert "unknown layer" in cli_error(capsys, base[:3] + ["conv9:1"] + base[3:])
    assert "out of range" in cli_error(capsys, base[:3] + ["conv5:999"] + base[3:])
    assert "conv5:x" in cli_error(capsys, base[:3] + ["conv5:x"] + base[3:])
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    assert "broken.png" in cli_error(capsys, base + ["conv5:0", "--from-image", str(bad)])
    missing = tmp_path / "missing.jpg"
    assert "missing.jpg" in cli_error(capsys, base + ["conv5:0", "--from-image", str(missing)])
    assert "--size" in cli_error(capsys, base + ["conv5:0", "--size", "4"])
    # A network that really needs bigger inputs: AlexNet's pools run out of pixels.
    err = cli_error(capsys, ["--quiet", "visualize", "alexnet", "--weights", "none",
                              "features.12:0", "--size", "16", "--steps", "1", "--out",
                              str(tmp_path)])
    assert "--size 16 is too small for alexnet" in err and "or more" in err


def test_cli_refuses_bad_values_before_loading_the_model(tmp_path, capsys):
    base = ["--quiet", "visualize", "no-such-model", "conv5:0", "--out", str(tmp_path)]
    cases = [(["--size", "0"], "--size must be at least 8, got 0"),
             (["--lr", "nan"], "--lr must be a finite number above 0, got nan"),
             (["--lr", "0"], "--lr must be above 0, got 0"),
             (["--steps", "-1"], "--steps must be at least 0, got -1"),
             (["--variants", "0"], "--variants must be at least 1, got 0"),
             (["--diversity", "1", "--variants", "1"], "--diversity needs several variants"),
             (["--batch", "2", "--variants", "3"], "--batch-size 2 cannot hold the 3 variants")]
    for flags, message in cases:
        assert message in cli_error(capsys, base + flags)  # not the unknown model: checked first
    assert not (tmp_path / "manifest.json").exists()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_cli_writes_a_run(tmp_path, capsys):
    code = main(["--quiet", "visualize", "toy", "conv5:0,3", "fc8:1", "--steps", "2", "--size",
                 "32", "--negative", "--batch", "4", "--no-transforms", "--out", str(tmp_path)])
    assert code == 0
    data = json.loads((tmp_path / "visualize/visualize.json").read_text())
    assert {e["unit"] for e in data["units"]} == {"conv5:0", "conv5:3", "fc8:1"}
    assert (tmp_path / "visualize/conv5/3_neg.png").is_file()
    assert data["settings"]["batch_size"] == data["settings"]["batch"] == 4
    assert data["settings"]["transforms"] is False and data["settings"]["model"] == "toy"
    assert "visualize:" in capsys.readouterr().out


def test_cli_help_shows_each_default_once(capsys):
    text = help_text(capsys, "visualize")
    assert text.count("(default 512)") == 1 and "--batch-size" in text
    assert "--no-transforms" in text and "--batch " not in text  # the old spelling is hidden


def red_minus_green():
    """`conv`: ReLU(red - green) after a 1x1 convolution (`conv.0`), then a pool; 24 px inputs.

    Its negative is flat at 0 wherever green >= red: only `conv.0` says "greener is lower".
    """
    from torch import nn

    from helpers.nets import pointwise, sequential

    return sequential(24, conv=nn.Sequential(pointwise([[1.0, -1.0, 0.0]]), nn.ReLU()),
                      pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten())


def test_negative_after_a_relu_is_optimized_before_it(tmp_path):
    settings = VisualizeSettings(units=("conv:0",), negative=True, steps=48, size=24, lr=0.1)
    result = run(red_minus_green(), None, settings, tmp_path, progress=False)
    by_sign = {e["sign"]: e for e in result["units"]}
    assert by_sign["negative"]["objective_layer"] == "conv.0"
    assert by_sign["positive"]["objective_layer"] == "conv"
    assert by_sign["negative"]["after_relu"] == by_sign["positive"]["after_relu"] == "conv.1"
    neg = np.asarray(Image.open(tmp_path / by_sign["negative"]["image"]), dtype=float)
    # optimizing the flat ReLU output stops as soon as green >= red (about 9 levels here)
    assert neg[..., 1].mean() > neg[..., 0].mean() + 30
    assert by_sign["negative"]["objective"] > 0.2  # -(red - green) on conv.0, well above 0
    assert by_sign["negative"]["activation"] < 0.01  # the unit itself: (almost) flat at 0
    table = result.to_pandas().set_index("sign")
    assert table.loc["negative", "objective_layer"] == "conv.0"
    assert table.loc["positive", "objective_layer"] == "conv"


def test_toy_negative_reads_the_convolution_before_the_relu(tmp_path):
    from helpers.nets import toy

    data = run(toy(), None, fast(["conv5:1", "fc8:0"], negative=True, steps=1, size=32), tmp_path,
               progress=False)
    layers = {(e["unit"], e["sign"]): (e["objective_layer"], e["after_relu"]) for e in data["units"]}
    assert layers == {("conv5:1", "positive"): ("conv5", "conv5.1"),
                      ("conv5:1", "negative"): ("conv5.0", "conv5.1"),
                      ("fc8:0", "positive"): ("fc8", None), ("fc8:0", "negative"): ("fc8", None)}


def test_diverse_negatives_after_a_relu_differ(tmp_path):
    settings = fast("conv:0", negative=True, diversity=1.0, variants=2)
    data = run(red_minus_green(), None, settings, tmp_path, progress=False)
    negative = [e for e in data["units"] if e["sign"] == "negative"]
    assert len(negative) == 2 and {e["objective_layer"] for e in negative} == {"conv.0"}
    negatives = sorted(e["image"] for e in negative)
    assert not np.array_equal(*(np.asarray(Image.open(tmp_path / p)) for p in negatives))


def test_without_a_module_before_the_relu_the_negative_stays_on_the_layer_and_says_so(tmp_path, caplog):
    import torchvision

    from unitscope.models import InputSpec, load_model

    model = load_model(torchvision.models.resnet18(), input_spec=InputSpec(32))
    with caplog.at_level("INFO", logger="unitscope"):
        data = run(model, None, fast("layer1:0-1", negative=True, steps=1, size=32), tmp_path, progress=False)
    negative = [e for e in data["units"] if e["sign"] == "negative"]
    assert [(e["objective_layer"], e["after_relu"]) for e in negative] == [("layer1", "layer1.1.relu")] * 2
    notes = [r.getMessage() for r in caplog.records if "no single module's output" in r.getMessage()]
    assert len(notes) == 1 and notes[0].startswith("layer1 is read after the ReLU layer1.1.relu")
