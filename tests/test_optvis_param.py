"""Image parameterizations (optvis/param.py): Lucid's constants, a grey random start, an exact photo start."""

import pytest
import torch

from unitscope.optvis import param as P


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
