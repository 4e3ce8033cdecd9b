"""Topic trees and graphs: built from model calls, saved, loaded, resumed; graph cycles refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envsim.errors import DataError
from envsim.testing import FunctionModel
from envsim.topics import TopicGraph, TopicTree, load_topic_model

from .helpers import subtopic_model


async def test_a_tree_has_degree_children_per_node_down_to_depth() -> None:
    tree = await TopicTree("Python", degree=3, depth=2).build(subtopic_model())
    assert len(tree.paths()) == 9
    assert all(len(path) == 3 and path[0] == "Python" for path in tree.paths())
    assert tree.paths()[0] == ["Python", "Python / part 0", "Python / part 0 / part 0"]
    made = [n.made_by for n in tree.nodes() if n.id != 0]
    assert all(call is not None and call.model == "function:subtopics" and call.attempts == 1 for call in made)


async def test_duplicate_and_repeated_topics_are_dropped() -> None:
    tree = await TopicTree("Cats", degree=2, depth=1).build(subtopic_model(duplicate=True))
    assert [p[-1] for p in tree.paths()] == ["Cats / part 0", "Cats / part 1"]


async def test_save_and_load_round_trip_and_deepfabric_files(tmp_path: Path) -> None:
    tree = await TopicTree("Python", degree=2, depth=2).build(subtopic_model())
    tree.save(tmp_path / "t.jsonl")
    again = load_topic_model(tmp_path / "t.jsonl")
    assert again.paths() == tree.paths() and again.complete
    assert again.nodes()[1].made_by == tree.nodes()[1].made_by
    deepfabric = tmp_path / "df.jsonl"
    deepfabric.write_text("".join(json.dumps({"path": p}) + "\n" for p in tree.paths()))
    assert load_topic_model(deepfabric).paths() == tree.paths()


async def test_an_interrupted_build_resumes_without_asking_again(tmp_path: Path) -> None:
    calls: list[str] = []
    inner = subtopic_model()

    async def flaky(request):  # type: ignore[no-untyped-def]
        calls.append(request.messages[-1].content or "")
        if len(calls) == 3:
            raise RuntimeError("connection lost")
        return inner.fn(request)

    target = tmp_path / "t.jsonl"
    with pytest.raises(RuntimeError):
        await TopicTree("Python", degree=2, depth=2).build(FunctionModel(flaky), save_to=str(target))
    partial = load_topic_model(target)
    assert not partial.complete and len(calls) == 3
    calls.clear()
    done = await partial.build(subtopic_model(), save_to=str(target))  # type: ignore[attr-defined]
    assert done.complete and len(done.paths()) == 4
    assert load_topic_model(target).paths() == done.paths()


async def test_a_graph_links_related_topics_and_refuses_cycles() -> None:
    graph = await TopicGraph("Cooking", degree=2, depth=2).build(subtopic_model(link_to=[0, 1]))
    assert len(graph.paths()) == 4
    links = graph.links()
    assert links and all(target == 1 for _, target in links)  # node 1 is not an ancestor of node 2's children
    refused = [note for n in graph.nodes() for note in n.notes if "cycle" in note]
    assert refused  # every link to the root (an ancestor) was refused
    import networkx as nx

    assert nx.is_directed_acyclic_graph(graph.graph)


async def test_a_graph_saves_as_node_link_json(tmp_path: Path) -> None:
    graph = await TopicGraph("Cooking", degree=2, depth=1).build(subtopic_model(link_to=[1]))
    graph.save(tmp_path / "g.json")
    data = json.loads((tmp_path / "g.json").read_text())
    assert {"nodes", "links", "graph"} <= set(data)
    again = load_topic_model(tmp_path / "g.json")
    assert isinstance(again, TopicGraph) and again.links() == graph.links() and again.paths() == graph.paths()
    data["links"].append({"source": 2, "target": 0, "kind": "link"})
    (tmp_path / "cyclic.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="has a cycle"):
        load_topic_model(tmp_path / "cyclic.json")


def test_bad_topic_files_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"path": ["a"]}\n{"nope": 1}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl:2: not a topic path line"):
        load_topic_model(bad)
