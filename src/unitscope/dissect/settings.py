"""`DissectSettings`: the flags of `unitscope dissect`, checked once; a resume must match them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..settings import (
    Settings,
    batch_size_option,
    option,
    precision_option,
    seed_option,
    split_names,
    top_k_option,
    workers_option,
)


@dataclass(frozen=True)
class DissectSettings(Settings):
    """Which layers, how units are binarized and labelled, and how the run is carried out."""

    VERB: ClassVar[str] = "dissect"
    layers: tuple[str, ...] = option((), "layer names (spaces or commas)", positional=True, metavar="LAYERS")
    quantile: float = option(0.005, "top fraction of each unit's activations; thresholds are exact "
                             "quantiles", above=0, below=0.5)
    iou_threshold: float = option(0.04, "a unit is a detector if its best IoU is above this", low=0, high=1)
    rotation: tuple[float, ...] = option((), "alphas of the random-basis test, e.g. 0,0.2,0.4,0.6,0.8,1",
                                         low=0, high=1)
    negative: bool = option(False, "dissect the bottom quantile too")
    baseline: str | None = option(None, "also dissect the model with random weights", choices=("random",))
    batch_size: int = batch_size_option(32)
    checkpoint_every: int = option(20, "batches between checkpoints at most (a run is cut into about 64 "
                                   "chunks, each saved when done)", low=1, fingerprint=False)
    resume: bool = option(False, "continue a killed run from its checkpoint (with any number of "
                          "processes)", fingerprint=False, record=False)
    shard: str | None = option(None, "do shard I/N of pass 1 only, as one job of an array; "
                               "`unitscope merge` finishes the run", metavar="I/N", fingerprint=False,
                               record=False)
    size: int | None = option(None, "resize images to this size (default: as stored)", low=1)
    workers: int | None = workers_option()
    precision: str | None = precision_option(None)
    top_k: int = top_k_option(5, "masked top images per unit", low=0)
    seed: int = seed_option("seed of the rotation and of the random baseline")

    def __post_init__(self) -> None:
        # 'conv3,conv5' as one string is a list too, as on the command line
        object.__setattr__(self, "layers", split_names(self.layers))
        super().__post_init__()

    def alphas(self) -> list[float]:
        """The bases dissected, in order: the layer's own (0) and each rotation alpha."""
        return sorted({0.0, *(float(a) for a in self.rotation)})
