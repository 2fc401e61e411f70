"""Image parameterizations (Lucid's constants, exact photo start) and per-element transforms."""

import pytest
import torch
import torch.nn.functional as F

from unitscope.optvis import param as P
from unitscope.optvis import transforms as T


def test_color_matrix_is_lucids_normalized_sqrt():
    raw = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
    assert raw.norm(dim=0).max().item() == pytest.approx(0.4620, abs=1e-4)
    torch.testing.assert_close(P.COLOR_MATRIX, raw / 0.4620, atol=1e-4, rtol=0)


def test_fft_scale_is_one_over_frequency():
    scale = P.fft_scale(8, 8)
    assert scale.shape == (8, 5)
    assert scale[0, 0].item() == pytest.approx(8.0)  # f=0 clamped to 1/max(h, w)
    assert scale[0, 1].item() == pytest.approx(8.0)  # f = 1/8
    assert scale[0, 4].item() == pytest.approx(2.0)  # f = 1/2
    assert scale[4, 4].item() == pytest.approx(1 / (2**0.5 / 2))


@pytest.mark.parametrize("fft", [True, False])
def test_random_images_are_grey_and_in_range(fft):
    image = P.image_param(2, 16, fft=fft, seed=1)()
    assert image.shape == (2, 3, 16, 16)
    assert 0.0 < image.min() and image.max() < 1.0
    assert (image - 0.5).abs().max() < 0.05  # sd 0.01 start: almost flat grey
    again = P.image_param(2, 16, fft=fft, seed=1)()
    assert torch.equal(image, again)
    assert not torch.equal(image, P.image_param(2, 16, fft=fft, seed=2)())


@pytest.mark.parametrize("fft", [True, False])
@pytest.mark.parametrize("decorrelate", [True, False])
def test_photo_start_reproduces_the_photo(fft, decorrelate):
    photo = torch.rand(3, 20, 20) * 0.9 + 0.05
    image = P.image_param(3, 20, fft=fft, decorrelate=decorrelate, init=photo)()
    assert image.shape == (3, 3, 20, 20)
    torch.testing.assert_close(image, photo.expand(3, -1, -1, -1), atol=1e-4, rtol=0)


def test_fft_param_gets_gradients():
    image = P.image_param(1, 16, seed=0)
    image()[:, 0].mean().backward()
    assert image.raw.grad is not None and image.raw.grad.abs().sum() > 0


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
