"""Concept-world generator speed: drawing alone and drawing + writing Broden files.

Goal (issue 3): `unitscope concepts OUT --n 2000 --size 128` in under a minute, i.e.
>= 33.3 images/s end to end. Prints images/s and the ratio to that goal.

    .venv/bin/python benchmarks/bench_concepts.py [--n 2000] [--size 128]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from unitscope.data.concepts import render_sample
from unitscope.data.concepts.generate import generate

GOAL_IMAGES_PER_S = 2000 / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()

    start = time.perf_counter()
    for i in range(args.n):
        render_sample(0, i, args.size)
    draw_rate = args.n / (time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        generate(tmp, n=args.n, size=args.size, seed=0, progress=False)
        elapsed = time.perf_counter() - start
    write_rate = args.n / elapsed

    print(f"concept world, {args.n} images of {args.size}px (goal: 2000 in 60 s = "
          f"{GOAL_IMAGES_PER_S:.1f} img/s)")  # fmt: skip
    print(f"{'stage':<24}{'img/s':>10}{'x goal':>10}")
    print(f"{'draw only':<24}{draw_rate:>10.1f}{draw_rate / GOAL_IMAGES_PER_S:>10.2f}")
    print(f"{'draw + write Broden':<24}{write_rate:>10.1f}{write_rate / GOAL_IMAGES_PER_S:>10.2f}")
    print(f"2000 images would take {2000 / write_rate:.1f} s end to end")


if __name__ == "__main__":
    main()
