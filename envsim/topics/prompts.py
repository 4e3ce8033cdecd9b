"""What a topic model asks the model: the subtopics of one path (and, for graphs, related topics)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_SYSTEM_PROMPT = (
    "You organise a subject into a hierarchy of topics for generating diverse training data. "
    "Subtopics are specific, distinct from each other and from their siblings, and each stays within its parent."
)


class Subtopics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subtopics: list[str] = Field(description="Distinct, specific subtopics of the last topic in the path.")


class LinkedSubtopic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str
    related: list[int] = Field(default_factory=list, description="Ids of existing topics closely related to it.")


class LinkedSubtopics(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subtopics: list[LinkedSubtopic]


def subtopic_prompt(path: list[str], degree: int) -> str:
    trail = " -> ".join(path)
    return (
        f"Topic path: {trail}\n\n"
        f'List exactly {degree} subtopics of "{path[-1]}" (in the context of the whole path). '
        "Each is a short phrase (2-8 words); no numbering, no duplicates of topics already in the path."
    )


def linked_subtopic_prompt(path: list[str], degree: int, existing: list[tuple[int, str]]) -> str:
    known = "\n".join(f"{node_id}: {topic}" for node_id, topic in existing) or "(none yet)"
    return (
        subtopic_prompt(path, degree)
        + "\n\nTopics already in the graph (id: topic):\n"
        + known
        + "\n\nFor each subtopic, list the ids of existing topics it is closely related to (often none)."
    )
