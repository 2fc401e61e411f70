"""Rendering (optvis/render.py) on hand-built networks: the known answers, hooks only where needed,
restored model state, size limits, and one recipe from settings plus overrides."""

import pytest
import torch
from torch import nn

import unitscope as us
from helpers.nets import colour_and_edges, sequential
from unitscope.errors import BadInputError
from unitscope.optvis import Jitter, RenderSettings, channel, layer, neuron, render

PRECISIONS = ["fp32", "auto"]


def mean_rgb(images):
    return images.mean((2, 3))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_red_channel_renders_red_and_its_negative_does_not(precision):
    model = colour_and_edges()
    # lr 0.1: the mean colour is the spectrum's DC term, which Lucid's scaling moves slowly.
    pos = render(model, channel("color", 0), size=32, steps=96, lr=0.1, progress=False,
                 precision=precision)
    neg = render(model, -channel("color", 0), size=32, steps=96, lr=0.1, progress=False,
                 precision=precision)
    r, g, b = mean_rgb(pos.images)[0].tolist()
    assert r > g + 0.3 and r > b + 0.3
    r, g, b = mean_rgb(neg.images)[0].tolist()
    assert r < g - 0.3 and r < b - 0.3
    assert pos.values[0] > 0.4 and neg.values[0] > 0.4  # neg maximizes -red


def gradient_energy(images):
    """Energy of differences along x (columns) and along y (rows)."""
    dx = images[..., :, 1:] - images[..., :, :-1]
    dy = images[..., 1:, :] - images[..., :-1, :]
    return dx.pow(2).sum().item(), dy.pow(2).sum().item()


@pytest.mark.parametrize("precision", PRECISIONS)
def test_edge_filters_render_stripes_across_their_direction(precision):
    model = colour_and_edges()
    result = render(model, channel("edge", [0, 1]), size=32, steps=64, lr=0.1, progress=False,
                    precision=precision)
    ex, ey = gradient_energy(result.images[0])
    assert ex > 1.5 * ey  # vertical filter: intensity changes along x -> vertical stripes
    ex, ey = gradient_energy(result.images[1])
    assert ey > 1.5 * ex


class _Spy(nn.Module):
    """Identity that logs (batch size, hooked?) for every call."""

    def __init__(self, log, name):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.log, self.name = log, name

    def forward(self, x):
        self.log.append((self.name, x.shape[0], bool(self._forward_hooks)))
        return torch.relu(self.conv(x))


def spy_model():
    log = []
    return sequential(32, **{n: _Spy(log, n) for n in ["a", "b", "c", "d"]}), log


def test_only_declared_modules_are_hooked_and_forward_stops_after_deepest():
    model, log = spy_model()
    steps = 3
    render(model, channel("b", [0, 1, 2, 0]), size=16, steps=steps, progress=False,
           transforms=False, revive=False)
    batch_calls = [(name, hooked) for name, n, hooked in log if n == 4]
    assert batch_calls.count(("a", False)) == steps + 1  # steps plus the final evaluation
    assert batch_calls.count(("b", True)) == steps + 1
    assert not [c for c in batch_calls if c[0] in ("c", "d")]  # never ran on the batch
    assert all(not hooked for name, _n, hooked in log if name != "b")


def test_two_layer_objective_stops_after_the_deeper_one():
    model, log = spy_model()
    render(model, channel("a", [0, 1]) + 0.1 * layer("c"), size=16, steps=2, progress=False)
    names = {name for name, n, _h in log if n == 2}
    assert names == {"a", "b", "c"}
    hooked = {name for name, _n, hooked in log if hooked}
    assert hooked == {"a", "c"}


def test_model_state_is_restored():
    model, _ = spy_model()
    model.module.train()
    model.module.d.conv.weight.requires_grad_(False)
    render(model, channel("b", 0), size=16, steps=1, progress=False, precision="auto")
    assert model.module.training
    flags = {name: p.requires_grad for name, p in model.module.named_parameters()}
    assert flags.pop("d.conv.weight") is False
    assert all(flags.values())
    assert model.module.a.conv.weight.is_contiguous()


def test_neuron_objective_drives_its_position():
    model = colour_and_edges()
    result = render(model, neuron("color", 0, x=3, y=20), size=32, steps=32, progress=False,
                    transforms=False, precision="fp32")
    red = result.images[0, 0] - result.images[0, 1:].mean(0)
    y, x = divmod(red.argmax().item(), 32)
    assert (x, y) == (3, 20)


def test_too_small_images_name_the_smallest_size():
    model = sequential(32, big=nn.Conv2d(3, 2, 33), out=nn.ReLU())
    with pytest.raises(BadInputError, match=r"--size 33 or more"):
        render(model, channel("out", 0), size=16, steps=1, progress=False)
    # Transforms that shrink the canvas raise the minimum: a 4px jitter needs 37.
    with pytest.raises(BadInputError, match=r"--size 37 or more"):
        render(model, channel("out", 0), size=16, steps=1, progress=False,
               custom_transforms=[Jitter(4)])
    render(model, channel("out", 0), size=33, steps=1, progress=False)  # the minimum works
    with pytest.raises(BadInputError, match="at least"):
        render(model, channel("out", 0), size=2, steps=1, progress=False)


def test_settings_object_and_keyword_overrides_are_one_recipe():
    model, _ = spy_model()
    base = RenderSettings(steps=2, size=16, transforms=False, precision="fp32")
    result = us.render(model, channel("b", [0, 1]), base, progress=False, seed=5,
                       custom_transforms=[Jitter(2)])
    assert result.settings.pop("revived") in (0, 1, 2)
    assert result.settings == {**base.replace(seed=5).to_dict(), "precision": "fp32", "batch": 2,
                               "init_image": False, "custom_transforms": ["Jitter(2)"]}
    same = render(model, channel("b", [0, 1]), base.replace(seed=5), progress=False,
                  custom_transforms=[Jitter(2)])
    assert torch.equal(result.images, same.images)
    other = render(model, channel("b", [0, 1]), base, progress=False, custom_transforms=[Jitter(2)])
    assert not torch.equal(result.images, other.images)  # the override took effect
    assert RenderSettings().steps == 512 and base.steps == 2  # overrides never touch the object


def test_render_refuses_bad_settings_naming_the_flag():
    model, _ = spy_model()
    with pytest.raises(BadInputError, match=r"--steps must be at least 0, got -1"):
        render(model, channel("b", 0), steps=-1, progress=False)
    with pytest.raises(BadInputError, match=r"--lr must be above 0, got 0"):
        render(model, channel("b", 0), RenderSettings(steps=1), lr=0.0, progress=False)
    with pytest.raises(BadInputError, match=r"--lr must be a finite number above 0, got nan"):
        RenderSettings(lr=float("nan"))
    with pytest.raises(BadInputError, match=r"--param 'rgb' is unknown; use one of fft, pixel"):
        RenderSettings(param="rgb")
    with pytest.raises(BadInputError, match=r"--transforms must be true or false"):
        RenderSettings(transforms="standard")
    with pytest.raises(TypeError, match="stpes"):
        render(model, channel("b", 0), stpes=3, progress=False)
