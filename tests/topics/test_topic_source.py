"""Topics as an attribute source in runs: a topic tree built once per run, one path per sample, seen by
templates, the planner and the user simulator, and recorded in traces and the dataset file."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from envsim.api import run_config
from envsim.models.base import ModelRequest

from .helpers import RECORD_ENV

HELPERS = Path(__file__).with_name("helpers.py")


def _config(tmp_path: Path, *, conversation: bool, mode: str = "round_robin") -> Path:
    config = {
        "num_samples": 4,
        "output_path": str(tmp_path / "out.jsonl"),
        "strategy_params": {
            "topic_tree": {
                "topic_prompt": "Home cooking",
                "degree": 2,
                "depth": 2,
                "save_as": "topics.jsonl",
                "mode": mode,
            },
            "generated_attributes": [
                {
                    "id": "question",
                    "instruction_messages": [{"role": "USER", "content": "Ask a question about {topic.path}."}],
                }
            ],
        },
        "inference_config": {"model": {"model_name": f"function:{HELPERS}:topics_or_mock"}},
    }
    if conversation:
        config["strategy_params"]["multiturn_attributes"] = [
            {
                "id": "chat",
                "min_turns": 1,
                "max_turns": 1,
                "role_instruction_messages": {"USER": "You ask about {topic}.", "ASSISTANT": "You help."},
            }
        ]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def test_each_sample_draws_a_topic_path_round_robin(tmp_path: Path) -> None:
    summary = await run_config(_config(tmp_path, conversation=False), out_dir=tmp_path / "run")
    assert summary.ok
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    leaves = [row["topic"]["topic"] for row in rows]
    assert leaves == [
        "Home cooking / part 0 / part 0",
        "Home cooking / part 0 / part 1",
        "Home cooking / part 1 / part 0",
        "Home cooking / part 1 / part 1",
    ]
    assert rows[0]["topic"]["path"] == ["Home cooking", "Home cooking / part 0", "Home cooking / part 0 / part 0"]
    assert (tmp_path / "topics.jsonl").is_file()


async def test_the_tree_is_built_once_and_reused(tmp_path: Path) -> None:
    config = _config(tmp_path, conversation=False)
    await run_config(config, out_dir=tmp_path / "a")
    before = (tmp_path / "topics.jsonl").read_bytes()
    await run_config(config, out_dir=tmp_path / "b", no_cache=True, force=True)  # same dataset file
    assert (tmp_path / "topics.jsonl").read_bytes() == before


async def test_the_planner_and_the_user_get_the_topic(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    record = tmp_path / "requests.jsonl"
    monkeypatch.setenv(RECORD_ENV, str(record))
    summary = await run_config(_config(tmp_path, conversation=True), out_dir=tmp_path / "run", num_samples=1)
    assert summary.ok
    from envsim.recording import RunDirectory

    (trace,) = list(RunDirectory.open(tmp_path / "run", manifest=None).traces())
    assert trace.attributes["topic"]["topic"] == "Home cooking / part 0 / part 0"
    path = "Home cooking -> Home cooking / part 0 -> Home cooking / part 0 / part 0"
    requests = [ModelRequest.model_validate_json(line) for line in record.read_text().splitlines()]
    seen = {r.context.role: "\n".join(m.content or "" for m in r.messages) for r in requests}
    assert f"The topic of this conversation: {path}." in seen["user"]
    assert f"The conversation is about: {path}." in seen["planner"]


async def test_sample_mode_draws_paths_reproducibly(tmp_path: Path) -> None:
    config = _config(tmp_path, conversation=False, mode="sample")
    await run_config(config, out_dir=tmp_path / "a", num_samples=8)
    first = [json.loads(line)["topic"]["topic"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    await run_config(config, out_dir=tmp_path / "b", num_samples=8, force=True)
    again = [json.loads(line)["topic"]["topic"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert first == again and len(set(first)) > 1  # seeded: the same draws again
    leaves = [f"Home cooking / part {a} / part {b}" for a in (0, 1) for b in (0, 1)]
    assert first != [leaves[i % 4] for i in range(8)]  # drawn, not round robin
