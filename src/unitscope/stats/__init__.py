"""Streaming, mergeable accumulators: quantiles (sketched, or exact with rescans), top-k examples,
the IoU tally."""

from .iou import IoUTally, LabelBatch
from .quantile import QuantileSketch
from .select import RadixQuantiles
from .topk import TopK, spatial_extreme

__all__ = ["IoUTally", "LabelBatch", "QuantileSketch", "RadixQuantiles", "TopK", "spatial_extreme"]
