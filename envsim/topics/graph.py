"""Topic graphs: a topic tree plus cross-links between related topics (DeepFabric's graph).

Each expansion also shows the model the topics already in the graph and asks which are related to each
new subtopic; those become `link` edges. The graph stays acyclic: a link that would close a cycle (to
an ancestor, or to a topic that already reaches the new one) is refused and noted on the node.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from envsim.errors import DataError
from envsim.models.base import ChatModel, GenerationParams
from envsim.topics.model import ROOT, TopicNode, call_from_json
from envsim.topics.prompts import LinkedSubtopics, linked_subtopic_prompt
from envsim.topics.tree import TopicTree

MAX_SHOWN_TOPICS = 100  # existing topics shown per expansion (the most recent ones)


class TopicGraph(TopicTree):
    kind = "graph"

    async def expand(
        self,
        node_id: int,
        model: ChatModel,
        *,
        system_prompt: str | None = None,
        params: GenerationParams | None = None,
        max_validation_attempts: int = 3,
    ) -> list[int]:
        existing = [(n.id, n.topic) for n in self.nodes() if n.id != node_id][-MAX_SHOWN_TOPICS:]
        prompt = linked_subtopic_prompt(self.path_of(node_id), self.degree, existing)
        reply, call = await self._ask(model, prompt, LinkedSubtopics, system_prompt, params, max_validation_attempts)
        added = self._add_children(node_id, [s.topic for s in reply.subtopics], call)
        by_topic = {self.node(n).topic.casefold(): n for n in added}
        for item in reply.subtopics:
            new = by_topic.get(" ".join(item.topic.split()).casefold())
            if new is not None:
                for target in item.related:
                    self.link(new, target)
        return added

    def link(self, source: int, target: int) -> bool:
        """Add a cross-link; refused (False, noted on the node) when it would make a cycle or is pointless."""
        node = self.node(source)
        if target not in self.graph or target == source:
            node.notes.append(f"link to unknown topic id {target} ignored")
            return False
        if self.graph.has_edge(source, target) or self.graph.has_edge(target, source):
            return False
        if nx.has_path(self.graph, target, source):
            node.notes.append(f"link to {self.node(target).topic!r} refused: it would make a cycle")
            return False
        self.graph.add_edge(source, target, kind="link")
        return True

    def links(self) -> list[tuple[int, int]]:
        return sorted((s, t) for s, t, d in self.graph.edges(data=True) if d.get("kind") == "link")

    # ------------------------------------------------------------------ node-link JSON

    def to_node_link(self) -> dict[str, Any]:
        copy = nx.DiGraph()
        for node in self.nodes():
            attrs: dict[str, Any] = {"topic": node.topic, "depth": node.depth, "expanded": node.expanded}
            if node.made_by is not None:
                attrs["made_by"] = node.made_by.to_json()
            if node.notes:
                attrs["notes"] = list(node.notes)
            copy.add_node(node.id, **attrs)
        for source, target, data in self.graph.edges(data=True):
            copy.add_edge(source, target, kind=data.get("kind", "child"))
        data = nx.node_link_data(copy, edges="links")
        data["graph"] = {"kind": self.kind, "root_prompt": self.root_prompt, "degree": self.degree, "depth": self.depth}
        return data

    def save(self, path: Any) -> Any:
        import json
        from pathlib import Path

        target = Path(path)
        if target.suffix != ".json":
            return super().save(target)  # a graph's tree edges can be saved as paths too
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(self.to_node_link(), ensure_ascii=False, indent=1))
        tmp.replace(target)
        return target

    @classmethod
    def from_node_link(cls, data: dict[str, Any], *, source: str = "graph") -> TopicGraph:
        try:
            loaded = nx.node_link_graph(data, directed=True, edges="links")
            settings = data.get("graph") or {}
            graph = cls(loaded.nodes[ROOT]["topic"], degree=settings.get("degree", 1), depth=settings.get("depth", 1))
            for node_id in sorted(loaded.nodes):
                attrs = loaded.nodes[node_id]
                node = TopicNode(
                    node_id,
                    attrs["topic"],
                    attrs.get("depth", 0),
                    expanded=attrs.get("expanded", True),
                    made_by=call_from_json(attrs.get("made_by")),
                    notes=list(attrs.get("notes", [])),
                )
                graph.graph.add_node(node_id, node=node)
            for s, t, d in loaded.edges(data=True):
                graph.graph.add_edge(s, t, kind=d.get("kind", "child"))
        except (KeyError, TypeError, nx.NetworkXError) as exc:
            raise DataError(f"{source}: not a topic graph in node-link JSON ({exc})") from None
        if not nx.is_directed_acyclic_graph(graph.graph):
            raise DataError(f"{source}: the topic graph has a cycle; topic graphs must be acyclic")
        return graph
