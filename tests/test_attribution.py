"""Gradient rules (plain, guided, deconvnet) against hand-computed backward passes."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers.nets import plain, red_green
from unitscope.attribution import gradient_image, max_position, relu_rule, seed_like
from unitscope.errors import BadInputError
from unitscope.models import load_model

torch.manual_seed(0)
W1, W2, W3 = torch.randn(6, 4), torch.randn(5, 6), torch.randn(1, 5)


class ModuleNet(nn.Module):
    """x -> W1 -> ReLU -> W2 -> ReLU -> W3, with ReLU modules (in place or not)."""

    def __init__(self, inplace: bool, shared: bool = False) -> None:
        super().__init__()
        self.l1, self.l2, self.l3 = (nn.Linear(4, 6, False), nn.Linear(6, 5, False),
                                     nn.Linear(5, 1, False))
        for layer, w in zip((self.l1, self.l2, self.l3), (W1, W2, W3), strict=True):
            layer.weight.data.copy_(w)
        self.r1 = nn.ReLU(inplace=inplace)
        self.r2 = self.r1 if shared else nn.ReLU(inplace=inplace)

    def forward(self, x):
        return self.l3(self.r2(self.l2(self.r1(self.l1(x)))))


class FunctionalNet(ModuleNet):
    """The same net with F.relu / Tensor.relu_ inside forward (not hookable as modules)."""

    def forward(self, x):
        h = F.relu(self.l1(x))
        return self.l3(self.l2(h).relu_())


def reference(x: torch.Tensor, rule: str) -> torch.Tensor:
    """The input gradient computed by hand from the weights and the forward masks."""
    h1 = W1 @ x
    h2 = W2 @ h1.clamp(min=0)
    m1, m2 = (h1 > 0).float(), (h2 > 0).float()

    def through(g, mask):
        if rule == "gradient":
            return g * mask
        if rule == "guided":
            return g.clamp(min=0) * mask
        return g.clamp(min=0)

    g = W3[0]
    g = W2.T @ through(g, m2)
    return W1.T @ through(g, m1)


NETS = {
    "modules": lambda: ModuleNet(False),
    "inplace": lambda: ModuleNet(True),
    "shared-inplace": lambda: ModuleNet(True, shared=True),
    "functional": lambda: FunctionalNet(False),
}


@pytest.mark.parametrize("rule", ["gradient", "guided", "deconvnet"])
@pytest.mark.parametrize("net", sorted(NETS))
def test_rules_match_hand_computed_backward(net, rule):
    model = NETS[net]()
    for seed in range(5):
        x = torch.randn(4, generator=torch.Generator().manual_seed(seed)).requires_grad_(True)
        with relu_rule(rule):
            out = model(x[None])
        (grad,) = torch.autograd.grad(out.sum(), x)
        torch.testing.assert_close(grad, reference(x.detach(), rule), rtol=1e-5, atol=1e-6)


def test_rules_differ_and_the_context_leaves_nothing_behind():
    model = ModuleNet(True)
    x = torch.randn(4, generator=torch.Generator().manual_seed(3)).requires_grad_(True)
    grads = {}
    for rule in ("gradient", "guided", "deconvnet"):
        with relu_rule(rule):
            out = model(x[None])
        grads[rule] = torch.autograd.grad(out.sum(), x)[0]
    assert not torch.allclose(grads["gradient"], grads["guided"])
    assert not torch.allclose(grads["guided"], grads["deconvnet"])
    plain = torch.autograd.grad(model(x[None]).sum(), x)[0]  # outside any context
    torch.testing.assert_close(plain, grads["gradient"])
    assert F.relu is torch.nn.functional.relu and nn.ReLU.forward.__module__.startswith("torch")


def test_unknown_rule_is_a_user_error():
    with pytest.raises(BadInputError, match="unknown gradient rule"), relu_rule("smooth"):
        pass


def test_conv_unit_is_seeded_at_its_maximum():
    model = load_model(red_green(), input_spec=plain(4))  # channel 0 copies the red plane, 1 the green
    image = torch.zeros(3, 4, 4)
    image[0, 1, 2] = 0.9  # red maximum at x=2, y=1
    image[0, 3, 0] = 0.5
    assert max_position(torch.tensor([[0, 0.0], [0, 1.0]])) == (1, 1)
    grad = gradient_image(model, image, "1", 0)
    expected = torch.zeros(3, 4, 4)
    expected[0, 1, 2] = 1.0
    torch.testing.assert_close(grad, expected)
    seed = seed_like(torch.zeros(1, 2, 4, 4), 1, (3, 0))
    assert seed.sum() == 1 and seed[0, 1, 0, 3] == 1
