"""text-toy vs random weights on a fresh code world: named units and the Karpathy units.

    .venv/bin/python benchmarks/bench_text.py [--chars 100000] [--seed 7]

Dissects the LSTM outputs and memory cells of the trained `text-toy` and of the same architecture
with random weights (seeds 0-2) on one code world never used in training, and prints, side by
side, the units named (|r| >= 0.5), the best |r| per concept, and the units that track bracket
depth or being inside a string with |r| >= 0.8 (Karpathy et al. 2015).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from unitscope import run
from unitscope.dissect import DissectSettings
from unitscope.models import load_model
from unitscope.sequences.corpus import write_code_world


def dissect(model, world: Path, out: Path, layer_name: str) -> dict:
    start = time.perf_counter()
    result = run(model, str(world), DissectSettings(layers=(layer_name,)), out, progress=False)
    layer = result["layers"][layer_name]
    best: dict[str, float] = {}
    for unit in layer["units"]:
        for score in unit["concepts"]:
            best[score["concept"]] = max(best.get(score["concept"], 0.0), abs(score["r"]))
    karpathy = [u["unit"] for u in layer["units"]
                if any(abs(c["r"]) >= 0.8 and c["concept"] in ("bracket_depth", "inside_string")
                       for c in u["concepts"])]
    return {"named": layer["named"], "labels": layer["labels"], "best": best, "karpathy": karpathy,
            "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chars", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        world = write_code_world(Path(tmp) / "world", args.chars, args.seed)
        rows = {}
        trained = load_model("text-toy", device="cpu")
        for layer in ("lstm", "cells"):
            rows[f"trained {layer}"] = dissect(trained, world, Path(tmp) / f"trained-{layer}", layer)
            for seed in range(3):
                model = load_model("text-toy", weights=None, device="cpu", seed=seed)
                out = Path(tmp) / f"random{seed}-{layer}"
                rows[f"random {seed} {layer}"] = dissect(model, world, out, layer)
    concepts = list(rows["trained lstm"]["best"])
    units = trained.module.lstm.hidden_size
    print(f"code world: {args.chars} characters, seed {args.seed}; text-toy, {units} units per layer "
          "(lstm: the output h; cells: the memory cells c)")
    header = "  ".join(f"{c[:14]:>14}" for c in concepts)
    print(f"{'weights':<18} {'named':>5}  {header}  karpathy units")
    for name, row in rows.items():
        print(f"{name:<18} {row['named']:>5}  " + "  ".join(f"{row['best'][c]:>14.3f}" for c in concepts)
              + f"  {len(row['karpathy'])} ({', '.join(row['karpathy'][:4])})")
    for layer in ("lstm", "cells"):
        print(f"trained {layer} labels: " + ", ".join(rows[f"trained {layer}"]["labels"]))
        print(f"dissect time, {layer}: {rows[f'trained {layer}']['seconds']:.1f} s")


if __name__ == "__main__":
    main()
