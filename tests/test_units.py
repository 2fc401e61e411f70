import pytest

from unitscope import Unit, parse_units
from unitscope.errors import BadUnitError


@pytest.mark.parametrize(
    "text",
    ["conv5", "conv5:129", "conv5:0-63", "conv5:1,5,9", "conv5:129@6,7", "fc8:284",
     "layer2.0.conv1:3", "conv3:0-3,7,10-12"],
)
def test_round_trip(text):
    assert str(Unit.parse(text)) == text


def test_channels_and_position():
    assert Unit.parse("conv5").channels is None
    assert Unit.parse("conv5:0-3").channels == [0, 1, 2, 3]
    assert Unit.parse("conv5:1,5,9").channels == [1, 5, 9]
    unit = Unit.parse("conv5:129@6,7")
    assert unit.index == 129 and unit.position == (6, 7)  # x=6, y=7
    assert [str(u) for u in Unit.parse("c:2-3").expand()] == ["c:2", "c:3"]
    assert len(Unit.parse("c").expand(4)) == 4


@pytest.mark.parametrize(
    "bad", ["", ":3", "conv5:", "conv5:a", "conv5:5-2", "conv5:1@x", "conv5:1-3@2,2", "conv5@1,2",
            "conv5:1@1,2,3"],
)
def test_bad_addresses_raise(bad):
    with pytest.raises(BadUnitError):
        Unit.parse(bad)


def test_index_needs_single_channel():
    with pytest.raises(BadUnitError, match="single channel"):
        _ = Unit.parse("conv5:1,2").index


def test_parse_units_splits():
    assert [str(u) for u in parse_units("conv1:0 conv2:1;fc8")] == ["conv1:0", "conv2:1", "fc8"]
