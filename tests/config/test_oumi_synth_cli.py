"""`envsim synth -c CONFIG` behaves like `oumi synth`, and every run ends with oumi's preview: the first
samples, the count, the path and how to train on them (TRL, oumi's text_sft_jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from envsim.cli import app
from envsim.simulation.preview import MAX_COLUMNS, preview_table

EXAMPLES = Path(__file__).parent / "oumi_examples"
DATABASE = EXAMPLES / "ehr_database_agent" / "ehr_database_synth.yaml"


def flat(text: str) -> str:
    return " ".join(text.split())


def test_synth_takes_dotted_overrides_and_prints_the_preview(tmp_path: Path) -> None:
    output = tmp_path / "ehr.jsonl"
    args = ["synth", "-c", str(DATABASE), "--model", "mock:x", "--out", str(tmp_path / "run")]
    args += ["--num_samples", "2", "--output_path", str(output), "--level", "WARNING"]
    result = CliRunner().invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    printed = flat(result.output)
    assert "Synthesis Results" in printed
    assert f"Successfully synthesized 2 samples and saved to {output}" in printed
    assert "SFTTrainer" in printed and "--format hf" in printed
    assert 'dataset_name: "text_sft_jsonl"' in printed
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [set(row) for row in rows] == [{"clinician_persona", "ehr_dialog", "ehr_dialog_plan"}] * 2


def test_synth_names_an_output_file_when_the_config_has_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text(
        "strategy_params:\n  generated_attributes:\n    - id: name\n"
        "      instruction_messages: [{role: USER, content: A name.}]\n"
        "inference_config: {model: {model_name: mock:x}}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["synth", "-c", str(config), "--num_samples", "3"], terminal_width=200)
    assert result.exit_code == 0, result.output
    (written,) = tmp_path.glob("envsim_synth_results_*.jsonl")
    assert len(written.read_text(encoding="utf-8").splitlines()) == 3
    assert "... and 0 more samples" not in result.output and "Successfully synthesized 3 samples" in flat(result.output)


def test_a_bad_log_level_is_a_user_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", "-c", str(DATABASE), "--level", "LOUD"])
    assert result.exit_code == 1 and "not a logging level" in result.output


def test_run_prints_the_preview_too(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    args = ["run", str(DATABASE), "--model", "mock:x", "--num-samples", "4", "--out", str(tmp_path / "run")]
    result = CliRunner().invoke(app, [*args, "--set", f"output_path={output}"], terminal_width=200)
    assert result.exit_code == 0, result.output
    printed = flat(result.output)
    assert "... and 1 more samples" in printed  # three rows previewed
    assert f"Successfully synthesized 4 samples and saved to {output}" in printed


def test_the_table_shows_oumis_columns_and_cuts_long_values() -> None:
    record = {f"c{i}": "x" * 500 for i in range(8)}
    table = preview_table([record])
    headers = [column.header for column in table.columns]
    assert len(headers) == MAX_COLUMNS and headers[-1] == "... and 3 more columns..."  # 8 columns, 5 shown
    cell = next(iter(table.columns[0].cells))
    assert len(str(cell)) == 200 + 3 and str(cell).endswith("...")
