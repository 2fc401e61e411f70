"""`unitscope visualize MODEL UNITS`: feature visualization by optimization into a run dir."""

from __future__ import annotations

import argparse

from ..errors import BadInputError
from ..optvis import visualize_units
from ._common import add_model_arguments, model_from_args, run_dir

VERB = "visualize"
HELP = "render the image each unit wants most (and least) by optimization"
ORDER = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("units", nargs="+", metavar="UNITS",
                        help="unit addresses: conv5 (all channels), conv5:3, conv5:0-63, fc8:2")
    parser.add_argument("--steps", type=int, default=512, help="optimization steps (512)")
    parser.add_argument("--size", type=int, default=128, help="image size in pixels (128)")
    parser.add_argument("--batch", type=int, help="images optimized together (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--lr", type=float, default=0.05, help="Adam learning rate (0.05)")
    parser.add_argument("--negative", action="store_true",
                        help="also render the image that drives each unit most negative")
    parser.add_argument("--diversity", type=float, default=0.0, metavar="W",
                        help="weight of the diversity term between variants of a unit")
    parser.add_argument("--variants", type=int, metavar="N",
                        help="images per unit (default 4 with --diversity, else 1)")
    parser.add_argument("--from-image", metavar="PATH",
                        help="start from this photo instead of noise (DeepDream-style)")
    parser.add_argument("--param", choices=("fft", "pixel"), default="fft",
                        help="image parameterization (fft)")
    parser.add_argument("--no-transforms", action="store_true",
                        help="no pad/jitter/scale/rotate robustness transforms")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default=None,
                        help="bf16 autocast where supported (auto) or fp32")
    parser.add_argument("--out", help="run directory (default runs/<model>)")


def run(args: argparse.Namespace) -> int:
    if args.size < 1:
        raise BadInputError(f"--size must be a positive number of pixels, got {args.size}")
    model = model_from_args(args)
    variants = args.variants or (4 if args.diversity else 1)
    out = run_dir(args, model)
    data = visualize_units(
        model, args.units, out, steps=args.steps, size=args.size, batch=args.batch,
        seed=args.seed, negative=args.negative, diversity=args.diversity, n_variants=variants,
        from_image=args.from_image, progress=not args.quiet, precision=args.precision,
        lr=args.lr, param=args.param, transforms=None if args.no_transforms else "standard",
    )
    print(f"visualize: {len(data['units'])} images in {out}/visualize "
          f"(sheets: {', '.join(data['sheets'])})")
    return 0
