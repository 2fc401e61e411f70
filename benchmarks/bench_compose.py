"""Composition tree (100 nodes, k = 5, root -> first layer): batched vs one backward per node.

Batched: one recorded forward for all contribution scores (batched VJPs, speculative per
layer), one forward+backward per 32 node images, one forward per 32 ablations. Naive: the same
tree, but every expanded node gets its own forward + backward for its scores, every node its
own forward + backward for its image and its own forward for its ablation. Both build the same
tree (checked). Goal: <= 2 s for toy end to end on this CPU.

    .venv/bin/python benchmarks/bench_compose.py [--quick] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _timing import best_of  # noqa: E402
from unitscope import compose  # noqa: E402
from unitscope.compose.forward import record  # noqa: E402
from unitscope.compose.layers import default_layers, resolve_root  # noqa: E402
from unitscope.compose.paths import path_images  # noqa: E402
from unitscope.compose.pipeline import ComposeSettings, attach_faithfulness  # noqa: E402
from unitscope.compose.tree import TreeBuilder, build_tree, path_to  # noqa: E402
from unitscope.models import load_model  # noqa: E402


class NaiveBuilder(TreeBuilder):
    """Scores each expanded node with its own fresh forward and one backward."""

    def __init__(self, model, image, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.model, self.image = model, image

    def _score_batch(self, node) -> None:
        child = self.layers[self.layers.index(node.layer) - 1]
        acts = record(self.model, self.image, [child, node.layer])
        (grad,) = torch.autograd.grad(acts[node.layer][0, node.channel].sum(), acts[child])
        contrib = (grad * acts[child].detach())[0]
        self.cache[(node.layer, node.channel)] = contrib.reshape(contrib.shape[0], -1).sum(-1)
        self.stats.backward_calls += 1


def batched(model, image, layers, root_layer, root_channel, k, max_nodes):
    acts = record(model, image, layers)
    nodes, _ = build_tree(acts, layers, root_layer, root_channel, k, max_nodes, batch=16)
    del acts
    attach_faithfulness(model, image, nodes, batch=32)
    path_images(model, image, root_layer, root_channel, [path_to(nodes, n) for n in nodes],
                batch=32)
    return nodes


def naive(model, image, layers, root_layer, root_channel, k, max_nodes):
    acts = record(model, image, layers)  # activations for node values only
    builder = NaiveBuilder(model, image, acts, layers, k, max_nodes, batch=1)
    nodes = builder.build(root_layer, root_channel)
    attach_faithfulness(model, image, nodes, batch=1)
    for node in nodes:
        path_images(model, image, root_layer, root_channel, [path_to(nodes, node)], batch=1,
                    chained=False)
    return nodes


def bench(label: str, model, repeat: int, k: int = 5, max_nodes: int = 100) -> None:
    torch.manual_seed(0)
    image = torch.rand(3, model.input_spec.size, model.input_spec.size)
    layers = default_layers(model) if label == "toy" else \
        ["conv1", "layer1", "layer2", "layer3", "layer4", "fc"]
    root_layer, root_channel, layers = resolve_root(model, None, layers, image)
    args = (model, image, layers, root_layer, root_channel, k, max_nodes)
    same = [n.unit for n in batched(*args)] == [n.unit for n in naive(*args)]
    t_batched = best_of(lambda: batched(*args), repeat=repeat, warmup=0)
    t_naive = best_of(lambda: naive(*args), repeat=max(1, repeat // 2), warmup=0)
    settings = ComposeSettings(layers=layers, top_k=k, max_nodes=max_nodes, sanity=False)
    with tempfile.TemporaryDirectory() as out:
        compose.run(model, image, settings, out, progress=False)  # warm the receptive-field cache
        t_full = best_of(lambda: compose.run(model, image, settings, out, progress=False),
                         repeat=repeat, warmup=0)
        t_sanity = best_of(lambda: compose.run(model, image, settings.replace(sanity=True), out,
                                               progress=False), repeat=1, warmup=0)
    size = model.input_spec.size
    print(f"{label:<9} {size:>4}px  {' -> '.join(reversed(layers))}")
    print(f"  compute, batched         {t_batched:7.2f} s")
    print(f"  compute, naive per node  {t_naive:7.2f} s   ratio naive/batched "
          f"{t_naive / t_batched:5.1f}x   same tree: {same}")
    print(f"  compose.run end to end   {t_full:7.2f} s   (PNGs, patches, tree.json, tree.html)")
    print(f"  ... plus sanity check    {t_sanity:7.2f} s   (goal for toy: <= 2 s without it)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="toy only, one repeat")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=100, help="tree size (100)")
    parser.add_argument("--models", default="toy,resnet18", help="toy,resnet18 (both)")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    models = ["toy"] if args.quick else args.models.split(",")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.nodes} nodes, k = 5, best of {repeat}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in models:
            model = load_model(name, weights=None if name == "resnet18" else "DEFAULT")
            bench(name, model, repeat, max_nodes=args.nodes)


if __name__ == "__main__":
    main()
