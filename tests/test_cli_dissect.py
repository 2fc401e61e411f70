"""`unitscope dissect` / `examples` on a Broden-format directory written by the concept world, and
bad input: one line on stderr, exit 2, and nothing written that a resume would trust."""

from __future__ import annotations

import json
import shutil

import pytest

from helpers.broden import concept_world
from helpers.cli import cli_error, help_text
from unitscope.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return concept_world(tmp_path_factory.mktemp("world") / "cw")


def test_dissect_cli_writes_the_contract(world, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["--quiet", "dissect", "toy", str(world), "conv1,conv5", "--weights", "none",
                 "--batch-size", "4", "--out", str(out), "--rotation", "0,0.5,1", "--top-k", "2"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "conv1:" in printed and "rotation" in printed
    result = json.loads((out / "dissect" / "dissect.json").read_text())
    assert set(result["layers"]) == {"conv1", "conv5"}
    assert [(e["layer"], e["alpha"]) for e in result["rotation"]] == [
        (layer, alpha) for layer in ("conv1", "conv5") for alpha in (0.0, 0.5, 1.0)]
    assert result["settings"]["rotation"] == [0.0, 0.5, 1.0] and result["settings"]["top_k"] == 2
    assert result["settings"]["layers"] == ["conv1", "conv5"] and result["settings"]["batch_size"] == 4
    unit = result["layers"]["conv5"]["units"]["conv5:0"]
    assert {"label", "category", "iou", "detector", "runners_up", "top_images"} <= set(unit)
    assert unit["category"] in result["categories"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"] == "toy"
    entry = manifest["verbs"]["dissect"]
    assert entry["tally"] == ["dissect/conv1/tally.csv", "dissect/conv5/tally.csv"]
    assert entry["units_csv"] == ["dissect/conv1/units.csv", "dissect/conv5/units.csv"]
    header = (out / entry["tally"][0]).read_text().splitlines()[0].split(",")
    assert header[:4] == ["unit", "category", "label", "score"]
    assert "color-iou" in header and "scene-label" in header
    lines = (out / entry["tally"][1]).read_bytes().decode().split("\r\n")
    units = sorted(int(line.split(",")[0]) for line in lines[1:] if line)
    assert units == list(range(1, len(units) + 1))  # NetDissect-Lite counts units from 1
    assert "-c," in (out / entry["tally"][1]).read_text()  # and keeps label.csv's colour names (red-c)
    table = (out / entry["units_csv"][1]).read_text().splitlines()
    assert table[0].startswith("unit,address,category,label,score,detector,threshold,")
    assert sorted(int(line.split(",")[0]) for line in table[1:]) == [u - 1 for u in units]
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
    cli_error(capsys, ["--quiet", "dissect", "toy", str(data), "conv5", "--weights", "none",
                       "--out", str(out)])
    assert not (out / "dissect").exists()


@pytest.mark.parametrize("args", [["fc6"], ["conv9"], ["conv5", "--quantile", "0.7"],
                                  ["conv5", "--rotation", "0,x"], ["conv5", "--baseline", "random",
                                                                   "--iou-threshold", "2"]])
def test_bad_arguments_exit_2(world, tmp_path, capsys, args):
    out = tmp_path / "run"
    cli_error(capsys, ["--quiet", "dissect", "toy", str(world), *args, "--weights", "none",
                       "--out", str(out)])
    assert not (out / "dissect").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--top-k", "-1"], "--top-k must be at least 0, got -1"),
    (["--k", "-1"], "--top-k must be at least 0, got -1"),
    (["--size", "0"], "--size must be at least 1, got 0"),
    (["--quantile", "0.7"], "--quantile must be in (0, 0.5), got 0.7"),
    (["--rotation", "0,0.5,2"], "--rotation must be in [0, 1], got 2"),
    (["--rotation", "0,x"], "--rotation '0,x' is not a comma-separated list of numbers"),
    (["--iou-threshold", "-0.1"], "--iou-threshold must be in [0, 1], got -0.1"),
    (["--batch", "0"], "--batch-size must be at least 1, got 0"),
    (["--checkpoint-every", "0"], "--checkpoint-every must be at least 1, got 0"),
    (["--workers", "-1"], "--workers must be at least 0, got -1"),
])
def test_bad_values_are_refused_in_one_line_before_the_model_loads(world, tmp_path, capsys, args, message):
    """The model does not exist: the flag, checked first, is what the line names."""
    out = tmp_path / "run"
    err = cli_error(capsys, ["--quiet", "dissect", "no-such-model", str(world), "conv5", *args,
                             "--out", str(out)])
    assert err == f"unitscope: error: {message}\n"
    assert not out.exists()


def test_help_shows_each_default_once(capsys):
    shown = help_text(capsys, "dissect")
    for text in ("(default 0.005)", "(default 0.04)", "(default 32)", "(default 20)", "(default 5)"):
        assert shown.count(text) == 1, text
    assert "--batch " not in shown and "--k " not in shown  # the older spellings work but are not shown


def test_resume_with_another_size_is_refused(world, tmp_path, capsys, monkeypatch):
    """--size changes every activation: a checkpoint made at another size cannot be continued."""
    from unitscope.dissect import job

    out = tmp_path / "run"
    args = ["dissect", "toy", str(world), "conv5", "--batch-size", "4",  # trained (fixed) weights
            "--checkpoint-every", "1", "--top-k", "1", "--out", str(out)]
    real = job.tally_batch

    def crash(*_args):
        raise RuntimeError("simulated crash in pass 2")

    monkeypatch.setattr(job, "tally_batch", crash)
    with pytest.raises(RuntimeError, match="pass 2"):
        main(["--quiet", *args, "--size", "32"])
    monkeypatch.setattr(job, "tally_batch", real)
    capsys.readouterr()
    assert main(["--quiet", *args, "--size", "48", "--resume"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("unitscope:")]
    assert len(errors) == 1 and errors[0].startswith("unitscope: error: the checkpoint in")
    assert errors[0].endswith("different settings (size: 32 then, 48 now); run again without --resume "
                              "to start over")
    assert main([*args, "--size", "32", "--resume"]) == 0
    assert any(line.startswith("dissect: resuming with") for line in capsys.readouterr().err.splitlines())
    saved = json.loads((out / "dissect" / "dissect.json").read_text())
    assert saved["settings"]["size"] == 32 and "resume" not in saved["settings"]
