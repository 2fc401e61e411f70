"""Best-first expansion of a composition tree, with batched (speculative) contribution scores.

A node's share is the product of normalized edge scores on its path from the root (edge =
child score / parent's total positive contribution), i.e. the share of the root's response
that flows through it. The open node with the largest share is expanded first and the
expansion then dives along the best child down to the first layer, so every branch that is
opened reaches it (a plain best-first over a k-ary tree of depth 7 would stay breadth-first
and never get past the top three layers in 100 nodes).

Scores are computed on one recorded forward. When a node's scores are needed, the other open
nodes of the same layer (by share) are scored in the same batched backward, so most later
expansions find their scores cached.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .faithfulness import coverage
from .score import contribution_scores, positive_total, split_children, unit_value


@dataclass
class Node:
    """One unit in the tree; `score` is its contribution to its parent (1.0 for the root)."""

    id: int
    parent: int | None
    layer: str
    channel: int
    depth: int
    score: float
    edge: float
    share: float
    activation: float
    children: list[int] = field(default_factory=list)
    child_layer: str | None = None
    inhibitory: list[tuple[int, float]] = field(default_factory=list)
    positive_total: float | None = None
    coverage: float | None = None
    ablation_drop: float | None = None
    expanded: bool = False

    @property
    def unit(self) -> str:
        return f"{self.layer}:{self.channel}"


@dataclass
class TreeStats:
    """How much work the expansion did (for benchmarks and the JSON)."""

    backward_calls: int = 0
    scored_units: int = 0
    expansions: int = 0


class TreeBuilder:
    """Grows a tree over `layers` (forward order, root in the last one) from recorded `acts`."""

    def __init__(self, acts: dict[str, torch.Tensor], layers: list[str], k: int = 5,
                 max_nodes: int = 100, batch: int = 16, progress: bool = False) -> None:
        self.acts, self.layers, self.k = acts, layers, k
        self.max_nodes, self.batch = max_nodes, max(1, batch)
        self.nodes: list[Node] = []
        self.cache: dict[tuple[str, int], torch.Tensor] = {}
        self.heap: list[tuple[float, int]] = []
        self.stats = TreeStats()
        self.bar = tqdm(total=max_nodes, desc="compose tree", unit="node", disable=not progress)

    def build(self, root_layer: str, root_channel: int) -> list[Node]:
        """Expand from the root until `max_nodes` nodes or nothing is left to expand."""
        value = unit_value(self.acts[root_layer], root_channel)
        self._add(Node(0, None, root_layer, root_channel, 0, 1.0, 1.0, 1.0, value))
        while self.heap and len(self.nodes) < self.max_nodes:
            _, node_id = heapq.heappop(self.heap)
            if not self.nodes[node_id].expanded:
                self._dive(self.nodes[node_id])
        self.bar.close()
        return self.nodes

    def _add(self, node: Node) -> None:
        self.nodes.append(node)
        self.bar.update(1)
        if self.layers.index(node.layer) > 0:
            heapq.heappush(self.heap, (-node.share, node.id))

    def _dive(self, node: Node | None) -> None:
        """Expand `node`, then its best child, and so on down to the first layer."""
        while node is not None and len(self.nodes) < self.max_nodes and not node.expanded:
            if self.layers.index(node.layer) == 0:
                return
            children = self._expand(node)
            node = children[0] if children else None

    def _expand(self, node: Node) -> list[Node]:
        scores = self._scores(node)
        child_layer = self.layers[self.layers.index(node.layer) - 1]
        positive, negative = split_children(scores, self.k)
        total = positive_total(scores)
        positive = positive[: self.max_nodes - len(self.nodes)]
        node.expanded, node.inhibitory, node.positive_total = True, negative, total
        node.child_layer = child_layer
        node.coverage = coverage([s for _, s in positive], total)
        self.stats.expansions += 1
        children = []
        for channel, score in positive:
            edge = score / total
            child = Node(len(self.nodes), node.id, child_layer, channel, node.depth + 1, score,
                         edge, node.share * edge, unit_value(self.acts[child_layer], channel))
            node.children.append(child.id)
            children.append(child)
            self._add(child)
        return children

    def _scores(self, node: Node) -> torch.Tensor:
        key = (node.layer, node.channel)
        if key not in self.cache:
            self._score_batch(node)
        return self.cache[key]

    def _score_batch(self, node: Node) -> None:
        """Score `node` plus the best uncached open nodes of its layer in one batched backward."""
        waiting = sorted(
            (n for n in self.nodes if n.layer == node.layer and not n.expanded and n is not node
             and (n.layer, n.channel) not in self.cache),
            key=lambda n: -n.share,
        )
        channels = list(dict.fromkeys([node.channel] + [n.channel for n in waiting]))
        channels = channels[: self.batch]
        child_layer = self.layers[self.layers.index(node.layer) - 1]
        rows = contribution_scores(self.acts, node.layer, child_layer, channels, self.batch)
        for channel, row in zip(channels, rows, strict=True):
            self.cache[(node.layer, channel)] = row
        self.stats.backward_calls += 1
        self.stats.scored_units += len(channels)


def path_to(nodes: list[Node], node: Node) -> list[tuple[str, int]]:
    """(layer, channel) of every node below the root on the way to `node`, top first."""
    path = []
    while node.parent is not None:
        path.append((node.layer, node.channel))
        node = nodes[node.parent]
    return path[::-1]


def build_tree(acts: dict[str, torch.Tensor], layers: list[str], root_layer: str,
               root_channel: int, k: int = 5, max_nodes: int = 100, batch: int = 16,
               progress: bool = False) -> tuple[list[Node], TreeStats]:
    """Grow the tree; returns its nodes (id order = creation order) and work counters."""
    builder = TreeBuilder(acts, layers, k, max_nodes, batch, progress)
    nodes = builder.build(root_layer, root_channel)
    return nodes, builder.stats
