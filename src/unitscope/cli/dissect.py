"""`unitscope dissect MODEL BRODEN LAYERS...`: Network Dissection of some layers."""

from __future__ import annotations

import argparse

from ..dissect import DissectSettings
from ..dissect import run as dissect
from ._common import add_verb_arguments, run_verb

VERB = "dissect"
HELP = "label units with concepts by IoU against a Broden-format dataset (Network Dissection)"
ORDER = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_verb_arguments(parser, DissectSettings, ("BRODEN", "a Broden-format directory (index.csv, ...)"))


def run(args: argparse.Namespace) -> int:
    result, out = run_verb(args, DissectSettings, dissect, args.data)
    for layer, entry in result["layers"].items():
        unique = entry["unique_detectors"]
        line = (f"{layer}: {entry['detectors']}/{entry['units_total']} detectors, "
                f"{unique['distinct_top_labels']} unique labels ({unique['per_category_sum']} per-category)")
        base = result.get("baseline_random", {}).get("layers", {}).get(layer)
        if base:
            line += f"; random weights: {base['detectors']} detectors, " \
                    f"{base['unique_detectors']['distinct_top_labels']} unique"
        print(line)
    if result.get("rotation"):
        print("rotation   layer      alpha  detectors  unique")
        for e in result["rotation"]:
            print(f"           {e['layer']:<10} {e['alpha']:<6g} {e['detectors']:>9}  {e['unique']:>6}")
    print(f"dissect: wrote {out}/dissect/dissect.json")
    return 0
