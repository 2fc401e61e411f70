"""Rendering (optvis/render.py) on the built-in toy: it must beat what data and noise reach.

Olah et al. 2017: optimized images excite a unit more than the best dataset image does, against
concept-world images; a quick sample here, all conv5 units against 2000 images in
benchmarks/bench_visualize.py --olah. And class_logit: optimization lifts one class far above
its value on noise.
"""

import numpy as np
import pytest
import torch

from helpers.nets import toy
from unitscope.optvis import channel, class_logit, render
from unitscope.probe import record

N_IMAGES = 256
N_UNITS = 10
STEPS = 128


def concept_images(n: int, size: int = 128) -> torch.Tensor:
    """n concept-world images as [n, 3, size, size] in [0, 1]."""
    world = pytest.importorskip("unitscope.data.concepts.world")
    arrays = np.stack([world.render_sample(0, i, size).image for i in range(n)])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 255


def best_dataset_activation(model, images: torch.Tensor, layer: str) -> torch.Tensor:
    """Per channel, the highest mean-over-positions activation over the images."""
    best = None
    with torch.no_grad():
        for start in range(0, len(images), 64):
            x = model.input_spec.normalize(images[start:start + 64])
            acts = record(model.module, x, [layer])[layer].float().flatten(2).mean(2)
            batch_best = acts.max(0).values
            best = batch_best if best is None else torch.maximum(best, batch_best)
    return best


def test_optimized_images_beat_the_best_concept_image():
    model = toy()
    best = best_dataset_activation(model, concept_images(N_IMAGES), "conv5")
    responsive = torch.nonzero(best > 0).flatten()  # a unit silent on all data has no best image
    units = responsive[torch.linspace(0, len(responsive) - 1, N_UNITS).long()].tolist()
    result = render(model, channel("conv5", units), steps=STEPS, progress=False)
    wins = int((result.values > best[units]).sum())
    assert wins >= 9, (units, result.values.tolist(), best[units].tolist())  # >= 90 %


def test_class_logit_rises_far_above_noise():
    model = toy()
    target = model.class_names.index("house") if model.class_names else 0
    result = render(model, class_logit(target), batch=1, steps=96, seed=0, progress=False,
                    precision="fp32")
    noise = torch.rand(64, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        noise_logits = model(noise)[:, target]
        optimized = model(result.images)[0, target]
    spread = noise_logits.std().clamp_min(1e-3)
    assert optimized > noise_logits.max()
    assert (optimized - noise_logits.mean()) / spread > 10
    assert float(result.values[0]) > float(noise_logits.max())
