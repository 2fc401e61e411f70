"""The `unitscope` command: argument parsing only; each verb lives in its own module here.

A model verb module defines COMMAND, a `_common.VerbCommand` (name, help, settings class, the
verb's `run`, its DATA argument and summary line); other commands define VERB, HELP, ORDER,
`add_arguments(parser)` and `run(args)`. Modules are found by scanning this package, so adding
a verb touches no other file.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import pkgutil
import sys
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from ..distributed import leave
from ..errors import UnitscopeError


class _Plain:
    """A command module that parses and runs itself (VERB, HELP, ORDER, add_arguments, run)."""

    def __init__(self, module: ModuleType) -> None:
        self.verb, self.help, self.order = module.VERB, module.HELP, getattr(module, "ORDER", 100)
        self.add_arguments, self.run = module.add_arguments, module.run


def _commands() -> list[Any]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "COMMAND"):
            found.append(module.COMMAND)
        elif hasattr(module, "VERB"):
            found.append(_Plain(module))
    return sorted(found, key=lambda c: (c.order, c.verb))


def build_parser() -> argparse.ArgumentParser:
    """The full parser with one sub-parser per verb."""
    parser = argparse.ArgumentParser(
        prog="unitscope",
        description="See what the units of a neural network have learned.",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for command in _commands():
        verb = sub.add_parser(command.verb, help=command.help, description=command.help)
        command.add_arguments(verb)
        verb.set_defaults(_run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print one line on stderr and exit with 2."""
    args = build_parser().parse_args(argv)
    with _notes(shown=not args.quiet):
        try:
            return _run(args)
        finally:
            leave()  # the process group of a torchrun job, closed on every way out


def _run(args: argparse.Namespace) -> int:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            code = args._run(args)
    except UnitscopeError as exc:
        # one write of the whole line: the ranks of a torchrun job share stderr, and print's two
        # writes (text, then newline) let their lines run together
        sys.stderr.write(f"unitscope: error: {exc}\n")
        sys.stderr.flush()
        return 2
    except KeyboardInterrupt:
        print("unitscope: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `unitscope layers MODEL | head`: the reader has all it wanted
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - replaced for the interpreter's exit flush
        return 0
    return int(code or 0)


@contextlib.contextmanager
def _notes(shown: bool) -> Iterator[None]:
    """The library logs its notes (e.g. that a run resumes); the command shows them on stderr
    unless --quiet, and leaves logging as it found it."""
    logger = logging.getLogger("unitscope")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = logger.level
    if shown:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


if __name__ == "__main__":
    sys.exit(main())
