"""The concept world: deterministic, varied, consistent masks, and shape (not colour) decides."""

from __future__ import annotations

import csv
import filecmp

import numpy as np
import pytest
import torch

from helpers.cli import cli_error
from unitscope.cli import main as cli_main
from unitscope.data.concepts import (
    CATEGORIES,
    COMPOSITES,
    OBJECT_CLASSES,
    OBJECT_NAMES,
    PART_NAMES,
    render_sample,
    scene_for,
)
from unitscope.data.concepts import generate as concepts_verb
from unitscope.data.concepts.generate import ConceptsSettings, generate
from unitscope.errors import BadInputError

N_WORLD = 2000
SIZE = 64  # textures and shapes scale with the size; 64 px keeps the 2000-image sweep fast


@pytest.fixture(scope="module")
def world():
    """2000 samples: per-category image counts of every code, colour histograms, classes."""
    counts = {cat: np.zeros(len(names) + 1, np.int64) for cat, names in CATEGORIES.items()}
    hists, classes = [], []
    for i in range(N_WORLD):
        s = render_sample(7, i, SIZE)
        for cat, m in s.maps.items():
            counts[cat] += np.bincount(m.ravel(), minlength=len(counts[cat])) > 0
        for cat, codes in s.whole.items():
            for code in set(codes):
                counts[cat][code] += 1
        q = (s.image // 64).astype(np.int64)  # 4 levels per channel -> 64 colour bins
        bins = q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]
        hists.append(np.bincount(bins.ravel(), minlength=64) / bins.size)
        classes.append(OBJECT_CLASSES.index(s.label))
    return counts, np.stack(hists).astype(np.float32), np.array(classes)


def test_every_label_of_every_category_occurs(world):
    counts, _, _ = world
    for cat, names in CATEGORIES.items():
        missing = [names[k - 1] for k in range(1, len(names) + 1) if counts[cat][k] == 0]
        assert not missing, f"{cat}: never drawn in {N_WORLD} images: {missing}"


def test_vocabulary_sizes_meet_the_spec():
    assert CATEGORIES["color"] == (
        "black", "blue", "brown", "gray", "green", "orange",
        "pink", "purple", "red", "white", "yellow",
    )  # fmt: skip
    assert len(CATEGORIES["texture"]) >= 10
    assert len(CATEGORIES["material"]) >= 3
    assert len(OBJECT_CLASSES) >= 10
    assert len(PART_NAMES) >= 8 and len(COMPOSITES) >= 4
    assert len(CATEGORIES["scene"]) >= 6


def _logistic_accuracy(x: np.ndarray, y: np.ndarray, train: int) -> float:
    """Multinomial logistic regression (torch, full-batch L-BFGS), held-out accuracy."""
    torch.manual_seed(0)
    xt = torch.from_numpy(x)
    mean, std = xt[:train].mean(0), xt[:train].std(0) + 1e-6
    xt = (xt - mean) / std
    yt = torch.from_numpy(y)
    layer = torch.nn.Linear(x.shape[1], int(y.max()) + 1)
    opt = torch.optim.LBFGS(layer.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(layer(xt[:train]), yt[:train])
        loss = loss + 1e-3 * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float((layer(xt[train:]).argmax(1) == yt[train:]).float().mean())


def test_colour_alone_does_not_predict_the_object(world):
    _, hists, classes = world
    train = int(0.8 * len(classes))
    acc = _logistic_accuracy(hists, classes, train)
    print(f"colour-histogram logistic regression: {acc:.3f} (chance {1 / len(OBJECT_CLASSES):.3f})")
    assert acc < 0.35, f"colour histograms predict the main object too well ({acc:.2f})"


def test_planted_signal_is_found_by_the_same_regression(world):
    """The regression is not simply broken: give it the class as a feature and it succeeds."""
    _, hists, classes = world
    leaked = np.concatenate([hists, np.eye(len(OBJECT_CLASSES), dtype=np.float32)[classes]], 1)
    assert _logistic_accuracy(leaked, classes, int(0.8 * len(classes))) > 0.95


def test_same_seed_same_sample_and_different_seed_differs():
    a, b, c = render_sample(3, 5, 96), render_sample(3, 5, 96), render_sample(4, 5, 96)
    assert np.array_equal(a.image, b.image)
    assert all(np.array_equal(a.maps[k], b.maps[k]) for k in a.maps)
    assert not np.array_equal(a.image, c.image)


def test_generate_is_byte_identical_for_the_same_seed(tmp_path):
    one = generate(tmp_path / "a", n=5, size=48, seed=2, progress=False)
    two = generate(tmp_path / "b", n=5, size=48, seed=2, progress=False)
    names = sorted(p.relative_to(one).as_posix() for p in one.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(two).as_posix() for p in two.rglob("*") if p.is_file())
    match, mismatch, errors = filecmp.cmpfiles(one, two, names, shallow=False)
    assert not mismatch and not errors and len(match) == len(names)


@pytest.mark.parametrize("index", range(12))
def test_masks_are_consistent(index):
    s = render_sample(11, index, 96)
    m = s.maps
    assert (m["color"] > 0).all(), "every pixel has a colour"
    assert (m["object"] > 0).all(), "every pixel belongs to an object or a background region"
    assert not ((m["texture"] > 0) & (m["material"] > 0)).any()
    composite_codes = [OBJECT_NAMES.index(n) + 1 for n in COMPOSITES]
    assert np.isin(m["object"][m["part"] > 0], composite_codes).all(), "parts lie on composites"
    main = OBJECT_NAMES.index(s.label) + 1
    assert (m["object"] == main).sum() > 0.04 * m["object"].size, "the main object is visible"
    for code in np.unique(m["part"][m["part"] > 0]):
        owners = {OBJECT_NAMES[o - 1] for o in np.unique(m["object"][m["part"] == code])}
        assert all(PART_NAMES[code - 1] in COMPOSITES[o] for o in owners)


def test_scene_follows_content():
    assert scene_for("face", "indoor") == scene_for("face", "outdoor") == "portrait"
    assert scene_for("car", "outdoor") == "street"
    assert scene_for("tree", "outdoor") == "garden"
    assert scene_for("star", "indoor") == "gallery"
    for i in range(20):
        s = render_sample(5, i, 48)
        outdoor = (s.maps["object"] == OBJECT_NAMES.index("sky") + 1).any()
        assert s.scene == scene_for(s.label, "outdoor" if outdoor else "indoor")


def test_concepts_cli_writes_a_dataset(tmp_path, capsys):
    assert cli_main(["concepts", str(tmp_path / "w"), "--n", "3", "--size", "32"]) == 0
    assert (tmp_path / "w" / "index.csv").read_text().count("\n") == 4
    out = capsys.readouterr().out
    assert "wrote 3 images" in out and "color 11" in out


def test_concepts_cli_rejects_bad_arguments(tmp_path, capsys):
    assert "--n" in cli_error(capsys, ["concepts", str(tmp_path / "w"), "--n", "0"])


def test_concepts_run_result_table_is_label_csv(tmp_path):
    result = concepts_verb.run(None, None, ConceptsSettings(n=4, size=32, seed=1), tmp_path / "w")
    with open(tmp_path / "w" / "label.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    table = result.to_pandas()
    assert table["name"].tolist() == [r["name"] for r in rows]
    assert table["number"].tolist() == [int(r["number"]) for r in rows]
    assert result["labels"]["color"] == 11 and len(result["preview"]) == 4
    assert (tmp_path / "w" / "index.csv") in result.files and all(p.is_file() for p in result.files)
    assert "red-c" in result._repr_html_()


def test_concepts_settings_refuse_a_tiny_size():
    with pytest.raises(BadInputError, match="--size must be at least 16, got 8"):
        ConceptsSettings(size=8)
