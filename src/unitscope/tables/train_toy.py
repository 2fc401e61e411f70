"""Train `tabular-toy` on breast-cancer (seconds on a CPU) and write its weights file.

    python -m unitscope.tables.train_toy [OUT]
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..rundir import save_torch_atomic
from .spec import TableSpec
from .table import builtin_frame
from .toy import CLASSES, WEIGHTS, TabularToy

SEED, EPOCHS, LR, WEIGHT_DECAY = 0, 300, 0.01, 1e-3


def train(seed: int = SEED) -> tuple[TabularToy, TableSpec, dict[str, float]]:
    """Full-batch Adam on a fixed 80/20 split; returns the model, its spec and accuracies."""
    frame = builtin_frame()
    features = [c for c in frame.columns if c != "target"]
    spec = TableSpec.from_frame(frame, features)
    x = torch.tensor(frame[features].to_numpy(np.float32))
    y = torch.tensor(frame["target"].to_numpy(np.int64))
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    test, train_rows = order[: len(x) // 5], order[len(x) // 5:]
    torch.manual_seed(seed)
    model = TabularToy(spec)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    for _ in range(EPOCHS):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[train_rows]), y[train_rows]).backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(x).argmax(1)
    accuracy = {"train": float((predicted[train_rows] == y[train_rows]).float().mean()),
                "test": float((predicted[test] == y[test]).float().mean())}
    return model, spec, accuracy


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else Path(str(resources.files("unitscope.models") / "weights")) / WEIGHTS
    model, spec, accuracy = train()
    save_torch_atomic({"state_dict": model.state_dict(), "table_spec": spec.to_dict(),
                       "class_names": list(CLASSES), "meta": {"seed": SEED, "epochs": EPOCHS, **accuracy}},
                      out)
    print(f"tabular-toy: train accuracy {accuracy['train']:.3f}, test {accuracy['test']:.3f}; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
