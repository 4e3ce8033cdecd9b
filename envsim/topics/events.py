"""Typed progress events of `DataSetGenerator.create_data_with_events_async` (DeepFabric's event names)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class GenerationStart:
    total_steps: int
    batch_size: int
    total_samples: int
    event: Literal["generation_start"] = "generation_start"


@dataclass(frozen=True)
class StepComplete:
    step: int
    samples_generated: int
    failed_in_step: int
    event: Literal["step_complete"] = "step_complete"


@dataclass(frozen=True)
class GenerationComplete:
    total_samples: int
    failed_samples: int
    event: Literal["generation_complete"] = "generation_complete"


GenerationEvent = GenerationStart | StepComplete | GenerationComplete
