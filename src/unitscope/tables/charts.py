"""Bar charts of one optimal row: standardized value per feature, coloured by gradient x input."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import colors  # noqa: E402

MAX_BARS = 30  # the features with the largest |gradient x input| when there are more


def row_chart(path: Path, title: str, features: list[str], z: np.ndarray, grad_x_input: np.ndarray) -> None:
    """Horizontal bars of z (the row in standard deviations from the mean), red where the feature
    raises the unit (gradient x input > 0), blue where it lowers it."""
    keep = np.argsort(-np.abs(grad_x_input))[:MAX_BARS][::-1]
    scale = float(np.abs(grad_x_input).max()) or 1.0
    face = plt.get_cmap("coolwarm")(colors.Normalize(-scale, scale)(grad_x_input[keep]))
    figure, axes = plt.subplots(figsize=(6, 0.22 * len(keep) + 1.0), dpi=90)
    axes.barh(range(len(keep)), z[keep], color=face)
    axes.set_yticks(range(len(keep)), [features[i] for i in keep], fontsize=7)
    for label in axes.get_yticklabels():
        label.set_parse_math(False)  # names come from user data: "$" stays a dollar sign
    axes.axvline(0, color="black", linewidth=0.6)
    axes.set_xlabel("value in std. devs from the mean; red raises the unit, blue lowers it", fontsize=8)
    axes.set_title(title, fontsize=9, parse_math=False)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
