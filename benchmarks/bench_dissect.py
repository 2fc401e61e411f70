"""Network Dissection throughput and memory: unitscope vs store-everything vs a bare forward.

For each model/layers (torchvision resnet18 layer3+layer4 at 224 px, random weights; toy conv5 at
128 px) on the concept world (upscaled for resnet18), prints images/s of

  bare forward   the same data pipeline and probe (early stop), no statistics: the limit
  unitscope      dissect.run end to end (one forward per image, cache, tally, reports)
  store-all      the older way: keep every activation, np.quantile per unit, loops per unit

and the ratios, then peak RSS of dissect.run for 1000 and 4000 images (each in a fresh
subprocess, VmHWM), which should not grow with N. Goal: unitscope >= 0.9x bare forward.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from unitscope import load_model
from unitscope.data.broden import BrodenDataset
from unitscope.dissect import DissectSettings
from unitscope.dissect import run as dissect
from unitscope.scan import scan

CONFIGS = {"resnet18": (["layer3", "layer4"], 224), "toy": (["conv5"], 128)}


class Repeat:
    """The first `n` items of a dataset cycled to length `total` (RSS runs need many images)."""

    def __init__(self, base, total: int) -> None:
        self.base, self.total = base, total
        self.categories, self.labels_table = base.categories, base.labels_table

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, i: int):
        return self.base[i % len(self.base)]


def world(path: Path | None, n: int) -> Path:
    if path is not None:
        return path
    from unitscope.data.concepts.generate import generate

    out = Path(tempfile.gettempdir()) / f"unitscope_bench_world_{n}"
    if not (out / "index.csv").is_file():
        generate(out, n=n, size=128, seed=0, progress=False)
    return out


def load(name: str, device: str = "auto"):
    return load_model(name, weights=None if name == "resnet18" else "DEFAULT", device=device)


def bare_forward(model, dataset, layers, batch_size, precision, workers=None) -> tuple[float, float]:
    """Images/s of the scan with no consumer (data loading + forward to the deepest layer), and
    its CPU milliseconds per image (all threads): steadier than wall time on a shared machine."""
    warm = Repeat(dataset, min(len(dataset), 2 * batch_size))
    scan({"model": model}, warm, layers, [], batch_size, precision=precision, progress=False)
    start, cpu = time.perf_counter(), time.process_time()
    scan({"model": model}, dataset, layers, [], batch_size, precision=precision, progress=False,
         workers=workers)
    return len(dataset) / (time.perf_counter() - start), 1e3 * (time.process_time() - cpu) / len(dataset)


def unitscope_dissect(model, dataset, layers, batch_size, precision, out, top_k=5, workers=None) -> dict:
    """End-to-end images/s, plus seconds per phase (the passes scale with N, the report does not)."""
    from unitscope.dissect import job, report

    seconds: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
        return wrapper

    saved = {name: getattr(job.Job, name) for name in ("pass1", "thresholds", "pass2")}
    saved_write = report.write
    for name, fn in saved.items():
        setattr(job.Job, name, timed(name, fn))
    report.write = timed("report", saved_write)
    settings = DissectSettings(layers=layers, batch_size=batch_size, precision=precision, top_k=top_k,
                               workers=workers)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        dissect(model, dataset, settings, out, progress=False)
        total, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        for name, fn in saved.items():
            setattr(job.Job, name, fn)
        report.write = saved_write
    streaming = seconds["pass1"] + seconds["thresholds"] + seconds["pass2"]
    return {"end_to_end": len(dataset) / total, "streaming": len(dataset) / streaming,
            "pass2_share": seconds["pass2"] / streaming, "report_s": seconds["report"],
            "setup_s": total - streaming - seconds["report"], "cpu_ms": 1e3 * cpu / len(dataset),
            "phases": {k: round(v, 2) for k, v in seconds.items()}}


def trends(data: Path, out: Path, batch_size: int) -> None:
    """The paper's trends on toy: detectors per category by layer, trained vs random, rotation."""
    model = load_model("toy")
    layers = ["conv1", "conv2", "conv3", "conv4", "conv5"]
    settings = DissectSettings(layers=layers, rotation=[1.0], baseline="random", batch_size=batch_size)
    result = dissect(model, data, settings, out, progress=True)
    cats = result["categories"]
    print(f"toy on {result['images']} concept-world images; detectors (IoU > {result['iou_threshold']}) "
          "by category of the top label, then unique labels (distinct / per-category sum)")
    print(f"{'layer':<7}" + "".join(f"{c:>9}" for c in cats) + "   unique   random-weights unique")
    for layer, entry in result["layers"].items():
        base = result["baseline_random"]["layers"][layer]["unique_detectors"]
        uniq = entry["unique_detectors"]
        print(f"{layer:<7}" + "".join(f"{entry['detectors_per_category'][c]:>9}" for c in cats)
              + f"   {uniq['distinct_top_labels']:>3}/{uniq['per_category_sum']:<4}"
              + f"   {base['distinct_top_labels']:>3}/{base['per_category_sum']}")
    print("rotation: " + ", ".join(f"{e['layer']} a={e['alpha']:g}: {e['detectors']} detectors "
                                    f"{e['unique']} unique" for e in result["rotation"]))


def store_everything(model, dataset, layers, batch_size, precision, quantile=0.005) -> float:
    """The older way: all activations in memory, np.quantile per unit, Python loops per unit."""
    start = time.perf_counter()
    kept = {layer: [] for layer in layers}
    labels = []

    def keep(batch):
        for layer in layers:
            kept[layer].append(batch.acts["model"][layer].float().numpy().copy())
        labels.extend((it.labels, it.whole) for it in batch.items)

    scan({"model": model}, dataset, layers, [keep], batch_size, precision=precision, progress=False)
    n_labels = max(dataset.labels_table) + 1
    for layer in layers:
        acts = np.concatenate(kept[layer])  # (N, U, h, w)
        thresholds = [np.quantile(acts[:, u], 1 - quantile) for u in range(acts.shape[1])]
        inter = np.zeros((acts.shape[1], n_labels))
        for u in range(acts.shape[1]):
            for i, (planes, whole) in enumerate(labels):
                seg = torch.cat([p for p in planes.values() if p.numel()]).numpy()
                up = F.interpolate(torch.from_numpy(acts[i, u])[None, None], size=seg.shape[1:],
                                   mode="bilinear", align_corners=False)[0, 0].numpy()
                mask = up > thresholds[u]
                inter[u] += np.bincount(seg[:, mask].ravel(), minlength=n_labels)[:n_labels]
                for numbers in whole.values():
                    inter[u, numbers] += mask.sum()
    return len(dataset) / (time.perf_counter() - start)


def rss_child(name: str, data: str, total: int, batch_size: int, scratch: str) -> None:
    """Run in a fresh process: dissect `total` images, print peak RSS in MiB."""
    layers, size = CONFIGS[name]
    model = load(name)
    dataset = Repeat(BrodenDataset(data, size=size), total)
    with tempfile.TemporaryDirectory(dir=scratch, prefix=".bench-dissect-") as out:
        dissect(model, dataset, DissectSettings(layers=layers, batch_size=batch_size, top_k=0), out,
                progress=False)
    print(json.dumps({"rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across execve, so a
    child forked from a big parent would report the parent's size at the fork (measured: 1976 MiB
    after the store-everything run vs 1120 MiB alone)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss(name: str, data: Path, total: int, batch_size: int, scratch: str) -> float:
    cmd = [sys.executable, __file__, "--rss-child", name, str(total), "--data", str(data),
           "--batch-size", str(batch_size), "--scratch", scratch]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["rss_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="toy,resnet18")
    parser.add_argument("--images", type=int, default=500, help="images for the throughput runs")
    parser.add_argument("--rss", default="1000,4000", help="image counts for the RSS runs ('' skips)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--scratch", default=".", help="where run directories go (as users' runs/ would); "
                        "this machine's /tmp creates files ~10x slower than the work disk (measured)")
    parser.add_argument("--workers", type=int, default=None,
                        help="data loading processes, both sides (default: unitscope's for the device)")
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N (default cpu)")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs; the best of each is shown")
    parser.add_argument("--precision", default=None, choices=["auto", "bf16", "fp32"])
    parser.add_argument("--data", type=Path, help="a Broden-format directory (default: concept world)")
    parser.add_argument("--no-reference", action="store_true", help="skip the store-everything run")
    parser.add_argument("--rss-child", nargs=2, metavar=("MODEL", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--peer-load", action="store_true",
                        help="run everything while two busy processes load the CPU (a shared machine)")
    parser.add_argument("--trends", type=Path, metavar="OUT",
                        help="dissect toy conv1-5 over 2000 concept-world images into OUT and print trends")
    args = parser.parse_args()
    if args.trends:
        trends(world(args.data, 2000), args.trends, args.batch_size)
        return
    if args.rss_child:
        rss_child(args.rss_child[0], str(args.data), int(args.rss_child[1]), args.batch_size, args.scratch)
        return
    data = world(args.data, min(args.images, 500))
    with peers(2 if args.peer_load else 0):
        throughput(args, data)


@contextlib.contextmanager
def peers(count: int) -> Iterator[None]:
    """`count` background processes that keep a core each busy (pure Python arithmetic, like
    another user's job), stopped when the block ends."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: sum(i * i for i in range(10000))"])
            for _ in range(count)]
    if busy:
        print(f"peer load: {count} busy processes", flush=True)
    try:
        yield
    finally:
        for proc in busy:
            proc.kill()
            proc.wait()


def throughput(args: argparse.Namespace, data: Path) -> None:
    """Bare forward vs unitscope (and the store-everything reference, and peak RSS) per model."""
    print(f"torch threads {torch.get_num_threads()}, data {data}, {args.images} images, "
          f"batch {args.batch_size}, best of {args.repeat} alternating runs, device {args.device}, "
          f"workers {'auto' if args.workers is None else args.workers}")
    for name in args.models.split(","):
        layers, size = CONFIGS[name]
        model = load(name, args.device)
        dataset = Repeat(BrodenDataset(data, size=size), args.images)
        bare, bare_cpu, ours = 0.0, 0.0, None
        for _ in range(args.repeat):  # alternate, keep the best of each: this machine's noise is large
            rate, cpu = bare_forward(model, dataset, layers, args.batch_size, args.precision, args.workers)
            bare, bare_cpu = max(bare, rate), cpu if rate >= bare else bare_cpu
            with tempfile.TemporaryDirectory(dir=args.scratch, prefix=".bench-dissect-") as out:
                run = unitscope_dissect(model, dataset, layers, args.batch_size, args.precision, out,
                                        workers=args.workers)
            ours = run if ours is None or run["end_to_end"] > ours["end_to_end"] else ours
        line = (f"{name} {'+'.join(layers)} @{size}px, {len(dataset)} images: bare forward {bare:.1f} img/s"
                f" | unitscope streaming {ours['streaming']:.1f} img/s ({ours['streaming'] / bare:.2f}x "
                f"bare; pass 2 {100 * ours['pass2_share']:.0f}% of it) | end to end {ours['end_to_end']:.1f}"
                f" img/s ({ours['end_to_end'] / bare:.2f}x; fixed: report {ours['report_s']:.1f}s, "
                f"setup {ours['setup_s']:.1f}s) | CPU ms/image: bare {bare_cpu:.1f}, unitscope "
                f"{ours['cpu_ms']:.1f} ({bare_cpu / ours['cpu_ms']:.2f}x) | phases (s) {ours['phases']}")
        if not args.no_reference:
            ref = store_everything(model, dataset, layers, args.batch_size, args.precision)
            line += (f" | store-all {ref:.1f} img/s (unitscope end to end {ours['end_to_end'] / ref:.1f}x, "
                     f"streaming {ours['streaming'] / ref:.1f}x)")
        print(line, flush=True)
        counts = [int(c) for c in args.rss.split(",") if c]
        if counts:
            peaks = {n: rss(name, data, n, args.batch_size, args.scratch) for n in counts}
            shown = ", ".join(f"{n} images {mib:.0f} MiB" for n, mib in peaks.items())
            growth = peaks[counts[-1]] / peaks[counts[0]]
            print(f"{name} peak RSS: {shown} (x{growth:.2f} from {counts[0]} to {counts[-1]})", flush=True)


if __name__ == "__main__":
    main()
