"""`unitscope dissect` / `examples` on a Broden-format directory written by the concept world, and
bad input: one line on stderr, exit 2, and nothing written that a resume would trust."""

from __future__ import annotations

import json
import shutil

import pytest

from unitscope.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from unitscope.data.concepts.generate import generate

    return generate(tmp_path_factory.mktemp("world") / "cw", n=10, size=64, seed=0, progress=False)


def test_dissect_cli_writes_the_contract(world, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["--quiet", "dissect", "toy", str(world), "conv1,conv5", "--weights", "none",
                 "--batch-size", "4", "--out", str(out), "--rotation", "0,1", "--top-k", "2"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "conv1:" in printed and "rotation" in printed
    result = json.loads((out / "dissect" / "dissect.json").read_text())
    assert set(result["layers"]) == {"conv1", "conv5"}
    unit = result["layers"]["conv5"]["units"]["conv5:0"]
    assert {"label", "category", "iou", "detector", "runners_up", "top_images"} <= set(unit)
    assert unit["category"] in result["categories"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"] == "toy"
    entry = manifest["verbs"]["dissect"]
    assert entry["tally"] == ["dissect/conv1/tally.csv", "dissect/conv5/tally.csv"]
    header = (out / entry["tally"][0]).read_text().splitlines()[0].split(",")
    assert header[:4] == ["unit", "category", "label", "score"]
    assert "color-iou" in header and "scene-label" in header
    assert all((out / c).is_file() for c in entry["charts"])
    assert not (out / "dissect" / ".work").exists()


def test_examples_cli_on_a_broden_directory(world, tmp_path):
    out = tmp_path / "run"
    assert main(["--quiet", "examples", "toy", str(world), "conv2:0-1", "--weights", "none",
                 "--k", "2", "--out", str(out)]) == 0
    saved = json.loads((out / "examples" / "examples.json").read_text())
    assert saved["units"]["conv2:1"]["top"][0]["source"].startswith("concepts/")


def _broken(world, tmp_path, how: str):
    data = tmp_path / "data"
    shutil.copytree(world, data)
    index = data / "index.csv"
    lines = index.read_text().splitlines()
    if how == "missing image":
        (data / "images" / lines[3].split(",")[0]).unlink()
    elif how == "truncated csv":
        index.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 3])
    elif how == "empty":
        index.write_text(lines[0] + "\n")
    elif how == "not broden":
        index.unlink()
    return data


@pytest.mark.parametrize("how", ["missing image", "truncated csv", "empty", "not broden"])
def test_bad_dataset_exits_2_without_half_written_state(world, tmp_path, capsys, how):
    data = _broken(world, tmp_path, how)
    out = tmp_path / "run"
    code = main(["--quiet", "dissect", "toy", str(data), "conv5", "--weights", "none", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("unitscope: error:") and len(err.strip().splitlines()) == 1
    assert not (out / "dissect").exists()


@pytest.mark.parametrize("args", [["fc6"], ["conv9"], ["conv5", "--quantile", "0.7"],
                                  ["conv5", "--rotation", "0,x"], ["conv5", "--baseline", "random",
                                                                   "--iou-threshold", "2"]])
def test_bad_arguments_exit_2(world, tmp_path, capsys, args):
    out = tmp_path / "run"
    code = main(["--quiet", "dissect", "toy", str(world), *args, "--weights", "none", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("unitscope: error:") and len(err.strip().splitlines()) == 1
    assert not (out / "dissect").exists()
