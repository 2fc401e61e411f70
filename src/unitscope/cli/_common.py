"""What the commands share: the model and its flags, the run directory, and the model verbs'
one shape (`VerbCommand`)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..distributed import launched
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


def rank() -> int:
    """This process's rank under torchrun (0 alone)."""
    return int(os.environ.get("RANK", "0")) if launched() else 0


def progress(args: argparse.Namespace) -> bool:
    """Progress bars unless --quiet or stderr is not a terminal."""
    return not args.quiet and sys.stderr.isatty()


@dataclass(frozen=True)
class VerbCommand:
    """A model verb with a settings class, as a command: MODEL and its flags, the DATA positional
    (metavar, help; None if the verb reads no data), the settings' flags and --out. It builds the
    settings first (a bad flag fails before the model loads), then the model, runs the verb and
    prints `summary(result, out)`."""

    verb: str
    help: str
    order: int
    settings: type[Settings]
    run_verb: Callable[..., Result]
    data: tuple[str, str] | None
    summary: Callable[[Any, str], str]
    extra_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    data_of: Callable[[argparse.Namespace], Any] = lambda args: args.data

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_model_arguments(parser)
        if self.data is not None:
            parser.add_argument("data", metavar=self.data[0], help=self.data[1])
        shared = {f.name for f in dataclasses.fields(ModelSource)}  # e.g. one --seed for both
        self.settings.add_arguments(parser, skip=shared)
        if self.extra_arguments is not None:
            self.extra_arguments(parser)
        add_out_argument(parser)

    def run(self, args: argparse.Namespace) -> int:
        settings = self.settings.from_args(args)
        model = model_from_args(args)
        out = run_dir(args, model)
        result = self.run_verb(model, self.data_of(args), settings, out, progress=progress(args))
        if "shard" in result:
            print(f"{self.verb}: shard {result['shard']} done in {out}; when every shard is done, run "
                  f"`unitscope merge SHARD_OUT... --out DIR`")
        elif rank() == 0:  # under torchrun every rank runs the command; one of them reports
            own = getattr(result, "summary", None)  # tabular and text results say their own
            print(own(out) if callable(own) else self.summary(result, out))
        return 0
