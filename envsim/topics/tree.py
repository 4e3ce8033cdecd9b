"""Topic trees: a root prompt expanded breadth first, `degree` children per node, down to `depth`.

Each node's children come from one structured model call given the node's path. A build can stop at
any point (Ctrl-C, a model failure) and resume from the saved file: expanded nodes are not asked again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from envsim.errors import DataError
from envsim.models.base import ChatModel, GenerationParams, RequestContext
from envsim.models.structured import structured_call
from envsim.topics.model import ROOT, TopicCall, TopicModel, TopicNode, call_from_json
from envsim.topics.prompts import DEFAULT_SYSTEM_PROMPT, Subtopics, subtopic_prompt

T = TypeVar("T", bound=BaseModel)

# (event name, details) -> None: "node_expanded" {node, children}, "build_complete" {nodes, leaves}
BuildCallback = Callable[[str, dict[str, Any]], None]


class TopicTree(TopicModel):
    kind = "tree"

    async def build(
        self,
        model: ChatModel,
        *,
        system_prompt: str | None = None,
        params: GenerationParams | None = None,
        on_event: BuildCallback | None = None,
        save_to: str | None = None,
        max_validation_attempts: int = 3,
    ) -> TopicTree:
        """Expand every pending node (all of them for a new tree). With `save_to`, the tree is saved after
        every expansion, so an interrupted build resumes from that file (`load_topic_model`)."""
        while (node_id := next(self.pending(), None)) is not None:  # breadth first, new children included
            await self.expand(
                node_id,
                model,
                system_prompt=system_prompt,
                params=params,
                max_validation_attempts=max_validation_attempts,
            )
            if save_to is not None:
                self.save(save_to)
            if on_event is not None:
                on_event("node_expanded", {"node": node_id, "children": len(self.children(node_id))})
        if on_event is not None:
            on_event("build_complete", {"nodes": self.graph.number_of_nodes(), "leaves": len(self.leaves())})
        return self

    async def expand(
        self,
        node_id: int,
        model: ChatModel,
        *,
        system_prompt: str | None = None,
        params: GenerationParams | None = None,
        max_validation_attempts: int = 3,
    ) -> list[int]:
        prompt = subtopic_prompt(self.path_of(node_id), self.degree)
        reply, call = await self._ask(model, prompt, Subtopics, system_prompt, params, max_validation_attempts)
        return self._add_children(node_id, reply.subtopics, call)

    async def _ask(
        self,
        model: ChatModel,
        prompt: str,
        output_type: type[T],
        system_prompt: str | None,
        params: GenerationParams | None,
        max_validation_attempts: int,
    ) -> tuple[T, TopicCall]:
        """One structured call for an expansion, and the record of it the new nodes keep."""
        result = await structured_call(
            model,
            system=system_prompt or DEFAULT_SYSTEM_PROMPT,
            input=prompt,
            output_type=output_type,
            context=RequestContext(episode_id=f"topics-{self.kind}", role="attribute"),
            params=params,
            max_validation_attempts=max_validation_attempts,
        )
        return result.value, _call_record(model, result)

    def _add_children(self, node_id: int, topics: list[str], call: TopicCall) -> list[int]:
        seen = {t.casefold() for t in self.path_of(node_id)}
        added = []
        for topic in topics:
            text = " ".join(topic.split())
            if not text or text.casefold() in seen:
                continue  # an empty or repeated topic adds nothing to the dataset's diversity
            seen.add(text.casefold())
            added.append(self.add_child(node_id, text, call))
            if len(added) == self.degree:
                break
        self.node(node_id).expanded = True
        return added

    @classmethod
    def from_lines(cls, lines: list[str], *, source: str = "topics") -> TopicTree:
        """A tree from its JSONL: envsim's lines (with settings and call records) or DeepFabric's
        `{"path": [...]}` lines (leaf paths only)."""
        rows = []
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
                path = row["path"]
                if not isinstance(path, list) or not path or not all(isinstance(p, str) for p in path):
                    raise ValueError("`path` must be a non-empty list of strings")
            except (ValueError, KeyError, TypeError) as exc:
                raise DataError(f"{source}:{number}: not a topic path line ({exc})") from None
            rows.append(row)
        if not rows:
            raise DataError(f"{source}: no topic paths")
        settings = rows[0].get("settings") or {}
        roots = {tuple(r["path"][:1]) for r in rows}
        if len(roots) != 1:
            raise DataError(f"{source}: the paths have {len(roots)} different roots; a tree has one")
        depth = settings.get("depth", max(len(r["path"]) for r in rows) - 1)
        degree = settings.get("degree", 1)
        tree = cls(rows[0]["path"][0], degree=max(1, degree), depth=depth)
        index: dict[tuple[str, ...], int] = {(tree.root_prompt,): ROOT}
        for row in rows:
            path = tuple(row["path"])
            for end in range(2, len(path) + 1):
                prefix = path[:end]
                if prefix not in index:
                    parent = index[prefix[:-1]]
                    index[prefix] = tree.add_child(parent, prefix[-1], None)
                    if "settings" not in rows[0]:
                        tree.node(parent).expanded = True  # DeepFabric's files hold finished trees
            node: TopicNode = tree.node(index[path])
            node.expanded = bool(row.get("expanded", node.expanded or "settings" not in rows[0]))
            node.made_by = call_from_json(row.get("made_by")) or node.made_by
        if "settings" not in rows[0]:
            tree.degree = max([len(tree.children(n)) for n in tree.graph.nodes] + [1])
        return tree


def _call_record(model: ChatModel, result: Any) -> TopicCall:
    response = result.responses[-1] if result.responses else None
    return TopicCall(
        model=model.name,
        attempts=result.attempts,
        input_tokens=result.usage.input_tokens + result.usage.cache_read_tokens,
        output_tokens=result.usage.output_tokens,
        cached=bool(response is not None and response.cached),
    )
