"""Network Dissection (Bau, Zhou et al. 2017) in one forward pass per image, with bounded memory."""

from .rotation import fractional_power, random_orthogonal
from .run import run_dissect

__all__ = ["fractional_power", "random_orthogonal", "run_dissect"]
