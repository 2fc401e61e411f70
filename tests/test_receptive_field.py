from torch import nn

from unitscope import load_model
from unitscope.receptive_field import receptive_field


def test_alexnet_like_arithmetic():
    # conv 5x5/2 p2 -> pool 3/2 p1 -> conv 5x5 p2: size 5 + 2*2 + 4*4 = 25, stride 4
    net = nn.Sequential(nn.Conv2d(3, 2, 5, 2, 2), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                        nn.Conv2d(2, 2, 5, 1, 2))
    model = load_model(net)
    rf = receptive_field(model, "3", size=64)
    assert rf.size == (25, 25) and rf.stride == (4, 4) and rf.offset == (-12, -12)
    assert rf.box(0, 0) == (0, 0, 13, 13)
    assert rf.box(8, 4) == (20, 4, 45, 29)  # x = column, y = row


def test_resnet_fields_match_known_values():
    model = load_model("resnet18", weights=None)
    assert receptive_field(model, "layer1").size == (43, 43)
    rf4 = receptive_field(model, "layer4")
    assert rf4.size == (435, 435) and rf4.stride == (32, 32)
    assert rf4.box(3, 3) == (0, 0, 224, 224)
