"""The static explorer: determinism, escaping, safe URLs, no broken links, user errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from helpers.cli import cli_error
from helpers.runs import DOTTED, SCRIPT_LABEL, build_site, make_fake_run, parse_page, snapshot
from unitscope.cli import main
from unitscope.errors import DataError
from unitscope.report.paths import safe_relpath, slug
from unitscope.rundir import write_json_atomic


def test_rebuild_is_byte_identical(fake_run, tmp_path):
    build_site(fake_run)
    first = snapshot(fake_run / "site")
    build_site(fake_run)
    assert snapshot(fake_run / "site") == first
    other = build_site(fake_run, tmp_path / "elsewhere").parent
    assert snapshot(other) == first
    assert len([k for k in first if k.startswith("units/")]) == 4 + 2 + 6 + 3


def test_every_link_and_image_resolves(fake_run):
    site = build_site(fake_run).parent
    pages = sorted(site.rglob("*.html"))
    checked = 0
    for page in pages:
        for ref in parse_page(page).refs:
            parts = urlsplit(ref)
            if parts.scheme or ref.startswith("#"):
                assert parts.scheme == "data", f"{page}: external reference {ref}"
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            assert target.is_file(), f"{page.relative_to(site)} -> {ref} is broken"
            assert site.resolve() in target.parents, f"{ref} leaves the site folder"
            checked += 1
    assert checked > 200


def test_labels_are_escaped_everywhere(fake_run):
    site = build_site(fake_run).parent
    page = (site / "units/conv5/1.html").read_text()
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page
    for html in site.rglob("*.html"):
        text = html.read_text()
        assert SCRIPT_LABEL not in text, html
        if html.relative_to(site).parts[0] == "files":
            continue  # copied artifacts (tree.html) are not our pages
        up = "../" * (len(html.relative_to(site).parts) - 1)
        assert parse_page(html).scripts == [up + "static/search-index.js", up + "static/explorer.js"]
    index_js = (site / "static/search-index.js").read_text()
    assert "<" not in index_js and ">" not in index_js
    entries = json.loads(index_js.split("=", 1)[1].rstrip().rstrip(";"))
    assert {"kind": "concept", "name": SCRIPT_LABEL} in [{k: e[k] for k in ("kind", "name")} for e in entries]


def test_search_index_covers_units_layers_concepts_trees(fake_run):
    site = build_site(fake_run).parent
    text = (site / "static/search-index.js").read_text()
    entries = json.loads(text.split("=", 1)[1].rstrip().rstrip(";"))
    by_name = {(e["kind"], e["name"]): e["url"] for e in entries}
    assert by_name[("unit", "conv5:0")] == "units/conv5/0.html"
    assert by_name[("layer", DOTTED)] == f"layers/{DOTTED}.html"
    assert by_name[("concept", "red")] == "concepts/red.html"
    assert by_name[("tree", "house_0")] == "files/compose/house_0/tree.html"
    for url in by_name.values():
        assert (site / unquote(url)).is_file()


def test_pages_show_the_artifacts(fake_run):
    site = build_site(fake_run).parent
    model = (site / "index.html").read_text()
    order = [model.index(f'href="layers/{name}.html"') for name in ("conv1", DOTTED, "conv5", "fc8")]
    assert order == sorted(order), "layers must follow graph.json's order"
    assert "5 / 6" in model and "0 / 6" in model  # trained vs random detectors for conv5
    unit = (site / "units/conv5/2.html").read_text()
    assert "wheel" in unit and "0.080" in unit  # label + IoU
    assert "0.040" in unit  # runner-up IoU
    section = unit.split('class="children"')[1].split("</section>")[0]
    children = re.findall(r'class="unit-link" href="([^"]+)"', section)
    assert children[:2] == [f"../../units/{DOTTED}/0.html", f"../../units/{DOTTED}/1.html"]  # best first
    assert children[2:] == [f"../../units/{DOTTED}/0.html"]  # then the inhibitory child
    assert 'href="../../files/compose/house_0/tree.html"' in unit
    assert "files/visualize/conv5/2_neg.png" in unit
    layer = (site / "layers/conv5.html").read_text()
    assert layer.count('class="card"') == 6 and 'data-label="red"' in layer
    assert (site / "files/compose/house_0/input.png").is_file()


def test_slug_is_safe_and_injective():
    names = ["layer2.0.conv1", "a/b", "a_b", "a~2fb", "..", ".hidden", "", "x y", "é"]
    slugs = [slug(n) for n in names]
    assert len(set(slugs)) == len(names)
    for s in slugs:
        assert re.fullmatch(r"[A-Za-z0-9_.~\-]+", s) and not s.startswith(".")
    assert slug("layer2.0.conv1") == "layer2.0.conv1"


def test_paths_leaving_the_run_are_ignored(fake_run, tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes((fake_run / "visualize/conv5/0.png").read_bytes())
    data = json.loads((fake_run / "visualize/visualize.json").read_text())
    data["units"][0]["image"] = "../secret.png"
    write_json_atomic(fake_run / "visualize/visualize.json", data)
    site = build_site(fake_run).parent
    assert not list(site.rglob("secret.png"))
    assert safe_relpath("../x.png") is None and safe_relpath("/etc/passwd") is None
    assert safe_relpath("./a//b.png") == "a/b.png" and safe_relpath("a\\..\\b.png") is None
    (fake_run / "visualize/conv5/1.png").unlink()
    (fake_run / "visualize/conv5/1.png").symlink_to(outside)  # a link out of the run is not followed
    site = build_site(fake_run).parent
    assert not (site / "files/visualize/conv5/1.png").exists()
    assert "visualize/conv5/1.png" not in (site / "units/conv5/1.html").read_text()


def test_stale_files_are_removed(fake_run):
    site = build_site(fake_run).parent
    assert (site / "files/examples/conv1/0/top_0.png").is_file()
    data = json.loads((fake_run / "examples/examples.json").read_text())
    data["units"] = {k: v for k, v in data["units"].items() if not k.startswith("conv1")}
    write_json_atomic(fake_run / "examples/examples.json", data)
    build_site(fake_run)
    assert not (site / "files/examples/conv1").exists()
    assert (site / "files/examples/conv5/0/top_0.png").is_file()


def test_missing_manifest_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(DataError, match="no manifest.json"):
        build_site(tmp_path)
    assert "manifest.json" in cli_error(capsys, ["explore", str(tmp_path / "nothing")])


def test_refuses_foreign_nonempty_folder(fake_run, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not made by"):
        build_site(fake_run, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_cli_builds_and_registers(fake_run, capsys):
    assert main(["--quiet", "explore", str(fake_run)]) == 0
    assert "site/index.html" in capsys.readouterr().out
    manifest = json.loads((fake_run / "manifest.json").read_text())
    assert manifest["verbs"]["explore"] == {"index": "site/index.html"}


def test_fake_run_is_reusable(tmp_path):
    """The crafted run builds with only some verbs present (examples only)."""
    run = make_fake_run(tmp_path / "r")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["verbs"] = {"examples": manifest["verbs"]["examples"]}
    write_json_atomic(run / "manifest.json", manifest)
    site = build_site(run).parent
    assert sorted(p.name for p in (site / "layers").iterdir()) == ["conv1.html", "conv5.html"]


def test_broken_artifacts_are_one_line_errors(fake_run, capsys):
    (fake_run / "graph/graph.json").write_text("{not json")
    with pytest.raises(DataError, match="graph.json"):
        build_site(fake_run)
    (fake_run / "graph/graph.json").unlink()
    err = cli_error(capsys, ["explore", str(fake_run)])
    assert "graph/graph.json" in err and "missing" in err


def test_explore_result_lists_every_unit_page_and_escapes_labels(fake_run):
    from unitscope import explore

    result = explore.run(None, fake_run, None, None, progress=False)
    table = result.to_pandas()
    assert {"conv5:0", "fc8:2", f"{DOTTED}:1"} <= set(table["unit"])
    assert all(Path(page).is_file() for page in table["page"])
    assert Path(result["index"]) in result.files
    assert SCRIPT_LABEL in set(table["label"])
    html = result._repr_html_()
    assert SCRIPT_LABEL not in html and "&lt;script&gt;" in html


def _note(page: str, kind: str) -> str | None:
    """The text of the page's ReLU note for `kind` ('negative' or 'bottom'), or None."""
    found = re.search(rf'<p class="note relu-note {kind}-note">(.*?)</p>', page, re.S)
    return found.group(1) if found else None


def test_unit_pages_say_where_a_negative_and_the_bottom_examples_were_read(fake_run):
    hostile = "<b>relu</b>"
    visual = json.loads((fake_run / "visualize/visualize.json").read_text())
    read = {"conv5:1": ("conv5.0", "conv5.1"), "conv5:2": ("conv5", hostile)}  # conv5:0: an older run
    for row in visual["units"]:
        if row["unit"] in read and row["sign"] == "negative":
            row["objective_layer"], row["after_relu"] = read[row["unit"]]
    write_json_atomic(fake_run / "visualize/visualize.json", visual)
    found = json.loads((fake_run / "examples/examples.json").read_text())
    for unit, (layer, relu) in read.items():
        found["units"][unit].update(bottom_layer=layer, after_relu=relu)
    write_json_atomic(fake_run / "examples/examples.json", found)
    site = build_site(fake_run).parent
    before = (site / "units/conv5/1.html").read_text()
    assert _note(before, "negative") == \
        "negative: optimized on conv5.0, before the ReLU (conv5.1 outputs a flat 0 there)"
    assert _note(before, "bottom").startswith(
        "bottom: ranked by the minimum of conv5.0, before the ReLU (conv5.1)")
    order = [before.index(text) for text in ("negative-note", "Bottom dataset examples", "bottom-note")]
    assert order == sorted(order)  # each note next to what it explains
    fallback = (site / "units/conv5/2.html").read_text()
    assert _note(fallback, "negative").startswith(
        "negative: optimized on conv5 itself, after the ReLU &lt;b&gt;relu")
    assert "ties at 0 are likely" in _note(fallback, "bottom") and hostile not in fallback
    old = (site / "units/conv5/0.html").read_text()
    assert "relu-note" not in old and "Bottom dataset examples" in old  # no keys: as before


def test_a_real_run_after_a_relu_says_so(tmp_path):
    from PIL import Image
    from torch import nn

    from helpers.nets import pointwise, sequential
    from unitscope import examples
    from unitscope.optvis import VisualizeSettings, run

    model = sequential(24, conv=nn.Sequential(pointwise([[1.0, -1.0, 0.0]]), nn.ReLU()))
    data = tmp_path / "data"
    data.mkdir()
    for i, colour in enumerate([(200, 60, 60), (60, 200, 60), (128, 128, 128)]):
        Image.new("RGB", (24, 24), colour).save(data / f"{i}.png")
    out = tmp_path / "run"
    settings = VisualizeSettings(units=("conv:0",), negative=True, steps=2, size=24)
    run(model, None, settings, out, progress=False)
    examples.run(model, data, examples.ExamplesSettings(units=["conv:0"], top_k=1), out, progress=False)
    page = (build_site(out).parent / "units/conv/0.html").read_text()
    assert _note(page, "negative").startswith("negative: optimized on conv.0, before the ReLU (conv.1")
    assert _note(page, "bottom").startswith("bottom: ranked by the minimum of conv.0, before the ReLU")
