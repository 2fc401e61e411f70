"""Trees on the toy model and on a ResNet, the Adebayo sanity check, and CLI errors."""

import json
import warnings

import pytest
import torch

from unitscope.cli import main
from unitscope.compose import compose_tree
from unitscope.compose.sanity import sanity_check
from unitscope.imageio import save_png
from unitscope.models import InputSpec, load_model

TOY_ORDER = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]


def toy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no trained weights yet" while toy.pt is missing
        torch.manual_seed(0)  # the random init, until trained weights ship
        return load_model("toy")


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
    data = compose_tree(toy(), house_image(), out, k=5, max_nodes=100, progress=False,
                        name="house_0")
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
    data = compose_tree(model, torch.rand(3, 64, 64), tmp_path, root="fc:auto",
                        layers=["layer1", "layer2", "layer3", "layer4", "fc"], k=2,
                        max_nodes=12, progress=False, sanity=False, name="r18")
    layers = [n["layer"] for n in data["nodes"]]
    assert layers[0] == "fc" and "layer1" in layers and len(layers) == 12
    assert all(n["score"] > 0 for n in data["nodes"][1:])


def run_cli(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


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
    assert (tmp_path / "run/compose/house/tree.html").is_file()


@pytest.mark.parametrize("extra, message", [
    (["--root", "fc8:999"], "out of range"),
    (["--layers", "conv2,conv1,fc8"], "forward order"),
    (["--layers", "conv1,conv9,fc8"], "unknown layer 'conv9'"),
    (["--root", "conv3:0", "--layers", "conv1,conv2,fc8"], "not one of the tree's layers"),
    (["--k", "0"], "at least 1"),
])
def test_cli_bad_arguments_exit_2(tmp_path, image_file, capsys, extra, message):
    code, err = run_cli(capsys, "compose", "toy", image_file, "--out", str(tmp_path), *extra)
    assert code == 2 and message in err
    assert one_line(err) and "Traceback" not in err


def test_cli_unreadable_image_exits_2(tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_text("not a png")
    code, err = run_cli(capsys, "compose", "toy", str(bad), "--out", str(tmp_path))
    assert code == 2 and "cannot read image" in err and one_line(err)
    code, err = run_cli(capsys, "compose", "toy", str(tmp_path / "missing.png"))
    assert code == 2 and "does not exist" in err


def one_line(err: str) -> bool:
    """Exactly one error line and no traceback (warnings, e.g. about toy weights, may precede)."""
    return "Traceback" not in err and len([ln for ln in err.splitlines()
                                            if ln.startswith("unitscope:")]) == 1
