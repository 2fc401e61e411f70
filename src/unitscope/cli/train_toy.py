"""`unitscope train-toy`: retrain the built-in model on the concept world (fixed seeds)."""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from ..models.train_toy import TrainToySettings
from ._common import progress

VERB = "train-toy"
HELP = "train the built-in toy CNN on the concept world (reproducible, CPU, ~15-30 min)"
ORDER = 85


def _default_out() -> Path:
    return Path(str(resources.files("unitscope.models"))) / "weights" / "toy.pt"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="weights file (default: the packaged toy.pt)")
    TrainToySettings.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..models.train_toy import train_toy

    settings = TrainToySettings.from_args(args)
    train_toy(args.out or _default_out(), settings, progress=progress(args),
              log=lambda line: print(line, flush=True))
    return 0
