"""Which run directory wrote a dataset file (`output_path`), so another run does not silently overwrite it.

The owner is recorded in a hidden file next to the dataset (`.<name>.envsim-run`, the run directory's
absolute path): the dataset itself keeps the seed's format, and a run directory cannot know which other
run directories exist. A run refuses an `output_path` that another, still existing run directory wrote,
unless `--force`.
"""

from __future__ import annotations

from pathlib import Path

from envsim.errors import RunError
from envsim.recording.run_dir import MANIFEST_FILE


def owner_file(output: Path) -> Path:
    return output.with_name(f".{output.name}.envsim-run")


def recorded_owner(output: Path) -> Path | None:
    """The run directory that last wrote `output`, when it is recorded and still exists."""
    try:
        text = owner_file(output).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    owner = Path(text) if text else None
    return owner if owner is not None and (owner / MANIFEST_FILE).is_file() else None


def check_output_owner(output: Path, run_dir: Path, *, force: bool) -> None:
    """Raise RunError when `output` exists and another run directory wrote it (unless `force`)."""
    if force or not output.exists():
        return
    owner = recorded_owner(output)
    if owner is None or owner.resolve() == run_dir.resolve():
        return
    raise RunError(
        f"the dataset file {output} was written by another run ({owner}); this run ({run_dir}) would overwrite it",
        hint="set a different output_path (e.g. --set output_path=...), resume that run with --out "
        f"{owner}, or pass --force to overwrite it",
    )


def record_output_owner(output: Path, run_dir: Path) -> None:
    owner_file(output).write_text(str(run_dir.resolve()) + "\n", encoding="utf-8")
