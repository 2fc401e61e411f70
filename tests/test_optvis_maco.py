"""MACO (optvis/maco.py): only the phase moves, planted units come out right, the spectrum is
estimated from local images, and the transparency map shows where a unit looks."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from helpers.broden import concept_world
from helpers.cli import cli_error
from helpers.nets import REDNESS, pointwise, sequential
from unitscope.cli import main
from unitscope.data.concepts import render_sample
from unitscope.errors import BadInputError, DataError
from unitscope.imageio import load_image
from unitscope.optvis import VisualizeSettings, channel, maco_param, magnitude_spectrum, render, run
from unitscope.optvis.maco import spectrum
from unitscope.optvis.param import COLOR_MATRIX, _mix

FAST = {"param": "maco", "size": 32, "lr": 0.1, "precision": "fp32", "progress": False}


def red_detector():
    """color:0 = R - (G + B) / 2 at every pixel: the best image is red."""
    return sequential(32, color=pointwise([REDNESS]))


class LeftHalf(nn.Module):
    """Zeroes the right half of the image: units after it cannot see there."""

    def forward(self, x):
        keep = torch.zeros_like(x[:1, :1])
        keep[..., : x.shape[-1] // 2] = 1
        return x * keep


def test_only_the_phase_is_optimized():
    magnitude = spectrum(None, 32)
    image = maco_param(2, 32, magnitude, seed=4)
    start = image.raw.detach().clone()
    optimizer = torch.optim.Adam(image.params, lr=0.2)
    for _ in range(10):
        optimizer.zero_grad()
        (-(image()[:, 0] - image()[:, 1:].mean(1)).mean()).backward()
        optimizer.step()
    assert (image.raw - start).abs().max() > 0.5  # the phases moved...
    found = torch.fft.rfft2(image.spatial().detach(), norm="ortho").abs()
    free = ~image.real  # ...the magnitude did not: exactly the template at every bin but the
    torch.testing.assert_close(found[..., free], magnitude.expand_as(found)[..., free],  # real ones
                               rtol=1e-4, atol=1e-5)
    assert (found[..., image.real] <= magnitude.expand_as(found)[..., image.real] + 1e-4).all()


def test_rendered_images_have_the_template_spectrum():
    """The final [0, 1] images, undone (logit, unmix), have the template magnitude up to one scale
    per image (the standardization) at every bin but the real ones (the mean colour lives there)."""
    result = render(red_detector(), channel("color", [0, 0]), steps=12, **FAST)
    magnitude = spectrum(None, 32)
    z = _mix(torch.logit(result.images.double()), torch.linalg.inv(COLOR_MATRIX.double()))
    found = torch.fft.rfft2(z, norm="ortho").abs().float()
    real = maco_param(1, 32, magnitude).real
    ratio = (found / magnitude)[..., ~real].flatten(1)
    assert (ratio.std(1) / ratio.mean(1)).max() < 1e-3


def test_planted_red_detector_renders_red_and_its_objective_rises():
    objective = channel("color", [0, 0, 0, 0])  # four elements, four random starting phases
    start = render(red_detector(), objective, steps=0, **FAST)
    end = render(red_detector(), objective, steps=32, **FAST)
    assert (end.values > start.values + 0.03).all(), (start.values, end.values)
    r, g, b = end.images.mean((2, 3)).T
    assert (r > g + 0.15).all() and (r > b + 0.15).all()


def test_same_seed_same_image_other_seed_other_image():
    objective = channel("color", [0, 0])
    one = render(red_detector(), objective, steps=4, seed=7, **FAST)
    two = render(red_detector(), objective, steps=4, seed=7, **FAST)
    other = render(red_detector(), objective, steps=4, seed=8, **FAST)
    assert torch.equal(one.images, two.images) and torch.equal(one.alpha, two.alpha)
    assert not torch.equal(one.images, other.images)
    assert not torch.equal(one.images[0], one.images[1])  # each element its own phase


def stripes(folder, n=6, size=40):
    """Horizontal stripes: brightness varies along y only, random periods, phases and colours."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    y = np.arange(size)[:, None, None]
    for i in range(n):
        wave = 0.5 + 0.5 * np.sin(2 * np.pi * y / rng.uniform(3, 12) + rng.uniform(0, 6))
        rgb = np.broadcast_to(wave * rng.uniform(0.3, 1.0, 3), (size, size, 3))
        Image.fromarray((rgb * 255).round().astype(np.uint8)).save(folder / f"s{i}.png")
    return folder


def vertical_axis_share(magnitude):
    """The share of the non-DC energy on the kx = 0 column (vertical frequencies only)."""
    energy = magnitude.pow(2).sum(0)
    energy[0, 0] = 0
    return float(energy[:, 0].sum() / energy.sum())


def test_spectrum_of_horizontal_stripes_lies_on_the_vertical_frequency_axis(tmp_path):
    folder = stripes(tmp_path / "stripes")
    mine = spectrum(folder, 32)
    world = spectrum(None, 32)
    assert mine.shape == world.shape == (3, 32, 17)
    assert vertical_axis_share(mine) > 0.999
    assert vertical_axis_share(world) < 0.8  # its sky/ground bands are horizontal too, its objects not
    # MACO images drawn from it are stripes too: nothing changes along x.
    spatial = maco_param(2, 32, mine, seed=1).spatial().detach()
    dx = (spatial[..., 1:] - spatial[..., :-1]).pow(2).sum()
    dy = (spatial[..., 1:, :] - spatial[..., :-1, :]).pow(2).sum()
    assert dx < 1e-6 * dy
    # The function behind it: the same estimate from the images (read at 32 px) as a tensor.
    images = torch.stack([load_image(p, 32) for p in sorted(folder.iterdir())])
    torch.testing.assert_close(magnitude_spectrum(images, 32, decorrelate=True), mine)


def test_spectrum_from_a_broden_dir_and_refusals(tmp_path):
    broden = concept_world(tmp_path / "world", n=3, size=32)
    assert spectrum(broden, 24).shape == (3, 24, 13)
    with pytest.raises(DataError, match="does not exist"):
        spectrum(tmp_path / "nowhere", 24)
    black = tmp_path / "black"
    black.mkdir()
    Image.new("RGB", (8, 8)).save(black / "b.png")
    with pytest.raises(DataError, match="all black"):
        spectrum(black, 24)
    with pytest.raises(BadInputError, match="--maco-spectrum only applies to --param maco"):
        VisualizeSettings(units=("conv:0",), maco_spectrum=str(broden))


def test_alpha_is_high_where_the_unit_looks():
    model = sequential(32, left=LeftHalf(), color=pointwise([REDNESS]))
    objective = channel("color", [0, 0])
    result = render(model, objective, steps=8, transforms=False, **FAST)
    alpha = result.alpha
    assert alpha.shape == (2, 32, 32) and alpha.min() >= 0 and alpha.max() == 1
    assert (alpha[..., :16] > 0).all() and (alpha[..., 16:] == 0).all()  # gradients only on the left
    moved = render(model, objective, steps=8, **{**FAST, "size": 40})  # jitter, scale, rotate
    assert moved.alpha.shape == (2, 40, 40)
    left, right = moved.alpha[..., :20].mean((1, 2)), moved.alpha[..., 20:].mean((1, 2))
    assert (left > 3 * right).all(), (left, right)
    assert render(model, objective, steps=2, size=32, progress=False).alpha is None  # fft: none


def test_a_photo_start_keeps_its_layout():
    """MACO starts from a photo's phase: with the template's magnitude, its layout survives."""
    photo = torch.from_numpy(render_sample(5, 0, 32).image).permute(2, 0, 1) / 255.0
    start = render(red_detector(), channel("color", 0), steps=0, init_image=photo, **FAST).images[0]
    noise = render(red_detector(), channel("color", 0), steps=0, **FAST).images[0]
    assert correlation(start, photo) > 0.6 and abs(correlation(noise, photo)) < 0.3


def correlation(a, b):
    """Pearson correlation of two images' layouts (each colour plane's own mean removed)."""
    a, b = (x - x.mean((1, 2), keepdim=True) for x in (a, b))
    return float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])


def test_cli_writes_images_and_alpha_maps(tmp_path, capsys):
    out = tmp_path / "run"
    folder = stripes(tmp_path / "stripes")
    code = main(["--quiet", "visualize", "helpers.nets:rednet", "conv1:0-1", "--param", "maco",
                 "--maco-spectrum", str(folder), "--steps", "3", "--size", "24", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    data = json.loads((out / "visualize/visualize.json").read_text())
    assert data["settings"]["param"] == "maco" and data["settings"]["maco_spectrum"] == str(folder)
    for channel_index, entry in enumerate(data["units"]):
        assert entry["image"] == f"visualize/conv1/{channel_index}.png"
        assert entry["alpha"] == f"visualize/conv1/{channel_index}_alpha.png"
        with Image.open(out / entry["image"]) as image, Image.open(out / entry["alpha"]) as alpha:
            assert image.size == alpha.size == (24, 24) and alpha.mode == "L"
    err = cli_error(capsys, ["--quiet", "visualize", "helpers.nets:rednet", "conv1:0", "--maco-spectrum",
                             str(folder), "--out", str(out)])
    assert "--maco-spectrum only applies to --param maco" in err
    err = cli_error(capsys, ["--quiet", "visualize", "helpers.nets:rednet", "conv1:0", "--param", "maco",
                             "--maco-spectrum", str(tmp_path / "nowhere"), "--steps", "1", "--out", str(out)])
    assert "nowhere" in err


def test_python_run_lists_alpha_files_and_column(tmp_path):
    settings = VisualizeSettings(units=("color:0",), param="maco", steps=2, size=32)
    result = run(red_detector(), None, settings, tmp_path, progress=False)
    alpha = tmp_path / "visualize/color/0_alpha.png"
    assert alpha in result.files and alpha.is_file()
    assert result.to_pandas()["alpha"].tolist() == ["visualize/color/0_alpha.png"]
