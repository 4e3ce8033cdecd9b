"""What topic trees and graphs share: nodes on a networkx DiGraph, root-to-leaf paths, save and load."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from envsim.errors import DataError

ROOT = 0  # node id of the root topic


@dataclass(frozen=True)
class TopicCall:
    """The model call that produced a node's children (DeepFabric keeps none; envsim keeps it all)."""

    model: str
    attempts: int
    input_tokens: int = 0
    output_tokens: int = 0
    cached: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TopicNode:
    id: int
    topic: str
    depth: int
    expanded: bool = False  # its children were asked for (a resumed build skips it)
    made_by: TopicCall | None = None  # the call that produced this node (None for the root)
    notes: list[str] = field(default_factory=list)  # e.g. a cross-link refused because it made a cycle


class TopicModel:
    """A rooted DAG of topics. Tree edges form a tree; a graph adds cross-links between related topics."""

    kind = "tree"

    def __init__(self, root_prompt: str, *, degree: int, depth: int) -> None:
        if degree < 1 or depth < 0:
            raise DataError(f"a topic model needs degree >= 1 and depth >= 0, got degree {degree}, depth {depth}")
        self.root_prompt = root_prompt
        self.degree = degree
        self.depth = depth
        self.graph = nx.DiGraph()
        self.graph.add_node(ROOT, node=TopicNode(ROOT, root_prompt, 0))

    # ------------------------------------------------------------------ structure

    def node(self, node_id: int) -> TopicNode:
        return self.graph.nodes[node_id]["node"]

    def nodes(self) -> list[TopicNode]:
        return [self.node(n) for n in sorted(self.graph.nodes)]

    def children(self, node_id: int) -> list[int]:
        return sorted(t for _, t, d in self.graph.out_edges(node_id, data=True) if d.get("kind", "child") == "child")

    def add_child(self, parent: int, topic: str, made_by: TopicCall | None) -> int:
        node_id = self.graph.number_of_nodes()
        self.graph.add_node(node_id, node=TopicNode(node_id, topic, self.node(parent).depth + 1, made_by=made_by))
        self.graph.add_edge(parent, node_id, kind="child")
        return node_id

    def parent(self, node_id: int) -> int | None:
        parents = [s for s, _, d in self.graph.in_edges(node_id, data=True) if d.get("kind", "child") == "child"]
        return parents[0] if parents else None

    def path_of(self, node_id: int) -> list[str]:
        path: list[str] = []
        current: int | None = node_id
        while current is not None:
            path.append(self.node(current).topic)
            current = self.parent(current)
        return list(reversed(path))

    def leaves(self) -> list[int]:
        return [n for n in sorted(self.graph.nodes) if not self.children(n)]

    def paths(self) -> list[list[str]]:
        """Root-to-leaf topic paths, in node order (the order a build made them)."""
        return [self.path_of(n) for n in self.leaves()]

    def pending(self) -> Iterator[int]:
        """Nodes a build still has to expand, breadth first."""
        for node_id in sorted(self.graph.nodes, key=lambda n: (self.node(n).depth, n)):
            node = self.node(node_id)
            if node.depth < self.depth and not node.expanded:
                yield node_id

    @property
    def complete(self) -> bool:
        return next(self.pending(), None) is None

    # ------------------------------------------------------------------ save / load

    def save(self, path: str | Path) -> Path:
        """Trees: JSONL, one line per node: {"path": [...], "expanded", "made_by"} (leaves are the lines
        no other line extends). The first line carries the build settings, so a partial tree resumes."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            for node in self.nodes():
                line: dict[str, Any] = {"path": self.path_of(node.id), "expanded": node.expanded}
                if node.made_by is not None:
                    line["made_by"] = node.made_by.to_json()
                if node.id == ROOT:
                    line["settings"] = {"kind": self.kind, "degree": self.degree, "depth": self.depth}
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        tmp.replace(target)
        return target


def load_topic_model(path: str | Path) -> TopicModel:
    """A tree from JSONL (envsim's, or DeepFabric's plain `{"path": [...]}` lines) or a graph from
    node-link JSON."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read topic file {source}: {exc.strerror}") from None
    if source.suffix == ".json":
        from envsim.topics.graph import TopicGraph

        return TopicGraph.from_node_link(json.loads(text), source=str(source))
    from envsim.topics.tree import TopicTree

    return TopicTree.from_lines(text.splitlines(), source=str(source))


def call_from_json(data: dict[str, Any] | None) -> TopicCall | None:
    return TopicCall(**data) if data else None
