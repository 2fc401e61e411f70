"""Site URLs and artifact paths: safe file names for any layer, unit or concept name.

Layer names come from `named_modules()` (dots: `layer2.0.conv1`) and concept names from user
data, so every name that becomes part of a file name goes through `slug`, which keeps URL-safe
characters and encodes the rest reversibly (`~` + hex), so two names never share a page.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import quote

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def slug(name: str) -> str:
    """A file-name-safe, URL-safe, injective spelling of `name` (no leading dot, never empty)."""
    text = _UNSAFE.sub(lambda m: f"~{ord(m.group()):04x}", str(name))
    if text.startswith("."):
        text = "~002e" + text[1:]
    return text or "~"


def layer_url(layer: str) -> str:
    """The layer page, relative to the site root."""
    return f"layers/{slug(layer)}.html"


def unit_url(layer: str, channel: int) -> str:
    """The stable unit page URL `units/<layer>/<c>.html`, relative to the site root."""
    return f"units/{slug(layer)}/{int(channel)}.html"


def concept_url(name: str) -> str:
    """The page listing the units that detect a concept, relative to the site root."""
    return f"concepts/{slug(name)}.html"


def safe_relpath(path: str) -> str | None:
    """A manifest path normalized to POSIX form, or None when it would leave the run dir."""
    if not isinstance(path, str) or not path or "\\" in path or "\x00" in path:
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or any(part in ("..", "") for part in pure.parts):
        return None
    parts = [p for p in pure.parts if p != "."]
    return "/".join(parts) or None


def href(path: str) -> str:
    """A site-relative path percent-encoded for use in href/src (':' '?' '#' ' ' all encoded)."""
    return quote(path, safe="/~")


def root_prefix(page: str) -> str:
    """The relative path from a page (site-relative) back to the site root: '', '../', '../../'."""
    return "../" * (len(PurePosixPath(page).parts) - 1)
