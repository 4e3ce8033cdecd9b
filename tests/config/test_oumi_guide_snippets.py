"""Every YAML snippet of oumi's synthesis guide (oumi_examples/guide/synth.md) is accepted: whole
configs load as they are; fragments, wrapped in the section they belong to, fail only for what a
fragment lacks (attributes defined elsewhere, files the guide only names)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import envsim.attributes.pipeline  # noqa: F401  (registers the attribute checks with the loader)
from envsim.config.loader import load_config
from envsim.errors import ConfigErrors

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
def test_snippet_is_accepted(index: int, tmp_path: Path) -> None:
    config, fragment = as_config(yaml.safe_load(SNIPPETS[index]))
    path = tmp_path / "snippet.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    try:
        load_config(path)
    except ConfigErrors as exc:
        refused = [e.render() for e in exc.errors if not (fragment and any(g in e.message for g in FRAGMENT_GAPS))]
        assert not refused, "\n".join(refused)
