"""Local visualization paths pick only the chosen channel's region; images scale robustly."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from helpers.nets import plain, pointwise, random_chain, red_green, sequential
from unitscope import compose
from unitscope.compose import ComposeSettings
from unitscope.compose.normalize import diverging, robust_scale
from unitscope.compose.paths import path_images
from unitscope.models import load_model


def chain():
    """l1: red and green detectors; l2: two mixes of both; l3: the sum of l2 over the image. 8 px."""
    l3 = nn.Linear(2, 1, bias=False)
    l3.weight.data.fill_(1.0)
    return sequential(8, l1=red_green(),
                      l2=nn.Sequential(pointwise([[1.0, 1.0], [0.5, 0.5]]), nn.ReLU(inplace=True)),
                      l3=nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), l3))


def halves() -> torch.Tensor:
    """Left half pure red, right half pure green: the two l1 channels fire on different halves."""
    image = torch.zeros(3, 8, 8)
    image[0, :, :4] = 1.0
    image[1, :, 4:] = 1.0
    return image


def energy(grad: torch.Tensor) -> tuple[float, float]:
    magnitude = grad.abs().sum(0)
    return float(magnitude[:, :4].sum()), float(magnitude[:, 4:].sum())


@pytest.mark.parametrize("chained", [True, False])
@pytest.mark.parametrize("rule", ["gradient", "guided"])  # deconvnet ignores forward masks
def test_local_path_keeps_only_the_chosen_channels_region(rule, chained):
    paths = [[], [("l2", 0)], [("l2", 0), ("l1", 0)], [("l2", 0), ("l1", 1)]]
    grads = path_images(chain(), halves(), "l3", 0, paths, rule=rule, batch=3, chained=chained)
    root, mid, red, green = (energy(g) for g in grads)
    assert min(root) > 0 and min(mid) > 0  # above l1 the branch still covers both halves
    assert red[0] > 0 and red[1] == 0.0  # the red child is shown only where it fired
    assert green[0] == 0.0 and green[1] > 0


def test_tree_node_pictures_show_the_branch_region(tmp_path):
    settings = ComposeSettings(root="l3:0", layers=["l1", "l2", "l3"], top_k=2, name="halves",
                               sanity=False)
    data = compose.run(chain(), halves(), settings, tmp_path, progress=False)
    units = [n["unit"] for n in data["nodes"]]
    assert units[:3] == ["l3:0", "l2:0", "l2:1"] and "l1:0" in units and "l1:1" in units
    white = np.array([247, 247, 247])
    for node in data["nodes"]:
        if node["layer"] != "l1":
            continue
        pixels = np.asarray(Image.open(tmp_path / node["images"]["gradient"]).convert("RGB"))
        quiet = pixels[:, 4:] if node["channel"] == 0 else pixels[:, :4]
        loud = pixels[:, :4] if node["channel"] == 0 else pixels[:, 4:]
        assert (quiet == white).all() and (loud != white).any()


@pytest.mark.parametrize("rule", ["gradient", "guided", "deconvnet"])
def test_shared_prefix_fast_path_equals_hooked_backward(rule):
    torch.manual_seed(0)
    model = random_chain(8)
    image = torch.rand(3, 8, 8)
    paths = [[], [("c", 1)], [("c", 2)], [("c", 1), ("b", 0)], [("c", 1), ("b", 4)],
             [("c", 2), ("b", 0), ("a", 5)], [("c", 1), ("b", 4), ("a", 0)]]
    fast = path_images(model, image, "d", 1, paths, rule=rule, batch=2, chained=True)
    slow = path_images(model, image, "d", 1, paths, rule=rule, batch=3, chained=False)
    assert fast.abs().sum() > 0
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-7)


def test_layers_that_do_not_cut_the_graph_use_hooks():
    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 3, 1)
            self.b = nn.Conv2d(3, 3, 1)
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(3 * 64, 2))

        def forward(self, x):
            return self.head(self.b(self.a(x)) + x)  # the skip bypasses a and b

    torch.manual_seed(1)
    model = load_model(Skip(), input_spec=plain(8))
    image = torch.rand(3, 8, 8)
    auto = path_images(model, image, "head", 0, [[("b", 1)], []], chained=None)
    chained = path_images(model, image, "head", 0, [[("b", 1)], []], chained=True)
    assert not torch.allclose(auto, chained)  # chaining through b would drop the skip path
    hooked = path_images(model, image, "head", 0, [[("b", 1)], []], chained=False)
    torch.testing.assert_close(auto, hooked)


def test_robust_scale_ignores_one_hot_pixel():
    values = np.full((20, 20), 0.01)
    values[0, 0] = 100.0  # a single outlier must not wash out the rest
    assert robust_scale(values) == pytest.approx(0.01)
    rgb = diverging(values)
    assert tuple(rgb[5, 5]) == (178, 24, 43) and tuple(rgb[0, 0]) == (178, 24, 43)
    assert tuple(diverging(-values)[5, 5]) == (33, 102, 172)
    assert tuple(diverging(np.zeros((2, 2)))[0, 0]) == (247, 247, 247)
