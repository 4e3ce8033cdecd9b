"""Exploration modes: how far a job strays from its seeds, as sampling parameters and prompting.

Each mode sets three things:
- sampling: temperature and top_p of the generation calls (higher = less predictable text);
- guidance: the instruction on how close to the examples to stay;
- shots: which pairs each call is shown. Conservative and balanced show only seeds; creative and
  adventurous also show pairs this job already generated, so later batches build on earlier new ground
  instead of circling the seeds.
Responses (from the response model under the application's system prompt) are not sampled differently:
they are what the application would answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from envsim.pairs.types import ExplorationMode


@dataclass(frozen=True)
class ExplorationSettings:
    temperature: float
    top_p: float
    guidance: str
    generated_shot_share: float  # at most this share of a call's shots are earlier generated pairs


EXPLORATION: dict[ExplorationMode, ExplorationSettings] = {
    ExplorationMode.CONSERVATIVE: ExplorationSettings(
        temperature=0.4,
        top_p=0.8,
        guidance="Stay close to the examples: keep their topics, intents, length and tone, and vary only the "
        "wording and the concrete details (names, numbers, products, dates).",
        generated_shot_share=0.0,
    ),
    ExplorationMode.BALANCED: ExplorationSettings(
        temperature=0.8,
        top_p=0.95,
        guidance="Keep to the kinds of inputs the examples show, but write new situations and new phrasings; "
        "never paraphrase an example.",
        generated_shot_share=0.0,
    ),
    ExplorationMode.CREATIVE: ExplorationSettings(
        temperature=1.0,
        top_p=1.0,
        guidance="Go beyond the examples: new topics, intents and kinds of users the application would plausibly "
        "receive; vary length, tone and structure widely.",
        generated_shot_share=0.5,
    ),
    ExplorationMode.ADVENTUROUS: ExplorationSettings(
        temperature=1.2,
        top_p=1.0,
        guidance="Explore the edges of what the application must handle: rare, surprising, ambiguous, tricky or "
        "adversarial inputs that are still in its scope; nothing should resemble an example.",
        generated_shot_share=0.5,
    ),
}


def settings_for(mode: ExplorationMode) -> ExplorationSettings:
    return EXPLORATION[mode]
