"""oumi's own example synthesis configs (copied unchanged, see oumi_examples/README.md) validate and
run against the mock model, and their dataset file has the keys oumi writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import envsim.attributes.pipeline  # noqa: F401  (registers the attribute checks with the loader)
from envsim.api import run_config
from envsim.config.loader import load_config
from envsim.config.summary import build_summary

EXAMPLES = Path(__file__).parent / "oumi_examples"
CONFIGS = sorted(p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*.yaml"))


def test_every_example_is_here() -> None:
    assert len(CONFIGS) == 11


@pytest.mark.parametrize("name", CONFIGS)
def test_example_validates_and_lists_its_differences(name: str) -> None:
    config = load_config(EXAMPLES / name)
    differences = build_summary(config).oumi_differences
    assert differences, "every oumi config differs at least in a default envsim reports"
    assert all("\n" not in line for line in differences)


@pytest.mark.parametrize("name", CONFIGS)
async def test_example_runs_unchanged_on_the_mock_model(name: str, tmp_path: Path) -> None:
    output = tmp_path / "dataset.jsonl"
    summary = await run_config(
        EXAMPLES / name,
        out_dir=tmp_path / "run",
        model_override="mock:x",
        num_samples=2,
        overrides=[f"output_path={output}"],
    )
    assert summary.ok and summary.done == 2, summary.recent_errors
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2
    config = load_config(EXAMPLES / name)
    wanted = config.strategy_params.passthrough_attributes
    for row in rows:
        for mt in config.strategy_params.multiturn_attributes:
            if wanted is None or mt.id in wanted:
                assert isinstance(row[mt.id]["messages"], list)
            if wanted is None or f"{mt.id}_plan" in wanted:
                assert isinstance(row[f"{mt.id}_plan"], str)  # oumi writes the plan as text
        if wanted is not None:
            assert set(row) <= set(wanted)
