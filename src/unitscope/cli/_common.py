"""Arguments shared by several verbs: the model and its flags, and the run directory."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ..models import Model
from ..models.source import ModelSource
from ..result import Result
from ..rundir import default_out
from ..settings import Settings


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


def add_verb_arguments(parser: argparse.ArgumentParser, settings: type[Settings],
                       data: tuple[str, str] | None = None) -> None:
    """MODEL and its flags, the verb's DATA positional (metavar, help), the settings' flags, --out."""
    add_model_arguments(parser)
    if data is not None:
        parser.add_argument("data", metavar=data[0], help=data[1])
    settings.add_arguments(parser)
    add_out_argument(parser)


def run_verb(args: argparse.Namespace, settings: type[Settings], verb: Callable[..., Result],
             data: Any) -> tuple[Result, str]:
    """Settings first (a bad flag fails before the model loads), then the model, then the verb."""
    chosen = settings.from_args(args)
    model = model_from_args(args)
    out = run_dir(args, model)
    return verb(model, data, chosen, out, progress=progress(args)), out
