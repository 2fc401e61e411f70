"""Known answers: parent = 3a + 1b - 2c over child channels a, b, c (d, e weigh zero)."""

import json
from collections import OrderedDict

import pytest
import torch
from torch import nn

from unitscope.compose import compose_tree
from unitscope.compose.faithfulness import Ablation, ablation_drops
from unitscope.compose.score import contribution_scores, record, split_children
from unitscope.models import InputSpec, load_model

SPEC = InputSpec(4, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
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
    conv = nn.Conv2d(5, 1, 1, bias=False)
    conv.weight.data.copy_(torch.tensor(WEIGHTS).view(1, 5, 1, 1))
    return conv


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
    module = nn.Sequential(OrderedDict(child=child, parent=parent))
    return load_model(module, input_spec=SPEC)


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
    data = compose_tree(net("conv->conv"), IMAGE, tmp_path, root="parent:0",
                        layers=["child", "parent"], k=5, progress=False, name="known")
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
