"""The IoU tally (stats/iou.py): label batches, merged shards == one pass, each pixel counted once."""

from __future__ import annotations

import torch

from unitscope.stats import IoUTally, LabelBatch


def _label_batch(seed: int):
    g = torch.Generator().manual_seed(seed)
    label_category = torch.tensor([-1, 0, 0, 1, 1, 2])
    labels = [{"color": torch.randint(0, 3, (1, 6, 6), generator=g),
               "object": torch.randint(0, 2, (1, 6, 6), generator=g) * 3} for _ in range(4)]
    whole = [{"scene": [5]} if i % 2 else {} for i in range(4)]
    return LabelBatch.build(labels, whole, label_category, 3), label_category


def test_iou_tally_merge_equals_one_pass_and_round_trips():
    one = None
    shards = []
    for seed in range(4):
        labels, cats = _label_batch(seed)
        g = torch.Generator().manual_seed(100 + seed)
        masks = torch.rand(5, 6, 6, generator=g) > 0.6
        pi = torch.tensor([0, 1, 1, 2, 3])
        pu = torch.tensor([0, 0, 1, 1, 0])
        if one is None:
            one = IoUTally(2, cats, 3)
        one.update(masks, pi, pu, labels)
        shard = IoUTally(2, cats, 3)
        shard.update(masks, pi, pu, labels)
        shards.append(shard)
    merged = shards[0]
    for s in shards[1:]:
        merged.merge(s)
    assert torch.equal(merged.iou(), one.iou())
    assert torch.equal(merged.intersection, one.intersection)
    copy = IoUTally(2, torch.tensor([-1]), 1)
    copy.load_state_dict(one.state_dict())
    assert torch.equal(copy.iou(), one.iou()) and copy.images == one.images == 16


def test_label_batch_whole_labels_cover_every_pixel_once():
    labels, _ = _label_batch(0)
    assert labels.present.shape == (4, 3)
    counts = labels.label_pixels()
    assert counts[5] == 2 * 36  # two images with the whole-image scene label
    assert bool(labels.present[1, 2]) and not bool(labels.present[0, 2])


def test_label_batch_image_with_only_whole_labels_keeps_the_size():
    cats = torch.tensor([-1, 0, 1])
    labels = [{"color": torch.ones(1, 4, 4, dtype=torch.long), "scene": torch.zeros(0, 4, 4)},
              {"color": torch.zeros(0, 4, 4, dtype=torch.long)}]
    batch = LabelBatch.build(labels, [{}, {"scene": [2]}], cats, 2)
    assert batch.size == (4, 4)
    assert batch.label_pixels().tolist() == [0.0, 16.0, 16.0]
    assert batch.present.tolist() == [[True, False], [False, True]]


def test_label_combinations_rebuild_every_pixel_and_are_distinct(monkeypatch):
    from unitscope.stats import iou

    sorts, unique = [], torch.unique
    monkeypatch.setattr(iou.torch, "unique", lambda *a, **k: sorts.append(1) or unique(*a, **k))
    g = torch.Generator().manual_seed(0)
    for high in (4, 700):  # few labels: renumbered by table; many: the last plane needs the sort
        planes = torch.randint(0, high, (2, 3, 40, 40), generator=g)
        combo, combos, image = iou._combinations(planes, 1000)
        assert torch.equal(combos[combo].permute(0, 3, 1, 2), planes)
        assert torch.equal(image[combo], torch.arange(2).view(2, 1, 1).expand(2, 40, 40))
        assert len(sorts) == (high == 700)
        rows = torch.cat([image.unsqueeze(1), combos], 1)
        assert unique(rows, dim=0).shape[0] == rows.shape[0] == int(combo.max()) + 1


def test_a_label_twice_on_a_pixel_counts_once():
    cats = torch.tensor([-1, 0, 1])
    part = torch.zeros(2, 4, 4, dtype=torch.long)
    part[0, :2], part[1, :, :2] = 1, 1  # label 1 on two part levels; they overlap on a 2x2 corner
    part[0, 3, 3] = 2  # and the whole-image label 2 once more on a pixel
    batch = LabelBatch.build([{"part": part}], [{"scene": [2]}], cats, 2)
    assert batch.label_pixels().tolist() == [0.0, 12.0, 16.0]
    tally = IoUTally(1, cats, 2)
    tally.update(torch.ones(1, 4, 4, dtype=torch.bool), torch.tensor([0]), torch.tensor([0]), batch)
    assert tally.intersection[:, 0].tolist() == [0.0, 12.0, 16.0]
