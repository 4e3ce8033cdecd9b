"""The hf export rendered through real chat templates (fixtures in chat_templates/, sources in its README),
with jinja2 the way transformers renders them; and `envsim export --check-template`.

What these tests pin down is the table in docs/exports.md: which argument mode and options render
correctly for each template family.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from envsim.cli import app
from envsim.errors import EnvsimError
from envsim.recording import RunDirectory, RunManifest
from envsim.recording.exporters import ExportOptions, export_traces
from envsim.recording.exporters.chat_template import (
    ChatTemplate,
    TemplateReport,
    check_template,
    load_chat_template,
    rows_of_export,
)
from envsim.recording.trace import Trace

from .factories import make_trace
from .test_training_options import with_parallel_calls, with_reasoning

TEMPLATES = Path(__file__).parent / "chat_templates"
HERMES = TEMPLATES / "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja"
QWEN25 = TEMPLATES / "Qwen-Qwen2.5-7B-Instruct.jinja"
QWEN3 = TEMPLATES / "Qwen-Qwen3-0.6B.jinja"
LLAMA31 = TEMPLATES / "meta-llama-Llama-3.1-8B-Instruct.jinja"
MISTRAL = TEMPLATES / "mistralai-Mistral-Nemo-Instruct-2407.jinja"
QWEN3_CODER = TEMPLATES / "vllm-tool_chat_template_qwen3coder.jinja"
ALL = [HERMES, QWEN25, QWEN3, LLAMA31, MISTRAL, QWEN3_CODER]
MISTRAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>"}  # from its tokenizer_config.json


def traces() -> list[Trace]:
    return [
        make_trace("plain"),
        make_trace("recovered", sample_index=1, tool_error="recovered"),
        with_parallel_calls(make_trace("parallel", sample_index=2)),
        with_reasoning(make_trace("reasoning", sample_index=3)),
    ]


def render(tmp_path: Path, template: Path, **options: object) -> TemplateReport:
    out = tmp_path / "hf.jsonl"
    export_traces(traces(), out, "hf", ExportOptions(**options))  # type: ignore[arg-type]
    loaded = load_chat_template(template)
    if template == MISTRAL:
        loaded = ChatTemplate(loaded.source, loaded.text, MISTRAL_TOKENS)
    return check_template(loaded, rows_of_export(out))


def outcome(report: TemplateReport) -> dict[str, str]:
    return {
        c.id: "ok" if c.ok else (c.error or ("double-encoded" if c.double_encoded else "not visible"))
        for c in report.checks
    }


@pytest.mark.parametrize("template", [HERMES, QWEN25, QWEN3, QWEN3_CODER], ids=lambda p: p.stem)
def test_default_hf_export_renders_correctly(tmp_path: Path, template: Path) -> None:
    report = render(tmp_path, template)
    assert outcome(report) == dict.fromkeys(("plain", "recovered", "parallel", "reasoning"), "ok")
    text = template.read_text()
    assert "{% generation %}" not in text and not report.template.marks_generation


def test_string_arguments_are_double_encoded_or_break_templates(tmp_path: Path) -> None:
    """Why arguments are objects by default: as strings, templates serialize them again or fail."""
    assert set(outcome(render(tmp_path, QWEN25, arguments="string")).values()) == {"double-encoded"}
    assert set(outcome(render(tmp_path, QWEN3_CODER, arguments="string")).values()) == {
        "TypeError: Can only get item pairs from a mapping."
    }
    llama = outcome(render(tmp_path, LLAMA31, arguments="string", split_parallel_calls=True))
    assert set(llama.values()) == {"double-encoded"}


def test_single_call_templates_need_split_parallel_calls(tmp_path: Path) -> None:
    together = outcome(render(tmp_path, LLAMA31))
    assert together["parallel"] == "TemplateError: This model only supports single tool-calls at once!"
    assert together["plain"] == "ok"
    assert set(outcome(render(tmp_path, LLAMA31, split_parallel_calls=True)).values()) == {"ok"}


def test_mistral_needs_nine_character_call_ids(tmp_path: Path) -> None:
    refused = outcome(render(tmp_path, MISTRAL))
    assert set(refused.values()) == {"TemplateError: Tool call IDs should be alphanumeric strings with length 9!"}
    assert set(outcome(render(tmp_path, MISTRAL, call_ids="alnum9")).values()) == {"ok"}


def test_visibility_and_double_encoding_are_detected_from_the_text(tmp_path: Path) -> None:
    report = render(tmp_path, HERMES)
    plain = next(c for c in report.checks if c.id == "plain")
    assert (plain.tools_visible, plain.calls_visible, plain.double_encoded) == (True, True, False)
    blind = ChatTemplate("blind.jinja", "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}")
    (check,) = check_template(blind, rows_of_export(tmp_path / "hf.jsonl")[:1]).checks
    assert check.rendered and check.tools_visible is False and check.calls_visible is False and not check.ok


def test_tokenizer_config_supplies_the_template_and_special_tokens(tmp_path: Path) -> None:
    config = tmp_path / "tokenizer_config.json"
    named = [{"name": "default", "template": "x"}, {"name": "tool_use", "template": MISTRAL.read_text()}]
    config.write_text(json.dumps({"chat_template": named, "eos_token": {"content": "</s>"}, "bos_token": "<s>"}))
    loaded = load_chat_template(config)
    assert loaded.text == MISTRAL.read_text() and loaded.special_tokens == MISTRAL_TOKENS
    config.write_text(json.dumps({"eos_token": "</s>"}))
    with pytest.raises(EnvsimError, match="holds no chat template"):
        load_chat_template(config)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    with RunDirectory.open(tmp_path / "run", manifest=RunManifest.create({}, seed=0, command_line=[])) as run:
        for trace in traces():
            run.append_trace(trace)
    return tmp_path / "run"


def test_cli_check_template_reports_per_conversation_and_exits_1_on_failure(run_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = str(tmp_path / "hf.jsonl")
    base = ["export", str(run_dir), "-f", "hf", "-o", out, "--check-template"]
    result = runner.invoke(app, [*base, str(LLAMA31)], terminal_width=250)
    assert result.exit_code == 1, result.output
    assert "This model only supports single tool-calls at once!" in result.output
    assert "3 of 4 conversations render correctly; 1 fail to render" in result.output
    assert "no {% generation %} block" in result.output

    result = runner.invoke(app, [*base, str(LLAMA31), "--split-parallel-calls"], terminal_width=250)
    assert result.exit_code == 0, result.output
    assert "4 of 4 conversations render correctly" in result.output

    result = runner.invoke(app, ["export", str(run_dir), "-f", "sharegpt", "-o", out, "--check-template", str(QWEN3)])
    assert result.exit_code == 1 and "renders hf, openai and oumi exports" in result.stderr


@pytest.mark.parametrize("template", ALL, ids=lambda p: p.stem)
def test_every_fixture_is_a_parseable_chat_template(template: Path) -> None:
    assert load_chat_template(template).compile() is not None
