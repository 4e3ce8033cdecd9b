"""The wire types of a pairs job, in withpi's shapes (`generate_input_response_pairs`).

`PairsRequest` is withpi's start-job body (plus envsim's `seed`); `JobStatus` is withpi's
SyntheticDataStatus (`job_id`, `state`, `detailed_status`, `data`, which is present and grows while the
job runs) plus envsim's `diversity` figures and `pairs_requested`. States are the run directory's
(QUEUED, RUNNING, DONE, ERROR, CANCELLED), which are withpi's.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from envsim.recording.status import RunState

JobState = RunState
MAX_BATCH_SIZE = 10


class Example(BaseModel):
    """One input-response pair (withpi's Example)."""

    model_config = ConfigDict(extra="forbid")

    llm_input: str = Field(min_length=1, description="The input to the LLM")
    llm_output: str = Field(description="The LLM's response")


class ExplorationMode(StrEnum):
    CONSERVATIVE = "CONSERVATIVE"
    BALANCED = "BALANCED"
    CREATIVE = "CREATIVE"
    ADVENTUROUS = "ADVENTUROUS"


class PairsRequest(BaseModel):
    """Start a job generating `num_pairs_to_generate` new pairs like `seeds`."""

    model_config = ConfigDict(extra="forbid")

    seeds: list[Example] = Field(min_length=1, description="The input-response pairs to use as seeds")
    num_pairs_to_generate: int = Field(ge=1, le=100_000, description="How many new pairs to generate")
    application_description: str | None = Field(
        default=None, description="The application the pairs are for (what its inputs are about)"
    )
    system_prompt: str | None = Field(
        default=None,
        description="The application's system prompt: when set, responses come from the response model "
        "answering each generated input under this prompt; otherwise the generator writes both",
    )
    batch_size: int = Field(default=5, ge=1, le=MAX_BATCH_SIZE, description="Pairs per generation call (<= 10)")
    num_shots: int = Field(default=5, ge=1, le=50, description="Example pairs shown in each generation call")
    exploration_mode: ExplorationMode = Field(
        default=ExplorationMode.BALANCED, description="How far from the seeds to go"
    )
    run_parallel_batches: bool = Field(default=False, description="Run several generation batches concurrently")
    seed: int = Field(default=0, description="envsim: seeds shot sampling and model sampling, for reproducible jobs")


class DiversityReport(BaseModel):
    """Embedding-free diversity of the generated inputs, next to the same figures for the seeds.

    distinct-n: unique word n-grams / all word n-grams (1.0 = no n-gram repeats). Similarity to the seeds:
    for each generated input, its highest token Jaccard (and char 3-gram cosine) against any seed input,
    averaged over the inputs (1.0 = copies of seeds, 0.0 = nothing in common)."""

    model_config = ConfigDict(extra="forbid")

    pairs: int = 0
    distinct_1: float = 0.0
    distinct_2: float = 0.0
    seed_distinct_1: float = 0.0
    seed_distinct_2: float = 0.0
    mean_jaccard_to_nearest_seed: float = 0.0
    mean_char3_cosine_to_nearest_seed: float = 0.0
    duplicates_dropped: int = 0  # generated pairs dropped as (near-)duplicates of seeds or of each other


class JobStatus(BaseModel):
    """withpi's SyntheticDataStatus (+ envsim's `diversity`, `pairs_requested`)."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    state: JobState
    detailed_status: list[str] = Field(default_factory=list)
    data: list[Example] | None = None
    pairs_requested: int | None = None
    diversity: DiversityReport | None = None

    @property
    def done(self) -> bool:
        return self.state.terminal
