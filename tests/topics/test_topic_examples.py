"""The topic examples (examples/topics/) run offline with the mock model, from a copy in a temp dir so
nothing is written into the repository."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from envsim.api import run
from envsim.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "topics"
runner = CliRunner()


def _copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / "examples" / "topics"  # the examples' ../../out lands in tmp_path/out
    target.mkdir(parents=True)
    return Path(shutil.copy(EXAMPLES / name, target / name))


@pytest.mark.parametrize("name", ["topic_tree.yaml", "topic_graph.yaml"])
def test_topic_model_examples_build_and_run(name: str, tmp_path: Path) -> None:
    config = _copy(name, tmp_path)
    assert runner.invoke(app, ["validate", str(config)]).exit_code == 0
    build = runner.invoke(app, ["topics", "build", str(config)])
    assert build.exit_code == 0, build.output
    show = runner.invoke(app, ["topics", "show", str(config)])
    assert show.exit_code == 0 and "complete: True" in show.output, show.output
    data = tmp_path / "out" / "data.jsonl"  # output_path resolves against the working directory
    summary = run(config, out_dir=tmp_path / "run", num_samples=3, overrides=[f"output_path={data}"])
    assert summary.ok and summary.done == 3
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    assert all(row["topic"]["path"][0] in ("Home gardening", "Personal finance") for row in rows)


def test_the_dataset_generator_example_generates(tmp_path: Path) -> None:
    config = _copy("dataset_generator.yaml", tmp_path)
    result = runner.invoke(app, ["generate", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "weather_tree.jsonl").is_file()
    assert "examples in" in result.output
    assert (tmp_path / "run" / "traces.jsonl").is_file() or (tmp_path / "run" / "failures.jsonl").is_file()
