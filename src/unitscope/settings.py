"""Verb settings: one frozen dataclass per verb, so defaults and validation are written once.

A field's `option(...)` metadata says how it appears on the command line (flag, help, range,
choices); from the same class come the CLI flags (`add_arguments`, `from_args`), the
`settings` block each verb writes into its JSON (`to_dict`) and dissect's resume fingerprint
(`fingerprint`). A bad value is refused when the object is built, with one line naming the
flag and the valid range, so the CLI and the Python API fail alike.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from .errors import BadInputError

S = TypeVar("S", bound="Settings")
MISSING = dataclasses.MISSING


@dataclass(frozen=True)
class Option:
    """How one settings field is checked and spelled on the command line."""

    help: str
    flag: str | None = None  # default: --field-name
    positional: bool = False
    metavar: str | None = None
    low: float | None = None  # inclusive bounds
    high: float | None = None
    above: float | None = None  # exclusive bounds
    below: float | None = None
    choices: tuple[Any, ...] | None = None
    aliases: tuple[str, ...] = ()  # earlier spellings, accepted but not shown
    fingerprint: bool = True  # part of a resumable run's identity
    record: bool = True  # written in the verb's JSON (not how a run was carried out: --resume)
    cli: bool = True
    show_default: bool = True


def option(default: Any = MISSING, help: str = "", **spec: Any) -> Any:
    """A settings field with its default and its `Option` (see there for the keywords)."""
    return dataclasses.field(default=default, metadata={"option": Option(help=help, **spec)})


@dataclass(frozen=True)
class Settings:
    """Base of every verb's settings: checks each field's range on construction."""

    VERB: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            spec = f.metadata.get("option")
            value = _coerce(getattr(self, f.name), hints[f.name], _where(f.name, spec or Option("")))
            object.__setattr__(self, f.name, value)
            if spec is not None:
                _check(value, f, spec, hints[f.name])
        self.check()

    def check(self) -> None:
        """Rules between fields; a subclass raises `BadInputError` naming the flags."""

    def replace(self: S, **changes: Any) -> S:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON values: the `settings` block of the verb's JSON (without the ones
        that say how a run was carried out, such as --resume, so resumed runs write the same)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.metadata.get("option", Option("")).record}

    def fingerprint(self) -> dict[str, Any]:
        """The fields that decide a resumable run's content (not e.g. --workers)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.metadata.get("option", Option("")).fingerprint}

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, skip: Collection[str] = ()) -> None:
        """One argument per CLI field, help and default taken from the dataclass; fields named in
        `skip` are left out (another settings class of the same command defines them)."""
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            spec = f.metadata.get("option")
            if spec is not None and spec.cli and f.name not in skip:
                _add_argument(parser, f, spec, hints[f.name])

    @classmethod
    def from_args(cls: type[S], args: argparse.Namespace, **extra: Any) -> S:
        """The settings named by parsed arguments (fields the CLI lacks keep their defaults)."""
        values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
                  if f.init and hasattr(args, f.name)}
        return cls(**{**values, **extra})

    @classmethod
    def flags(cls) -> list[tuple[str, str, str, str]]:
        """(flag, default, allowed values, help) of every optional CLI field, for the README."""
        rows = []
        hints = _hints(cls)
        for f in dataclasses.fields(cls):
            spec = f.metadata.get("option")
            if spec is None or not spec.cli or spec.positional:
                continue
            rows.append((flag_of(f.name, spec), _default_text(f), _values(spec, hints[f.name]), spec.help))
        return rows


def flag_of(name: str, spec: Option) -> str:
    """The CLI spelling of a field: its own flag, or --field-name."""
    return spec.flag or "--" + name.replace("_", "-")


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _base_type(hint: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed) for `X | None` hints."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else hint), len(rest) < len(args)
    return hint, False


def _sequence_item(hint: Any) -> Any | None:
    """The item type of a `tuple[X, ...]` hint, else None."""
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        return args[0] if args else str
    return None


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Lists become tuples (settings are frozen), a lone string a one-item tuple (or, for numbers,
    a comma-separated list as typed on the command line), paths strings."""
    base, _ = _base_type(hint)
    item = _sequence_item(base)
    if item in (int, float) and isinstance(value, str):
        return _numbers(value, item, where)
    if item is not None and value is not None:
        if isinstance(value, (str, Path, int, float)):
            value = (value,)
        return tuple(str(v) if isinstance(v, Path) else v for v in value)
    if isinstance(value, Path) and base is str:
        return str(value)
    return value


def _numbers(text: str, kind: type, where: str) -> tuple:
    try:
        return tuple(kind(part.strip()) for part in text.split(",") if part.strip())
    except ValueError:
        raise BadInputError(f"{where} '{text}' is not a comma-separated list of numbers") from None


def _where(name: str, spec: Option) -> str:
    return spec.flag or ("--" + name.replace("_", "-")) if not spec.positional else name.upper()


def _check(value: Any, f: dataclasses.Field, spec: Option, hint: Any) -> None:
    base, optional = _base_type(hint)
    if value is None:
        if optional:
            return
        raise BadInputError(f"{_where(f.name, spec)} needs a value")
    item = _sequence_item(base)
    for v in value if item is not None else (value,):
        _check_one(v, f.name, spec, item if item is not None else base)


def _check_one(value: Any, name: str, spec: Option, kind: Any) -> None:
    where = _where(name, spec)
    if kind is bool and not isinstance(value, bool):
        raise BadInputError(f"{where} must be true or false, got {value!r}")
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                kind is int and not float(value).is_integer()):
            noun = "an integer" if kind is int else "a number"
            raise BadInputError(f"{where} must be {noun}, got {value!r}")
        if not math.isfinite(value):
            allowed = _allowed(spec)
            finite = "a finite number" + ("" if allowed == "a finite number" else f" {allowed}")
            raise BadInputError(f"{where} must be {finite}, got {value}")
        _check_range(value, where, spec)
    if spec.choices is not None and value not in spec.choices:
        raise BadInputError(f"{where} '{value}' is unknown; use one of {', '.join(map(str, spec.choices))}")


def _allowed(spec: Option) -> str:
    """The valid range in words: 'at least 1', 'in (0, 0.5)', 'a finite number'."""
    lo = f"[{spec.low:g}" if spec.low is not None else (
        f"({spec.above:g}" if spec.above is not None else "")
    hi = f"{spec.high:g}]" if spec.high is not None else (
        f"{spec.below:g})" if spec.below is not None else "")
    if lo and hi:
        return f"in {lo}, {hi}"
    if lo:
        return f"at least {spec.low:g}" if spec.low is not None else f"above {spec.above:g}"
    if hi:
        return f"at most {spec.high:g}" if spec.high is not None else f"below {spec.below:g}"
    return "a finite number"


def _values(spec: Option, hint: Any) -> str:
    """What a flag accepts, in words, for the README's tables."""
    if spec.choices is not None:
        return " / ".join(map(str, spec.choices))
    base, _ = _base_type(hint)
    item = _sequence_item(base)
    kind = item if item is not None else base
    if kind is bool:
        return "on / off"
    if kind in (int, float):
        allowed = _allowed(spec)
        noun = "integer" if kind is int else "number"
        text = noun if allowed == "a finite number" else f"{noun} {allowed}"
        return f"comma-separated {noun}s" + text[len(noun):] if item is not None else text
    return "list of names" if item is not None else "text"


def _check_range(value: float, where: str, spec: Option) -> None:
    low_ok = (spec.low is None or value >= spec.low) and (spec.above is None or value > spec.above)
    high_ok = (spec.high is None or value <= spec.high) and (spec.below is None or value < spec.below)
    if not (low_ok and high_ok):
        raise BadInputError(f"{where} must be {_allowed(spec)}, got {value:g}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def _default_text(f: dataclasses.Field) -> str:
    if f.default is MISSING:
        return ""
    value = f.default
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "-"
    return "-" if value is None else str(value)


def _parser_for(kind: Any) -> Callable[[str], Any]:
    """CLI text -> value; numbers accept 'nan' and 'inf' so that the range check names them."""
    return {int: int, float: float}.get(kind, str)


def _split(kind: Any) -> Callable[[str], tuple]:
    """'conv3,conv5' -> ('conv3', 'conv5') for flags that take a list of names."""
    return lambda text: tuple(kind(p.strip()) for p in text.split(",") if p.strip())


def _add_argument(parser: argparse.ArgumentParser, f: dataclasses.Field, spec: Option, hint: Any) -> None:
    base, _ = _base_type(hint)
    item = _sequence_item(base)
    default = None if f.default is MISSING else f.default
    shown = _default_text(f)
    shown_ok = spec.show_default and default is not None and not spec.positional
    text = spec.help + (f" (default {shown})" if shown_ok else "")
    kwargs: dict[str, Any] = {"help": text}
    if spec.metavar:
        kwargs["metavar"] = spec.metavar
    if spec.positional:
        kwargs.update(nargs="+" if item is not None else None, metavar=spec.metavar or f.name.upper())
        parser.add_argument(f.name, **kwargs)
        return
    flag = flag_of(f.name, spec)
    if base is bool:
        kwargs.update(action=argparse.BooleanOptionalAction if default else "store_true", default=default)
    elif item is not None:  # numbers are checked by the settings object, in one line
        kwargs.update(type=_split(item) if item is str else str, default=default)
    else:
        kwargs.update(type=_parser_for(base), default=default)
        if spec.choices is not None:
            kwargs["choices"] = spec.choices
    parser.add_argument(flag, dest=f.name, **kwargs)
    for alias in spec.aliases:
        hidden = {k: v for k, v in kwargs.items() if k not in ("help", "default", "metavar")}
        parser.add_argument(alias, dest=f.name, help=argparse.SUPPRESS, default=argparse.SUPPRESS, **hidden)


def split_names(values: tuple[str, ...] | list[str] | str | None) -> tuple[str, ...]:
    """Names given with spaces or commas ('conv3,conv5' 'fc8'), in order, duplicates dropped."""
    if values is None:
        return ()
    values = (values,) if isinstance(values, str) else values
    return tuple(dict.fromkeys(n.strip() for v in values for n in str(v).split(",") if n.strip()))


# ---- fields that several verbs share: spelled, ranged and documented once ---------------------

PRECISIONS = ("auto", "bf16", "fp32")


def precision_option(default: str | None = None) -> Any:
    """--precision: bf16 autocast where the device runs it fast (auto), or fp32."""
    unset = "" if default else "; default $UNITSCOPE_PRECISION, else auto"
    return option(default, f"bf16 autocast where fast (auto), bf16 or fp32{unset}", choices=PRECISIONS)


def batch_size_option(default: int) -> Any:
    return option(default, "images per forward pass", low=1, aliases=("--batch",))


def workers_option() -> Any:
    return option(None, "data-loading processes (default: 0 on the CPU, up to 8 for a GPU)", low=0,
                  fingerprint=False)


def seed_option(help: str = "random seed") -> Any:
    return option(0, help)


def top_k_option(default: int, help: str, low: int = 1) -> Any:
    return option(default, help, low=low, aliases=("--k",))
