"""Network Dissection (Bau, Zhou et al. 2017) in one forward pass per image, with bounded memory."""

from .result import DissectResult
from .rotation import fractional_power, random_orthogonal
from .run import run
from .settings import DissectSettings

__all__ = ["DissectResult", "DissectSettings", "fractional_power", "random_orthogonal", "run"]
