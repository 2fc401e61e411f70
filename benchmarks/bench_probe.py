"""Recording `layer2` of resnet18 with early stop vs a full forward hooked on every module.

Older tools hook every module and run the whole network; unitscope's Probe hooks only the
requested layer and stops the forward after it. Prints both times and the ratio.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import best_of  # noqa: E402
from unitscope import Probe, load_model  # noqa: E402
from unitscope.precision import autocast  # noqa: E402


def hook_everything(module: torch.nn.Module, x: torch.Tensor) -> dict:
    """The older way: a hook on every module, the full forward, keep what was asked for."""
    store = {}
    handles = [m.register_forward_hook(lambda _m, _i, o, n=n: store.__setitem__(n, o))
               for n, m in module.named_modules() if n]
    try:
        module(x)
    finally:
        for h in handles:
            h.remove()
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--layer", default="layer2")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"])
    args = parser.parse_args()
    torch.manual_seed(0)
    model = load_model("resnet18", weights=None)
    x = torch.randn(args.batch, 3, args.size, args.size)
    with torch.no_grad(), autocast(args.precision) as chosen:
        with Probe(model.module, [args.layer]) as probe:
            early = best_of(lambda: probe(x))
        full = best_of(lambda: hook_everything(model.module, x))
    print(f"resnet18 {args.size}px batch {args.batch}, record {args.layer}, precision {chosen}, "
          f"{torch.get_num_threads()} threads")
    print(f"  full forward, hooks on every module: {full * 1000:8.1f} ms")
    print(f"  unitscope Probe with early stop:     {early * 1000:8.1f} ms")
    print(f"  speed-up: {full / early:.2f}x")


if __name__ == "__main__":
    main()
