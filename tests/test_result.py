"""Every verb's Result in a notebook: its HTML renders in Chromium with no console error, every
embedded image decodes, hostile text stays text; and the settings refuse bad values alike in
Python and on the command line."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import unitscope as us
from unitscope.data.concepts import generate
from unitscope.errors import BadInputError
from unitscope.result import Display, Result

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Result]:
    """One small run of every verb on toy and a fresh 24-image concept world."""
    root = tmp_path_factory.mktemp("results")
    model = us.load_model("toy", device="cpu")
    world = generate.run(None, None, us.ConceptsSettings(n=24, size=128, seed=5), root / "world",
                         progress=False)
    out = root / "run"
    image = next((world.run_dir / "images").rglob("*.jpg"))
    found = {"concepts": world}
    visual = us.VisualizeSettings(units=["conv5:0-2"], steps=4, negative=True)
    found["visualize"] = us.run(model, None, visual, out, progress=False)
    found["examples"] = us.run(model, world.run_dir, us.ExamplesSettings(units=["conv5:0-3"], top_k=2), out,
                               progress=False)
    found["dissect"] = us.run(model, world.run_dir, us.DissectSettings(layers=["conv5"], batch_size=8), out,
                              progress=False)
    found["compose"] = us.run(model, image, us.ComposeSettings(top_k=2, max_nodes=6, sanity=False), out,
                              progress=False)
    found["graph"] = us.run(model, world.run_dir, us.GraphSettings(layers=["fc7", "fc8"], images=4), out,
                            progress=False)
    found["explore"] = us.run(None, out, us.ExploreSettings(), progress=False)
    return found


VERBS = ["concepts", "visualize", "examples", "dissect", "compose", "graph", "explore"]


@pytest.mark.parametrize("verb", VERBS)
def test_result_html_renders_without_errors(browser, results, verb):
    result = results[verb]
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.set_content(f"<!DOCTYPE html><html><body>{result._repr_html_()}</body></html>")
    page.wait_for_load_state("load")
    broken = page.eval_on_selector_all("img", "s => s.filter(i => !i.complete || !i.naturalWidth).length")
    shown = page.eval_on_selector_all("img", "imgs => imgs.length")
    rows = page.eval_on_selector_all("table tbody tr", "rows => rows.length")
    page.close()
    assert problems == [] and broken == 0
    display = result.display()
    assert shown == min(len([p for p, _ in display.images if p.is_file()]), 24)
    if display.table is not None:
        assert rows == min(len(display.table), 12)
    assert result.files and all(Path(p).is_file() for p in result.files)


def test_result_html_escapes_hostile_text(browser, tmp_path):
    hostile = '<img src=x onerror="alert(1)">'
    png = tmp_path / "a.png"
    png.write_bytes(Path(__file__).parent.joinpath("..", "docs", "tree_page.png").resolve().read_bytes())

    class Hostile(Result):
        def display(self) -> Display:
            import pandas as pd

            table = pd.DataFrame({hostile: [hostile]})
            return Display(hostile, [(hostile, hostile)], [(png, hostile)], table)

    html = Hostile(tmp_path, {})._repr_html_()
    assert hostile not in html
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.set_content(f"<!DOCTYPE html><html><body>{html}</body></html>")
    page.wait_for_load_state("load")
    text = page.inner_text("body")
    page.close()
    assert dialogs == [] and hostile in text


@pytest.mark.parametrize(("settings", "fields", "message"), [
    (us.ExamplesSettings, {"units": ("conv5",), "top_k": -1}, "--top-k must be at least 1, got -1"),
    (us.DissectSettings, {"layers": ("conv5",), "size": 0}, "--size must be at least 1, got 0"),
    (us.VisualizeSettings, {"units": ("conv5",), "lr": math.nan}, "--lr must be a finite number above 0"),
    (us.GraphSettings, {"batch_size": 0}, "--batch-size must be at least 1, got 0"),
    (us.ComposeSettings, {"max_nodes": 0}, "--max-nodes must be at least 1, got 0"),
])
def test_settings_refuse_bad_values_in_python_and_on_the_command_line(settings, fields, message, capsys):
    with pytest.raises(BadInputError, match=message.replace("(", r"\(")):
        settings(**fields)
    flag, value = next((k, v) for k, v in fields.items() if k not in ("units", "layers"))
    verb = settings.VERB
    argv = ["--quiet", verb, "no-such-model"] + {"visualize": ["conv5"], "examples": ["d", "conv5"],
                                                "dissect": ["d", "conv5"], "graph": ["d"],
                                                "compose": ["i.png"]}[verb]
    argv += [f"--{flag.replace('_', '-')}", str(value)]
    from unitscope.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err  # refused before the (unknown) model loads
