import pytest
import torch
from torch import nn

from unitscope import Probe, load_model, record
from unitscope.errors import UnknownLayerError


class Exploding(nn.Module):
    """A layer that must never compute: early stop is proven by its silence on real tensors.

    (Shape-only meta tensors are allowed: the probe counts module calls on the meta device.)
    """

    calls = 0

    def forward(self, x):
        if x.is_meta:
            return x
        Exploding.calls += 1
        raise AssertionError("a layer after the probed one ran")


def chain():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(4, 5, 3, padding=1),
        nn.ReLU(inplace=True), Exploding(),
    ).eval()


def test_values_equal_manual_forward():
    net = chain()
    x = torch.randn(2, 3, 8, 8)
    acts = record(net, x, ["0", "2"])
    manual0 = net[0](x)
    manual2 = net[2](torch.relu(manual0))
    torch.testing.assert_close(acts["0"], manual0)
    torch.testing.assert_close(acts["2"], manual2)


def test_early_stop_skips_later_layers():
    net = chain()
    Exploding.calls = 0
    with Probe(net, ["2"]) as probe:
        acts = probe(torch.randn(1, 3, 8, 8))
    assert probe.stopped_early and "2" in acts
    assert Exploding.calls == 0


def test_inplace_relu_does_not_clobber_record():
    net = chain()
    x = torch.randn(1, 3, 8, 8)
    acts = record(net, x, ["0"])
    # conv output has negative values; the in-place ReLU after it must not have zeroed them
    assert (acts["0"] < 0).any()
    torch.testing.assert_close(acts["0"], net[0](x))


def test_gradients_flow_to_input():
    net = chain()
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    with Probe(net, ["0", "3"]) as probe:
        acts = probe(x)
    acts["3"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # the gradient through recorded conv0 reaches the input too
    x.grad = None
    with Probe(net, ["0", "3"]) as probe:
        acts = probe(x)
    g = torch.autograd.grad(acts["3"].sum(), acts["0"])[0]
    assert g.shape == acts["0"].shape and g.abs().sum() > 0


class Shared(nn.Module):
    """One ReLU module called twice, as in torchvision's BasicBlock."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.relu = nn.ReLU()
        self.b = nn.Linear(3, 3)
        self.tail = Exploding()

    def forward(self, x):
        x = self.relu(self.a(x))
        x = self.relu(self.b(x) - 100.0)
        return self.tail(x)


def test_shared_module_records_each_call_and_uses_last():
    torch.manual_seed(0)
    net = Shared().eval()
    x = torch.randn(2, 3)
    Exploding.calls = 0
    with pytest.warns(UserWarning, match="runs 2 times"), Probe(net, ["relu"]) as probe:
        acts = probe(x)
    assert len(probe.calls["relu"]) == 2
    assert torch.equal(acts["relu"], torch.zeros(2, 3))  # the last call: everything below 0
    assert probe.calls["relu"][0].abs().sum() > 0
    assert Exploding.calls == 0


def test_unknown_layer_lists_closest():
    with pytest.raises(UnknownLayerError, match="closest layers: .*conv5"):
        Probe(load_model("toy").module, ["conv55"])


def test_resnet_layer2_stops_before_layer3():
    model = load_model("resnet18", weights=None)
    ran = []
    def on_real(name):
        return lambda _m, inp, _o: None if inp[0].is_meta else ran.append(name)

    model.module.layer3.register_forward_hook(on_real("layer3"))
    model.module.fc.register_forward_hook(on_real("fc"))
    with Probe(model.module, ["layer2"]) as probe:
        acts = probe(model.example_input(1, 64))
    assert acts["layer2"].shape[1] == 128 and ran == []
