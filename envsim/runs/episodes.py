"""Which episodes a run simulates: a re-iterable, lazily produced sequence of `EpisodeSpec`s.

A config run's episodes are its `num_samples` samples, each with a seed of its own; a scenario run's are
its (scenario, trial) pairs (`ScenarioRun.specs`), a list. Either can be iterated again, so executing
the same plan twice walks the same episodes, and the run directory skips the finished ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from envsim.canonical import stable_hash
from envsim.simulation.episode import EpisodeSpec, episode_id_for


def episode_seed(run_seed: int, sample_index: int, trial: int = 0) -> int:
    """Independent, reproducible per-episode seeds (not run_seed + i, which makes runs overlap)."""
    return int(stable_hash(["envsim-episode", run_seed, sample_index, trial])[:12], 16)


@dataclass(frozen=True)
class SampledEpisodes:
    """A config run's `count` samples, produced on demand (10,000 episodes never means 10,000 specs)."""

    count: int
    run_seed: int

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[EpisodeSpec]:
        for index in range(self.count):
            yield EpisodeSpec(
                episode_id=episode_id_for(index), seed=episode_seed(self.run_seed, index), sample_index=index
            )


# What a plan holds: sampled episodes, or a scenario run's specs (a tuple, so the plan stays immutable).
EpisodeSource = SampledEpisodes | Sequence[EpisodeSpec]
