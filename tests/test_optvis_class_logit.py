"""class_logit on the trained toy: optimization lifts one class far above its value on noise."""

import torch

from unitscope import load_model
from unitscope.optvis import class_logit, render


def test_class_logit_rises_far_above_noise():
    model = load_model("toy")
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
