"""Network Dissection: exactness against a store-everything reference, planted detectors, resume.

The data are in memory (helpers.broden: images, pixel labels, whole-image labels) and the nets
hand-built (helpers.nets), so the tests depend on neither the concept world nor trained weights.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.broden import CATEGORIES, RANDOM_TABLE, MemoryBroden, planted_broden, random_broden
from helpers.nets import planted_detectors, tiny_model
from unitscope.dissect import DissectResult, DissectSettings, run
from unitscope.errors import BadInputError, CheckpointError, DataError

pytestmark = pytest.mark.usefixtures("one_thread")


def dissect(model, data, out, **fields) -> DissectResult:
    """`run` with DissectSettings(**fields), no progress bars."""
    return run(model, data, DissectSettings(**fields), out, progress=False)


# ---- a plain reference for random data -------------------------------------------------------------


def reference_iou(model, dataset: MemoryBroden, layer: str, quantile: float, negative: bool = False):
    """Store every activation, np.quantile per unit, explicit loops over images x units x labels;
    masks from a dense float64 bilinear upsample."""
    from unitscope.probe import record

    acts = []
    with torch.no_grad():
        for item in dataset.items:
            x = model.input_spec.normalize(item.image[None])
            acts.append(record(model.module, x, [layer])[layer][0].float())
    acts = torch.stack(acts)  # (N, U, h, w)
    n_units = acts.shape[1]
    q = quantile if negative else 1 - quantile
    thresholds = [np.quantile(acts[:, u].double().numpy().ravel(), q) for u in range(n_units)]
    labels = sorted(dataset.labels_table)
    cat_of = {c: dataset.labels_table[c][1] for c in labels}
    inter = {(c, u): 0 for c in labels for u in range(n_units)}
    unit_area = {(c, u): 0 for c in labels for u in range(n_units)}
    label_area = dict.fromkeys(labels, 0)
    for i, item in enumerate(dataset.items):
        planes = torch.cat([p.view(-1, *p.shape[-2:]) for p in item.labels.values()]).numpy()
        sh, sw = planes.shape[1:]
        whole = {c for numbers in item.whole.values() for c in numbers}
        pixel_masks = {c: np.ones((sh, sw), bool) if c in whole else (planes == c).any(0) for c in labels}
        present_cats = {cat_of[c] for c in labels if pixel_masks[c].any()}
        for c in labels:
            label_area[c] += int(pixel_masks[c].sum())
        for u in range(n_units):
            up = F.interpolate(acts[i, u][None, None].double(), size=(sh, sw), mode="bilinear",
                               align_corners=False)[0, 0].numpy()
            mask = up < thresholds[u] if negative else up > thresholds[u]
            for c in labels:
                inter[(c, u)] += int((mask & pixel_masks[c]).sum())
                if cat_of[c] in present_cats:
                    unit_area[(c, u)] += int(mask.sum())
    iou = np.zeros((max(labels) + 1, n_units))
    for (c, u), both in inter.items():
        union = unit_area[(c, u)] + label_area[c] - both
        iou[c, u] = both / union if union else 0.0
    return iou, np.array(thresholds)


def _tally_iou(out, layer: str, negative: bool = False) -> dict[tuple[int, str], float]:
    """All per-category IoUs from units.csv (0-based units, every category labelled), keyed by
    (unit, category)."""
    import csv

    path = out / "dissect" / layer / ("units_negative.csv" if negative else "units.csv")
    rows = list(csv.DictReader(open(path)))
    return {(int(r["unit"]), cat): (r[f"{cat}-label"], float(r[f"{cat}-iou"]))
            for r in rows for cat in CATEGORIES if f"{cat}-iou" in r}


def test_thresholds_are_exact_and_ious_match_reference_to_1e6(tmp_path):
    model, data = tiny_model(), random_broden()
    result = dissect(model, data, tmp_path, layers=["conv2"], quantile=0.05, negative=True, precision="fp32",
                     batch_size=4)
    for negative in (False, True):
        ref, thresholds = reference_iou(model, data, "conv2", 0.05, negative)
        section = result["negative"] if negative else result
        units = section["layers"]["conv2"]["units"]
        got_t = [units[f"conv2:{u}"]["threshold"] for u in range(4)]
        assert np.array_equal(np.array(got_t), thresholds)
        for (u, cat), (label, iou) in _tally_iou(tmp_path, "conv2", negative).items():
            number = next(n for n, (name, _) in RANDOM_TABLE.items() if name == label)
            assert abs(iou - ref[number, u]) < 1e-6
            in_cat = [c for c, (_, k) in RANDOM_TABLE.items() if k == cat]
            assert abs(ref[number, u] - max(ref[c, u] for c in in_cat)) < 1e-12
        for u in range(4):
            best = int(np.argmax(ref[:, u]))
            entry = units[f"conv2:{u}"]
            assert abs(entry["iou"] - ref[best, u]) < 1e-6
            assert entry["label"] == RANDOM_TABLE[best][0]
    assert any(e["iou"] > 0 for e in result["layers"]["conv2"]["units"].values())


def test_uneven_batches_give_the_reference_thresholds_and_labels(tmp_path):
    model, data = tiny_model(), random_broden(n=24, seed=1)
    result = dissect(model, data, tmp_path, layers="conv2", quantile=0.05, precision="fp32", batch_size=5)
    ref, thresholds = reference_iou(model, data, "conv2", 0.05)
    for u in range(4):
        entry = result["layers"]["conv2"]["units"][f"conv2:{u}"]
        assert entry["threshold"] == thresholds[u]
        assert entry["label"] == RANDOM_TABLE[int(np.argmax(ref[:, u]))][0]
        assert abs(entry["iou"] - ref[:, u].max()) < 1e-6


def test_a_loading_process_gives_the_same_tally_as_loading_in_process(tmp_path):
    """workers=1 ships items across as numpy arrays; the tally must not notice."""
    model, data = tiny_model(), random_broden(n=12, seed=2)
    for workers in (0, 1):
        dissect(model, data, tmp_path / f"w{workers}", layers="conv2", quantile=0.05, precision="fp32",
                batch_size=5, workers=workers)
    for name in ("tally.csv", "units.csv"):
        tallies = [(tmp_path / f"w{w}" / "dissect" / "conv2" / name).read_text() for w in (0, 1)]
        assert tallies[0] == tallies[1] and tallies[0].count("\n") == 5


# ---- planted detectors (helpers.nets.planted_detectors on helpers.broden.planted_broden) -------

def test_planted_detectors_get_their_concepts(tmp_path):
    result = dissect(planted_detectors(), planted_broden(), tmp_path, layers="features", quantile=0.08,
                     batch_size=8, precision="fp32")
    units = result["layers"]["features"]["units"]
    expect = {"features:0": ("red-c", "color"), "features:1": ("striped", "texture"),
              "features:2": ("box", "object")}
    for address, (label, category) in expect.items():
        assert (units[address]["label"], units[address]["category"]) == (label, category), units[address]
        assert units[address]["iou"] > 0.5 and units[address]["detector"]
    layer = result["layers"]["features"]
    assert layer["unique_detectors"]["distinct_top_labels"] == 3
    assert layer["detectors_per_category"]["color"] == 1
    manifest = json.loads((tmp_path / "manifest.json").read_text())["verbs"]["dissect"]
    files = [manifest["json"], *manifest["tally"], *manifest["units_csv"], *manifest["charts"],
             *units["features:0"]["top_images"]]
    for rel in files:
        assert (tmp_path / rel).is_file(), rel
    assert not (tmp_path / "dissect" / ".work").exists()
    _strip_shows(tmp_path / units["features:0"]["top_images"][0], channel=0)  # red where the red unit fired
    _strip_shows(tmp_path / units["features:2"]["top_images"][0], channel=2)  # blue for the box unit


def test_the_notebook_view_shows_strips_facts_and_labels(tmp_path):
    result = dissect(planted_detectors(), planted_broden(n=20), tmp_path, layers="features", quantile=0.08,
                     batch_size=8, precision="fp32", top_k=2)
    shown = result.display()
    assert ("layers", "features") in shown.facts and ("images", "20") in shown.facts
    assert ("detectors", "features 3/3") in shown.facts
    strips = [tmp_path / f"dissect/features/{u}_top.jpg" for u in range(3)]
    assert [path for path, _ in shown.images] == strips
    assert shown.images[0][1].startswith("features:0 red-c (")
    assert list(shown.table.columns) == ["layer", "unit", "label", "category", "iou", "detector"]
    assert shown.table.label.tolist() == ["red-c", "striped", "box"] and shown.table.detector.all()
    html = result._repr_html_()
    assert html.count("<img") == 3 and "data:image/jpeg;base64," in html and "striped" in html


def _strip_shows(path, channel: int, k: int = 5, size: int = 64) -> None:
    """The strip holds k tiles; its undimmed (bright) pixels are mostly of the given colour."""
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB")).astype(float)
    assert pixels.shape == (size, k * size + (k - 1) * 2, 3)
    bright = pixels[pixels.max(-1) > 120]
    others = np.delete(bright, channel, axis=1).max(1)
    assert len(bright) > 200 and np.mean(bright[:, channel] > 2 * others) > 0.7


def test_bf16_gives_the_same_planted_labels(tmp_path):
    result = dissect(planted_detectors(), planted_broden(n=20), tmp_path, layers="features", quantile=0.08,
                     batch_size=8, precision="bf16")
    labels = [result["layers"]["features"]["units"][f"features:{u}"]["label"] for u in range(3)]
    assert labels == ["red-c", "striped", "box"]


# ---- the result: tables, files, settings ---------------------------------------------------------

def test_to_pandas_is_the_units_csv_and_files_are_what_the_run_wrote(tmp_path):
    import pandas as pd

    result = dissect(tiny_model(), random_broden(n=10, seed=8), tmp_path, layers="conv1,conv2", batch_size=4,
                     negative=True, baseline="random", top_k=2)
    for layer in ("conv1", "conv2"):
        pd.testing.assert_frame_equal(result.to_pandas(layer),
                                      pd.read_csv(tmp_path / "dissect" / layer / "units.csv"))
        pd.testing.assert_frame_equal(result.to_pandas(layer, netdissect=True),
                                      pd.read_csv(tmp_path / "dissect" / layer / "tally.csv"))
    table = result.to_pandas()
    assert table.columns[0] == "layer" and table.layer.tolist() == ["conv1"] * 6 + ["conv2"] * 4
    pd.testing.assert_frame_equal(table[table.layer == "conv2"].drop(columns="layer").reset_index(drop=True),
                                  result.to_pandas("conv2"))
    with pytest.raises(BadInputError, match="layer 'conv9' was not dissected; this run has conv1, conv2"):
        result.to_pandas("conv9")
    written = sorted(p for p in (tmp_path / "dissect").rglob("*") if p.is_file())
    assert sorted(result.files) == written and result.files[0] == tmp_path / "dissect" / "dissect.json"
    suffixes = {p.suffix for p in result.files}
    assert suffixes == {".json", ".csv", ".png", ".jpg"}
    assert len([p for p in result.files if p.suffix == ".csv"]) == 16  # 2 tables x 2 layers x sign x baseline
    assert len([p for p in result.files if p.suffix == ".jpg"]) == 10  # one strip per unit of the model


def test_dissect_json_holds_the_settings_and_they_round_trip(tmp_path):
    settings = DissectSettings(layers="conv2", quantile=0.02, iou_threshold=0.1, rotation="0.5", batch_size=4,
                               top_k=1, seed=3)
    result = run(tiny_model(), random_broden(n=8), settings, tmp_path, progress=False)
    saved = json.loads((tmp_path / "dissect" / "dissect.json").read_text())
    assert saved["settings"] == result["settings"] == settings.to_dict()
    assert saved["settings"]["rotation"] == [0.5] and saved["settings"]["layers"] == ["conv2"]
    assert DissectSettings(**saved["settings"]) == settings == result.settings
    assert saved["quantile"] == 0.02 and saved["iou_threshold"] == 0.1  # the older keys stay


@pytest.mark.parametrize(("fields", "message"), [
    ({"quantile": 0.7}, "--quantile must be in (0, 0.5), got 0.7"),
    ({"quantile": 0}, "--quantile must be in (0, 0.5), got 0"),
    ({"iou_threshold": 2}, "--iou-threshold must be in [0, 1], got 2"),
    ({"rotation": (0, 1.5)}, "--rotation must be in [0, 1], got 1.5"),
    ({"rotation": "0,x"}, "--rotation '0,x' is not a comma-separated list of numbers"),
    ({"baseline": "zeros"}, "--baseline 'zeros' is unknown; use one of random"),
    ({"batch_size": 0}, "--batch-size must be at least 1, got 0"),
    ({"checkpoint_every": 0}, "--checkpoint-every must be at least 1, got 0"),
    ({"size": 0}, "--size must be at least 1, got 0"),
    ({"top_k": -1}, "--top-k must be at least 0, got -1"),
    ({"workers": -2}, "--workers must be at least 0, got -2"),
    ({"precision": "fp16"}, "--precision 'fp16' is unknown"),
])
def test_settings_refuse_bad_values_in_one_line(fields, message):
    with pytest.raises(BadInputError) as refused:
        DissectSettings(layers="conv5", **fields)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_settings_read_lists_from_text_and_fingerprint_what_decides_the_content():
    settings = DissectSettings(layers=["conv3,conv5", "fc8", "conv3"], rotation="1,0.5")
    assert settings.layers == ("conv3", "conv5", "fc8") and settings.alphas() == [0.0, 0.5, 1.0]
    assert set(settings.to_dict()) - set(settings.fingerprint()) == {"checkpoint_every", "workers"}
    assert "resume" not in settings.to_dict() and "shard" not in settings.to_dict()  # how, not what
    assert "size" in settings.fingerprint()


def test_opened_datasets_and_layers_are_checked_before_any_work(tmp_path):
    with pytest.raises(BadInputError, match="no layers given"):
        run(tiny_model(), random_broden(n=4), None, tmp_path, progress=False)
    with pytest.raises(BadInputError, match="--size 32 applies to a dataset given as a path"):
        dissect(tiny_model(), random_broden(n=4), tmp_path, layers="conv2", size=32)
    with pytest.raises(DataError, match="has no images"):
        dissect(tiny_model(), MemoryBroden([], RANDOM_TABLE), tmp_path, layers="conv2")
    assert not (tmp_path / "dissect").exists()


# ---- resume -------------------------------------------------------------------------------------

def test_killed_run_resumes_to_identical_tally(tmp_path, caplog):
    model = tiny_model()
    data = random_broden(n=22, seed=3)
    common = dict(layers=("conv1", "conv2"), batch_size=3, checkpoint_every=2, rotation=[1.0], negative=True,
                  precision="fp32")
    clean = tmp_path / "clean"
    dissect(model, data, clean, **common)
    killed = tmp_path / "killed"
    crash = MemoryBroden(data.items, RANDOM_TABLE, fail_at=16)  # dies in batch 5, after checkpoint 4
    with pytest.raises(RuntimeError, match="simulated crash"):
        dissect(model, crash, killed, **common)
    done = sorted(p.name for p in (killed / "dissect" / ".work" / "chunks").iterdir())
    assert done == [f"c{i:06d}.pt" for i in range(4)]  # one batch a chunk; loading batch 5 crashed
    # before batch 4 was consumed (the scan reads a batch ahead)
    assert not (killed / "dissect" / "dissect.json").exists()
    with caplog.at_level("INFO", logger="unitscope.dissect"):
        dissect(model, data, killed, resume=True, **common)
    assert caplog.records[0].getMessage() == "dissect: resuming with 4 chunks of pass 1 done"
    for layer in ("conv1", "conv2"):
        for name in ("tally.csv", "tally_negative.csv", "units.csv", "units_negative.csv"):
            assert (killed / "dissect" / layer / name).read_bytes() == \
                (clean / "dissect" / layer / name).read_bytes()
    a = json.loads((clean / "dissect" / "dissect.json").read_text())
    b = json.loads((killed / "dissect" / "dissect.json").read_text())
    assert a == b and len(a["rotation"]) == 4  # the settings block says what, not how: no "resume"


def test_run_killed_in_pass_2_resumes_to_identical_tally_and_images(tmp_path, monkeypatch):
    """Thumbnails of batches tallied before the crash are gone; the report decodes those again."""
    from unitscope.dissect import job

    model, data = tiny_model(), random_broden(n=22, seed=5)
    common = dict(layers="conv2", batch_size=3, checkpoint_every=2, precision="fp32")
    dissect(model, data, tmp_path / "clean", **common)
    real, calls = job.tally_batch, []

    def dies_in_batch_5(*args, **kwargs):
        calls.append(1)
        if len(calls) == 6:
            raise RuntimeError("simulated crash in pass 2")
        return real(*args, **kwargs)

    monkeypatch.setattr(job, "tally_batch", dies_in_batch_5)
    with pytest.raises(RuntimeError, match="pass 2"):
        dissect(model, data, tmp_path / "killed", **common)
    state = json.loads((tmp_path / "killed" / "dissect" / ".work" / "state.json").read_text())
    assert state["thresholds"] and len(list((tmp_path / "killed/dissect/.work/chunks").iterdir())) == 8
    monkeypatch.setattr(job, "tally_batch", real)
    dissect(model, data, tmp_path / "killed", resume=True, **common)
    files = sorted(p.relative_to(tmp_path / "clean") for p in (tmp_path / "clean" / "dissect").rglob("*")
                   if p.suffix in (".csv", ".jpg"))
    assert len(files) == 6  # tally.csv, units.csv, 4 strips
    for rel in files:
        assert (tmp_path / "killed" / rel).read_bytes() == (tmp_path / "clean" / rel).read_bytes(), rel


def test_thumbnails_beyond_the_kept_limit_are_decoded_again_identically(tmp_path, monkeypatch):
    from unitscope.dissect import job, strips

    model, data = tiny_model(), random_broden(n=12, seed=6)
    common = dict(layers="conv2", batch_size=4, precision="fp32")
    decoded = []
    real_image_only = strips.image_only
    monkeypatch.setattr(strips, "image_only", lambda *a: decoded.append(a[1]) or real_image_only(*a))
    dissect(model, data, tmp_path / "all", **common)
    assert decoded == []  # every top image's thumbnail came from the cache
    monkeypatch.setattr(job, "KEPT_THUMBNAILS", 2)
    dissect(model, data, tmp_path / "two", **common)
    assert len(decoded) == len(set(decoded)) > 0
    strip_files = sorted((tmp_path / "all" / "dissect" / "conv2").glob("*_top.jpg"))
    assert len(strip_files) == 4
    for path in strip_files:
        assert (tmp_path / "two" / "dissect" / "conv2" / path.name).read_bytes() == path.read_bytes()


def test_a_cache_that_no_longer_matches_pass_1_is_a_clear_error(tmp_path, monkeypatch):
    from unitscope.dissect import job

    real = job.exact_thresholds

    def after_tampering(*args, **kwargs):
        path = next((tmp_path / "dissect" / ".work").rglob("b0000000.pt"))
        payload = torch.load(path, weights_only=True)
        payload["acts"]["model/conv2"] += 1.0
        torch.save(payload, path)
        return real(*args, **kwargs)

    monkeypatch.setattr(job, "exact_thresholds", after_tampering)
    with pytest.raises(CheckpointError, match="does not match pass 1"):
        dissect(tiny_model(), random_broden(n=8), tmp_path, layers="conv2", batch_size=4, precision="fp32")


def test_resume_with_other_settings_is_refused(tmp_path):
    model = tiny_model()
    data = random_broden(n=9, seed=4)
    crash = MemoryBroden(data.items, RANDOM_TABLE, fail_at=7)
    common = dict(layers="conv2", batch_size=2, checkpoint_every=1)
    with pytest.raises(RuntimeError):
        dissect(model, crash, tmp_path, **common)
    with pytest.raises(CheckpointError, match="different settings"):
        dissect(model, data, tmp_path, quantile=0.01, resume=True, **common)


def test_resume_of_a_cache_in_an_older_format_is_refused(tmp_path, monkeypatch):
    from unitscope.dissect import checkpoint

    model = tiny_model()
    data = random_broden(n=9, seed=4)
    common = dict(layers="conv2", batch_size=2, checkpoint_every=1)
    monkeypatch.setattr(checkpoint, "CACHE_FORMAT", 1)
    with pytest.raises(RuntimeError):
        dissect(model, MemoryBroden(data.items, RANDOM_TABLE, fail_at=7), tmp_path, **common)
    monkeypatch.setattr(checkpoint, "CACHE_FORMAT", 2)
    with pytest.raises(CheckpointError, match="cache_format"):
        dissect(model, data, tmp_path, resume=True, **common)


def test_nan_activations_are_a_clear_error_and_leave_nothing(tmp_path):
    data = random_broden(n=8)
    data.items[5].image[0, 3, 3] = float("nan")
    with pytest.raises(DataError, match="NaN activations on images 4-7"):
        dissect(tiny_model(), data, tmp_path, layers="conv2", batch_size=4, checkpoint_every=1)
    broken = tiny_model()
    with torch.no_grad():
        broken.module.conv2.bias[1] = float("nan")
    with pytest.raises(BadInputError, match="weights of TinyNet contain NaN"):
        dissect(broken, random_broden(n=8), tmp_path / "other", layers="conv2")
    assert not (tmp_path / "other").exists()


def test_baseline_and_rotation_sections(tmp_path):
    from unitscope import run as run_verb

    settings = DissectSettings(layers="conv2", batch_size=5, rotation=[0.5, 1.0], baseline="random")
    result = run_verb(tiny_model(), random_broden(n=10, seed=5), settings, tmp_path, progress=False)
    assert isinstance(result, DissectResult)
    assert set(result["baseline_random"]["layers"]) == {"conv2"}
    assert [e["alpha"] for e in result["rotation"]] == [0.0, 0.5, 1.0]
    assert (tmp_path / "dissect" / "baseline_random" / "conv2" / "tally.csv").is_file()
    assert (tmp_path / "dissect" / "baseline_random" / "conv2" / "units.csv").is_file()
    assert (tmp_path / "dissect" / "rotation.png").is_file()
    assert list(result.to_pandas().layer.unique()) == ["conv2"]  # the baseline is not in the table


def test_masked_strips_show_each_image_inside_its_mask_and_dimmed_outside():
    from unitscope.dissect.strips import masked_strips

    images = torch.randint(0, 256, (4, 8, 8, 3), dtype=torch.uint8)  # 2 units x k = 2 tiles of 8 px
    maps = torch.zeros(4, 2, 2)
    maps[:, 0, 0] = 1.0  # each map is hot in its top-left cell only
    strips = masked_strips(images, maps, torch.full((4,), 0.5, dtype=torch.float64), k=2, gap=2)
    assert strips.shape == (2, 8, 18, 3) and bool((strips[:, :, 8:10] == 255).all())
    up = F.interpolate(maps.unsqueeze(1), size=(8, 8), mode="bilinear", align_corners=False)[:, 0] > 0.5
    for tile in range(4):
        shown = strips[tile // 2, :, (tile % 2) * 10 : (tile % 2) * 10 + 8]
        dimmed = (images[tile].double() * 0.2).round().to(torch.uint8)
        assert torch.equal(shown, torch.where(up[tile].unsqueeze(-1), images[tile], dimmed))
    assert 0 < int(up.sum()) < up.numel()


def test_thumbnails_are_rounded_uint8_at_most_thumb_pixels():
    from unitscope.dissect.strips import THUMB, thumbnails

    small = torch.tensor([0.0, 0.5, 1.0, 1.2, -0.1, 0.2]).view(1, 3, 1, 2)
    assert thumbnails(small).dtype == torch.uint8
    assert thumbnails(small).view(-1).tolist() == [0, 128, 255, 255, 0, 51]
    assert thumbnails(torch.rand(2, 3, 2 * THUMB, 2 * THUMB)).shape == (2, 3, THUMB, THUMB)


def test_report_background_errors_surface_and_threads_are_restored(tmp_path):
    from unitscope.dissect.background import Background

    threads = torch.get_num_threads()
    with pytest.raises(OSError), Background() as background:
        background.strip(torch.zeros(4, 4, 3, dtype=torch.uint8), tmp_path / "no such folder" / "0_top.jpg")
    assert torch.get_num_threads() == threads
