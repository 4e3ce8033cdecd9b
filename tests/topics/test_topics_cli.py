"""`envsim topics build|show`."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from envsim.cli import app

HELPERS = Path(__file__).with_name("helpers.py")
runner = CliRunner()


def test_build_then_show(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "strategy_params": {
                    "topic_graph": {"topic_prompt": "Gardening", "degree": 2, "depth": 2, "save_as": "g.json"}
                },
                "inference_config": {"model": {"model_name": f"function:{HELPERS}:topics_or_mock"}},
            }
        )
    )
    result = runner.invoke(app, ["topics", "build", str(config)])
    assert result.exit_code == 0, result.output
    assert "graph: 7 topics, 4 leaf paths" in result.output
    assert (tmp_path / "g.json").is_file()
    result = runner.invoke(app, ["topics", "show", str(config)])
    assert result.exit_code == 0, result.output
    assert "Gardening / part 1 / part 0" in result.output and "complete: True" in result.output
    result = runner.invoke(app, ["topics", "show", str(tmp_path / "g.json"), "--paths"])
    assert result.output.splitlines()[0] == "Gardening -> Gardening / part 0 -> Gardening / part 0 / part 0"


def test_a_config_without_topics_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"inference_config": {"model": {"model_name": "mock:x"}}}))
    result = runner.invoke(app, ["topics", "build", str(config)])
    assert result.exit_code == 1 and "declares no topic model" in result.output
