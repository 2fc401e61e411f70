"""NetDissect-Lite's tally.csv written exactly, and unitscope's units.csv beside it.

A Broden folder written by hand (raw names `red-c`, `street-s`) and a net whose units are exact 0/1
colour indicators give every count by hand; the expected files below are those counts.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from torch import nn

from helpers.broden import label_png, planted_broden, random_broden, write_csv
from helpers.nets import planted_detectors, pointwise, sequential, tiny_model
from unitscope.dissect import DissectSettings, run
from unitscope.dissect.labels import Concepts

pytestmark = pytest.mark.usefixtures("one_thread")

RED, BLUE, BLACK = (255, 0, 0), (0, 0, 255), (0, 0, 0)


def colour_units():
    """`features` at 4x4 from 8 px: unit 0 = 1 on red cells, unit 1 = 1 on blue cells, unit 2 dead."""
    conv = pointwise([[1.0, -1.0, -1.0], [-1.0, -1.0, 1.0], [0.0, 0.0, 0.0]])
    return sequential(8, features=nn.Sequential(conv, nn.ReLU(), nn.AvgPool2d(2)))


def hand_broden(root):
    """Two 8 px PNG images, labels at 4x4 (one cell = 2x2 pixels); categories color, object, scene.

    a: columns 0-1 red, 2-3 blue. colour plane: columns 0-1 red-c (1), column 2 blue-c (2), column 3
       none; object plane: car (3) on rows 0-1 of columns 2-3. No scene.
    b: black with red cells at rows 0-1, columns 0-1; colour plane: red-c on row 0, columns 0-1
       only. No object; scene street-s (4) as a whole-image label.
    """
    (root / "images").mkdir(parents=True)
    a = np.array([[RED, RED, BLUE, BLUE]] * 4, np.uint8)
    b = np.array([[RED, RED, BLACK, BLACK]] * 2 + [[BLACK] * 4] * 2, np.uint8)
    for name, cells in (("a", a), ("b", b)):
        Image.fromarray(cells.repeat(2, 0).repeat(2, 1)).save(root / "images" / f"{name}.png")
    label_png(root / "images" / "a_color.png", np.array([[1, 1, 2, 0]] * 4))
    label_png(root / "images" / "a_object.png", np.array([[0, 0, 3, 3]] * 2 + [[0] * 4] * 2))
    label_png(root / "images" / "b_color.png", np.array([[1, 1, 0, 0]] + [[0] * 4] * 3))
    write_csv(root / "index.csv", [
        ("image", "split", "ih", "iw", "sh", "sw", "color", "object", "scene"),
        ("a.png", "train", "8", "8", "4", "4", "a_color.png", "a_object.png", ""),
        ("b.png", "train", "8", "8", "4", "4", "b_color.png", "", "4")])
    write_csv(root / "label.csv", [
        ("number", "name", "category", "frequency", "coverage", "syns"),
        ("1", "red-c", "color(2)", "2", "0.6", ""), ("2", "blue-c", "color(1)", "1", "0.25", ""),
        ("3", "car", "object(1)", "1", "0.25", ""), ("4", "street-s", "scene(1)", "1", "1", "")])
    return root


# By hand. Unit areas: unit 0 fires on 8 cells of a and 4 of b, unit 1 on 8 of a, unit 2 nowhere.
# A category's activation counts the unit's cells in images where it is labelled: color a+b, object a,
# scene b. Unit 0: red-c 10/(12+10-10), object nothing (blank; NetDissect-Lite's label 0 belongs to
# the last category, so its activation is scene's, 4), street-s 4/(4+16-4). Unit 1: blue-c 4/(8+4-4)
# ties car 4/(8+4-4): NetDissect-Lite takes the later category (object, car), unitscope the first label
# (blue); scene blank. Unit 2: every category blank, category the last one (scene), score 0.
HEADER = ("unit,category,label,score,color-label,color-truth,color-activation,color-intersect,color-iou,"
          "object-label,object-truth,object-activation,object-intersect,object-iou,"
          "scene-label,scene-truth,scene-activation,scene-intersect,scene-iou")
EXPECTED_TALLY = "\r\n".join([
    HEADER,
    "1,color,red-c,0.8333333333333334,red-c,10.0,12.0,10.0,0.8333333333333334,,0.0,4.0,0.0,0.0,"
    "street-s,16.0,4.0,4.0,0.25",
    "2,object,car,0.5,blue-c,4.0,8.0,4.0,0.5,car,4.0,8.0,4.0,0.5,,0.0,0.0,0.0,0.0",
    "3,scene,,0.0,,0.0,0.0,0.0,0.0,,0.0,0.0,0.0,0.0,,0.0,0.0,0.0,0.0",
]) + "\r\n"
EXPECTED_UNITS = "\n".join([
    "unit,address,category,label,score,detector,threshold," + HEADER.split(",", 4)[4],
    "0,features:0,color,red,0.8333333333333334,True,0.0,red,10,12,10,0.8333333333333334,car,4,8,0,0.0,"
    "street,16,4,4,0.25",
    "1,features:1,color,blue,0.5,True,0.0,blue,4,8,4,0.5,car,4,8,4,0.5,street,16,0,0,0.0",
    "2,features:2,color,red,0.0,False,0.0,red,10,0,0,0.0,car,4,0,0,0.0,street,16,0,0,0.0",
]) + "\n"


@pytest.fixture
def hand_run(tmp_path):
    data = hand_broden(tmp_path / "broden")
    settings = DissectSettings(layers="features", quantile=0.4, batch_size=2, top_k=0, precision="fp32")
    return run(colour_units(), str(data), settings, tmp_path / "run", progress=False)


def test_tally_csv_is_netdissect_lites_file_byte_for_byte(hand_run):
    folder = hand_run.run_dir / "dissect" / "features"
    assert (folder / "tally.csv").read_bytes().decode() == EXPECTED_TALLY
    assert (folder / "units.csv").read_bytes().decode() == EXPECTED_UNITS


def test_to_pandas_reads_units_csv_or_with_netdissect_the_tally(hand_run):
    import pandas as pd

    folder = hand_run.run_dir / "dissect" / "features"
    pd.testing.assert_frame_equal(hand_run.to_pandas("features"), pd.read_csv(folder / "units.csv"))
    ours = hand_run.to_pandas("features", netdissect=True)
    pd.testing.assert_frame_equal(ours, pd.read_csv(folder / "tally.csv"))
    assert ours.unit.tolist() == [1, 2, 3] and ours.label.isna().tolist() == [False, False, True]
    table = hand_run.to_pandas(netdissect=True)
    assert table.columns[0] == "layer" and table.unit.tolist() == [1, 2, 3]
    assert hand_run.to_pandas().address.tolist() == ["features:0", "features:1", "features:2"]


def test_both_files_are_registered_like_the_tally(hand_run):
    manifest = json.loads((hand_run.run_dir / "manifest.json").read_text())["verbs"]["dissect"]
    assert manifest["tally"] == ["dissect/features/tally.csv"]
    assert manifest["units_csv"] == ["dissect/features/units.csv"]
    entry = hand_run["layers"]["features"]
    assert entry["tally"] == "dissect/features/tally.csv"
    assert entry["units_csv"] == "dissect/features/units.csv"


def test_negative_and_baseline_write_both_tables_in_the_same_order(tmp_path):
    import pandas as pd

    settings = DissectSettings(layers="conv2", batch_size=4, negative=True, baseline="random", top_k=0)
    result = run(tiny_model(), random_broden(n=8, seed=3), settings, tmp_path, progress=False)
    folders = [tmp_path / "dissect" / "conv2", tmp_path / "dissect" / "baseline_random" / "conv2"]
    pairs = [(f / "tally.csv", f / "units.csv") for f in folders]
    pairs.append((folders[0] / "tally_negative.csv", folders[0] / "units_negative.csv"))
    assert result["negative"]["layers"]["conv2"]["units_csv"] == "dissect/conv2/units_negative.csv"
    for tally_path, units_path in pairs:
        tally, units = pd.read_csv(tally_path), pd.read_csv(units_path)
        assert tally.unit.tolist() == (units.unit + 1).tolist() and sorted(units.unit) == [0, 1, 2, 3]
        assert tally.score.tolist() == units.score.tolist() == sorted(units.score, reverse=True)
        for cat in ("color", "object", "scene"):
            zero = units[f"{cat}-iou"] == 0
            assert tally[f"{cat}-label"].isna().tolist() == zero.tolist()
            assert units[f"{cat}-label"].notna().all()
            assert (tally[f"{cat}-iou"] == units[f"{cat}-iou"]).all()


def test_datasets_without_raw_names_use_the_plain_ones(tmp_path):
    """MemoryBroden has only labels_table (already suffixed here): both files show those names."""
    data = planted_broden(n=20)
    concepts = Concepts.from_dataset(data)
    assert concepts.raw_names == concepts.names and concepts.raw_name(2) == "red-c"

    class Plain:
        categories, labels_table = ["color"], {1: ("red", "color")}

    assert Concepts.from_dataset(Plain()).raw_name(1) == "red"
    settings = DissectSettings(layers="features", quantile=0.08, batch_size=8, top_k=0, precision="fp32")
    result = run(planted_detectors(), data, settings, tmp_path, progress=False)
    tally, units = result.to_pandas("features", netdissect=True), result.to_pandas("features")
    assert dict(zip(tally.unit, tally.label, strict=True)) == {1: "red-c", 2: "striped", 3: "box"}
    assert dict(zip(units.unit, units.label, strict=True)) == {0: "red-c", 1: "striped", 2: "box"}
    assert (units["color-iou"] > 0).tolist() == tally["color-label"].notna().tolist()
