"""Per-unit top-k (or bottom-k) images by a score, with where it happened and optional maps.

Ties break by the lower image index so shards merged in any order give the same answer as one
pass. Memory is O(units x k), whatever the number of images.
"""

from __future__ import annotations

import torch


class TopK:
    """The k largest (or, with `largest=False`, smallest) scores per unit, with image and (x, y)."""

    def __init__(self, units: int, k: int, largest: bool = True, keep_maps: bool = False) -> None:
        self.units = int(units)
        self.k = int(k)
        self.largest = bool(largest)
        self.keep_maps = bool(keep_maps)
        self.values = torch.empty(self.units, 0, dtype=torch.float64)
        self.images = torch.empty(self.units, 0, dtype=torch.long)
        self.positions = torch.empty(self.units, 0, 2, dtype=torch.long)
        self.maps: torch.Tensor | None = None

    def update(
        self,
        scores: torch.Tensor,
        images: torch.Tensor,
        positions: torch.Tensor,
        maps: torch.Tensor | None = None,
    ) -> None:
        """Add a batch: scores (B, units), image indices (B,), positions (B, units, 2) as (x, y),
        maps (B, units, h, w) if `keep_maps`."""
        values = scores.detach().double().t()
        imgs = images.view(1, -1).expand(self.units, -1).long()
        pos = positions.detach().long().transpose(0, 1)
        bmaps = maps.detach().transpose(0, 1) if self.keep_maps else None
        self._combine(values, imgs, pos, bmaps)

    def merge(self, other: TopK) -> TopK:
        """Fold another TopK over the same units into this one (in place); returns self."""
        if (other.units, other.k, other.largest) != (self.units, self.k, self.largest):
            raise ValueError("cannot merge TopK accumulators with different units, k or direction")
        self._combine(other.values, other.images, other.positions, other.maps)
        return self

    def _combine(self, values, images, positions, maps) -> None:
        values = torch.cat([self.values, values], 1)
        images = torch.cat([self.images, images], 1)
        positions = torch.cat([self.positions, positions], 1)
        # Stable sorts: image index ascending first, then by score, so ties keep the lower index.
        order = torch.argsort(images, dim=1, stable=True)
        values, images = values.gather(1, order), images.gather(1, order)
        by_score = torch.argsort(values, dim=1, descending=self.largest, stable=True)[:, : self.k]
        full = torch.gather(order, 1, by_score)
        self.values = values.gather(1, by_score)
        self.images = images.gather(1, by_score)
        self.positions = positions.gather(1, full.unsqueeze(-1).expand(-1, -1, 2))
        if self.keep_maps and maps is not None:
            self.maps = self._winning_maps(full, maps)

    def _winning_maps(self, full: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """The kept maps (units, k, h, w) float32: `full` indexes the old maps, then the new ones
        (units, n, h, w), which are only gathered (and widened) for the winners."""
        kept = 0 if self.maps is None else self.maps.shape[1]

        def index(t: torch.Tensor) -> torch.Tensor:
            return t.view(*full.shape, 1, 1).expand(*full.shape, *maps.shape[2:])

        fresh = torch.gather(maps, 1, index((full - kept).clamp(min=0))).float()
        if not kept:
            return fresh
        old = torch.gather(self.maps, 1, index(full.clamp(max=kept - 1)))
        return torch.where((full < kept).view(*full.shape, 1, 1), old, fresh)

    def state_dict(self) -> dict:
        return {
            "units": self.units,
            "k": self.k,
            "largest": self.largest,
            "keep_maps": self.keep_maps,
            "values": self.values.clone(),
            "images": self.images.clone(),
            "positions": self.positions.clone(),
            "maps": None if self.maps is None else self.maps.clone(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.units, self.k = int(state["units"]), int(state["k"])
        self.largest, self.keep_maps = bool(state["largest"]), bool(state["keep_maps"])
        self.values = state["values"].clone()
        self.images = state["images"].clone()
        self.positions = state["positions"].clone()
        self.maps = None if state["maps"] is None else state["maps"].clone()


def spatial_extreme(acts: torch.Tensor, largest: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Per (image, unit) spatial max (or min) of (B, U, H, W) maps and its (x, y) position."""
    flat = acts.flatten(2)  # in the maps' own dtype: max and min are exact in any of them
    values, where = (flat.max(2) if largest else flat.min(2))
    width = acts.shape[3]
    positions = torch.stack([where % width, torch.div(where, width, rounding_mode="floor")], -1)
    return values.float(), positions
