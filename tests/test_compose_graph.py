"""The dataset-wide composition graph against hand-computed mean contributions."""

import json

import pytest
import torch
from torch import nn

from helpers.cli import one_line
from helpers.nets import pointwise, random_chain, sequential
from unitscope.cli import main
from unitscope.compose import graph
from unitscope.compose.graph import GraphSettings, pair_scores
from unitscope.errors import BadInputError
from unitscope.imageio import save_png
from unitscope.probe import Probe

PARENT_WEIGHTS = torch.tensor([[3.0, 1.0, -2.0], [0.0, 1.0, 1.0]])


def net():
    """child = the R, G, B planes (ReLU); parent j = sum_i PARENT_WEIGHTS[j, i] * child_i. 4 px."""
    return sequential(4, child=nn.Sequential(pointwise(torch.eye(3)), nn.ReLU()),
                      parent=pointwise(PARENT_WEIGHTS))


def images(n: int = 3) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [torch.rand(3, 4, 4, generator=generator) for _ in range(n)]


def expected_matrix(items: list[torch.Tensor]) -> torch.Tensor:
    """S[j, i] = mean over images of w_ji * (sum over positions of plane i)."""
    plane_sums = torch.stack([img.sum(dim=(1, 2)) for img in items]).mean(0)
    return PARENT_WEIGHTS * plane_sums


def test_graph_scores_are_mean_grad_times_act(tmp_path):
    items = images()
    settings = GraphSettings(layers=("child", "parent"), images=None, top_k=3, batch_size=2)
    data = graph.run(net(), items, settings, tmp_path, progress=False)
    want = expected_matrix(items)
    edges = data["edges"]
    kids = edges["parent:0"]["children"]
    assert [k["unit"] for k in kids] == ["child:0", "child:1"]
    assert [k["score"] for k in kids] == pytest.approx(want[0, :2].tolist(), rel=1e-5)
    assert edges["parent:0"]["inhibitory"] == [
        {"unit": "child:2", "score": pytest.approx(float(want[0, 2]), rel=1e-5)}]
    parents = edges["child:1"]["parents"]  # both parents weigh G by 1: equal scores
    assert {p["unit"] for p in parents} == {"parent:0", "parent:1"}
    assert [p["score"] for p in parents] == pytest.approx([float(want[0, 1])] * 2, rel=1e-5)
    assert [p["unit"] for p in edges["child:2"]["parents"]] == ["parent:1"]
    saved = json.loads((tmp_path / "graph/graph.json").read_text())
    assert saved["layers"] == ["child", "parent"] and saved["images"] == 3
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["verbs"]["graph"] == {"json": "graph/graph.json"}
    assert saved["settings"]["top_k"] == 3 and data.files == [tmp_path / "graph/graph.json"]
    table = data.to_pandas()
    children = table[(table.unit == "parent:0") & (table.relation == "children")]
    assert children.other.tolist() == ["child:0", "child:1"]
    assert children.score.tolist() == pytest.approx(want[0, :2].tolist(), rel=1e-5)


def test_graph_settings_refuse_bad_values():
    with pytest.raises(BadInputError, match=r"--top-k must be at least 1, got 0"):
        GraphSettings(top_k=0)
    with pytest.raises(BadInputError, match=r"--images must be at least 1"):
        GraphSettings(images=-3)
    with pytest.raises(BadInputError, match=r"--precision 'fp16' is unknown"):
        GraphSettings(precision="fp16")


def test_batched_vjps_equal_one_at_a_time():
    model = random_chain(4)
    x = torch.stack(images(2)).requires_grad_(True)
    with Probe(model.module, ["a", "b"]) as probe:
        acts = probe(x)
    batched = pair_scores(acts["b"], acts["a"])
    single = pair_scores(acts["b"], acts["a"], chunk=1)
    torch.testing.assert_close(batched, single)
    loop = torch.zeros(5, 6)  # b's 5 units by a's 6
    for j in range(5):
        (g,) = torch.autograd.grad(acts["b"][:, j].sum(), acts["a"], retain_graph=True)
        loop[j] = (g * acts["a"]).sum(dim=(0, 2, 3))
    torch.testing.assert_close(batched, loop)


def test_graph_from_an_image_folder_via_cli(tmp_path, capsys):
    folder = tmp_path / "imgs"
    for i, img in enumerate(images(2)):
        save_png(img, folder / f"{i}.png")
    code = main(["--quiet", "graph", "toy", str(folder), "--layers", "fc6,fc7,fc8",
                 "--images", "2", "--top", "3", "--out", str(tmp_path / "run")])
    assert code == 0, capsys.readouterr().err
    saved = json.loads((tmp_path / "run/graph/graph.json").read_text())
    assert saved["images"] == 2 and len(saved["edges"]["fc8:0"]["children"]) <= 3
    assert "parents" in saved["edges"]["fc6:0"] and "children" not in saved["edges"]["fc6:0"]


def test_graph_cli_errors(tmp_path, capsys):
    code = main(["graph", "toy", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err and one_line(err)
    code = main(["graph", "toy", str(tmp_path), "--layers", "fc8,fc7"])
    assert code == 2 and "forward order" in capsys.readouterr().err

