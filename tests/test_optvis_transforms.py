"""Per-element transforms (optvis/transforms.py): sizes, exact pad and crop, moved content, gradients."""

import torch
import torch.nn.functional as F

from unitscope.optvis import transforms as T


def test_standard_pipeline_size_and_independent_elements():
    pipe = T.pipeline("standard")
    images = torch.rand(1, 3, 32, 32).expand(6, -1, -1, -1).contiguous()
    out = pipe(images, torch.Generator().manual_seed(0))
    assert out.shape == (6, 3, 44, 44)  # +24 pad, -8 jitter, -4 jitter
    assert pipe.out_size(32) == 44
    diffs = [(out[0] - out[i]).abs().max().item() for i in range(1, 6)]
    assert min(diffs) > 1e-3  # every element drew its own parameters
    again = pipe(images, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_pad_alone_is_exact_constant_padding():
    images = torch.rand(2, 3, 10, 10)
    out = T.Pipeline([T.Pad(3, fill=0.5)])(images, torch.Generator())
    torch.testing.assert_close(out, F.pad(images, [3] * 4, value=0.5), atol=1e-5, rtol=0)


def test_jitter_alone_is_an_integer_crop_per_element():
    images = torch.rand(1, 3, 12, 12).expand(8, -1, -1, -1).contiguous()
    out = T.Pipeline([T.Jitter(4)])(images, torch.Generator().manual_seed(5))
    assert out.shape == (8, 3, 8, 8)
    offsets = set()
    for n in range(8):
        errors = {(dy, dx): (out[n] - images[n, :, dy:dy + 8, dx:dx + 8]).abs().max().item()
                  for dy in range(5) for dx in range(5)}
        best = min(errors, key=errors.get)
        assert errors[best] < 1e-5
        offsets.add(best)
    assert len(offsets) > 1


def test_rotation_and_scale_move_content():
    images = torch.zeros(1, 3, 21, 21)
    images[:, :, 10, 15] = 1.0  # a dot right of centre
    rotated = T.Pipeline([T.RandomRotate([90])])(images, torch.Generator())
    y, x = divmod(rotated[0, 0].argmax().item(), 21)
    assert (abs(x - 10), abs(y - 10)) == (0, 5)  # now above or below the centre
    zoomed = T.Pipeline([T.RandomScale([2.0])])(images, torch.Generator())
    y, x = divmod(zoomed[0, 0].argmax().item(), 21)
    assert y == 10 and x in (19, 20)  # 5 px from centre becomes ~10


def test_transforms_pass_gradients_and_callables():
    images = torch.rand(2, 3, 16, 16, requires_grad=True)
    pipe = T.Pipeline([T.Pad(2), lambda x: x * 2, T.Jitter(2)])
    out = pipe(images, torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 18, 18)
    out.sum().backward()
    assert images.grad.abs().sum() > 0
    assert T.pipeline(None)(images, torch.Generator()) is images
