"""Tiny networks for tests: hand-set weights whose right answers are known, and small random ones.

Each planted network's docstring says what its true answer is; the tests check the verbs find it.
Building blocks first (no normalization, a 1x1 convolution from a matrix, named layers), then the
networks themselves.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from unitscope.models import InputSpec, Model, load_model

REDNESS = (1.0, -0.5, -0.5)  # R - (G + B) / 2: positive on red, negative on green, blue and gray


def plain(size: int) -> InputSpec:
    """`size` px inputs, not normalized (mean 0, std 1): the network sees the [0, 1] pixels."""
    return InputSpec(size, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def pointwise(weights) -> nn.Conv2d:
    """A 1x1 convolution without bias: output channel c = sum_i weights[c][i] * input channel i."""
    weights = torch.as_tensor(weights, dtype=torch.float32)
    conv = nn.Conv2d(weights.shape[1], weights.shape[0], 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(weights.view(*weights.shape, 1, 1))
    return conv


def sequential(size: int, **layers: nn.Module) -> Model:
    """The layers in order, each hookable by its keyword name, loaded for `plain(size)` inputs."""
    return load_model(nn.Sequential(OrderedDict(layers)), input_spec=plain(size))


# ---- planted networks: known answers -------------------------------------------------------------


def red_green() -> nn.Sequential:
    """1x1 conv then ReLU: channel 0 is the red plane, channel 1 the green plane, nothing else."""
    return nn.Sequential(pointwise([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), nn.ReLU())


def opponent_colours() -> Model:
    """`conv` (1x1): channels 0, 1, 2 detect red, green, blue (the colour minus the mean of the other
    two); then ReLU, global average pool and `fc`, two logits with N(0, 1) weights (seed 0).

    Maximizing conv:0 gives a red image, its negative a not-red one. Takes 24 px inputs.
    """
    model = sequential(24, conv=pointwise(torch.eye(3) * 1.5 - 0.5), relu=nn.ReLU(),
                       pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), fc=nn.Linear(3, 2))
    torch.manual_seed(0)
    nn.init.normal_(model.module.fc.weight)
    return model


class _TwoHeads(nn.Module):
    def __init__(self, color: nn.Module, edge: nn.Module) -> None:
        super().__init__()
        self.color = color
        self.edge = edge

    def forward(self, x):
        return self.color(x).mean((1, 2, 3)) + self.edge(x).mean((1, 2, 3))


def colour_and_edges() -> Model:
    """`color`: 1x1 conv, channel 0 = red - (green + blue) / 2; `edge` (after ReLU): channel 0 a
    vertical-edge (d/dx) Sobel filter, channel 1 the horizontal one (d/dy). 32 px inputs.

    Rendering color:0 gives a red image, -color:0 a not-red one; edge:0 vertical stripes
    (intensity changing along x), edge:1 horizontal ones.
    """
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    edge = nn.Conv2d(3, 2, 3, bias=False)
    with torch.no_grad():
        edge.weight.copy_(torch.stack([sobel_x, sobel_x.T])[:, None].expand(2, 3, 3, 3) / 3)
    net = _TwoHeads(pointwise([REDNESS]), nn.Sequential(edge, nn.ReLU()))
    return load_model(net, input_spec=plain(32))


class RedNet(nn.Module):
    """conv1: channel 0 sums redness (R - (G+B)/2) over 3x3, channel 1 its opposite; stride 2.

    conv2 (stride 2, all weights 0.1) adds both up. The image with the reddest patch is conv1:0's
    top example, the least red one its bottom; conv1:1 ranks them the other way.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 2, 3, 2, 1), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(2, 2, 3, 2, 1), nn.ReLU())
        with torch.no_grad():
            w = torch.tensor(REDNESS).view(1, 3, 1, 1).expand(1, 3, 3, 3)
            self.conv1[0].weight.copy_(torch.cat([w, -w]))
            self.conv1[0].bias.zero_()
            self.conv2[0].weight.fill_(0.1)
            self.conv2[0].bias.zero_()

    def forward(self, x):
        return self.conv2(self.conv1(x)).mean((2, 3))


def rednet() -> Model:
    """RedNet for 48 px inputs, not normalized (also the factory 'helpers.nets:rednet')."""
    return load_model(RedNet(), input_spec=plain(48))


class Detectors(nn.Module):
    """Three hand-built channels at 1/4 resolution: redness, vertical stripes, blueness."""

    def forward(self, x):
        r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
        red = torch.relu(r - (g + b) / 2 - 0.2)
        gray = x.mean(1, keepdim=True)
        stripes = (gray - torch.roll(gray, 2, dims=3)).abs()
        blue = torch.relu(b - (r + g) / 2 - 0.2)
        return F.avg_pool2d(torch.cat([red, stripes, blue], 1), 4)


class Planted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = Detectors()

    def forward(self, x):
        return self.features(x).mean((2, 3))


def planted_detectors() -> Model:
    """`features`: Detectors at 64 px, not normalized. On `broden.planted_broden()` the true labels
    are features:0 red-c (color), features:1 striped (texture), features:2 box (object: blue)."""
    return load_model(Planted(), input_spec=plain(64))


class TinyNet(nn.Module):
    """conv (stride 2) -> ReLU -> conv (stride 2): a 4-unit layer at a quarter of the input size.

    Weights are multiples of 1/8 and images multiples of 1/64, so every activation is exact in
    float32 whatever order a convolution kernel sums in: the reference sees the same numbers.
    """

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Sequential(nn.Conv2d(3, 6, 3, 2, 1), nn.ReLU())
        self.conv2 = nn.Conv2d(6, 4, 3, 2, 1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.round(p * 16) / 8)

    def forward(self, x):
        return self.head(self.conv2(self.conv1(x)))


def tiny_model() -> Model:
    """TinyNet for 32 px (mean 0.5, std 0.25, so [0, 1] pixels in steps of 1/64 stay exact).

    No planted answer: the true answer is whatever a store-everything reference computes from it.
    """
    return load_model(TinyNet(), input_spec=InputSpec(32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)))


# ---- factories for the 'package.module:factory' model spec -------------------------------------------


def tiny_net() -> nn.Module:
    """'helpers.nets:tiny_net': conv 3->4 (3x3) / ReLU / pool / flatten / fc 4->2, random weights;
    its hookable layers are '0' to '4'."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 2))


def valid_conv() -> nn.Module:
    """'helpers.nets:valid_conv': a 5x5 conv without padding, then pool / flatten / fc: its smallest
    input is 5 px (its layers are '0' to '4')."""
    return nn.Sequential(nn.Conv2d(3, 4, 5), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2))


def not_a_module() -> int:
    """'helpers.nets:not_a_module' returns 42: the loader must refuse it as not an nn.Module."""
    return 42


# ---- random networks: no known answer, for comparing two ways to compute the same thing -----------


def random_chain(size: int = 8) -> Model:
    """a (3x3 conv to 6 channels, in-place ReLU) / pool (2x2 max) / b (3x3 conv to 5, ReLU) /
    c (fc to 4, ReLU) / d (fc to 3), with torch's current random weights, for `size` px inputs."""
    return sequential(size,
                      a=nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(inplace=True)),
                      pool=nn.MaxPool2d(2),
                      b=nn.Sequential(nn.Conv2d(6, 5, 3, padding=1), nn.ReLU()),
                      c=nn.Sequential(nn.Flatten(), nn.Linear(5 * (size // 2) ** 2, 4), nn.ReLU()),
                      d=nn.Linear(4, 3))


def toy() -> Model:
    """The built-in toy (trained weights), loaded quietly after seeding torch with 0.

    The seed and the silence keep tests deterministic and clean should toy.pt ever be missing
    (then the toy is a random init and says so in a warning).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        return load_model("toy")


class PlantedTokens(nn.Module):
    """A tiny ViT-shaped net on 64 px inputs, 4 px patches (a 16x16 grid) plus a class token.

    `patch_embed` (4 channels per patch): 0 redness, 1 vertical edges (columns 0-1 dark, 2-3
    bright: planted_broden's stripes), 2 blueness, 3 nothing. `blocks.0` is an MLP over tokens:
    `blocks.0.mlp.act` = GELU(patch features - 0.01), `blocks.0` copies it (fc2 is
    the identity). `summary` reads each token: feature 0 = 2 x block feature 0 + 0.1 x feature 1,
    feature 1 = block feature 2. Position embeddings fix the input size, as in a real ViT.
    """

    def __init__(self) -> None:
        super().__init__()
        self.patch_embed = nn.Conv2d(3, 4, 4, 4, bias=False)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 4))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + 16 * 16, 4))
        self.blocks = nn.Sequential(_TokenMLP())
        self.summary = nn.Linear(4, 2, bias=False)
        with torch.no_grad():
            w = torch.zeros(4, 3, 4, 4)
            w[0] = torch.tensor(REDNESS).view(3, 1, 1) / 16
            w[1, :, :, :2], w[1, :, :, 2:] = -1 / 24, 1 / 24  # gray step across the patch
            w[2] = torch.tensor((-0.5, -0.5, 1.0)).view(3, 1, 1) / 16
            self.patch_embed.weight.copy_(w)
            self.summary.weight.copy_(torch.tensor([[2.0, 0.1, 0, 0], [0, 0, 1.0, 0]]))

    def forward(self, x):
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], 1) + self.pos_embed
        return self.summary(self.blocks(tokens))[:, 1:].mean(1)


class _TokenMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mlp = nn.Sequential(OrderedDict(fc1=nn.Linear(4, 4), act=nn.GELU(), fc2=nn.Linear(4, 4)))
        with torch.no_grad():
            self.mlp.fc1.weight.copy_(torch.eye(4))
            self.mlp.fc1.bias.copy_(torch.tensor([-0.01, -0.01, -0.01, 0.0]))
            self.mlp.fc2.weight.copy_(torch.eye(4))
            self.mlp.fc2.bias.zero_()

    def forward(self, x):
        return self.mlp(x)


def planted_tokens() -> Model:
    """PlantedTokens for 64 px inputs, not normalized. True answers: blocks.0:0 is red (color
    red-c on planted_broden), blocks.0:1 vertical stripes (striped), blocks.0:2 blue (the box);
    summary:0's top child in blocks.0.mlp.act is feature 0."""
    return load_model(PlantedTokens(), input_spec=plain(64))


class PlantedTabular(nn.Module):
    """fc: unit 0 = 2*f0 - f3 on the raw row, unit 1 = 3*[color=green] + f1 (6 numeric features,
    then the one-hot group color=red/green/blue); relu after it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(9, 2)
        with torch.no_grad():
            self.fc.weight.zero_()
            self.fc.bias.zero_()
            self.fc.weight[0, 0], self.fc.weight[0, 3] = 2.0, -1.0
            self.fc.weight[1, 7], self.fc.weight[1, 1] = 3.0, 1.0
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.fc(x))


def planted_tabular() -> PlantedTabular:
    return PlantedTabular().eval()


class CumulativeSum(nn.Module):
    """Running sum over positions of a [B, T, C] sequence (a recurrent counter, exactly)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.cumsum(1)


class BracketCounter(nn.Module):
    """counter:0 = open minus closed expression brackets read so far (( [ +1, ) ] -1); counter:1 =
    how many newlines were read. Character ids follow the default unitscope vocabulary."""

    def __init__(self) -> None:
        from unitscope.sequences.vocabulary import DEFAULT_ALPHABET

        super().__init__()
        self.vocabulary = DEFAULT_ALPHABET
        self.embed = nn.Embedding(len(DEFAULT_ALPHABET) + 1, 2)
        with torch.no_grad():
            self.embed.weight.zero_()
            for char, step in zip("([)]", (1, 1, -1, -1), strict=True):
                self.embed.weight[DEFAULT_ALPHABET.index(char) + 1, 0] = step
            self.embed.weight[DEFAULT_ALPHABET.index("\n") + 1, 1] = 1
        self.counter = CumulativeSum()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.counter(self.embed(ids))


def bracket_counter() -> BracketCounter:
    return BracketCounter().eval()
