"""Streaming, mergeable accumulators: exact quantiles (radix counts plus rescans), top-k examples,
the IoU tally."""

from .iou import IoUTally, LabelBatch
from .select import RadixQuantiles
from .topk import TopK, spatial_extreme

__all__ = ["IoUTally", "LabelBatch", "RadixQuantiles", "TopK", "spatial_extreme"]
