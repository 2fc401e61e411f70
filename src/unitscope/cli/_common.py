"""Arguments shared by several verbs (model spec, weights, device, precision)."""

from __future__ import annotations

import argparse
import re

from ..models import Model, load_model


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """MODEL positional plus --weights/--arch/--device."""
    parser.add_argument(
        "model",
        metavar="MODEL",
        help="'toy', a torchvision name (resnet18), 'timm:NAME', 'pkg.module:factory' or a .pt path",
    )
    parser.add_argument(
        "--weights",
        default="DEFAULT",
        help="'DEFAULT' (trained weights), 'none' (random) or a state_dict .pt path",
    )
    parser.add_argument("--arch", help="architecture name when MODEL is a checkpoint path")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")


def model_from_args(args: argparse.Namespace) -> Model:
    """Load the model named by the shared arguments."""
    weights = None if str(args.weights).lower() == "none" else args.weights
    return load_model(args.model, weights=weights, arch=args.arch, device=args.device)


def run_dir(args: argparse.Namespace, model: Model) -> str:
    """`--out`, or `runs/<model name>` with the name made safe as a folder name."""
    if args.out:
        return args.out
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", model.name).strip("._") or "model"
    return f"runs/{name}"
