"""Known answers: parent = 3a + 1b - 2c over child channels a, b, c (d, e weigh zero)."""

import json

import pytest
import torch
from torch import nn

from helpers.nets import pointwise, sequential
from unitscope import compose
from unitscope import run as run_verb
from unitscope.compose import ComposeResult, ComposeSettings
from unitscope.compose.faithfulness import Ablation, ablation_drops
from unitscope.compose.forward import forward, record
from unitscope.compose.score import contribution_scores, split_children

LEVELS = [1.0, 2.0, 0.5, 0.7, 0.3]  # constant activations of child channels a, b, c, d, e
WEIGHTS = [3.0, 1.0, -2.0, 0.0, 0.0]
POSITIONS = 16  # the child maps are 4x4


def conv_child() -> nn.Module:
    conv = nn.Conv2d(3, 5, 1)
    conv.weight.data.zero_()
    conv.bias.data.copy_(torch.tensor(LEVELS))
    return nn.Sequential(conv, nn.ReLU(inplace=True))


def fc_child() -> nn.Module:
    linear = nn.Linear(48, 5)
    linear.weight.data.zero_()
    linear.bias.data.copy_(torch.tensor(LEVELS))
    return nn.Sequential(nn.Flatten(), linear, nn.ReLU())


def conv_parent() -> nn.Module:
    return pointwise([WEIGHTS])


def fc_parent(per_channel: int) -> nn.Module:
    linear = nn.Linear(5 * per_channel, 1, bias=False)
    linear.weight.data.copy_(torch.tensor(WEIGHTS).repeat_interleave(per_channel)[None])
    return nn.Sequential(nn.Flatten(), linear)


def net(kind: str):
    child, parent = {
        "conv->conv": (conv_child(), conv_parent()),
        "fc->fc": (fc_child(), fc_parent(1)),
        "fc->conv": (conv_child(), fc_parent(POSITIONS)),
    }[kind]
    return sequential(4, child=child, parent=parent)


def expected(kind: str) -> list[float]:
    positions = 1 if kind == "fc->fc" else POSITIONS
    return [w * a * positions for w, a in zip(WEIGHTS, LEVELS, strict=True)]


IMAGE = torch.full((3, 4, 4), 0.5)


@pytest.mark.parametrize("kind", ["conv->conv", "fc->fc", "fc->conv"])
def test_scores_equal_hand_computed_values(kind):
    model = net(kind)
    acts = record(model, IMAGE, ["child", "parent"])
    scores = contribution_scores(acts, "parent", "child", [0])[0]
    torch.testing.assert_close(scores, torch.tensor(expected(kind)))
    positive, negative = split_children(scores, k=5)
    assert [c for c, _ in positive] == [0, 1]  # a before b, zero-weight d, e left out
    assert [c for c, _ in negative] == [2]  # c is the inhibitory one
    assert negative[0][1] == pytest.approx(expected(kind)[2])


def test_ablation_drop_is_exact():
    model = net("conv->conv")
    value = sum(expected("conv->conv"))  # 48 + 32 - 16 = 64
    items = [Ablation("parent", 0, "child", (0, 1), value), Ablation("parent", 0, "child", (2,), value)]
    drops = ablation_drops(model, IMAGE, items)
    assert drops[0] == pytest.approx(100 * (64 - -16) / 64)  # only -2c is left: 125 %
    assert drops[1] == pytest.approx(100 * (64 - 80) / 64)  # removing the inhibitor raises it


def test_tree_json_for_the_known_net(tmp_path):
    settings = ComposeSettings(root="parent:0", layers=["child", "parent"], top_k=5, name="known")
    data = compose.run(net("conv->conv"), IMAGE, settings, tmp_path, progress=False)
    root, *children = data["nodes"]
    assert [c["unit"] for c in children] == ["child:0", "child:1"]
    assert [c["score"] for c in children] == pytest.approx([48.0, 32.0])
    assert [c["edge"] for c in children] == pytest.approx([0.6, 0.4])
    assert root["inhibitory"] == [{"unit": "child:2", "score": pytest.approx(-16.0)}]
    assert root["coverage"] == pytest.approx(1.0)
    assert root["ablation_drop"] == pytest.approx(125.0)
    assert root["activation"] == pytest.approx(64.0)
    on_disk = json.loads((tmp_path / "compose/known/tree.json").read_text())
    assert on_disk["nodes"][1]["unit"] == "child:0"
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["verbs"]["compose"]["trees"] == ["compose/known/tree.json"]


def test_table_of_the_known_net(tmp_path):
    settings = ComposeSettings(root="parent:0", layers=["child", "parent"], name="known", sanity=False)
    result = run_verb(net("conv->conv"), IMAGE, settings, tmp_path, progress=False)
    assert isinstance(result, ComposeResult)
    table = result.to_pandas()
    assert table["unit"].tolist() == ["parent:0", "child:0", "child:1"]
    assert table["score"].tolist() == pytest.approx([1.0, 48.0, 32.0])
    assert table["share"].tolist() == pytest.approx([1.0, 0.6, 0.4])
    assert table["ablation_drop"].iloc[0] == pytest.approx(125.0) and table["ablation_drop"][1:].isna().all()
    assert table["parent"].tolist()[1:] == [0, 0] and table["depth"].tolist() == [0, 1, 1]
    on_disk = json.loads((tmp_path / "compose/known/tree.json").read_text())
    assert table["activation"].tolist() == [n["activation"] for n in on_disk["nodes"]]
    assert on_disk["settings"]["sanity"] is False and on_disk["sanity"] is None


def test_forward_records_in_the_graph_or_not():
    model = net("conv->conv")
    x, acts = forward(model, IMAGE.unsqueeze(0).repeat(2, 1, 1, 1), ["child", "parent"])
    assert x.requires_grad and x.is_leaf and acts["parent"].shape == (2, 1, 4, 4)
    (grad,) = torch.autograd.grad(acts["parent"].sum(), acts["child"])
    assert grad[0, :, 0, 0].tolist() == WEIGHTS  # d parent / d child = the parent's weights
    _, frozen = forward(model, IMAGE.unsqueeze(0), ["parent"], grad=False)
    assert not frozen["parent"].requires_grad
    assert float(frozen["parent"].sum()) == pytest.approx(64.0)
