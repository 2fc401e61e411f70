"""Tabular models: a planted MLP unit 2*f0 - f3 is optimized to f0 at its maximum and f3 at its
minimum, scored highest on f0 and f3 and found on rows with high f0 / low f3; tabular-toy."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from helpers.cli import cli_error, run_cli
from unitscope import run
from unitscope.dissect import DissectSettings
from unitscope.examples import ExamplesSettings
from unitscope.models import load_model
from unitscope.optvis.visualize import VisualizeSettings

PLANTED = "helpers.nets:planted_tabular"


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory):
    """400 rows: f0..f5 (f3 with mean 5, std 2), a one-hot colour, and concept-only columns."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"f{i}": rng.normal(0, 1, 400) for i in range(6)})
    frame["f3"] = rng.normal(5, 2, 400)
    colours = rng.integers(0, 3, 400)
    for k, name in enumerate(("red", "green", "blue")):
        frame[f"color={name}"] = (colours == k).astype(int)
    frame["f5_high"] = (frame["f5"] > frame["f5"].median()).astype(int)  # a concept unit 0 ignores
    frame["noise"] = rng.normal(0, 1, 400)
    path = tmp_path_factory.mktemp("table") / "table.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def planted():
    return load_model(PLANTED, device="cpu")


def test_a_linear_first_model_is_tabular(planted):
    assert planted.modality == "tabular"
    assert planted.channel_count("fc") == 2


def test_visualize_puts_f0_at_its_maximum_and_f3_at_its_minimum(planted, table_csv, tmp_path):
    frame = pd.read_csv(table_csv)
    settings = VisualizeSettings(units=("fc:0",), steps=200, lr=0.1)
    result = run(planted, str(table_csv), settings, tmp_path)
    features = {f["feature"]: f for f in result["units"][0]["features"]}
    assert features["f0"]["value"] == pytest.approx(frame["f0"].max(), rel=1e-4)
    assert features["f3"]["value"] == pytest.approx(frame["f3"].min(), rel=1e-4)
    assert features["f0"]["percentile"] > 99.9 and features["f3"]["percentile"] < 0.1
    for name in ("f1", "f2", "f4", "f5"):  # the data penalty keeps what the unit ignores near the mean
        assert abs(features[name]["z"]) < 0.5
    assert features["f0"]["grad_x_input"] > 0 and features["f3"]["grad_x_input"] > 0
    best = 2 * frame["f0"].max() - frame["f3"].min()
    assert result["units"][0]["activation"] == pytest.approx(best, rel=1e-4)
    assert (tmp_path / result["units"][0]["chart"]).is_file()
    assert len(pd.read_csv(tmp_path / result["units"][0]["table"])) == 9


def test_one_hot_groups_stay_one_hot(planted, table_csv, tmp_path):
    result = run(planted, str(table_csv), VisualizeSettings(units=("fc:1",), steps=150, lr=0.1), tmp_path)
    values = {f["feature"]: f["value"] for f in result["units"][0]["features"]}
    assert [values[f"color={c}"] for c in ("red", "green", "blue")] == [0.0, 1.0, 0.0]


def test_concept_scores_rank_f0_and_f3_highest(planted, table_csv, tmp_path):
    result = run(planted, str(table_csv), DissectSettings(layers=("fc",)), tmp_path)
    unit = result["layers"]["fc"]["units"][0]
    top_two = {c["column"]: c["r"] for c in unit["columns"][:2]}
    assert set(top_two) == {"f0", "f3"}
    assert top_two["f0"] > 0.5 and top_two["f3"] < -0.5
    assert unit["named"]
    ignored = [c for u in result["layers"]["fc"]["units"] for c in u["columns"] if c["column"] == "f5_high"]
    assert all(abs(c["auc"] - 0.5) < 0.1 for c in ignored)  # binary columns get an AUC; chance here
    tally = pd.read_csv(tmp_path / "dissect" / "tally.csv")
    assert tally.loc[0, "label"] in ("f0", "f3") and len(tally) == 2
    assert result.to_pandas().equals(tally)


def test_examples_top_rows_have_high_f0_and_low_f3(planted, table_csv, tmp_path):
    frame = pd.read_csv(table_csv)
    result = run(planted, str(table_csv), ExamplesSettings(units=("fc:0",), top_k=5), tmp_path)
    score = np.maximum(2 * frame["f0"] - frame["f3"], 0)
    top = [e["row"] for e in result["units"][0]["top"]]
    assert top == list(np.argsort(-score.to_numpy(), kind="stable")[:5])
    assert frame.loc[top, "f0"].mean() > frame["f0"].quantile(0.8)
    assert frame.loc[top, "f3"].mean() < frame["f3"].quantile(0.3)
    standout = {s["feature"] for e in result["units"][0]["top"] for s in e["standout"][:2]}
    assert standout & {"f0", "f3"}


def test_tabular_toy_is_accurate_and_loads_random(tmp_path):
    from unitscope.tables.table import builtin_frame

    model = load_model("tabular-toy", device="cpu")
    frame = builtin_frame()
    x = torch.tensor(frame[model.data_spec.features].to_numpy(np.float32))
    with torch.no_grad():
        accuracy = (model.module(x).argmax(1).numpy() == frame["target"].to_numpy()).mean()
    assert accuracy >= 0.9
    assert model.class_names == ["malignant", "benign"]
    random = load_model("tabular-toy", weights=None, device="cpu")
    assert not torch.equal(random.module.fc1.weight, model.module.fc1.weight)


def test_cli_verbs_on_tabular_toy_and_the_explorer(capsys, tmp_path):
    out = str(tmp_path / "run")
    code, stdout, _ = run_cli(capsys, "visualize", "tabular-toy", "fc2:0-1", "--steps", "30", "--out", out)
    assert code == 0 and "optimal rows" in stdout
    code, _, _ = run_cli(capsys, "examples", "tabular-toy", "breast-cancer", "fc2", "--out", out)
    assert code == 0
    code, stdout, _ = run_cli(capsys, "dissect", "tabular-toy", "breast-cancer", "fc3", "--out", out)
    assert code == 0 and "units named" in stdout
    fc3 = json.loads((tmp_path / "run" / "dissect" / "dissect.json").read_text())["layers"]["fc3"]
    assert all(u["label"] == "target" and u["score"] > 0.9 for u in fc3["units"])  # the logits: the diagnosis
    examples = json.loads((tmp_path / "run" / "examples" / "examples.json").read_text())
    assert examples["modality"] == "tabular" and len(examples["units"]) == 16 and examples["rows"] == 569
    code, _, _ = run_cli(capsys, "explore", out)
    assert code == 0
    page = (tmp_path / "run" / "site" / "units" / "fc2" / "0.html").read_text()
    assert "Optimal input" in page and "top rows" in page
    assert (tmp_path / "run" / "site" / "files" / "visualize" / "fc2_0.png").is_file()
    assert "fc3:0" in (tmp_path / "run" / "site" / "index.html").read_text()


def test_names_from_data_are_escaped_in_the_explorer(tmp_path):
    frame = pd.DataFrame({"<script>alert(1)</script>": [1.0, 2.0, 3.0, 4.0], "$\\foo": [4, 3, 2, 1.0]})
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    model = load_model(torch.nn.Sequential(torch.nn.Linear(2, 2)), device="cpu")
    run(model, str(path), VisualizeSettings(units=("0",), steps=5), tmp_path / "run")
    run(model, str(path), DissectSettings(layers=("0",)), tmp_path / "run")
    run(None, tmp_path / "run", __import__("unitscope.explore").explore.ExploreSettings())
    page = (tmp_path / "run" / "site" / "units" / "0" / "0.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("content, expected", [
    (b"", "is empty"),
    (b"a,b\n", "has no rows"),
    (b"mean radius\n\xff\xfe\n", "not UTF-8"),
    (b"x,y\n1,2\n", "lacks 30 column"),
])
def test_bad_tables_are_one_line(capsys, tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    err = cli_error(capsys, ["examples", "tabular-toy", str(path), "fc1", "--out", str(tmp_path / "o")])
    assert expected in err


def test_a_non_numeric_value_names_its_column_and_row(capsys, table_csv, tmp_path):
    frame = pd.read_csv(table_csv)
    frame["f2"] = frame["f2"].astype(object)
    frame.loc[7, "f2"] = "n/a?"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    err = cli_error(capsys, ["dissect", PLANTED, str(path), "fc", "--out", str(tmp_path / "o")])
    assert "column 'f2' row 8" in err


def test_image_only_flags_are_refused_not_ignored(capsys, tmp_path):
    err = cli_error(capsys, ["dissect", "tabular-toy", "breast-cancer", "fc2", "--baseline", "random",
                             "--out", str(tmp_path)])
    assert "--baseline applies to image models only" in err
    err = cli_error(capsys, ["visualize", "tabular-toy", "fc2:0", "--param", "maco", "--out", str(tmp_path)])
    assert "--param" in err


def test_visualize_without_statistics_asks_for_data(capsys, tmp_path):
    err = cli_error(capsys, ["visualize", PLANTED, "fc:0", "--steps", "2", "--out", str(tmp_path)])
    assert "--data TABLE.csv" in err


def test_layers_lists_a_tabular_model_and_compose_refuses_it(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "layers", "tabular-toy")
    assert code == 0 and "fc2" in out
    err = cli_error(capsys, ["graph", "tabular-toy", "breast-cancer", "--out", str(tmp_path)])
    assert "image models only" in err
