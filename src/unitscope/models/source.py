"""Which model to load and where: the MODEL argument and its flags, shared by every model verb."""

from __future__ import annotations

from dataclasses import dataclass

from ..devices import DEVICE_HELP
from ..settings import Settings, option, seed_option
from .loading import load_model
from .spec import Model


@dataclass(frozen=True)
class ModelSource(Settings):
    """A model spec plus its weights, architecture (for checkpoints) and device."""

    model: str = option(help="'toy', a torchvision name (resnet18, vit_b_16), 'timm:NAME', 'hf:FOLDER' (a "
                        "local transformers model), 'pkg.module:factory' or a .pt path",
                        positional=True, metavar="MODEL")
    weights: str = option("DEFAULT", "'DEFAULT' (trained weights), 'none' (random) or a state_dict .pt path")
    arch: str | None = option(None, "architecture name when MODEL is a checkpoint path")
    device: str = option("auto", DEVICE_HELP)
    seed: int = seed_option("random seed: of random weights (--weights none), and of the verb's own draws")
    allow_download: bool = option(False, "download published weights missing from the local cache "
                                  "(otherwise nothing is downloaded)")

    def load(self) -> Model:
        """The model, in eval mode on `device`."""
        weights = None if str(self.weights).lower() == "none" else self.weights
        model = load_model(self.model, weights=weights, arch=self.arch, device=self.device, seed=self.seed,
                           allow_download=self.allow_download)
        model.source = self.to_dict()  # how to load it again (`unitscope merge` does)
        return model
