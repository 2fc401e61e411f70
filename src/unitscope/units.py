"""Unit addresses: `conv5`, `conv5:129`, `conv5:0-63`, `conv5:1,5,9`, `conv5:129@6,7`, `block5:12@cls`.

On a transformer's token layer a channel is a feature over the patch grid, `@x,y` is one patch
and `@cls` its class token.

One grammar used by every verb, the API and the explorer's URLs. A string parses to a
`Unit` and prints back to the same string.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import BadUnitError, UnitOutOfRangeError

_SEGMENT = re.compile(r"^(\d+)(?:-(\d+))?$")
_POSITION = re.compile(r"^(\d+),(\d+)$")
CLS = "cls"  # the position of a token layer's class token


@dataclass(frozen=True)
class Unit:
    """A layer, optionally narrowed to channels and a position: (x, y) = (column, row) of a map or
    patch grid, or `CLS` for a token layer's class token.

    `segments` keeps the channel selection as written (inclusive ranges) so that
    `str(Unit.parse(s)) == s`; `channels` expands it.
    """

    layer: str
    segments: tuple[tuple[int, int], ...] = ()
    position: tuple[int, int] | str | None = None

    @classmethod
    def parse(cls, text: str) -> Unit:
        """Parse an address; raise `BadUnitError` naming the bad part."""
        if not isinstance(text, str) or not text.strip():
            raise BadUnitError("empty unit address; write e.g. 'conv5', 'conv5:129' or 'conv5:0-63'")
        text = text.strip()
        layer, sep, rest = text.partition(":")
        if not layer:
            raise BadUnitError(f"unit address '{text}' has no layer name before ':'")
        if not sep:
            if "@" in layer:
                raise BadUnitError(f"unit address '{text}': a position needs a channel, e.g. conv5:3@6,7")
            return cls(layer)
        chans, at, pos = rest.partition("@")
        segments = _parse_segments(chans, text)
        position = _parse_position(pos, text) if at else None
        if position is not None and (len(segments) != 1 or segments[0][0] != segments[0][1]):
            raise BadUnitError(f"unit address '{text}': a position applies to one channel only")
        return cls(layer, segments, position)

    @classmethod
    def channel(cls, layer: str, index: int, position: tuple[int, int] | str | None = None) -> Unit:
        """The unit for one channel (and optionally one neuron) of a layer."""
        return cls(layer, ((int(index), int(index)),), position)

    @property
    def channels(self) -> list[int] | None:
        """The selected channel indices in order, or None for the whole layer."""
        if not self.segments:
            return None
        return [c for lo, hi in self.segments for c in range(lo, hi + 1)]

    @property
    def index(self) -> int:
        """The channel of a single-channel unit."""
        chans = self.channels
        if chans is None or len(chans) != 1:
            raise BadUnitError(f"'{self}' is not a single channel; write e.g. {self.layer}:0")
        return chans[0]

    def check_channels(self, n_channels: int) -> None:
        """Raise `UnitOutOfRangeError` if a selected channel is past a layer of `n_channels`; checks
        the ranges' ends, so a huge range is refused without being expanded."""
        for lo, hi in self.segments:
            if hi >= n_channels:  # name the first channel past the end, as listing them would
                raise UnitOutOfRangeError(
                    f"unit '{self}': channel {max(lo, n_channels)} is out of range; layer '{self.layer}' has "
                    f"{n_channels} channels (0-{n_channels - 1})"
                )

    def expand(self, n_channels: int | None = None) -> list[Unit]:
        """One single-channel unit per selected channel (all `n_channels` for a bare layer); with
        `n_channels`, channels past it are refused first."""
        if n_channels is not None:
            self.check_channels(n_channels)
        chans = self.channels
        if chans is None:
            if n_channels is None:
                raise BadUnitError(f"'{self}' names a whole layer; give the channel count to expand it")
            chans = list(range(n_channels))
        return [Unit.channel(self.layer, c, self.position) for c in chans]

    @property
    def position_text(self) -> str:
        """'6,7' or 'cls' (empty without a position)."""
        if self.position is None:
            return ""
        return self.position if isinstance(self.position, str) else f"{self.position[0]},{self.position[1]}"

    def __iter__(self) -> Iterator[int]:
        return iter(self.channels or [])

    def __str__(self) -> str:
        if not self.segments:
            return self.layer
        chans = ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.segments)
        pos = "" if self.position is None else f"@{self.position_text}"
        return f"{self.layer}:{chans}{pos}"


def _parse_segments(text: str, whole: str) -> tuple[tuple[int, int], ...]:
    if not text:
        raise BadUnitError(f"unit address '{whole}' has nothing after ':'; write e.g. conv5:129")
    segments = []
    for part in text.split(","):
        match = _SEGMENT.match(part.strip())
        if not match:
            raise BadUnitError(
                f"unit address '{whole}': '{part}' is not a channel index or range like 0-63"
            )
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if hi < lo:
            raise BadUnitError(f"unit address '{whole}': range {lo}-{hi} runs backwards")
        segments.append((lo, hi))
    return tuple(segments)


def _parse_position(text: str, whole: str) -> tuple[int, int] | str:
    if text.strip() == CLS:
        return CLS
    match = _POSITION.match(text.strip())
    if not match:
        raise BadUnitError(f"unit address '{whole}': position must be '@x,y' with integers (e.g. @6,7) "
                           "or '@cls' (a token layer's class token)")
    return int(match.group(1)), int(match.group(2))


def parse_units(texts: str | list[str]) -> list[Unit]:
    """Parse one or several addresses separated by spaces or ';'."""
    if isinstance(texts, str):
        texts = [t for t in re.split(r"[;\s]+", texts) if t]
    return [Unit.parse(t) for t in texts]
