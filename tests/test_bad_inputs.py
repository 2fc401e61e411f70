"""Inputs users really pass: Latin-1 CSVs, 16-bit and rotated photos, huge images and ranges, an --out
that cannot be written, `$` in chart labels, two dissections on one --out, NaN weights, degenerate
sizes. Each is read correctly or refused in one line (exit 2 from the CLI), never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.broden import QUIRKY_LABELS, planted_broden, quirky_broden, write_csv
from helpers.cli import cli_error
from helpers.nets import opponent_colours, planted_detectors, tiny_model
from unitscope.cli import main
from unitscope.data.broden import BrodenDataset
from unitscope.dissect import DissectSettings
from unitscope.dissect import run as dissect
from unitscope.dissect.charts import bar_chart, rotation_chart
from unitscope.dissect.lock import LOCK
from unitscope.errors import BadInputError, DataError, UnitOutOfRangeError
from unitscope.imageio import read_image
from unitscope.optvis import VisualizeSettings
from unitscope.optvis import run as visualize
from unitscope.rundir import RunDir
from unitscope.units import Unit

pytestmark = pytest.mark.usefixtures("one_thread")


# ---- 1. Broden CSV files in Latin-1 or with a byte-order mark -----------------------------------


def _latin1_broden(root: Path) -> Path:
    """quirky_broden with label 3 renamed 'café' (label.csv, c_object.csv) and image a.jpg renamed
    'à.jpg' (index.csv), all three files written in Latin-1."""
    quirky_broden(root)
    labels = [list(row) for row in QUIRKY_LABELS]
    labels[4][1] = "café"
    write_csv(root / "label.csv", labels, encoding="latin-1")
    write_csv(root / "c_object.csv", [("code", "number", "name", "frequency", "coverage"),
                                      ("1", "3", "café", "2", "0.6")], encoding="latin-1")
    index = (root / "index.csv").read_text(encoding="utf-8").replace("ade/a.jpg", "ade/à.jpg")
    (root / "index.csv").write_bytes(index.encode("latin-1"))
    (root / "images/ade/a.jpg").rename(root / "images/ade/à.jpg")
    return root


def test_broden_csv_files_in_latin1_are_read(tmp_path):
    ds = BrodenDataset(_latin1_broden(tmp_path / "b"))
    assert ds.label_names[3] == "café" and ds.labels_table[3] == ("café", "object")
    assert ds.names[0] == "ade/à.jpg"
    assert ds[0].image.shape == (3, 8, 8)  # the decoded name finds the file


def test_broden_csv_files_with_a_byte_order_mark_are_read(tmp_path):
    root = quirky_broden(tmp_path / "b")
    for name in ("index.csv", "label.csv"):
        (root / name).write_bytes(b"\xef\xbb\xbf" + (root / name).read_bytes())
    ds = BrodenDataset(root)
    assert ds.names == ["ade/a.jpg", "ade/b.jpg"] and ds.label_names[1] == "red"


# ---- 2. 16-bit PNGs and EXIF orientation ----------------------------------------------------------


def test_a_16_bit_grayscale_png_keeps_its_grays(tmp_path):
    levels = np.array([[0, 100 * 257, 32768, 65535]], np.uint16)
    Image.fromarray(levels).save(tmp_path / "g16.png")
    image = read_image(tmp_path / "g16.png")
    assert image.dtype == torch.uint8 and image.shape == (3, 1, 4)
    assert image[:, 0].tolist() == [[0, 100, 128, 255]] * 3  # mid-gray 32768 is 128, not 255


def test_a_jpeg_is_turned_upright_by_its_exif_orientation(tmp_path):
    stored = np.zeros((8, 16, 3), np.uint8)  # 16 wide, 8 tall: left half red, right half blue
    stored[:, :8, 0] = 255
    stored[:, 8:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation 6: shown rotated 90 degrees clockwise
    Image.fromarray(stored).save(tmp_path / "photo.jpg", exif=exif, quality=95)
    image = read_image(tmp_path / "photo.jpg").int()
    assert image.shape == (3, 16, 8)  # upright: 8 wide, 16 tall
    top, bottom = image[:, 2:6].float().mean((1, 2)), image[:, 10:14].float().mean((1, 2))
    assert top[0] > 200 and top[2] < 50  # the stored left (red) half is on top
    assert bottom[2] > 200 and bottom[0] < 50


# ---- 3. a channel range far past the layer -------------------------------------------------------


@pytest.fixture
def no_huge_expansion(monkeypatch):
    """Unit.channels fails fast, instead of filling memory, if asked to list a huge range."""
    listed = Unit.channels.fget

    def guarded(unit):
        assert sum(hi - lo for lo, hi in unit.segments) < 10_000, f"{unit} was expanded"
        return listed(unit)

    monkeypatch.setattr(Unit, "channels", property(guarded))


@pytest.mark.usefixtures("no_huge_expansion")
def test_a_huge_channel_range_is_refused_before_it_is_expanded(tmp_path, capsys):
    model = tiny_model()  # conv1 has 6 channels
    message = "unit 'conv1:0-99999999999': channel 6 is out of range; layer 'conv1' has 6 channels (0-5)"
    with pytest.raises(UnitOutOfRangeError, match=re.escape(message)):
        model.expand("conv1:0-99999999999")
    with pytest.raises(UnitOutOfRangeError, match="channel 99999999999 is out of range"):
        Unit.parse("conv1:99999999999-99999999999").expand(6)
    assert [str(u) for u in model.expand("conv1:4-5")] == ["conv1:4", "conv1:5"]
    err = cli_error(capsys, ["--quiet", "visualize", "toy", "conv1:0-99999999999", "--steps", "1",
                             "--out", str(tmp_path / "run")])
    assert "channel 48 is out of range; layer 'conv1' has 48 channels (0-47)" in err


# ---- 4. an --out that cannot be a run directory --------------------------------------------------


VISUALIZE = ["--quiet", "visualize", "toy", "conv1:0", "--steps", "1"]


def test_an_out_that_is_a_file_is_refused_naming_it(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    for out in (taken, taken / "sub"):
        err = cli_error(capsys, [*VISUALIZE, "--out", str(out)])
        assert f"cannot use '{out}' as the run directory" in err and "give --out a folder" in err
    assert "it is a file" in cli_error(capsys, [*VISUALIZE, "--out", str(taken)])
    assert taken.read_text() == "not a folder"


def test_an_out_that_is_not_writable_is_refused_naming_it(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes")
        err = cli_error(capsys, [*VISUALIZE, "--out", str(locked / "run")])
        assert f"cannot use '{locked / 'run'}' as the run directory" in err
        err = cli_error(capsys, [*VISUALIZE, "--out", str(locked)])
        assert f"cannot use '{locked}' as the run directory: it is not writable" in err
    finally:
        locked.chmod(0o700)


def test_a_run_dir_that_the_user_cannot_write_is_refused(tmp_path, monkeypatch):
    """The same check where chmod cannot show it (root): RunDir asks os.access."""
    monkeypatch.setattr("unitscope.rundir.os.access", lambda path, mode: False)
    with pytest.raises(BadInputError, match=f"cannot use '{tmp_path}' as the run directory: it is not writ"):
        RunDir(tmp_path)


# ---- 5. `$` in chart labels ---------------------------------------------------------------------


def test_chart_labels_are_drawn_literally(tmp_path):
    odd = r"$\foo$"  # mathtext would fail to parse it: \foo is no symbol
    bar_chart(tmp_path / "bars.png", f"model {odd}", {f"layer {odd}": {odd: 2, "b$x$": 1},
                                                      "other": {odd: 0, "b$x$": 3}})
    rotation_chart(tmp_path / "rotation.png", [{"layer": odd, "alpha": a, "unique": 1, "detectors": 2}
                                               for a in (0.0, 1.0)])
    for name in ("bars.png", "rotation.png"):
        with Image.open(tmp_path / name) as img:
            assert img.size[0] > 100


# ---- 6. two dissections on one --out ------------------------------------------------------------

HOLD = ("import sys\nfrom pathlib import Path\nfrom unitscope.dissect.lock import hold\n"
        "with hold(Path(sys.argv[1])):\n    print('held', flush=True)\n    sys.stdin.read()\n")


def _holder(run_dir: Path) -> subprocess.Popen:
    """Another process holding `run_dir`'s dissect lock until its stdin closes or it is killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_dissect_on_the_same_out_is_refused_while_the_first_runs(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    data = quirky_broden(tmp_path / "data")
    holder = _holder(out)
    try:
        err = cli_error(capsys, ["--quiet", "dissect", "toy", str(data), "conv1", "--resume",
                                 "--out", str(out)])
        assert f"another dissect run (process {holder.pid}) is writing to '{out}'" in err
        assert not (out / "dissect").exists()  # the first run's work is left alone
    finally:
        holder.kill()  # as a killed run dies: its lock with it, its lock file left behind
        holder.wait()
    assert (out / LOCK).exists()
    settings = DissectSettings(layers=("features",), batch_size=8, quantile=0.08, precision="fp32",
                               resume=True)
    result = dissect(planted_detectors(), planted_broden(n=8), settings, out, progress=False)
    assert "features:0" in result.data["layers"]["features"]["units"]
    assert not (out / LOCK).exists() and not (out / "dissect" / ".work").exists()


# ---- 7. an image of 12 000 x 12 000 px ---------------------------------------------------------------


def test_an_image_past_pils_pixel_limit_is_refused_in_one_line_without_warnings(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("1", (12000, 12000)).save(path)  # 144 Mpx of one colour: 18 kB on disk
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DataError) as refused:
            read_image(path, 64)
    assert not caught  # not PIL's two-line DecompressionBombWarning
    message = str(refused.value)
    assert f"image '{path}' is 12000x12000 px (144 Mpx), above PIL's limit of 89.5 Mpx" in message
    assert "shrink it first" in message and "\n" not in message


def test_an_image_past_twice_the_limit_is_refused_too(tmp_path, monkeypatch):
    Image.new("RGB", (30, 30)).save(tmp_path / "big.png")
    Image.new("RGB", (10, 10)).save(tmp_path / "small.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 400)  # 900 px is more than twice: PIL's error
    with pytest.raises(DataError, match=r"big.png' is more than 0.0008 Mpx, above PIL's limit of 0.0004 Mpx"):
        read_image(tmp_path / "big.png")
    assert read_image(tmp_path / "small.png").shape == (3, 10, 10)


# ---- 8. NaN weights and non-finite objectives in visualize -------------------------------------


def test_visualize_refuses_nan_weights_in_one_line(tmp_path):
    model = opponent_colours()
    with torch.no_grad():
        model.module.fc.weight[0, 1] = float("nan")
    settings = VisualizeSettings(units=("conv:0",), steps=2, size=24)
    with pytest.raises(BadInputError, match=re.escape("contain NaN or inf values (first in 'fc.weight')")):
        visualize(model, None, settings, tmp_path, progress=False)
    assert not (tmp_path / "visualize").exists()


def test_visualize_refuses_an_objective_that_overflows(tmp_path):
    model = opponent_colours()
    with torch.no_grad():
        model.module.conv.weight[0] = 3e38  # finite weights; r + g + b times 3e38 overflows
    settings = VisualizeSettings(units=("conv:0",), steps=2, size=24)
    with pytest.raises(BadInputError, match="gives conv:0 a non-finite value"):
        visualize(model, None, settings, tmp_path, progress=False)
    assert not (tmp_path / "visualize" / "visualize.json").exists()


# ---- 9. degenerate values from the command line -----------------------------------------------------


def test_cli_refuses_degenerate_values_in_one_line(tmp_path, capsys):
    data = quirky_broden(tmp_path / "data")
    out = str(tmp_path / "run")
    dissect_at = ["dissect", "helpers.nets:valid_conv", str(data), "0", "--out", out, "--size"]
    cases = [(["layers", "toy", "--device", "bogus"], "--device 'bogus' is not a device"),
             (["layers", "toy", "--size", "0"], "--size must be at least 1, got 0"),
             ([*dissect_at, "1"], "--size 1 is too small for helpers.nets:valid_conv: a 1px input fails"),
             ([*dissect_at, "4"], "use --size 5 or more")]
    for argv, message in cases:
        assert message in cli_error(capsys, ["--quiet", *argv])
    assert not (tmp_path / "run").exists()


def test_dissect_at_1px_runs_when_the_network_takes_it(tmp_path, capsys):
    """A 1 px image is a valid (if uninformative) input to a padded network: the run completes."""
    data = quirky_broden(tmp_path / "data")
    assert main(["--quiet", "dissect", "helpers.nets:tiny_net", str(data), "0", "--size", "1",
                 "--out", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "dissect" / "dissect.json").is_file()
