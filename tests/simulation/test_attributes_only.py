"""A config without multiturn attributes is an attributes-only dataset: one line per sample, no conversation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envsim.api import run_config
from envsim.recording import RunDirectory
from envsim.recording.trace import TerminationReason

CONFIG = """
num_samples: 8
seed: 4
output_path: out.jsonl
strategy_params:
  sampled_attributes:
    - id: color
      possible_values: [{id: red, name: red}, {id: blue, name: blue}]
  transformed_attributes:
    - id: sentence
      transformation_strategy: {type: STRING, string_transform: "The sky is {color}."}
inference_config:
  model: {model_name: "mock:x"}
"""


async def test_attributes_only_run_writes_one_line_per_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # output_path is relative: it resolves against the working directory
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    summary = await run_config(config, out_dir=tmp_path / "run", status_interval_s=60)
    assert summary.ok and summary.done == 8
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(rows) == 8
    for row in rows:
        assert set(row) == {"color", "sentence"}
        assert row["sentence"] == f"The sky is {row['color']}."
    with RunDirectory.open(tmp_path / "run", manifest=None) as run_dir:
        traces = list(run_dir.traces())
    assert {t.termination for t in traces} == {TerminationReason.ATTRIBUTES_ONLY}
    assert all(t.messages == [] and t.conversation_id is None for t in traces)
