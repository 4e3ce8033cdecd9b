"""The prompts of a pairs job: the generator's (new inputs, or whole pairs) and the responder's.

With an application `system_prompt`, the generator writes inputs only and each response is the response
model's answer to the input under that system prompt (what the application would say); without one the
generator writes both sides of each pair.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from envsim.pairs.exploration import ExplorationSettings
from envsim.pairs.types import Example, PairsRequest

GENERATOR_SYSTEM = (
    "You write synthetic test and training data for an LLM application: realistic inputs its users would "
    "send (and, when asked, the responses it should give). Follow the requested format exactly."
)


class GeneratedInputs(BaseModel):
    inputs: list[str] = Field(description="The new inputs, one string each")


class GeneratedPairs(BaseModel):
    pairs: list[Example] = Field(description="The new input-response pairs")


def generation_prompt(
    request: PairsRequest, shots: list[Example], count: int, settings: ExplorationSettings, *, inputs_only: bool
) -> str:
    parts = [f"Application: {request.application_description or '(not described; infer it from the examples)'}"]
    if request.system_prompt:
        parts.append(f"The application's system prompt:\n<system_prompt>\n{request.system_prompt}\n</system_prompt>")
    examples = "\n".join(
        f"<example>\n<input>{shot.llm_input}</input>\n<output>{shot.llm_output}</output>\n</example>" for shot in shots
    )
    parts.append(f"Examples of input-response pairs:\n{examples}")
    what = "new inputs" if inputs_only else "new input-response pairs (the response is what the application replies)"
    parts.append(
        f"Write {count} {what}. {settings.guidance} "
        "Every input must differ from every example and from the other new inputs."
    )
    return "\n\n".join(parts)
