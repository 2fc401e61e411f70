"""Characters to ids and back: a text model's alphabet, with id 0 for anything outside it."""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_ALPHABET = "\n" + "".join(chr(c) for c in range(32, 127))  # newline and printable ASCII
UNKNOWN = 0


@dataclass(frozen=True)
class Vocabulary:
    """Id i + 1 is `alphabet[i]`; id 0 is every other character (and the padding)."""

    alphabet: str = DEFAULT_ALPHABET

    @property
    def size(self) -> int:
        return len(self.alphabet) + 1

    def encode(self, text: str) -> np.ndarray:
        """int64 ids of every character (a lookup table over code points, no per-char Python)."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        table = np.zeros(max(int(codes.max(initial=0)), max(map(ord, self.alphabet))) + 1, np.int64)
        table[[ord(c) for c in self.alphabet]] = np.arange(1, len(self.alphabet) + 1)
        return table[codes]

    def decode(self, ids: np.ndarray | list[int]) -> str:
        """The characters of `ids` (unknown ids as U+FFFD)."""
        return "".join(self.alphabet[i - 1] if 0 < i <= len(self.alphabet) else "\ufffd" for i in ids)

    def example_input(self, batch: int = 1) -> torch.Tensor:
        """A short line of ids, for shape discovery."""
        return torch.from_numpy(self.encode("x = f(1)" + string.ascii_lowercase[:8])).repeat(batch, 1)
