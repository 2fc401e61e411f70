"""`unitscope dissect MODEL BRODEN LAYERS...`: Network Dissection of some layers."""

from __future__ import annotations

import argparse

from ..errors import BadInputError
from ._common import add_model_arguments, model_from_args, run_dir

VERB = "dissect"
HELP = "label units with concepts by IoU against a Broden-format dataset (Network Dissection)"
ORDER = 40


def _alphas(text: str) -> list[float]:
    try:
        return [float(a) for a in text.split(",") if a.strip()]
    except ValueError:
        raise BadInputError(f"--rotation '{text}' is not a comma-separated list of numbers") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("broden", metavar="BRODEN", help="a Broden-format directory (index.csv, ...)")
    parser.add_argument("layers", metavar="LAYERS", nargs="+", help="layer names (spaces or commas)")
    parser.add_argument("--quantile", type=float, default=0.005,
                        help="top fraction per unit (0.005); thresholds are exact quantiles")
    parser.add_argument("--iou-threshold", type=float, default=0.04, help="detector if IoU > this (0.04)")
    parser.add_argument("--rotation", help="alphas for the random-basis test, e.g. 0,0.2,0.4,0.6,0.8,1")
    parser.add_argument("--negative", action="store_true", help="dissect the bottom quantile too")
    parser.add_argument("--baseline", choices=["random"], help="also dissect the model with random weights")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--checkpoint-every", type=int, default=20, help="batches between checkpoints")
    parser.add_argument("--resume", action="store_true", help="continue a killed run from its checkpoint")
    parser.add_argument("--size", type=int, help="resize images to this size (default: as stored)")
    parser.add_argument("--workers", type=int, default=0, help="data loading processes (default 0)")
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], default=None)
    parser.add_argument("--top-k", type=int, default=5, help="masked top images per unit (5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the rotation and random baseline")
    parser.add_argument("--out", help="run directory (default runs/<model>)")


def run(args: argparse.Namespace) -> int:
    from ..dissect import run_dissect

    layers = [name for text in args.layers for name in text.split(",") if name]
    alphas = _alphas(args.rotation) if args.rotation else None
    model = model_from_args(args)
    out = run_dir(args, model)
    result = run_dissect(
        model, args.broden, layers, out, quantile=args.quantile, iou_threshold=args.iou_threshold,
        rotation=alphas, negative=args.negative, baseline=args.baseline, batch_size=args.batch_size,
        checkpoint_every=args.checkpoint_every, resume=args.resume,
        progress=not args.quiet, top_k=args.top_k, seed=args.seed, precision=args.precision,
        workers=args.workers, size=args.size)
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
