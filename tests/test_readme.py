"""The README stays true: its flag tables are the settings classes' flags, and its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from unitscope.cli import build_parser
from unitscope.cli._flags import TABLES, blocks, rewrite, table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_flag_table_is_current_and_every_verb_has_one():
    text = README.read_text()
    shown = blocks(text)
    assert set(shown) == set(TABLES), "a verb's flag table is missing from the README"
    for verb, body in shown.items():
        assert body == table(verb), f"README flags of '{verb}' are stale: run python -m unitscope.cli._flags"
    assert rewrite(text) == text


def test_tables_name_each_flag_the_parser_accepts():
    parser = build_parser()
    commands = {a.dest: a for a in parser._subparsers._group_actions}["verb"].choices
    for verb in TABLES:
        if verb == "model":
            continue
        options = {s for action in commands[verb]._actions for s in action.option_strings}
        for line in table(verb).splitlines()[2:]:
            flag = re.match(r"\| `([^`]+)`", line).group(1)
            assert flag in options, f"{verb}: {flag}"


def test_readme_verbs_exist():
    parser = build_parser()
    verbs = set({a.dest: a for a in parser._subparsers._group_actions}["verb"].choices)
    for verb in re.findall(r"^### `unitscope ([a-z-]+)", README.read_text(), flags=re.M):
        assert verb in verbs
