"""Train `text-toy` on a fresh code world and write its weights. The shipped weights:

    python -m unitscope.sequences.train_toy                                     # 6000 steps, ~25 min
    python -m unitscope.sequences.train_toy --init W --seed 1 --steps 4000 --lr 1e-3   # continued
"""

from __future__ import annotations

import argparse
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
from .toy import HIDDEN, WEIGHTS, CharLSTM
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


def train(seed: int = SEED, steps: int = STEPS, lr: float = LR, init: Path | None = None,
          hidden: int = HIDDEN, log=print) -> tuple[CharLSTM, dict[str, float]]:
    """Adam with a cosine schedule on windows of a fresh code world; `init`: continue from weights."""
    torch.manual_seed(seed)
    vocabulary = Vocabulary()
    model = CharLSTM(vocabulary.size, hidden)
    if init is not None:
        model.load_state_dict(torch.load(init, map_location="cpu", weights_only=True)["state_dict"])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    source = batches(generate(CHARS, seed), vocabulary, np.random.default_rng(seed))
    start, loss = time.perf_counter(), torch.tensor(0.0)
    for step in range(steps):
        x, y = next(source)
        loss = nn.functional.cross_entropy(model.logits(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % 250 == 0 or step == steps - 1:
            log(f"step {step}: {loss.item() / math.log(2):.3f} bits per character "
                f"({time.perf_counter() - start:.0f} s)")
    meta = {"bits_per_char": loss.item() / math.log(2), "steps": steps, "seed": seed, "lr": lr,
            "continued": init is not None, "hidden": hidden}
    return model.eval(), meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="train text-toy on a fresh code world")
    parser.add_argument("out", nargs="?", type=Path,
                        default=Path(str(resources.files("unitscope.models") / "weights")) / WEIGHTS)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--init", type=Path, help="continue from these text-toy weights")
    parser.add_argument("--hidden", type=int, default=HIDDEN, help="LSTM units")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    model, meta = train(args.seed, args.steps, args.lr, args.init, args.hidden)
    state = {"state_dict": model.state_dict(), "vocabulary": Vocabulary().alphabet, "meta": meta}
    save_torch_atomic(state, args.out)
    print(f"text-toy: {meta['bits_per_char']:.3f} bits per character; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
