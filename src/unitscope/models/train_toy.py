"""Train the built-in `toy` on the concept world: classify each image's main object.

Reproducible recipe: a fixed pool of world images (seed 1000) drawn once in worker
processes, flips and shifts as augmentation, AdamW with a one-cycle schedule, batch norm
during training folded into the convolutions at the end, bf16 autocast + channels_last where
the CPU has fast bf16. Accuracy is measured on fresh images of another seed (1001); tests use
yet another seed. The weights file is written atomically when training ends.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data.concepts.objects import OBJECT_CLASSES
from ..data.concepts.world import render_sample
from ..precision import autocast, channels_last
from ..rundir import save_torch_atomic
from ..settings import Settings, option, seed_option
from .toy import TOY_MEAN, TOY_SIZE, TOY_STD, ToyNet, fold_batchnorm

TRAIN_WORLD_SEED = 1000
VAL_WORLD_SEED = 1001


def _render_range(args: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    seed, start, stop, size = args
    images = np.empty((stop - start, size, size, 3), dtype=np.uint8)
    labels = np.empty(stop - start, dtype=np.int64)
    for i, index in enumerate(range(start, stop)):
        sample = render_sample(seed, index, size)
        images[i] = sample.image
        labels[i] = OBJECT_CLASSES.index(sample.label)
    return images, labels


def world_images(
    seed: int, n: int, size: int = TOY_SIZE, workers: int = 1, progress: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 N x 3 x size x size images, main-object class indices) of world images 0..n-1."""
    chunk = 250
    jobs = [(seed, s, min(s + chunk, n), size) for s in range(0, n, chunk)]
    bar = tqdm(total=n, desc=f"world seed {seed}", unit="img", disable=not progress)
    parts = []
    if workers > 1:
        with mp.get_context("spawn").Pool(workers) as pool:
            for part in pool.imap(_render_range, jobs):
                parts.append(part)
                bar.update(len(part[1]))
    else:
        for job in jobs:
            parts.append(_render_range(job))
            bar.update(len(parts[-1][1]))
    bar.close()
    images = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, size, size, 3), np.uint8)
    labels = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels)


def _normalize(images: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(TOY_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(TOY_STD).view(1, 3, 1, 1)
    x = (images.float() / 255.0 - mean) / std
    return x.contiguous(memory_format=torch.channels_last)


def _augment(images: torch.Tensor, gen: torch.Generator, shift: int = 10) -> torch.Tensor:
    """Per-image horizontal flips and one random shift (edge-padded) per batch."""
    flip = torch.rand(images.shape[0], generator=gen) < 0.5
    images = torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)
    dx, dy = (int(v) for v in torch.randint(-shift, shift + 1, (2,), generator=gen))
    padded = F.pad(images.float(), (shift, shift, shift, shift), mode="replicate")
    h, w = images.shape[2:]
    return padded[:, :, shift + dy : shift + dy + h, shift + dx : shift + dx + w]


@torch.no_grad()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 250) -> float:
    """Top-1 accuracy of `model` (taking normalized inputs) on uint8 images."""
    model.eval()
    correct = 0
    for start in range(0, len(labels), batch):
        with autocast():
            logits = model(_normalize(images[start : start + batch]))
        correct += int((logits.argmax(1) == labels[start : start + batch]).sum())
    return correct / max(len(labels), 1)


@dataclass(frozen=True)
class TrainToySettings(Settings):
    """`unitscope train-toy`: the recipe of the shipped weights is the default."""

    VERB: ClassVar[str] = "train-toy"
    images: int = option(30000, "training images", low=1)
    epochs: int = option(8, "passes over them", low=1)
    batch_size: int = option(128, "images per step", low=1)
    lr: float = option(3e-3, "peak AdamW learning rate", above=0)
    seed: int = seed_option("initialisation and shuffling seed")
    workers: int = option(2, "processes drawing images", low=1)
    val_images: int = option(1000, "validation images", low=1)
    threads: int = option(1, "torch threads (1: the shipped weights' setting; 2 is ~2x faster when idle)",
                          low=1)
    snapshots: bool = option(False, "also write OUT.epochN after each epoch")


def train_toy(out: str | Path, settings: TrainToySettings | None = None, progress: bool = True,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train ToyNet from scratch and write {'state_dict', 'class_names', 'meta'} to `out`.

    One torch thread by default: far faster when the machine is oversubscribed (OpenMP workers
    spin waiting for each other).
    """
    s = settings or TrainToySettings()
    images, epochs, batch_size, lr, seed = s.images, s.epochs, s.batch_size, s.lr, s.seed
    workers, val_images, threads, snapshots = s.workers, s.val_images, s.threads, s.snapshots
    if threads:
        torch.set_num_threads(threads)
    start = time.time()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x_train, y_train = world_images(TRAIN_WORLD_SEED, images, workers=workers, progress=progress)
    x_val, y_val = world_images(VAL_WORLD_SEED, val_images, workers=workers, progress=progress)
    log(f"drew {images} training and {val_images} validation images in {time.time() - start:.0f}s")
    settings = {
        "val_images": val_images, "train_images": images, "epochs": epochs,
        "batch_size": batch_size, "lr": lr, "seed": seed, "threads": torch.get_num_threads(),
    }  # fmt: skip
    net = channels_last(ToyNet(len(OBJECT_CLASSES), norm=True))
    decay = [p for p in net.parameters() if p.dim() > 1]
    no_decay = [p for p in net.parameters() if p.dim() <= 1]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}], lr=lr
    )
    steps_per_epoch = math.ceil(images / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.15
    )
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(images, generator=gen)
        total, seen = 0.0, 0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{epochs}", disable=not progress)
        for step in bar:
            idx = order[step * batch_size : (step + 1) * batch_size]
            x = _normalize(_augment(x_train[idx], gen))
            with autocast():
                loss = F.cross_entropy(net(x), y_train[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        acc = accuracy(net, x_val, y_val)
        log(f"epoch {epoch + 1}: loss {total / seen:.3f}, val top-1 {acc:.4f}, {time.time() - start:.0f}s")
        if snapshots and epoch + 1 < epochs:
            _save(net, x_val, y_val, start, f"{out}.epoch{epoch + 1}", dict(settings, epochs_done=epoch + 1))
    meta = _save(net, x_val, y_val, start, out, settings)
    log(f"wrote {out}: val top-1 {meta['val_top1']:.4f} in {meta['train_seconds']:.0f}s")
    return meta


def _save(net, x_val, y_val, start: float, out: str | Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Fold batch norm, measure validation accuracy, write the weights file; return its meta."""
    plain = fold_batchnorm(net.float().eval()).eval()
    net.train()
    final = accuracy(plain, x_val, y_val)
    elapsed = time.time() - start
    meta = {
        "val_top1": final,
        "val_world_seed": VAL_WORLD_SEED,
        "train_world_seed": TRAIN_WORLD_SEED,
        **settings,
        "train_seconds": round(elapsed, 1),
        "params": sum(p.numel() for p in plain.parameters()),
        "torch": str(torch.__version__),
        "machine": f"{platform.machine()} x{os.cpu_count()}",
        "python": sys.version.split()[0],
    }
    state = {k: v.contiguous() for k, v in plain.state_dict().items()}
    save_torch_atomic({"state_dict": state, "class_names": list(OBJECT_CLASSES), "meta": meta}, out)
    return meta


