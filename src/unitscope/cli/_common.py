"""Arguments shared by several verbs: the model and its flags, and the run directory."""

from __future__ import annotations

import argparse
import sys

from ..models import Model
from ..models.source import ModelSource
from ..run import default_out


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """MODEL positional plus --weights/--arch/--device."""
    ModelSource.add_arguments(parser)


def model_from_args(args: argparse.Namespace) -> Model:
    """Load the model named by the shared arguments."""
    return ModelSource.from_args(args).load()


def add_out_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="run directory (default runs/<model>)")


def run_dir(args: argparse.Namespace, model: Model) -> str:
    """`--out`, or `runs/<model name>` with the name made safe as a folder name."""
    return str(default_out(args.out, model.name))


def progress(args: argparse.Namespace) -> bool:
    """Progress bars unless --quiet or stderr is not a terminal."""
    return not args.quiet and sys.stderr.isatty()
