"""Broden format: the writer's output reads back exactly; real-dataset quirks; clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.broden import QUIRKY_LABELS, concept_world, label_png, quirky_broden, write_csv
from unitscope.data import BrodenDataset, collate, render_sample
from unitscope.data.concepts import CATEGORIES
from unitscope.data.concepts.writer import half_size, label_numbers
from unitscope.errors import DataError
from unitscope.imageio import to_float

SEED, N, SIZE = 4, 10, 64


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    return concept_world(tmp_path_factory.mktemp("world"), seed=SEED, n=N, size=SIZE)


def test_round_trip_is_exact_for_every_category(written):
    ds = BrodenDataset(written)
    numbers = label_numbers()
    assert len(ds) == N and ds.segmentation_size == (SIZE // 2, SIZE // 2)
    assert ds.categories == ["color", "object", "part", "material", "scene", "texture"]
    for i in range(N):
        sample, item = render_sample(SEED, i, SIZE), ds[i]
        assert item.name == f"concepts/{i:06d}.jpg"
        original = torch.from_numpy(sample.image).permute(2, 0, 1) / 255
        assert item.image.dtype == torch.uint8  # decoded bytes: a quarter of floats to send
        assert (to_float(item.image) - original).abs().mean() < 0.05  # JPEG, not exact
        for cat in ("color", "object", "part", "material", "texture"):
            expect = numbers[cat][half_size(sample.maps[cat], SIZE // 2, SIZE // 2)]
            planes = item.labels[cat]
            if expect.any():
                assert planes.shape == (1, SIZE // 2, SIZE // 2) and planes.dtype == torch.int32
                assert np.array_equal(planes[0].numpy(), expect), (i, cat)
            else:
                assert planes.shape[0] == 0
        for cat in ("scene", "texture"):
            assert item.whole[cat] == [int(numbers[cat][c]) for c in sample.whole[cat]]
        assert ds.labels_table[item.whole["scene"][0]] == (sample.scene, "scene")


def test_label_tables_name_every_label_plainly(written):
    ds = BrodenDataset(written)
    for cat, names in CATEGORIES.items():
        got = [ds.label_names[n] for n in ds.category_labels(cat)]
        assert got == list(names)
        assert ds.primary_labels(cat) == ds.category_labels(cat)
    assert ds.raw_label_names[ds.label_names.index("red")] == "red-c"
    assert ds.raw_label_names[ds.label_names.index("street")] == "street-s"


def test_label_csv_frequencies_match_the_data(written):
    ds = BrodenDataset(written)
    seen: dict[int, int] = {}
    for i in range(len(ds)):
        item = ds[i]
        found = set()
        for cat in ds.categories:
            found |= {int(v) for v in item.labels[cat].unique() if v}
            found |= set(item.whole[cat])
        for n in found:
            seen[n] = seen.get(n, 0) + 1
    with open(written / "label.csv") as handle:
        for row in csv.DictReader(handle):
            assert int(row["frequency"]) == seen.get(int(row["number"]), 0), row


def test_iterate_and_dataloader_batches(written):
    ds = BrodenDataset(written, size=48)
    batches = list(ds.iterate(batch_size=4))
    assert [b.images.shape[0] for b in batches] == [4, 4, 2]
    assert batches[0].images.shape[1:] == (3, 48, 48)
    assert batches[1].indices == [4, 5, 6, 7] and len(batches[1].labels["part"]) == 4
    loader = torch.utils.data.DataLoader(ds, batch_size=5, collate_fn=collate)
    assert next(iter(loader)).names == ds.names[:5]


# --- a hand-written fixture with the real Broden's quirks (helpers.broden.quirky_broden) ----

def test_real_broden_quirks_read_correctly(tmp_path):
    ds = BrodenDataset(quirky_broden(tmp_path))
    assert ds.categories == ["color", "object", "material", "part", "scene", "texture"]
    assert ds.segmentation_size == (4, 4)
    a, b = ds[0], ds[1]
    assert a.labels["part"].shape == (2, 4, 4)  # two part levels, two planes
    assert a.labels["part"][0, 0].tolist() == [5, 5, 0, 0]
    assert a.labels["part"][1, 0].tolist() == [0, 6, 0, 0]
    assert a.labels["object"][0, 0].tolist() == [3, 3, 4, 4]
    assert a.whole["scene"] == [7] and a.labels["scene"].shape == (0, 4, 4)
    assert b.whole["texture"] == [8, 9] and b.labels["object"].shape[0] == 0
    assert b.split == "val" and a.image.shape == (3, 8, 8)
    assert ds.label_categories[4] == ["material", "object"]
    assert ds.labels_table[4] == ("fabric", "material")  # larger coverage wins
    assert ds.labels_table[1] == ("red", "color") and ds.labels_table[7] == ("street", "scene")
    assert ds.category_labels("object") == [3, 4] and ds.primary_labels("object") == [3]
    assert ds.label_names[0] == "-" and 0 not in ds.labels_table
    assert len(BrodenDataset(tmp_path, split="val")) == 1


def test_label_numbers_above_255_use_the_green_channel(tmp_path):
    root = quirky_broden(tmp_path)
    write_csv(root / "label.csv", [*QUIRKY_LABELS, ("300", "lamp", "object(1)", "1", "0.1", "")])
    arr = np.zeros((4, 4), np.int64)
    arr[1, 2] = 300
    label_png(root / "images" / "ade" / "b_color.png", arr)
    assert BrodenDataset(root)[1].labels["color"][0, 1, 2] == 300


# --- malformed input ---------------------------------------------------------------------


def _rewrite(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="no index.csv"):
        BrodenDataset(tmp_path)


@pytest.mark.parametrize(("name", "old", "new", "message"), [
    ("index.csv", "image,split,ih,iw,sh,sw", "image,split,ih,iw,sh,width",
     r"index.csv' lacks column\(s\) sw"),
    ("label.csv", "number,name", "num,name", "label.csv' lacks column"),
    ("index.csv", ",8;9", ",8;99", r"index.csv' row 3: texture label 99 is not in label.csv"),
], ids=["missing column", "missing label column", "unknown whole-image label names row"])
def test_malformed_csv_is_refused_on_opening(tmp_path, name, old, new, message):
    root = quirky_broden(tmp_path)
    _rewrite(root / name, old, new)
    with pytest.raises(DataError, match=message):
        BrodenDataset(root)


def test_missing_segmentation_file_names_file_and_row(tmp_path):
    root = quirky_broden(tmp_path)
    (root / "images" / "ade" / "a_part_2.png").unlink()
    ds = BrodenDataset(root)
    with pytest.raises(DataError, match=r"a_part_2.png' does not exist \(index.csv row 2\)"):
        ds[0]


def test_missing_image_names_file_and_row(tmp_path):
    root = quirky_broden(tmp_path)
    (root / "images" / "ade" / "b.jpg").unlink()
    with pytest.raises(DataError, match=r"b.jpg' does not exist \(index.csv row 3\)"):
        BrodenDataset(root)[1]


def test_unknown_label_in_png_names_file_and_row(tmp_path):
    root = quirky_broden(tmp_path)
    label_png(root / "images" / "ade" / "b_color.png", np.full((4, 4), 42))
    with pytest.raises(DataError, match=r"b_color.png' holds label 42.*\(index.csv row 3\)"):
        BrodenDataset(root)[1]


def test_bad_number_and_wrong_png_size(tmp_path):
    root = quirky_broden(tmp_path)
    _rewrite(root / "index.csv", "ade/b.jpg,val,8,8,4,4", "ade/b.jpg,val,8,8,four,4")
    with pytest.raises(DataError, match=r"row 3: sh 'four' is not a whole number"):
        BrodenDataset(root)
    _rewrite(root / "index.csv", "ade/b.jpg,val,8,8,four,4", "ade/b.jpg,val,8,8,5,4")
    with pytest.raises(DataError, match=r"b_color.png' is 4x4, but index.csv says"):
        BrodenDataset(root)[1]


def test_unknown_category_request(tmp_path):
    with pytest.raises(DataError, match="no category colour"):
        BrodenDataset(quirky_broden(tmp_path), categories=["colour"])
