"""Train `text-toy` on a fresh code world (a few minutes on two CPU cores) and write its weights.

    python -m unitscope.sequences.train_toy [OUT]
"""

from __future__ import annotations

import math
import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..rundir import save_torch_atomic
from .codeworld import generate
from .toy import WEIGHTS, CharLSTM
from .vocabulary import UNKNOWN, Vocabulary
from .windows import spans

SEED, CHARS, STEPS, BATCH, LR = 0, 600_000, 6000, 32, 3e-3


def batches(text: str, vocabulary: Vocabulary, rng: np.random.Generator):
    """Endless batches of whole windows (as the verbs read them): inputs and next-char targets."""
    ids = vocabulary.encode(text)
    windows = spans(text)
    while True:
        group = [windows[i] for i in rng.integers(0, len(windows), BATCH)]
        width = max(s.end - s.start for s in group)
        x = np.full((BATCH, width), UNKNOWN, np.int64)
        y = np.full((BATCH, width), -100, np.int64)  # -100: ignored by cross_entropy
        for row, s in enumerate(group):
            x[row, :s.end - s.start] = ids[s.start:s.end]
            y[row, :s.end - s.start - 1] = ids[s.start + 1:s.end]
        yield torch.from_numpy(x), torch.from_numpy(y)


def train(seed: int = SEED, steps: int = STEPS, log=print) -> tuple[CharLSTM, dict[str, float]]:
    torch.manual_seed(seed)
    vocabulary = Vocabulary()
    model = CharLSTM(vocabulary.size)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    source = batches(generate(CHARS, seed), vocabulary, np.random.default_rng(seed))
    start, loss = time.perf_counter(), torch.tensor(0.0)
    for step in range(steps):
        x, y = next(source)
        loss = nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 250 == 0 or step == steps - 1:
            log(f"step {step}: {loss.item() / math.log(2):.3f} bits per character "
                f"({time.perf_counter() - start:.0f} s)")
    return model.eval(), {"bits_per_char": loss.item() / math.log(2), "steps": steps, "seed": seed}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else Path(str(resources.files("unitscope.models") / "weights")) / WEIGHTS
    model, meta = train()
    state = {"state_dict": model.state_dict(), "vocabulary": Vocabulary().alphabet, "meta": meta}
    save_torch_atomic(state, out)
    print(f"text-toy: {meta['bits_per_char']:.3f} bits per character; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
