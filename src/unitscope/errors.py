"""User errors: one-line, actionable messages that the CLI prints before exiting with 2.

Bugs may raise tracebacks; user mistakes raise a `UnitscopeError` subclass instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UnitscopeError(Exception):
    """A mistake in what the user asked for; the message says what was wrong and how to fix it."""


class UnknownModelError(UnitscopeError):
    """The model spec names nothing unitscope can build."""


class UnknownLayerError(UnitscopeError):
    """A layer name is not a module of the model."""


class UnitOutOfRangeError(UnitscopeError):
    """A channel index is past the layer's channel count."""


class BadUnitError(UnitscopeError):
    """A unit address does not follow the grammar `layer[:channels][@x,y]`."""


class CheckpointError(UnitscopeError):
    """A weights file cannot be read or does not fit the architecture."""


class DataError(UnitscopeError):
    """A dataset, image or CSV file is missing, empty or malformed."""


class BadInputError(UnitscopeError):
    """An argument value is outside what the method can work with."""


def closest(name: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """The `n` candidates most similar to `name`, so an error can suggest what was meant."""
    pool = list(candidates)
    matches = difflib.get_close_matches(name, pool, n=n, cutoff=0.0)
    return matches[:n]


def unknown_layer(name: str, candidates: Iterable[str]) -> UnknownLayerError:
    """An error for an unknown layer that lists the five closest valid names."""
    near = ", ".join(closest(name, candidates))
    return UnknownLayerError(
        f"unknown layer '{name}'; closest layers: {near} (run `unitscope layers MODEL` for all)"
    )
