"""`envsim pairs` options -> a PairsRequest: a new job from --seeds, or the recorded request of an
existing run directory (resume with only --out, optionally a larger -n)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from envsim.errors import EnvsimError
from envsim.pairs.runner import request_from_manifest
from envsim.pairs.seeds import load_seeds
from envsim.pairs.types import ExplorationMode, PairsRequest
from envsim.recording.run_dir import MANIFEST_FILE, read_manifest

DEFAULT_JOBS_ROOT = Path("runs/pairs")


def default_out_dir(seeds_path: str | None, out: str | None) -> Path:
    if out is not None:
        return Path(out)
    if seeds_path is None:
        raise EnvsimError("give --seeds to start a job, or --out to resume one", hint="see `envsim pairs --help`")
    return DEFAULT_JOBS_ROOT / Path(seeds_path).stem


def request_from_options(
    *,
    seeds_path: str | None,
    out_dir: Path,
    num_pairs: int | None,
    system_prompt: str | None = None,
    system_prompt_file: str | None = None,
    application_description: str | None = None,
    mode: str | None = None,
    batch_size: int | None = None,
    num_shots: int | None = None,
    parallel: bool | None = None,
    seed: int | None = None,
) -> PairsRequest:
    """Options left as None keep PairsRequest's defaults (new job) or the recorded request (resume)."""
    shaping = {
        "--system-prompt": system_prompt,
        "--system-prompt-file": system_prompt_file,
        "--application-description": application_description,
        "--mode": mode,
        "--batch-size": batch_size,
        "--num-shots": num_shots,
        "--parallel/--sequential": parallel,
        "--seed": seed,
    }
    if seeds_path is None:
        return _recorded_request(out_dir, num_pairs, [name for name, value in shaping.items() if value is not None])
    if num_pairs is None:
        raise EnvsimError("-n/--num-pairs is required with --seeds", hint="e.g. -n 50")
    if system_prompt is not None and system_prompt_file is not None:
        raise EnvsimError("give --system-prompt or --system-prompt-file, not both")
    if system_prompt_file is not None:
        try:
            system_prompt = Path(system_prompt_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise EnvsimError(f"cannot read --system-prompt-file {system_prompt_file}: {exc.strerror or exc}") from exc
    fields: dict[str, object] = {
        "seeds": load_seeds(seeds_path),
        "num_pairs_to_generate": num_pairs,
        "application_description": application_description,
        "system_prompt": system_prompt,
        "exploration_mode": _mode(mode) if mode is not None else None,
        "batch_size": batch_size,
        "num_shots": num_shots,
        "run_parallel_batches": parallel,
        "seed": seed,
    }
    return _validated({k: v for k, v in fields.items() if v is not None})


def _recorded_request(out_dir: Path, num_pairs: int | None, given: list[str]) -> PairsRequest:
    if not (out_dir / MANIFEST_FILE).is_file():
        raise EnvsimError(
            f"--seeds is required: {out_dir} is not an existing pairs run directory to resume",
            hint="pass --seeds FILE -n N to start a job",
        )
    if given:
        raise EnvsimError(
            f"without --seeds the job resumes with its recorded request, which {', '.join(given)} cannot change",
            hint="drop those options, or pass --seeds and every option to change the request (with --force)",
        )
    request = request_from_manifest(read_manifest(out_dir))
    if num_pairs is None:
        return request
    return _validated({**request.model_dump(), "num_pairs_to_generate": num_pairs})


def _mode(value: str) -> ExplorationMode:
    if value.upper() not in ExplorationMode.__members__:
        raise EnvsimError(f"unknown --mode {value!r}", hint="use CONSERVATIVE, BALANCED, CREATIVE or ADVENTUROUS")
    return ExplorationMode(value.upper())


def _validated(fields: dict[str, object]) -> PairsRequest:
    try:
        return PairsRequest.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise EnvsimError(f"invalid pairs options: {problems}", hint="see `envsim pairs --help`") from None
