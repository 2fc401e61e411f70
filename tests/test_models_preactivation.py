"""Pre-activations found by tracing one forward: which module's output a layer's ReLU reads."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from helpers.nets import plain, sequential, toy
from unitscope.models import InputSpec, load_model
from unitscope.models.preactivation import ReluLinks, pre_activation, relu_links
from unitscope.probe import record


def test_toy_layers_read_their_convolution_before_the_relu():
    model = toy()
    links = relu_links(model)
    assert pre_activation(model, "conv5") == "conv5.0"  # Sequential(Conv2d, ReLU(inplace=True))
    assert pre_activation(model, "conv1.1") == "conv1.0"  # the ReLU module itself
    assert pre_activation(model, "fc6") == "fc6.1"  # Sequential(Dropout, Linear, ReLU)
    assert links["conv5"] == ReluLinks(relu="conv5.1", pre="conv5.0")
    assert links["conv5.0"] == ReluLinks(post="conv5")  # read before its ReLU: the ReLU is conv5
    for layer in ("conv5.0", "pool1", "fc8"):  # not ReLU outputs
        assert pre_activation(model, layer) is None and not links[layer].after_relu
    assert pre_activation(model, "no-such-layer") is None


def test_the_pre_activation_is_what_the_relu_reads():
    model = toy()
    x = model.input_spec.normalize(torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(0)))
    acts = record(model.module, x, ["conv3.0", "conv3"])
    assert acts["conv3.0"].min() < 0  # recorded before the in-place ReLU
    assert torch.equal(acts["conv3"], torch.relu(acts["conv3.0"]))


def test_a_plain_sequential():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1), nn.ReLU(inplace=True))
    model = load_model(net, input_spec=plain(16))
    assert pre_activation(model, "1") == "0" and pre_activation(model, "3") == "2"
    assert pre_activation(model, "0") is None and pre_activation(model, "2") is None
    assert relu_links(model)["2"].post == "3"


class _Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return F.relu(self.conv(x))


def test_a_functional_relu_has_no_module_to_read():
    model = sequential(16, block=_Functional(), head=nn.Conv2d(4, 2, 1))
    assert pre_activation(model, "block") is None
    assert relu_links(model)["block"] == ReluLinks()  # no ReLU module: not known as a ReLU output


class _Residual(nn.Module):
    """ResNet's block ending: relu(bn(conv(x)) + x), the add done in place as torchvision does."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.bn(self.conv(x))
        out += x  # the same tensor object as bn's output, but changed: not bn's output any more
        return self.relu(out)


def test_an_in_place_add_before_the_relu_is_no_module_output():
    model = sequential(16, block=_Residual())
    links = relu_links(model)
    assert links["block"] == ReluLinks(relu="block.relu")  # after a ReLU, but no exact pre-activation
    assert links["block.bn"].post is None  # bn's output is not what the ReLU reads


class _Shared(nn.Module):
    """One conv called twice: a Probe records its last call, which is not what the ReLU read."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.conv(self.relu(self.conv(x)))


def test_a_module_called_again_after_the_relu_is_not_its_pre_activation():
    model = sequential(8, net=_Shared())
    assert relu_links(model)["net.relu"] == ReluLinks(relu="net.relu")


def test_resnet18():
    model = load_model(torchvision.models.resnet18(), input_spec=InputSpec(64))
    links = relu_links(model)
    assert pre_activation(model, "relu") == "bn1"  # the stem: relu(bn1(conv1(x)))
    # A block's output is relu(bn2(...) + identity): read after a ReLU, but no module outputs its
    # input; callers fall back to the layer itself and say so.
    for layer in ("layer1", "layer3", "layer1.0", "layer4.1.relu"):
        assert pre_activation(model, layer) is None
        assert links[layer].after_relu
    assert links["layer1"].relu == "layer1.1.relu"
    assert not links["layer1.0.bn2"].after_relu and not links["avgpool"].after_relu
