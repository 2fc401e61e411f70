"""Model factories importable as 'factories:name' by the `pkg.module:factory` spec tests."""

from torch import nn


def tiny_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 2))


def not_a_module():
    return 42
