"""Objective algebra, per-element targeting and the layers each objective declares."""

import pytest
import torch

from unitscope.errors import BadInputError
from unitscope.optvis import objectives as obj


@pytest.fixture
def acts():
    gen = torch.Generator().manual_seed(0)
    return {
        "a": torch.randn(3, 5, 4, 6, generator=gen),
        "b": torch.randn(3, 7, 2, 2, generator=gen),
        "fc": torch.randn(3, 10, generator=gen),
        obj.OUTPUT: torch.randn(3, 4, generator=gen),
    }


def test_channel_is_mean_over_positions_per_element(acts):
    values = obj.channel("a", [0, 3, 4])(acts)
    expected = torch.stack([acts["a"][0, 0].mean(), acts["a"][1, 3].mean(), acts["a"][2, 4].mean()])
    torch.testing.assert_close(values, expected)
    shared = obj.channel("a", 2)(acts)
    torch.testing.assert_close(shared, acts["a"][:, 2].mean((1, 2)))
    torch.testing.assert_close(obj.channel("fc", [1, 2, 9])(acts), acts["fc"][[0, 1, 2], [1, 2, 9]])


def test_algebra_matches_values(acts):
    a, b = obj.channel("a", 1), obj.layer("b")
    va, vb = a(acts), b(acts)
    torch.testing.assert_close((a + b)(acts), va + vb)
    torch.testing.assert_close((a - b)(acts), va - vb)
    torch.testing.assert_close((2 * a)(acts), 2 * va)
    torch.testing.assert_close((a * 2)(acts), 2 * va)
    torch.testing.assert_close((-a)(acts), -va)
    torch.testing.assert_close((a * b)(acts), va * vb)
    torch.testing.assert_close((1 - a)(acts), 1 - va)
    torch.testing.assert_close((a + 0.5)(acts), va + 0.5)
    signs = torch.tensor([1.0, -1.0, 1.0])
    torch.testing.assert_close((a * signs)(acts), va * signs)


def test_composites_declare_the_union_of_layers(acts):
    combo = obj.channel("a", 0) - 3 * obj.layer("b") + obj.class_logit(1)
    assert set(combo.layers) == {"a", "b", obj.OUTPUT}
    assert combo.modules == ["a", "b"]
    assert combo.needs_output
    assert not obj.channel("a", 0).needs_output
    assert obj.class_logit(2, layer="fc").layers == ("fc",)


def test_layer_is_mean_squared_activation(acts):
    torch.testing.assert_close(obj.layer("b")(acts), acts["b"].pow(2).mean((1, 2, 3)))


def test_class_logit_reads_model_output(acts):
    torch.testing.assert_close(obj.class_logit([3, 0, 1])(acts), acts[obj.OUTPUT][[0, 1, 2], [3, 0, 1]])


def test_neuron_uses_x_as_column_and_y_as_row():
    act = torch.zeros(1, 2, 4, 6)  # H=4, W=6
    act[0, 1, 1, 4] = 5.0  # row 1, column 4
    act[0, 1, 2, 3] = 7.0  # the centre: row H//2=2, column W//2=3
    assert obj.neuron("a", 1, x=4, y=1)({"a": act}).item() == 5.0
    assert obj.neuron("a", 1)({"a": act}).item() == 7.0
    with pytest.raises(BadInputError, match="outside"):
        obj.neuron("a", 1, x=6, y=0)({"a": act})


def test_direction_is_mean_dot_product(acts):
    vec = torch.arange(5.0)
    expected = torch.einsum("nchw,c->nhw", acts["a"], vec).mean((1, 2))
    torch.testing.assert_close(obj.direction("a", vec)(acts), expected)
    rand1 = obj.direction("a", seed=3)(acts)
    rand2 = obj.direction("a", seed=3)(acts)
    torch.testing.assert_close(rand1, rand2)


def test_diversity_penalizes_similar_elements_within_groups():
    base = torch.rand(1, 4, 5, 5)
    other = torch.rand(1, 4, 5, 5) ** 4
    same = {"a": torch.cat([base, base, other])}
    values = obj.diversity("a")(same)
    assert values[0].item() == pytest.approx(values[1].item())
    # Identical pair: each gets -(1 + cos(other)) / 2, lower than `other`'s value.
    assert values[0] < values[2]
    grouped = obj.diversity("a", groups=[0, 0, 1])(same)
    assert grouped[0].item() == pytest.approx(-1.0, abs=1e-5)
    assert grouped[2].item() == 0.0  # alone in its group


def test_per_element_count_must_match_batch(acts):
    with pytest.raises(BadInputError, match="per-element"):
        obj.channel("a", [0, 1])(acts)
    assert obj.channel("a", [0, 1, 2]).batch == 3
    assert (obj.channel("a", [0, 1, 2]) + obj.layer("a")).batch == 3


def test_as_objective_parses_addresses(acts):
    torch.testing.assert_close(obj.as_objective("a:2")(acts), obj.channel("a", 2)(acts))
    torch.testing.assert_close(obj.as_objective("a:2@4,1")(acts),
                               obj.neuron("a", 2, 4, 1)(acts))
    torch.testing.assert_close(obj.as_objective("b")(acts), obj.layer("b")(acts))


def test_missing_layer_is_reported(acts):
    with pytest.raises(KeyError, match="zz"):
        obj.channel("zz", 0)(acts)
