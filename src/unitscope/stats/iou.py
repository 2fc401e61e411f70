"""Network Dissection's IoU tally: intersections and unions of unit masks and concept labels.

Counts are float64 sums of pixel counts (exact integers below 2**53), so shards add up to
exactly one pass. Intersections for all (unit, concept) pairs of a batch come from one
`bincount` of the active pixels by (unit, the pixel's label combination), spread to labels
through the small combination table, and one matrix product for whole-image labels: no loop
over units or concepts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ..errors import DataError


@dataclass
class LabelBatch:
    """The concept labels of a batch of images, as each pixel's *combination* of labels.

    A batch has a few hundred distinct (image, labels of a pixel) combinations against ~10^5
    pixels, so pixels carry a combination number and the labels live in a small table, each
    label at most once per combination. combo: (B, sh, sw) combination of each pixel; combos:
    (K, P) its label numbers (0 = none); combo_image: (K,) its image; whole: (B, C) whole-image
    labels; present: (B, num_categories) which categories have a label in each image.
    """

    combo: torch.Tensor
    combos: torch.Tensor
    combo_image: torch.Tensor
    whole: torch.Tensor
    present: torch.Tensor

    @property
    def size(self) -> tuple[int, int]:
        return int(self.combo.shape[1]), int(self.combo.shape[2])

    @classmethod
    def build(
        cls,
        labels: Sequence[Mapping[str, torch.Tensor]],
        whole: Sequence[Mapping[str, Sequence[int]]],
        label_category: torch.Tensor,
        num_categories: int,
        size: tuple[int, int] | None = None,
    ) -> LabelBatch:
        """From per-image {category: (P, sh, sw) planes} and {category: [label, ...]} dicts."""
        num_labels = int(label_category.shape[0])
        stacks = [_image_planes(lab, size) for lab in labels]
        sizes = {tuple(s.shape[1:]) for s in stacks}
        if len(sizes) != 1:
            raise DataError(f"segmentations of different sizes {sorted(sizes)} in one batch; "
                            "give the dataset a fixed size")
        planes = _stack_padded(stacks)
        wmat = torch.zeros(len(stacks), num_labels, dtype=torch.bool)
        for i, entry in enumerate(whole):
            for numbers in entry.values():
                for n in numbers:
                    wmat[i, _check_label(int(n), num_labels)] = True
        if planes.numel() and int(planes.max()) >= num_labels:
            raise DataError(f"segmentation label {int(planes.max())} is not in label.csv")
        wmat[:, 0] = False
        combo, combos, combo_image = _combinations(planes, num_labels)
        combos = _dedupe(combos, wmat.index_select(0, combo_image))
        presence = wmat.clone()
        presence[combo_image.unsqueeze(1).expand_as(combos), combos] = True
        presence[:, 0] = False
        onehot = torch.zeros(num_labels, num_categories, dtype=torch.float32)
        known = label_category >= 0
        onehot[torch.nonzero(known).squeeze(1), label_category[known]] = 1.0
        present = (presence.float() @ onehot) > 0
        return cls(combo, combos, combo_image, wmat, present)

    def combo_pixels(self) -> torch.Tensor:
        """(K,) pixels of each combination in this batch."""
        return torch.bincount(self.combo.reshape(-1).long(), minlength=self.combos.shape[0])

    def spread(self, per_combo: torch.Tensor, num_labels: int) -> torch.Tensor:
        """(K, ...) counts per combination -> (num_labels, ...) counts per label (label 0 dropped)."""
        out = torch.zeros(num_labels, *per_combo.shape[1:], dtype=per_combo.dtype)
        for plane in self.combos.t():
            out.index_add_(0, plane, per_combo)
        out[0] = 0
        return out

    def label_pixels(self) -> torch.Tensor:
        """(C,) pixels covered by each label in this batch (whole labels cover every pixel)."""
        counts = self.spread(self.combo_pixels().double(), self.whole.shape[1])
        sh, sw = self.size
        return counts + self.whole.sum(0).double() * (sh * sw)


def _combinations(planes: torch.Tensor, num_labels: int) -> tuple[torch.Tensor, ...]:
    """(B, P, sh, sw) planes -> each pixel's combination (B, sh, sw), the combinations' labels
    (K, P) and images (K,). Keys start as the pixel's image and take in one plane at a time,
    renumbered densely after each (a bincount table, no sort: a batch has few combinations)."""
    b, depth, sh, sw = planes.shape
    columns = planes.permute(1, 0, 2, 3).reshape(depth, -1)
    key, bound = torch.arange(b).repeat_interleave(sh * sw), b
    for column in columns:
        used = torch.bincount(column, minlength=num_labels) > 0
        width = int(used.sum())
        dense = (torch.cumsum(used, 0) - 1).index_select(0, column)  # the plane's labels, renumbered
        key, bound = _renumber(key * width + dense, bound * width)
    pixel = torch.empty(bound, dtype=torch.long).scatter_(0, key, torch.arange(key.shape[0]))
    return key.view(b, sh, sw), columns.index_select(1, pixel).t().contiguous(), pixel // (sh * sw)


def _renumber(key: torch.Tensor, bound: int) -> tuple[torch.Tensor, int]:
    """Keys in [0, bound) -> 0..K-1 in the same order, and K."""
    if bound <= 1 << 20:
        used = torch.bincount(key, minlength=bound) > 0
        return (torch.cumsum(used, 0) - 1).index_select(0, key), int(used.sum())
    found, inverse = torch.unique(key, return_inverse=True)
    return inverse, int(found.shape[0])


def _image_planes(labels: Mapping[str, torch.Tensor], size: tuple[int, int] | None) -> torch.Tensor:
    """All label planes of one image as (P, sh, sw); empty (0, sh, sw) planes still give the size."""
    planes = [p.long().reshape(-1, *p.shape[-2:]) for p in labels.values() if p.dim() >= 2]
    shapes = {tuple(p.shape[1:]) for p in planes}
    if len(shapes) > 1:
        raise DataError(f"segmentation planes of one image differ in size: {sorted(shapes)}")
    if not shapes:
        if size is None:
            raise DataError("an image has no segmentation planes; give the segmentation size")
        return torch.zeros(0, *size, dtype=torch.long)
    return torch.cat(planes, 0)


def _stack_padded(stacks: list[torch.Tensor]) -> torch.Tensor:
    """(B, P, sh, sw) from per-image (P_i, sh, sw) planes, zero-padded to the deepest (P >= 1)."""
    depth = max(1, max(s.shape[0] for s in stacks))
    if all(s.shape[0] == depth for s in stacks):
        return torch.stack(stacks)
    planes = torch.zeros(len(stacks), depth, *stacks[0].shape[1:], dtype=torch.long)
    for i, s in enumerate(stacks):
        planes[i, : s.shape[0]] = s
    return planes


def _check_label(number: int, num_labels: int) -> int:
    if not 0 <= number < num_labels:
        raise DataError(f"whole-image label {number} is not in label.csv")
    return number


def _dedupe(combos: torch.Tensor, whole: torch.Tensor) -> torch.Tensor:
    """Each label at most once per combination: drop labels its image's whole-image labels
    (whole: (K, C)) already cover, and zero a label an earlier plane of it has."""
    combos = combos.masked_fill(torch.gather(whole, 1, combos), 0)
    for j in range(1, combos.shape[1]):
        repeat = (combos[:, :j] == combos[:, j : j + 1]).any(1)
        combos[:, j].masked_fill_(repeat, 0)
    return combos


class IoUTally:
    """Sums of |M ∩ L|, |M| per labelled category and |L| for units x concepts."""

    def __init__(self, units: int, label_category: torch.Tensor, num_categories: int) -> None:
        self.units = int(units)
        self.label_category = label_category.long().clone()
        self.num_categories = int(num_categories)
        n = int(label_category.shape[0])
        self.intersection = torch.zeros(n, self.units, dtype=torch.float64)
        self.category_area = torch.zeros(self.num_categories, self.units, dtype=torch.float64)
        self.label_area = torch.zeros(n, dtype=torch.float64)
        self.unit_area = torch.zeros(self.units, dtype=torch.float64)
        self.images = 0

    def update(
        self,
        masks: torch.Tensor,
        pair_image: torch.Tensor,
        pair_unit: torch.Tensor,
        labels: LabelBatch,
    ) -> None:
        """Add a batch: masks (n, sh, sw) bool for the (image, unit) pairs that may have pixels on
        (pairs absent are all-off), and the batch's labels."""
        self.add_masks(masks, pair_image, pair_unit, labels)
        self.add_labels(labels)

    def add_labels(self, labels: LabelBatch) -> None:
        """Count a batch's label pixels (once per batch, however its masks were chunked)."""
        self.label_area += labels.label_pixels()
        self.images += int(labels.whole.shape[0])

    def add_masks(self, masks, pair_image, pair_unit, labels: LabelBatch) -> None:
        """Add dense masks (n, sh, sw) of some (image, unit) pairs; call `add_labels` once too."""
        ys, xs, pair = torch.nonzero(masks.permute(1, 2, 0), as_tuple=True)
        self.add_pixels(pair_image[pair], pair_unit[pair], ys, xs, labels)

    def add_pixels(self, image, unit, ys, xs, labels: LabelBatch) -> None:
        """Add active pixels given as flat (image, unit, y, x) tensors, each pixel at most once;
        intersections for all (unit, concept) pairs come from one bincount."""
        batch = labels.whole.shape[0]
        per_image = torch.bincount(image * self.units + unit, minlength=batch * self.units)
        per_image = per_image.view(batch, self.units).double()
        self.unit_area += per_image.sum(0)
        self.category_area += labels.present.double().t() @ per_image
        self.intersection += labels.whole.double().t() @ per_image
        if image.numel() == 0:
            return
        sh, sw = labels.size
        combo = labels.combo.reshape(-1).index_select(0, (image * sh + ys) * sw + xs).long()
        per_combo = torch.bincount(combo * self.units + unit, minlength=labels.combos.shape[0] * self.units)
        per_combo = per_combo.view(-1, self.units).double()
        self.intersection += labels.spread(per_combo, self.intersection.shape[0])

    def iou(self) -> torch.Tensor:
        """(C, units) IoU; 0 where the union is empty or the label has no category."""
        cat = self.label_category.clamp(min=0)
        unit_side = self.category_area[cat]
        unit_side[self.label_category < 0] = 0
        union = unit_side + self.label_area.unsqueeze(1) - self.intersection
        iou = torch.where(union > 0, self.intersection / union.clamp(min=1), torch.zeros_like(union))
        iou[self.label_category < 0] = 0
        return iou

    def merge(self, other: IoUTally) -> IoUTally:
        """Add another shard's counts (in place); returns self."""
        if other.intersection.shape != self.intersection.shape:
            raise ValueError("cannot merge IoU tallies over different units or labels")
        self.intersection += other.intersection
        self.category_area += other.category_area
        self.label_area += other.label_area
        self.unit_area += other.unit_area
        self.images += other.images
        return self

    def state_dict(self) -> dict:
        return {
            "units": self.units,
            "label_category": self.label_category.clone(),
            "num_categories": self.num_categories,
            "intersection": self.intersection.clone(),
            "category_area": self.category_area.clone(),
            "label_area": self.label_area.clone(),
            "unit_area": self.unit_area.clone(),
            "images": self.images,
        }

    def load_state_dict(self, state: dict) -> None:
        self.units = int(state["units"])
        self.label_category = state["label_category"].clone()
        self.num_categories = int(state["num_categories"])
        for key in ("intersection", "category_area", "label_area", "unit_area"):
            setattr(self, key, state[key].clone())
        self.images = int(state["images"])
