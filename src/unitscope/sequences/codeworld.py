"""The code world: procedural code-like text (blocks of statements with nested brackets, strings,
comments and numbers) whose per-character concepts are computed by `scan`, a small lexer, so
they are exact whatever the generator does."""

from __future__ import annotations

import numpy as np

NAMES = ["x", "y", "total", "count", "item", "value", "data", "node", "left", "right", "key", "size"]
CALLS = ["f", "g", "max", "min", "len", "sum", "push", "load", "sort", "map"]
WORDS = ["hello", "world", "the", "value", "is", "not", "ready", "error", "at", "line", "done", "ok",
         "a", "b", "c", "(", ")", "[", "]", "{", "}"]  # brackets inside strings do not nest
OPERATORS = [" + ", " - ", " * ", " / ", " == ", " < ", " > "]
CONCEPTS = {
    "bracket_depth": ("numeric", "open minus closed ( and [ outside strings and comments: the "
                      "nesting of an expression (Karpathy et al.'s bracket neuron)"),
    "block_depth": ("numeric", "open minus closed { } outside strings and comments: the nesting "
                    "of blocks, which sets a line's indent"),
    "inside_string": ("binary", "inside a double-quoted string, the quotes included"),
    "inside_comment": ("binary", "inside a # comment, up to the end of its line"),
    "position_in_line": ("numeric", "characters since the last newline (0 = first of a line)"),
    "after_newline": ("binary", "the first character of a line"),
    "inside_number": ("binary", "a digit of a number literal outside strings and comments"),
}


class _Writer:
    """Draws one block of code: a header, statements nested in { } over several lines."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def pick(self, options: list[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def number(self) -> str:
        if self.rng.random() < 0.8:
            return str(int(self.rng.integers(0, 1000)))
        return f"{self.rng.random() * 10:.2f}"

    def string(self) -> str:
        return '"' + " ".join(self.pick(WORDS) for _ in range(int(self.rng.integers(2, 10)))) + '"'

    def expression(self, depth: int = 0) -> str:
        roll = self.rng.random()
        if depth < 4 and roll < 0.3:
            args = ", ".join(self.expression(depth + 1) for _ in range(int(self.rng.integers(1, 4))))
            return f"{self.pick(CALLS)}({args})"
        if depth < 4 and roll < 0.42:
            items = ", ".join(self.expression(depth + 1) for _ in range(int(self.rng.integers(1, 4))))
            return f"[{items}]"
        if depth < 4 and roll < 0.52:
            return f"({self.expression(depth + 1)}{self.pick(OPERATORS)}{self.expression(depth + 1)})"
        if roll < 0.7:
            return self.number()
        if roll < 0.82:
            return self.string()
        return self.pick(NAMES)

    def statement(self, indent: int, depth: int) -> list[str]:
        pad = "    " * indent
        roll = self.rng.random()
        if depth < 3 and roll < 0.22:
            header = f"{pad}{self.pick(['if', 'while', 'for'])} ({self.expression(2)}) {{"
            body = [line for _ in range(int(self.rng.integers(1, 4)))
                    for line in self.statement(indent + 1, depth + 1)]
            return [header, *body, f"{pad}}}"]
        if roll < 0.35:
            return [f"{pad}# {' '.join(self.pick(WORDS) for _ in range(int(self.rng.integers(2, 7))))}"]
        line = f"{pad}{self.pick(NAMES)} = {self.expression()}"
        if self.rng.random() < 0.15:
            line += f"  # {self.pick(WORDS)} {self.pick(WORDS)}"
        return [line]

    def block(self) -> str:
        arguments = ", ".join(self.pick(NAMES) for _ in range(2))
        lines = [f"def {self.pick(CALLS)}{self.pick(NAMES)}({arguments}) {{"]
        for _ in range(int(self.rng.integers(2, 6))):
            lines += self.statement(1, 1)
        return "\n".join([*lines, "}"])


def generate(chars: int, seed: int = 0) -> str:
    """At least `chars` characters of code: blocks separated by blank lines (depth 0 between them)."""
    writer = _Writer(np.random.default_rng(seed))
    blocks, total = [], 0
    while total < chars:
        blocks.append(writer.block())
        total += len(blocks[-1]) + 2
    return "\n\n".join(blocks) + "\n"


def scan(text: str) -> dict[str, np.ndarray]:
    """Every concept of every character, by a lexer: strings and comments hide brackets and digits."""
    n = len(text)
    out = {name: np.zeros(n, np.int16 if kind == "binary" else np.int32)
           for name, (kind, _) in CONCEPTS.items()}
    depth = blocks = column = 0
    in_string = in_comment = False
    previous = "\n"
    for i, char in enumerate(text):
        out["position_in_line"][i] = column
        out["after_newline"][i] = previous == "\n"
        if in_comment and char == "\n":
            in_comment = False
        elif in_string:
            out["inside_string"][i] = 1
            in_string = char != '"'
        elif in_comment:
            pass
        elif char == '"':
            in_string = True
            out["inside_string"][i] = 1
        elif char == "#":
            in_comment = True
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif char == "{":
            blocks += 1
        elif char == "}":
            blocks = max(0, blocks - 1)
        elif char.isdigit() or (char == "." and previous.isdigit()):
            starts = not (previous.isalpha() or previous == "_")
            out["inside_number"][i] = starts or out["inside_number"][i - 1]
        out["inside_comment"][i] = in_comment
        out["bracket_depth"][i] = depth
        out["block_depth"][i] = blocks
        column = 0 if char == "\n" else column + 1
        previous = char
    return out
