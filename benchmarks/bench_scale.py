"""Scaling out: one dissection in 1 process x 1 thread vs 2 processes x 1 thread (torchrun, gloo).

    .venv/bin/python benchmarks/bench_scale.py                  # toy conv5 and resnet18 layer4, 2000 images
    .venv/bin/python benchmarks/bench_scale.py --images 400     # quicker

Same data (the concept world; resnet18 at 224 px, random weights) and settings on both sides,
wall time of the whole command. Also prints the bytes each process sent to the others (the
`distributed:` line every rank logs), per run and per image, for N and N/2 images: it should
not grow with N beyond the top-k images' maps, i.e. O(units x labels).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = {"toy": ("conv5", []), "resnet18": ("layer4", ["--weights", "none", "--size", "224"])}


def world(n: int) -> Path:
    from unitscope.data.concepts.generate import generate

    out = Path(tempfile.gettempdir()) / f"unitscope_bench_world_{n}"
    if not (out / "index.csv").is_file():
        generate(out, n=n, size=128, seed=0, progress=False)
    return out


def dissect(model: str, data: Path, images: int, procs: int, scratch: str) -> tuple[float, float, int]:
    """(wall seconds of the command, seconds of the passes as dissect logs them, bytes rank 0
    sent) of `unitscope dissect` over the first `images` images."""
    layer, extra = MODELS[model]
    launcher = [sys.executable]
    if procs > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory(dir=scratch, prefix=".bench-scale-") as out:
        cmd = [*launcher, "-m", "unitscope.cli", "dissect", model, str(subset(data, images, scratch)), layer,
               *extra, "--device", "cpu", "--out", out]
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    sent = re.findall(r"distributed: rank 0 sent (\d+) bytes", done.stderr)
    passes = re.findall(r"dissect: \d+ images in ([\d.]+) s", done.stderr)
    return seconds, float(passes[0]) if passes else float("nan"), int(sent[0]) if sent else 0


def subset(data: Path, images: int, scratch: str) -> Path:
    """A Broden folder listing the first `images` images of `data` (index.csv cut, files linked)."""
    out = Path(scratch) / f".bench-scale-data-{data.name}-{images}"
    if not (out / "index.csv").is_file():
        out.mkdir(parents=True, exist_ok=True)
        lines = (data / "index.csv").read_text().splitlines()
        (out / "index.csv").write_text("\n".join(lines[: images + 1]) + "\n")
        for name in ("label.csv", "category.csv", *[p.name for p in data.glob("c_*.csv")]):
            (out / name).write_bytes((data / name).read_bytes())
        if not (out / "images").exists():
            (out / "images").symlink_to((data / "images").resolve())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--models", default="toy,resnet18")
    parser.add_argument("--scratch", default=".", help="where run directories go")
    args = parser.parse_args()
    data = world(args.images)
    print(f"dissect over {args.images} concept-world images; OMP_NUM_THREADS=1 in every process")
    for model in args.models.split(","):
        alone, alone_passes, _ = dissect(model, data, args.images, 1, args.scratch)
        two, two_passes, sent = dissect(model, data, args.images, 2, args.scratch)
        _, _, sent_half = dissect(model, data, args.images // 2, 2, args.scratch)
        per_image = sent / args.images / 1e3
        print(f"{model} {MODELS[model][0]}: whole command 1 process {alone:.1f} s, 2 processes {two:.1f} s: "
              f"speed-up {alone / two:.2f}x; the passes alone {alone_passes:.1f} s vs {two_passes:.1f} s: "
              f"{alone_passes / two_passes:.2f}x | rank 0 sent {sent / 1e6:.2f} MB ({per_image:.1f} kB per "
              f"image) for {args.images} images, {sent_half / 1e6:.2f} MB for {args.images // 2}", flush=True)


if __name__ == "__main__":
    main()
