"""Input-response pairs generated from seeds, as jobs (withpi's `generate_input_response_pairs`).

Python API: `start_pairs_job`, `get_job`, `cancel_job`, `wait` (envsim.pairs.api); CLI: `envsim pairs`;
HTTP: `envsim serve` (envsim.pairs.http_service). See docs/pairs.md.
"""

from envsim.pairs.api import cancel_job, get_job, list_jobs, run_pairs, start_pairs_job, wait
from envsim.pairs.types import DiversityReport, Example, ExplorationMode, JobState, JobStatus, PairsRequest

__all__ = [
    "DiversityReport",
    "Example",
    "ExplorationMode",
    "JobState",
    "JobStatus",
    "PairsRequest",
    "cancel_job",
    "get_job",
    "list_jobs",
    "run_pairs",
    "start_pairs_job",
    "wait",
]
