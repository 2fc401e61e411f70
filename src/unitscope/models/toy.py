"""The built-in network `toy`: a small AlexNet-shaped CNN trained on the concept world.

Layers are named like the composition-tree literature's AlexNet so trees read
fc8 -> fc7 -> fc6 -> conv5 -> ... -> conv1; every conv/fc layer is the post-ReLU output
(Sequential(conv, ReLU)), fc8 is the logits. Training adds batch norm (`norm=True`) for speed
and `fold_batchnorm` merges it into the convolutions, so the shipped net is plain conv + ReLU.
"""

from __future__ import annotations

import torch
from torch import nn

TOY_SIZE = 128
TOY_MEAN = (0.5, 0.5, 0.5)
TOY_STD = (0.25, 0.25, 0.25)
TOY_CHANNELS = (48, 128, 192, 192, 128)


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, norm: bool = False) -> nn.Sequential:
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)
    if norm:
        return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))
    return nn.Sequential(conv, nn.ReLU(inplace=True))


def _fc(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(0.3), nn.Linear(cin, cout), nn.ReLU(inplace=True))


class ToyNet(nn.Module):
    """conv1..conv5 with max-pools after conv1, conv2 and conv5, then fc6, fc7, fc8 (~1.5M params)."""

    def __init__(self, num_classes: int = 12, width: int = 1, norm: bool = False) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = (c * width for c in TOY_CHANNELS)
        self.conv1 = _conv(3, c1, 7, stride=4, norm=norm)  # 128 -> 32 (AlexNet's stride 4)
        self.pool1 = nn.MaxPool2d(3, 2, 1)  # -> 16
        self.conv2 = _conv(c1, c2, 5, norm=norm)
        self.pool2 = nn.MaxPool2d(3, 2, 1)  # -> 8
        self.conv3 = _conv(c2, c3, 3, norm=norm)
        self.conv4 = _conv(c3, c4, 3, norm=norm)
        self.conv5 = _conv(c4, c5, 3, norm=norm)
        self.pool5 = nn.AdaptiveMaxPool2d(4)  # 8 -> 4
        self.flatten = nn.Flatten()
        self.fc6 = _fc(c5 * 16, 256)
        self.fc7 = _fc(256, 256)
        self.fc8 = nn.Linear(256, num_classes)

    def forward(self, x):
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        x = self.pool5(self.conv5(self.conv4(self.conv3(x))))
        x = self.fc7(self.fc6(self.flatten(x)))
        return self.fc8(x)


TOY_LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
CONV_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")


@torch.no_grad()
def fold_batchnorm(trained: ToyNet) -> ToyNet:
    """A plain ToyNet (conv + ReLU) computing what `trained` (conv + BN + ReLU) computes in eval."""
    num_classes = trained.fc8.out_features
    width = trained.conv1[0].out_channels // TOY_CHANNELS[0]
    plain = ToyNet(num_classes, width, norm=False)
    state = {k: v for k, v in trained.state_dict().items() if not k.startswith(CONV_LAYERS)}
    for name in CONV_LAYERS:
        seq = getattr(trained, name)
        conv, bn = seq[0], seq[1]
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        state[f"{name}.0.weight"] = conv.weight * scale.view(-1, 1, 1, 1)
        state[f"{name}.0.bias"] = (conv.bias - bn.running_mean) * scale + bn.bias
    plain.load_state_dict(state)
    return plain
