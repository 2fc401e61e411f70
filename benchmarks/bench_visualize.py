"""Feature visualization speed: unitscope vs Lucent, and vs the bare truncated forward+backward.

    .venv/bin/python benchmarks/bench_visualize.py            # resnet18 layer2+layer3, 8 ch, 64 steps
    .venv/bin/python benchmarks/bench_visualize.py --quick    # a one-minute smoke run
    .venv/bin/python benchmarks/bench_visualize.py --olah     # + all toy conv5 units vs 2000 images
    .venv/bin/python benchmarks/bench_visualize.py --vit --layers   # only the ViT rows (vit_b_16)

Same model (torchvision resnet18, random weights, seed 0), same units, steps, image size,
FFT + decorrelated parameterization, Lucid's standard transforms and Adam lr 0.05 on both sides.
Lucent is measured two ways: its standard usage (one unit per `render_vis` call, batch 1) and
batched (one `render_vis` with a batch of N and the sum of per-element channel objectives);
Lucent draws one transform per batch, unitscope one per element. Lucent runs fp32 (it has no
precision switch); unitscope is shown at its default (bf16 autocast where the CPU has it) and
fp32. Lucent (`torch-lucent`, plus kornia 0.4.1 and decorator) is installed with
`pip --no-deps --target` into a cache folder on first use, never into the environment.
Timings are best-of-`--repeat` so load from other processes inflates them least.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import best_of  # noqa: E402
from unitscope import precision as prec  # noqa: E402
from unitscope.models import load_model
from unitscope.optvis import RenderSettings, channel, render
from unitscope.probe import Probe

LUCENT_DIR = Path(os.environ.get("UNITSCOPE_LUCENT_DIR",
                                 Path(tempfile.gettempdir()) / "unitscope-bench-lucent"))
LUCENT_PACKAGES = ["torch-lucent==0.1.8", "kornia==0.4.1", "decorator"]


def import_lucent():
    """Import Lucent, installing it (no deps) into LUCENT_DIR on first use; None if impossible."""
    if str(LUCENT_DIR) not in sys.path:
        sys.path.insert(0, str(LUCENT_DIR))
    _stub_ipython()
    try:
        from lucent.optvis import objectives, param
        from lucent.optvis import render as lrender
        return objectives, param, lrender
    except ImportError:
        pass
    print(f"installing Lucent into {LUCENT_DIR} (pip --no-deps --target) ...", flush=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
           str(LUCENT_DIR), *LUCENT_PACKAGES]
    if subprocess.run(cmd).returncode != 0:
        print("could not install Lucent; run:\n  " + " ".join(cmd))
        return None
    importlib.invalidate_caches()
    from lucent.optvis import objectives, param
    from lucent.optvis import render as lrender
    return objectives, param, lrender


def _stub_ipython() -> None:
    """Lucent imports IPython.display only to show images in notebooks; a stub is enough."""
    try:
        import IPython.display  # noqa: F401
    except ImportError:
        ipython = types.ModuleType("IPython")
        ipython.display = types.ModuleType("IPython.display")
        sys.modules.setdefault("IPython", ipython)
        sys.modules.setdefault("IPython.display", ipython.display)


def lucent_one_by_one(lucent, module, layer, channels, steps, size):
    """Lucent's usual call: one unit per `render_vis` (batch 1)."""
    objectives, param, lrender = lucent
    for c in channels:
        lrender.render_vis(module, f"{layer}:{c}", param_f=lambda: param.image(size),
                           thresholds=(steps,), show_image=False, progress=False)


def lucent_batched(lucent, module, layer, channels, steps, size):
    objectives, param, lrender = lucent
    obj = sum(objectives.channel(layer, c, batch=i) for i, c in enumerate(channels))
    lrender.render_vis(module, obj, param_f=lambda: param.image(size, batch=len(channels)),
                       thresholds=(steps,), show_image=False, progress=False)


def bare_step_time(model, layer, batch, side, precision, steps, repeat) -> float:
    """Seconds per forward (stopped after `layer`) + backward to the input, weights frozen."""
    module = model.module.eval()
    flags = [(p, p.requires_grad) for p in module.parameters()]
    module.requires_grad_(False)
    device = model.device
    bf16 = prec.resolve(precision, device) == "bf16"
    if bf16:
        prec.channels_last(module)
    x = torch.rand(batch, 3, side, side, device=device)
    x = (x.contiguous(memory_format=torch.channels_last) if bf16 else x).requires_grad_(True)
    try:
        with Probe(module, [layer]) as probe:
            def run():
                for _ in range(steps):
                    with prec.autocast(precision, device):
                        act = probe(x)[layer]
                    act[:, 0].float().mean().backward()
                synchronize(device)
            run()
            return best_of(run, repeat, warmup=0) / steps
    finally:
        module.to(memory_format=torch.contiguous_format)
        for p, flag in flags:
            p.requires_grad_(flag)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that wall times include it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def profile_steps(model, layer, channels, args, precision) -> None:
    """Where an optimization step's time goes: the top operators by self time over 16 steps."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if model.device.type == "cuda" else [])
    settings = RenderSettings(size=args.size, steps=16, precision=precision)
    with profile(activities=activities) as prof:
        render(model, channel(layer, channels), settings, progress=False)
        synchronize(model.device)
    key = "self_cuda_time_total" if model.device.type == "cuda" else "self_cpu_time_total"
    print(f"\n-- profile of 16 steps ({precision or 'default'} precision), by {key}")
    print(prof.key_averages().table(sort_by=key, row_limit=25, max_name_column_width=60))


def measure_ours(model, layer, channels, args, precision) -> dict[str, float]:
    """Best-of-repeat render time, its loop time per step, and the bare step time measured
    right after each render (interleaved, so both see the same machine load)."""
    side = args.size + 12  # standard transforms: +24 pad, -8 and -4 jitter
    settings = RenderSettings(size=args.size, steps=args.steps, precision=precision)
    best = {"total": float("inf"), "loop": float("inf"), "bare": float("inf")}
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = render(model, channel(layer, channels), settings, progress=False)
        synchronize(model.device)
        best["total"] = min(best["total"], time.perf_counter() - start)
        best["loop"] = min(best["loop"], result.loop_seconds / args.steps)
        bare = bare_step_time(model, layer, len(channels), side, precision,
                              min(args.steps, 16), 1)
        best["bare"] = min(best["bare"], bare)
    return best


def bench_layer(model, lucent, layer, args) -> None:
    channels = list(range(args.channels))
    n = len(channels)
    warm_up = RenderSettings(size=args.size, steps=1)
    render(model, channel(layer, channels), warm_up, progress=False)
    ours = {"unitscope (default: " + prec.resolve(None, model.device) + ")": measure_ours(
        model, layer, channels, args, None)}
    ours["unitscope fp32"] = measure_ours(model, layer, channels, args, "fp32")
    rows = {name: m["total"] for name, m in ours.items()}
    if lucent is not None:
        module = model.module
        single = channels[:args.lucent_single] if args.lucent_single else channels
        rows["Lucent, one unit per call"] = best_of(
            lambda: lucent_one_by_one(lucent, module, layer, single, args.steps, args.size),
            args.repeat, warmup=0) * len(channels) / len(single)
        rows["Lucent, batched"] = best_of(
            lambda: lucent_batched(lucent, module, layer, channels, args.steps, args.size),
            args.repeat, warmup=0)
        if model.device.type == "cuda":  # unitscope's fp32 is strict (no TF32): Lucent the same way
            with prec.strict_fp32(model.device):
                rows["Lucent, batched, strict fp32"] = best_of(
                    lambda: lucent_batched(lucent, module, layer, channels, args.steps, args.size),
                    args.repeat, warmup=0)
    print(f"\n== resnet18 {layer}: {n} channels, {args.steps} steps, {args.size}px, "
          f"standard transforms, best of {args.repeat}")
    for name, seconds in rows.items():
        print(f"  {name:<34} {seconds:8.2f} s  {n / seconds:7.3f} units/s")
    if lucent is not None:
        default, fp32 = list(ours)
        for name in ("Lucent, one unit per call", "Lucent, batched"):
            print(f"  speed-up vs {name:<25} {rows[name] / rows[default]:6.2f}x (default), "
                  f"{rows[name] / rows[fp32]:6.2f}x (fp32)")
        if "Lucent, batched, strict fp32" in rows:
            print(f"  speed-up vs Lucent, batched, both strict fp32: "
                  f"{rows['Lucent, batched, strict fp32'] / rows[fp32]:6.2f}x")
    for name, m in ours.items():
        step = m["total"] / args.steps
        print(f"  {name}: bare forward+backward {m['bare'] * 1000:.1f} ms/step; unitscope "
              f"{m['loop'] * 1000:.1f} ms/step in the loop (ratio {m['loop'] / m['bare']:.2f}), "
              f"{step * 1000:.1f} ms/step with setup and final evaluation "
              f"(ratio {step / m['bare']:.2f})")


VIT_LAYER = "encoder.layers.encoder_layer_6.mlp.1"  # block 6's MLP features (GELU, 3072 x 14x14)


def bench_vit(args) -> None:
    """vit_b_16 (random weights) block-6 MLP features: the step vs the bare forward+backward of the
    truncated model (goal <= 1.2x), and MACO vs FFT: the activation each reaches at equal steps."""
    model = load_model("vit_b_16", weights=None, device=args.device)
    channels = list(range(args.channels))
    side = model.input_spec.size  # a ViT takes only its own size: transformed images are resized to it
    print(f"\nvit_b_16 {VIT_LAYER}, {len(channels)} units, {args.steps} steps, {side} px")
    for precision in (None, "fp32"):
        chosen = prec.resolve(precision, model.device)
        values = {}
        for param in ("fft", "maco"):
            settings = RenderSettings(steps=args.steps, precision=precision, param=param)
            start = time.perf_counter()
            result = render(model, channel(VIT_LAYER, channels), settings, progress=False)
            synchronize(model.device)
            values[param] = (float(result.values.mean()), time.perf_counter() - start,
                             result.loop_seconds / args.steps)
        bare = bare_step_time(model, VIT_LAYER, len(channels), side, precision, min(args.steps, 8), 1)
        fft, maco = values["fft"], values["maco"]
        print(f"  {chosen}: step {fft[2] * 1e3:.0f} ms vs bare forward+backward {bare * 1e3:.0f} ms: "
              f"{fft[2] / bare:.2f}x (maco step {maco[2] / bare:.2f}x); whole render fft {fft[1]:.1f} s, "
              f"maco {maco[1]:.1f} s")
        print(f"  {chosen}: mean activation reached, fft {fft[0]:.3f} vs maco {maco[0]:.3f}")


def bench_olah(args) -> None:
    """All toy conv5 units vs the best of 2000 concept-world images (Olah et al. 2017)."""
    import numpy as np

    from unitscope.data.concepts.world import render_sample
    from unitscope.probe import record

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = load_model("toy")
    n_images = 200 if args.quick else 2000
    best = None
    for start in range(0, n_images, 100):
        arrays = np.stack([render_sample(0, i, 128).image for i in range(start, start + 100)])
        x = torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            acts = record(model.module, model.input_spec.normalize(x), ["conv5"])["conv5"]
        top = acts.float().flatten(2).mean(2).max(0).values
        best = top if best is None else torch.maximum(best, top)
    units = list(range(len(best)))
    steps = 64 if args.quick else 512
    start = time.perf_counter()
    values = torch.cat([render(model, channel("conv5", units[i:i + 32]), steps=steps,
                               progress=False).values for i in range(0, len(units), 32)])
    seconds = time.perf_counter() - start
    wins = values > best
    print(f"\n== Olah check: toy conv5, {len(units)} units, {steps} steps vs best of "
          f"{n_images} concept images: optimized image wins for {int(wins.sum())}/{len(units)} "
          f"({100 * wins.float().mean():.1f} %), {seconds:.0f} s; losers: "
          f"{[u for u in units if not wins[u]]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", nargs="*", default=["layer2", "layer3"])
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="8 steps, 4 channels, first layer only")
    parser.add_argument("--no-lucent", action="store_true")
    parser.add_argument("--olah", action="store_true", help="also the all-units Olah check")
    parser.add_argument("--threads", type=int, help="torch threads (1 is steadier on a busy box)")
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda, cuda:N (default cpu)")
    parser.add_argument("--lucent-single", type=int, metavar="N",
                        help="time Lucent's one-unit-per-call usage on N units and scale to all")
    parser.add_argument("--profile", action="store_true", help="print the top operators of 16 steps")
    parser.add_argument("--vit", action="store_true", help="also the vit_b_16 rows (step ratio, MACO vs FFT)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.steps, args.channels, args.repeat = 8, 4, 1
        args.layers = args.layers[:1]
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.manual_seed(0)
    model = load_model("resnet18", weights=None, device=args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {model.device}, "
          f"unitscope default precision: {prec.resolve(None, model.device)}")
    lucent = None if args.no_lucent or not args.layers else import_lucent()
    for layer in args.layers:
        bench_layer(model, lucent, layer, args)
        if args.profile:
            for precision in (None, "fp32"):
                profile_steps(model, layer, list(range(args.channels)), args, precision)
    if args.olah:
        bench_olah(args)
    if args.vit:
        bench_vit(args)


if __name__ == "__main__":
    main()
