"""`unitscope demo`: the quick run really runs every verb and leaves a complete site."""

from __future__ import annotations

import json

import pytest

from helpers.broden import scenes_broden
from helpers.cli import cli_error
from helpers.runs import build_site, parse_page, snapshot
from unitscope.demo import MARKER, _fresh, tree_images
from unitscope.errors import DataError

STEPS = ["concept world", "examples", "dissect", "visualize", "compose", "graph", "tabular-toy", "text-toy",
         "explore"]


def test_quick_demo_runs_every_verb(demo_run):
    result, lines = demo_run
    manifest = json.loads((result.run_dir / "manifest.json").read_text())
    assert manifest["model"] == "toy"
    assert set(manifest["verbs"]) >= {"examples", "dissect", "visualize", "compose", "graph", "explore"}
    assert len(manifest["verbs"]["compose"]["trees"]) == 1
    for number, step in enumerate(STEPS, 1):
        assert any(line.startswith(f"demo [{number}/{len(STEPS)}] {step} done in") for line in lines), step
    assert lines[-1] == f"demo: open {result.site.resolve().as_uri()}"
    times = json.loads((result.run_dir / "demo_times.json").read_text())
    assert set(times) == set(STEPS) | {"total"}
    assert (result.run_dir / "concepts" / "index.csv").is_file()


def test_quick_demo_includes_the_tabular_and_text_toys(demo_run):
    run_dir, site = demo_run[0].run_dir, demo_run[0].site
    index = site.read_text()
    assert 'href="../tabular/site/index.html"' in index and 'href="../text/site/index.html"' in index
    tabular = (run_dir / "tabular" / "site" / "units" / "fc2" / "0.html").read_text()
    assert "Optimal input" in tabular and "top rows" in tabular and "Concept scores" in tabular
    text = (run_dir / "text" / "site" / "units" / "lstm" / "0.html").read_text()
    assert "Optimal string" in text and "rgba(" in text and "Concepts:" in text
    dissected = json.loads((run_dir / "text" / "dissect" / "dissect.json").read_text())
    assert dissected["modality"] == "text" and dissected["layers"]["lstm"]["units_total"] == 128


def test_quick_demo_site_is_complete(demo_run):
    site = demo_run[0].site.parent
    unit = (site / "units/conv5/0.html").read_text()
    for part in ("files/visualize/conv5/0.png", "files/visualize/conv5/0_neg.png",
                 "files/visualize/conv5/0_div1.png", "top_0_patch.png", 'class="iou"',
                 'href="../../units/conv4/', 'href="../../units/fc8/'):
        assert part in unit, part
    model = (site / "index.html").read_text()
    assert "Rotation" in model and "random weights" in model and 'class="tree-link"' in model
    tree = json.loads((demo_run[0].run_dir / "compose").glob("*/tree.json").__next__().read_text())
    root_page = site / "units" / tree["root"].replace(":", "/")
    assert root_page.with_suffix(".html").is_file()
    for page in [site / "index.html", site / "layers/conv5.html", site / "units/conv5/0.html"]:
        for ref in parse_page(page).refs:
            if not ref.startswith("data:"):
                assert (page.parent / ref.split("#")[0]).is_file(), (page, ref)


def test_rebuilding_the_demo_site_is_byte_identical(demo_run, tmp_path):
    site = demo_run[0].site.parent
    again = build_site(demo_run[0].run_dir, tmp_path / "again").parent
    first, second = snapshot(site), snapshot(again)
    assert first == second and len(first) > 100


def test_demo_refuses_a_folder_it_did_not_make(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("keep")
    with pytest.raises(DataError, match="not made by `unitscope demo`"):
        _fresh(tmp_path)
    assert "choose another --out" in cli_error(capsys, ["demo", "--quick", "--out", str(tmp_path)])
    assert (tmp_path / "precious.txt").read_text() == "keep"
    err = cli_error(capsys, ["demo", "--quick", "--out", str(tmp_path / "new"), "--data", str(tmp_path)])
    assert "not a Broden-format folder" in err
    assert not (tmp_path / "new").exists()


def test_demo_replaces_its_own_folder(tmp_path):
    (tmp_path / MARKER).write_text("")
    (tmp_path / "manifest.json").write_text("{}")
    assert _fresh(tmp_path) == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == [MARKER]


def test_tree_images_pick_different_scenes(tmp_path):
    data = scenes_broden(tmp_path / "a", ["7", "7", "8", "7", "8"])
    assert tree_images(data, 2) == [("street_0000", data / "images/w/0000.jpg"),
                                    ("garden_0002", data / "images/w/0002.jpg")]
    spread = tree_images(data, 3)  # only two scenes: spread over the index instead
    assert [name for name, _ in spread] == ["0000", "0001", "0002"]
