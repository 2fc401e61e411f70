"""`unitscope compose MODEL IMAGE`: the feature-composition tree of one unit on one image."""

from __future__ import annotations

from ..compose import pipeline
from ._common import VerbCommand


def _summary(result: pipeline.ComposeResult, out: str) -> str:
    return (f"compose: {len(result['nodes'])} nodes under {result['root']} reaching "
            f"{result.layers_reached()[0]}; open {out}/{result['html']}")


COMMAND = VerbCommand("compose", "tree of the lower units that built one unit's response on an image", 50,
                      pipeline.ComposeSettings, pipeline.run,
                      ("IMAGE", "image file (resized to the model's size)"), _summary)
