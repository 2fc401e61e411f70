"""`unitscope examples MODEL DATA UNITS...`: top and bottom dataset examples per unit."""

from __future__ import annotations

from .. import examples
from ._common import VerbCommand

DATA = ("DATA", "a folder of images or a Broden-format directory; for tabular models a CSV table or "
        "breast-cancer; for text models a corpus folder or a UTF-8 .txt file")

COMMAND = VerbCommand(
    "examples", "the dataset images and patches that excite each unit most and least", 30,
    examples.ExamplesSettings, examples.run, DATA,
    lambda result, out: f"examples: {len(result['units'])} units in {out}/examples/examples.json")
