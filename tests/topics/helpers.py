"""A model that answers topic expansions deterministically from the path in the prompt."""

from __future__ import annotations

import json
import re

from envsim.models.base import ModelRequest
from envsim.testing import FunctionModel


def subtopic_model(*, link_to: list[int] | None = None, duplicate: bool = False) -> FunctionModel:
    def reply(request: ModelRequest) -> str:
        prompt = request.messages[-1].content or ""
        path = re.search(r"Topic path: (.*)", prompt).group(1).split(" -> ")  # type: ignore[union-attr]
        degree = int(re.search(r"List exactly (\d+)", prompt).group(1))  # type: ignore[union-attr]
        names = [f"{path[-1]} / part {i}" for i in range(degree)]
        if duplicate:
            names = [names[0], names[0].upper(), path[-1], *names[1:]]
        if "existing topics" in prompt:
            return json.dumps({"subtopics": [{"topic": n, "related": list(link_to or [])} for n in names]})
        return json.dumps({"subtopics": names})

    return FunctionModel(reply, name="function:subtopics")


_TOPICS = subtopic_model()
RECORD_ENV = "ENVSIM_TEST_RECORD_REQUESTS"  # a file `topics_or_mock` appends every request to (JSONL)


def topics_or_mock(request: ModelRequest):  # type: ignore[no-untyped-def]
    """`function:` model for whole runs: topic expansions answered as above, everything else by the mock."""
    import os

    from envsim.models.mock import MockModel

    if os.environ.get(RECORD_ENV):  # the run loads this file as its own module: share through a file
        with open(os.environ[RECORD_ENV], "a", encoding="utf-8") as out:
            out.write(request.model_dump_json() + "\n")
    if "Topic path: " in (request.messages[-1].content or ""):
        return _TOPICS.fn(request)
    return MockModel("mock:topics").generate(request)
