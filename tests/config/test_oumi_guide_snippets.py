"""Every YAML snippet of oumi's synthesis guide (oumi_examples/guide/synth.md) is accepted: whole
configs load as they are; fragments, wrapped in the section they belong to, fail only for what a
fragment lacks (attributes defined elsewhere, files the guide only names). Every snippet that loads
(whole configs and self-contained fragments) passes `envsim validate` and runs against a local endpoint
(the fake model server; `--model` moves the cloud model there)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import envsim.attributes.pipeline  # noqa: F401  (registers the attribute checks with the loader)
from envsim import cli
from envsim.api import run_config
from envsim.config.loader import load_config
from envsim.errors import ConfigErrors
from envsim.testing import FakeModelServer

GUIDE = Path(__file__).parent / "oumi_examples" / "guide" / "synth.md"
SNIPPETS = re.findall(r"```yaml\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
STRATEGY_KEYS = {
    "sampled_attributes",
    "combination_sampling",
    "input_data",
    "input_documents",
    "input_examples",
    "generated_attributes",
    "transformed_attributes",
    "multiturn_attributes",
    "passthrough_attributes",
}
# What a fragment lacks, not what envsim refuses: references to attributes defined in another snippet,
# files and datasets the guide only names, elided examples ("# ...") and ids left out for brevity.
FRAGMENT_GAPS = (
    "references unknown attribute",
    "unknown sampled attribute",
    "no file matches",
    "cannot load Hugging Face dataset",
    "but there are only",
    "required key 'id' is missing",
)
MOCK = {"model": {"model_name": "mock:x"}}


def as_config(snippet: Any) -> tuple[dict[str, Any], bool]:
    """(config, is a fragment)."""
    if set(snippet) <= STRATEGY_KEYS:
        return {"strategy_params": snippet, "inference_config": MOCK}, True
    if set(snippet) == {"postprocessing_params"}:
        generated = {"id": "g", "instruction_messages": [{"role": "USER", "content": "x"}], **snippet}
        return {"strategy_params": {"generated_attributes": [generated]}, "inference_config": MOCK}, True
    return {"inference_config": MOCK, **snippet}, False


def test_the_guide_has_its_snippets() -> None:
    assert len(SNIPPETS) >= 20


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
async def test_snippet_is_accepted_and_runs_when_complete(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, fragment = as_config(yaml.safe_load(SNIPPETS[index]))
    path = tmp_path / "snippet.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    try:
        load_config(path)
    except ConfigErrors as exc:
        refused = [e.render() for e in exc.errors if not (fragment and any(g in e.message for g in FRAGMENT_GAPS))]
        assert not refused, "\n".join(refused)
        return  # a fragment that needs the rest of the guide to run
    validated = CliRunner().invoke(cli.app, ["validate", str(path)])
    assert validated.exit_code == 0, validated.output
    monkeypatch.setenv("OPENAI_API_KEY", "local-key")
    output = tmp_path / "out.jsonl"
    async with FakeModelServer() as server:
        summary = await run_config(
            path,
            out_dir=tmp_path / "run",
            model_override=f"openai:guide-model@{server.openai_base_url}",
            num_samples=2,
            overrides=[f"output_path={output}"],
            no_cache=True,
        )
    assert summary.ok and summary.done == 2, summary.recent_errors
    assert len(output.read_text(encoding="utf-8").splitlines()) == 2


def test_whole_configs_and_self_contained_fragments_are_run(tmp_path: Path) -> None:
    loads = []
    for index, snippet in enumerate(SNIPPETS):
        config, _ = as_config(yaml.safe_load(snippet))
        if set(config.get("strategy_params") or {}) & {"input_data", "input_documents"}:
            continue  # (they name files the guide does not ship; checked above)
        path = tmp_path / f"s{index}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        try:
            load_config(path)
        except ConfigErrors:
            continue
        loads.append(index)
    assert len(loads) >= 6  # the whole configs and the self-contained fragments: more than a token few
