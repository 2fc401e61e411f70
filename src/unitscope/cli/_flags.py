"""The README's flag tables, made from the settings classes (`python -m unitscope.cli._flags`
rewrites them; a test checks they are current)."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

from ..settings import Settings

# verb -> "module:SettingsClass"; the model flags (ModelSource) are shared by every model verb
TABLES = {
    "model": "unitscope.models.source:ModelSource",
    "layers": "unitscope.models.tracing:LayersSettings",
    "concepts": "unitscope.data.concepts.generate:ConceptsSettings",
    "visualize": "unitscope.optvis.visualize:VisualizeSettings",
    "examples": "unitscope.examples:ExamplesSettings",
    "dissect": "unitscope.dissect:DissectSettings",
    "compose": "unitscope.compose.pipeline:ComposeSettings",
    "graph": "unitscope.compose.graph:GraphSettings",
    "train-toy": "unitscope.models.train_toy:TrainToySettings",
}
_BLOCK = re.compile(r"(<!-- flags:(?P<verb>[\w-]+) -->\n)(?P<body>.*?)(<!-- /flags -->)", re.S)


def settings_class(verb: str) -> type[Settings]:
    module, name = TABLES[verb].split(":")
    return getattr(importlib.import_module(module), name)


def table(verb: str) -> str:
    """A Markdown table of the verb's flags: flag, default, meaning."""
    rows = ["| flag | default | accepts | meaning |", "|---|---|---|---|"]
    for flag, default, values, text in settings_class(verb).flags():
        rows.append(f"| `{flag}` | {default and f'`{default}`'} | {values} | {text.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def rewrite(readme: str) -> str:
    """The README with every `<!-- flags:VERB -->` block replaced by the current table."""
    return _BLOCK.sub(lambda m: m.group(1) + table(m.group("verb")) + m.group(4), readme)


def blocks(readme: str) -> dict[str, str]:
    """verb -> the table the README shows for it now."""
    return {m.group("verb"): m.group("body") for m in _BLOCK.finditer(readme)}


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(rewrite(path.read_text()))
