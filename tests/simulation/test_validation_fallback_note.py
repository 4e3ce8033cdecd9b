"""A state schema that cannot be checked incrementally is validated in full, and the run summary says so once."""

from __future__ import annotations

from pathlib import Path

import yaml
from rich.console import Console

from envsim.api import run_config
from envsim.simulation.progress import summary_table

TOOLS = '''
def add_note(text: str, state: dict) -> str:
    """Add a note."""
    state["notes"].append(text)
    return "added"
'''


async def test_a_full_validation_fallback_is_named_in_the_summary(tmp_path: Path) -> None:
    (tmp_path / "tools.py").write_text(TOOLS)
    schema = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}  # not Draft 2020-12
    config = {
        "num_samples": 1,
        "output_path": str(tmp_path / "out.jsonl"),
        "environment_config": {
            "environments": [
                {
                    "id": "notes",
                    "type": "python",
                    "state_params": {"state_schema": schema, "initial_state": {"notes": []}},
                    "tools": [{"id": "add_note", "handler": "tools.py:add_note"}],
                }
            ]
        },
        "strategy_params": {
            "multiturn_attributes": [
                {"id": "chat", "role_instruction_messages": {"USER": "Add a note.", "ASSISTANT": "Help."}}
            ]
        },
        "inference_config": {"model": {"model_name": "mock:x"}},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    summary = await run_config(path, out_dir=tmp_path / "run")
    assert summary.ok
    assert list(summary.validation_fallbacks) == ["notes"]
    console = Console(width=200, record=True)
    console.print(summary_table(summary))
    assert "full state validation" in console.export_text()
