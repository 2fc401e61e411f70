"""Streaming, mergeable accumulators: quantiles, top-k examples, the IoU tally."""

from .iou import IoUTally, LabelBatch
from .quantile import QuantileSketch
from .topk import TopK, spatial_extreme

__all__ = ["IoUTally", "LabelBatch", "QuantileSketch", "TopK", "spatial_extreme"]
