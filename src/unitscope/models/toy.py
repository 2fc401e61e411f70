"""The built-in network `toy`: a small AlexNet-shaped CNN trained on the concept world.

Layers are named like the composition-tree literature's AlexNet so trees read
fc8 -> fc7 -> fc6 -> conv5 -> ... -> conv1; every conv/fc layer is the post-ReLU output,
fc8 is the logits.
"""

from __future__ import annotations

from torch import nn

TOY_SIZE = 128
TOY_MEAN = (0.5, 0.5, 0.5)
TOY_STD = (0.25, 0.25, 0.25)


def _conv(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2), nn.ReLU(inplace=True)
    )


def _fc(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(0.3), nn.Linear(cin, cout), nn.ReLU(inplace=True))


class ToyNet(nn.Module):
    """conv1..conv5 with max-pools after conv1, conv2 and conv5, then fc6, fc7, fc8."""

    def __init__(self, num_classes: int = 12, width: int = 1) -> None:
        super().__init__()
        w = width
        self.conv1 = _conv(3, 32 * w, 5, stride=2)  # 128 -> 64
        self.pool1 = nn.MaxPool2d(3, 2, 1)  # -> 32
        self.conv2 = _conv(32 * w, 64 * w, 5)
        self.pool2 = nn.MaxPool2d(3, 2, 1)  # -> 16
        self.conv3 = _conv(64 * w, 96 * w, 3)
        self.conv4 = _conv(96 * w, 96 * w, 3)
        self.conv5 = _conv(96 * w, 64 * w, 3)
        self.pool5 = nn.AdaptiveMaxPool2d(4)  # 16 -> 4
        self.flatten = nn.Flatten()
        self.fc6 = _fc(64 * w * 16, 256)
        self.fc7 = _fc(256, 256)
        self.fc8 = nn.Linear(256, num_classes)

    def forward(self, x):
        x = self.pool1(self.conv1(x))
        x = self.pool2(self.conv2(x))
        x = self.pool5(self.conv5(self.conv4(self.conv3(x))))
        x = self.fc7(self.fc6(self.flatten(x)))
        return self.fc8(x)


TOY_LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
