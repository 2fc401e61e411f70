"""Trees on the toy model and on a ResNet, the Adebayo sanity check, and CLI errors."""

import json

import pandas as pd
import pytest
import torch

from helpers.cli import cli_error, one_line, run_cli
from helpers.nets import toy
from unitscope import compose
from unitscope.cli import main
from unitscope.compose import ComposeResult, ComposeSettings
from unitscope.compose.pipeline import default_name
from unitscope.compose.sanity import sanity_check
from unitscope.errors import BadInputError
from unitscope.imageio import save_png
from unitscope.models import InputSpec, load_model

TOY_ORDER = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]


def house_image(size: int = 128) -> torch.Tensor:
    """A concept-world house when that module exists, else a hand-drawn one."""
    try:
        from unitscope.data.concepts.world import render_sample

        for index in range(64):
            sample = render_sample(0, index, size)
            if sample.label == "house":
                return torch.from_numpy(sample.image).permute(2, 0, 1).float() / 255
    except (ImportError, AttributeError, TypeError):
        pass
    image = torch.full((3, size, size), 0.8)
    image[:, size // 2 :, size // 4 : 3 * size // 4] = torch.tensor([0.7, 0.2, 0.1])[:, None, None]
    for row in range(size // 4, size // 2):  # roof
        half = (row - size // 4) * size // (size // 2)
        image[:, row, size // 2 - half : size // 2 + half] = torch.tensor([0.3, 0.1, 0.1])[:, None]
    return image


@pytest.fixture(scope="module")
def toy_tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    settings = ComposeSettings(top_k=5, max_nodes=100, name="house_0")
    data = compose.run(toy(), house_image(), settings, out, progress=False)
    return out, data


def test_toy_tree_reaches_conv1_best_first(toy_tree):
    out, data = toy_tree
    nodes = data["nodes"]
    assert len(nodes) == 100 and data["layers"] == TOY_ORDER and data["root"].startswith("fc8:")
    assert {n["layer"] for n in nodes} == set(TOY_ORDER)
    by_id = {n["id"]: n for n in nodes}
    for node in nodes[1:]:
        parent = by_id[node["parent"]]
        assert TOY_ORDER.index(node["layer"]) == TOY_ORDER.index(parent["layer"]) - 1
        assert node["score"] > 0 and node["share"] == pytest.approx(parent["share"] * node["edge"])
    for node in nodes:
        kids = [by_id[c] for c in node["children"]]
        assert len(kids) <= 5
        assert [k["score"] for k in kids] == sorted((k["score"] for k in kids), reverse=True)
        if kids:
            covered = sum(k["score"] for k in kids) / node["positive_total"]
            assert node["coverage"] == pytest.approx(covered)
            assert node["ablation_drop"] is not None
    deepest = next(n for n in nodes if n["layer"] == "conv1")
    chain = []
    while deepest is not None:
        chain.append(deepest["layer"])
        deepest = by_id.get(deepest["parent"])
    assert chain == TOY_ORDER


def test_toy_tree_files_and_page(toy_tree):
    out, data = toy_tree
    for node in data["nodes"]:
        for rel in node["images"].values():
            assert (out / rel).is_file(), rel
    page = (out / data["html"]).read_text()
    assert "Adebayo et al. 2018" in page and "insensitive" in page
    assert "http://" not in page and "https://" not in page and "<script src" not in page
    assert page.count('class="card') == 100 and page.count('class="edge"') == 99
    assert ":hover" in page
    manifest = json.loads((out / "manifest.json").read_text())
    assert "compose/house_0/tree.json" in manifest["verbs"]["compose"]["trees"]
    saved = json.loads((out / "compose/house_0/tree.json").read_text())
    assert saved["nodes"] == data["nodes"]
    for key in ("spearman", "spearman_abs"):
        figures = saved["sanity"][key]
        assert isinstance(figures["gradient"], float) and isinstance(figures["guided"], float)


def test_toy_tree_result_table_files_and_view(toy_tree):
    out, data = toy_tree
    folder = out / "compose/house_0"
    saved = json.loads((folder / "tree.json").read_text())
    assert saved["settings"] == {"root": None, "layers": [], "top_k": 5, "max_nodes": 100,
                                 "rule": "gradient", "name": "house_0", "sanity": True,
                                 "batch_size": 32}
    assert saved["k"] == 5 and saved["max_nodes"] == 100 and saved["rule"] == "gradient"
    assert isinstance(data, ComposeResult) and data.run_dir == out
    table = data.to_pandas()
    assert len(table) == len(saved["nodes"]) == 100
    for row, node in zip(table.to_dict("records"), saved["nodes"], strict=True):
        for column, value in row.items():
            want = node[column]
            if want is None:
                assert pd.isna(value), (column, value)
            else:
                assert value == want, (column, value, want)
    assert table["parent"].isna().sum() == 1 and table["parent"].iloc[1] == 0
    # the files: everything in the tree folder, each node's two PNGs among them
    assert data.files == sorted(p for p in folder.iterdir() if p.is_file())
    names = {p.name for p in data.files}
    assert {"tree.json", "tree.html", "input.png", "n0_gradient.png", "n99_patch.png"} <= names
    assert len(names) == 3 + 2 * 100
    shown = data.display()
    assert shown.link == folder / "tree.html" and shown.images[0] == (folder / "input.png", "input")
    assert shown.images[1][0] == folder / "n0_gradient.png" and shown.images[1][1].startswith(data["root"])
    assert dict(shown.facts)["nodes"] == "100"
    assert dict(shown.facts)["layers reached"] == " -> ".join(reversed(TOY_ORDER))
    html = data._repr_html_()
    assert data["root"] in html and "data:image/png;base64," in html


def test_randomizing_top_layers_changes_plain_gradient_images(toy_tree):
    _, data = toy_tree
    root_layer, root_channel = data["root"].split(":")
    result = sanity_check(toy(), house_image(), root_layer, int(root_channel),
                          ["fc6", "fc7", "fc8"], rules=("gradient", "guided"))
    assert [step["randomized"] for step in result["cascade"]] == [
        ["fc8"], ["fc8", "fc7"], ["fc8", "fc7", "fc6"]]
    rho, rho_abs = result["spearman"], result["spearman_abs"]
    assert abs(rho["gradient"]) < 0.3  # the plain gradient follows the randomized weights
    assert rho_abs["gradient"] < rho_abs["guided"]  # guided barely notices (Adebayo et al.)
    assert data["sanity"]["spearman"] == rho  # the same figures are in tree.json


def test_resnet18_tree_over_named_stages(tmp_path):
    model = load_model("resnet18", weights=None, input_spec=InputSpec(64))
    torch.manual_seed(0)
    settings = ComposeSettings(root="fc:auto", layers=["layer1", "layer2", "layer3", "layer4", "fc"],
                               top_k=2, max_nodes=12, sanity=False, name="r18")
    data = compose.run(model, torch.rand(3, 64, 64), settings, tmp_path, progress=False)
    layers = [n["layer"] for n in data["nodes"]]
    assert layers[0] == "fc" and "layer1" in layers and len(layers) == 12
    assert all(n["score"] > 0 for n in data["nodes"][1:])


@pytest.fixture
def image_file(tmp_path):
    return str(save_png(house_image(), tmp_path / "house.png"))


def test_cli_builds_a_small_tree(tmp_path, image_file, capsys):
    code = main(["--quiet", "compose", "toy", image_file, "--max-nodes", "8", "--k", "2",
                 "--rule", "guided", "--no-sanity", "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0 and "8 nodes" in out
    saved = json.loads((tmp_path / "run/compose/house/tree.json").read_text())
    assert saved["rule"] == "guided" and len(saved["nodes"]) == 8
    assert saved["k"] == 2 and saved["settings"]["top_k"] == 2 and saved["sanity"] is None
    assert max(len(n["children"]) for n in saved["nodes"]) == 2
    assert (tmp_path / "run/compose/house/tree.html").is_file()
    assert "reaching conv" in out and "open " in out and out.rstrip().endswith("tree.html")


@pytest.mark.parametrize("extra, message", [
    (["--root", "fc8:999"], "out of range"),
    (["--layers", "conv2,conv1,fc8"], "forward order"),
    (["--layers", "conv1,conv9,fc8"], "unknown layer 'conv9'"),
    (["--root", "conv3:0", "--layers", "conv1,conv2,fc8"], "not one of the tree's layers"),
    (["--k", "0"], "--top-k must be at least 1, got 0"),
    (["--top-k", "0"], "--top-k must be at least 1, got 0"),
    (["--max-nodes", "0"], "--max-nodes must be at least 1, got 0"),
    (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
])
def test_cli_bad_arguments_exit_2(tmp_path, image_file, capsys, extra, message):
    code, _, err = run_cli(capsys, "compose", "toy", image_file, "--out", str(tmp_path), *extra)
    assert code == 2 and message in err
    assert one_line(err) and "Traceback" not in err


@pytest.mark.parametrize("extra, message", [
    (["--top-k", "0"], "--top-k must be at least 1, got 0"),
    (["--max-nodes", "0"], "--max-nodes must be at least 1, got 0"),
])
def test_cli_refuses_bad_settings_before_loading_the_model(tmp_path, capsys, extra, message):
    err = cli_error(capsys, ["compose", "no_such_model", str(tmp_path / "x.png"), *extra])
    assert err == f"unitscope: error: {message}\n"


def test_cli_unknown_rule_exits_2_naming_the_flag(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["compose", "toy", str(tmp_path / "x.png"), "--rule", "bogus"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert exit_.value.code == 2 and len(errors) == 1 and "--rule" in errors[0]
    assert "bogus" in errors[0] and "Traceback" not in err


def test_settings_refuse_bad_values():
    with pytest.raises(BadInputError, match=r"--top-k must be at least 1, got 0"):
        ComposeSettings(top_k=0)
    with pytest.raises(BadInputError, match=r"--max-nodes must be at least 1, got 0"):
        ComposeSettings(max_nodes=0)
    with pytest.raises(BadInputError, match=r"--rule 'bogus' is unknown; use one of gradient, guided"):
        ComposeSettings(rule="bogus")
    with pytest.raises(BadInputError, match=r"--batch-size must be at least 1"):
        ComposeSettings(batch_size=0)
    with pytest.raises(BadInputError, match=r"--sanity must be true or false"):
        ComposeSettings(sanity="no")
    assert ComposeSettings(layers=["conv1", "fc8"]).layers == ("conv1", "fc8")


def test_default_tree_name_is_a_safe_image_stem(tmp_path):
    assert default_name(torch.zeros(3, 4, 4)) == "image"
    assert default_name(tmp_path / "my house (1).png") == "my_house_1"
    assert default_name("..png") == "image"


def test_cli_unreadable_image_exits_2(tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_text("not a png")
    code, _, err = run_cli(capsys, "compose", "toy", str(bad), "--out", str(tmp_path))
    assert code == 2 and "cannot read image" in err and one_line(err)
    code, _, err = run_cli(capsys, "compose", "toy", str(tmp_path / "missing.png"))
    assert code == 2 and "does not exist" in err

