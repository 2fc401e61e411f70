"""`unitscope train-toy`: retrain the built-in model on the concept world (fixed seeds)."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from ..errors import BadInputError

VERB = "train-toy"
HELP = "train the built-in toy CNN on the concept world (reproducible, CPU, ~15-30 min)"
ORDER = 85


def _default_out() -> Path:
    return Path(str(resources.files("unitscope.models"))) / "weights" / "toy.pt"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="weights file (default: the packaged toy.pt)")
    parser.add_argument("--images", type=int, default=30000, help="training images (default 30000)")
    parser.add_argument("--epochs", type=int, default=8, help="passes over them (default 8)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak AdamW learning rate")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and shuffling seed")
    parser.add_argument("--workers", type=int, default=2, help="processes drawing images")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch threads (default 1: the shipped weights' setting; 2 is ~2x faster when idle)",
    )
    parser.add_argument("--snapshots", action="store_true", help="also write OUT.epochN each epoch")


def run(args: argparse.Namespace) -> int:
    from ..models.train_toy import train_toy

    for name in ("images", "epochs", "batch_size", "workers"):
        if getattr(args, name) < 1:
            raise BadInputError(f"--{name.replace('_', '-')} must be at least 1")
    out = args.out or _default_out()
    train_toy(
        out,
        images=args.images,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        workers=args.workers,
        threads=args.threads,
        snapshots=args.snapshots,
        progress=not args.quiet and sys.stderr.isatty(),
        log=lambda line: print(line, flush=True),
    )
    return 0
