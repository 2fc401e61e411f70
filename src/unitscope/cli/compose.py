"""`unitscope compose MODEL IMAGE`: the feature-composition tree of one unit on one image."""

from __future__ import annotations

import argparse

from ..attribution import RULES
from ..compose import compose_tree
from ._common import add_model_arguments, model_from_args, run_dir

VERB = "compose"
HELP = "tree of the lower units that built one unit's response on an image"
ORDER = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("image", metavar="IMAGE", help="image file (resized to the model's size)")
    parser.add_argument("--root", help="LAYER:UNIT or LAYER:auto (default: <last layer>:auto, "
                        "the predicted class for logits)")
    parser.add_argument("--layers", help="comma-separated layers in forward order "
                        "(default: the model's conv/fc layers, toy: conv1,...,fc8)")
    parser.add_argument("--k", type=int, default=5, help="children per node (5)")
    parser.add_argument("--max-nodes", type=int, default=100, help="nodes in the tree (100)")
    parser.add_argument("--rule", choices=RULES, default="gradient",
                        help="gradient rule for node images (gradient)")
    parser.add_argument("--name", help="tree folder name under compose/ (default: image stem)")
    parser.add_argument("--no-sanity", action="store_true",
                        help="skip the weight-randomization sanity check")
    parser.add_argument("--out", help="run directory (default runs/<model>)")


def run(args: argparse.Namespace) -> int:
    model = model_from_args(args)
    layers = args.layers.split(",") if args.layers else None
    out = run_dir(args, model)
    data = compose_tree(model, args.image, out, root=args.root, layers=layers, k=args.k,
                        max_nodes=args.max_nodes, rule=args.rule, name=args.name,
                        progress=not args.quiet, sanity=not args.no_sanity)
    deepest = data["nodes"][-1]["layer"] if data["nodes"] else "-"
    reached = sorted({n["layer"] for n in data["nodes"]}, key=data["layers"].index)
    print(f"compose: {len(data['nodes'])} nodes under {data['root']} reaching "
          f"{reached[0] if reached else deepest}; open {out}/{data['html']}")
    return 0
