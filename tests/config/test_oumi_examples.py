"""oumi's own example synthesis configs (copied unchanged, see oumi_examples/README.md) pass `envsim
validate` and run unchanged against a local endpoint (envsim's fake model server, speaking the wire
format of the engine the config names; `--model` only moves the cloud model there), and their dataset
file has the keys oumi writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import envsim.attributes.pipeline  # noqa: F401  (registers the attribute checks with the loader)
from envsim import cli
from envsim.api import run_config
from envsim.cli import app
from envsim.config.loader import load_config
from envsim.config.models import SynthConfig
from envsim.config.summary import build_summary
from envsim.testing import FakeModelServer

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
def test_envsim_validate_accepts_the_example_and_names_each_difference(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.console, "width", 1000)  # one line per difference, unwrapped
    result = CliRunner().invoke(app, ["validate", str(EXAMPLES / name)])
    assert result.exit_code == 0, result.output
    listed = result.output.split("differences from oumi synth with this config:\n", 1)[1].splitlines()
    assert listed == [f"- {line}" for line in build_summary(load_config(EXAMPLES / name)).oumi_differences]


def local_model(config: SynthConfig, server: FakeModelServer) -> str:
    """The config's own (cloud) model, served by the fake server in the wire format of its engine."""
    model = config.inference_config.model
    if (config.inference_config.engine or model.engine or "").upper() == "ANTHROPIC":
        return f"anthropic:{model.model_name}@{server.anthropic_base_url}"
    return f"openai:{model.model_name}@{server.openai_base_url}"


@pytest.mark.parametrize("name", CONFIGS)
async def test_example_runs_unchanged_against_a_local_endpoint(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "local-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "local-key")
    output = tmp_path / "dataset.jsonl"
    config = load_config(EXAMPLES / name)
    async with FakeModelServer() as server:
        summary = await run_config(
            EXAMPLES / name,
            out_dir=tmp_path / "run",
            model_override=local_model(config, server),
            num_samples=2,
            overrides=[f"output_path={output}"],
            no_cache=True,
        )
        apis = {entry.api for entry in server.log}
        models = {entry.body.get("model") for entry in server.log}
    assert apis == {"anthropic" if "anthropic:" in local_model(config, server) else "openai"}
    assert models == {config.inference_config.model.model_name}
    assert summary.ok and summary.done == 2, summary.recent_errors
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2
    wanted = config.strategy_params.passthrough_attributes
    for row in rows:
        for mt in config.strategy_params.multiturn_attributes:
            if wanted is None or mt.id in wanted:
                assert isinstance(row[mt.id]["messages"], list)
            if wanted is None or f"{mt.id}_plan" in wanted:
                assert isinstance(row[f"{mt.id}_plan"], str)  # oumi writes the plan as text
        if wanted is not None:
            assert set(row) <= set(wanted)
