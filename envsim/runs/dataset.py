"""The seed's dataset file at `output_path`: where it goes, and writing it from a run directory."""

from __future__ import annotations

from pathlib import Path

from envsim.config.models import SynthConfig
from envsim.recording import RunDirectory, write_dataset
from envsim.recording.dataset import DatasetReport
from envsim.recording.output_owner import record_output_owner


def dataset_path(config: SynthConfig) -> Path | None:
    """Where the dataset file goes: `output_path`, a relative one against the working directory (as oumi,
    whose format this is, resolves it), so two runs of one config from different places do not collide."""
    if not config.output_path:
        return None
    path = Path(config.output_path).expanduser()
    return path if path.is_absolute() else Path.cwd() / path


def write_run_dataset(
    output: Path | None, run_dir: RunDirectory, passthrough: list[str] | None
) -> DatasetReport | None:
    """Write the run's clean episodes to `output` (None: the config names no dataset file), keeping the
    `passthrough` attributes (None: all), and record that this run directory owns the file."""
    if output is None:
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    report = write_dataset(run_dir.traces(states=False), output, passthrough=passthrough)
    record_output_owner(output, run_dir.path)
    return report
