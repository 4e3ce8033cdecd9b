"""A corpus of broken inputs: each is refused with exit 1, no traceback, the file and the key (or line) named.

Every case runs `envsim validate` on it; a sample also runs `envsim run`, which must refuse it the same way
before simulating anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from envsim import cli
from envsim.cli import app

runner = CliRunner()

MODEL = "inference_config:\n  model: {model_name: 'mock:test'}\n"
ENVS = """\
environment_config:
  environments:
    - id: weather
      type: deterministic
      tools:
        - id: get_weather
          parameters: {type: object, properties: {city: {type: string}}}
          default_output: {temp: 15}
"""
CHAT = """\
strategy_params:
  sampled_attributes:
    - id: mood
      possible_values: [{id: calm}, {id: angry}]
  multiturn_attributes:
    - id: chat
      min_turns: 1
      max_turns: 2
      role_instruction_messages: {USER: "You are a {mood} traveller.", ASSISTANT: Help.}
"""
VALID = "num_samples: 2\n" + ENVS + CHAT + MODEL
CATALOG = ENVS.replace("environment_config:\n", "").replace("\n  ", "\n")[2:]  # `environments:` at the top


@dataclass
class Case:
    files: dict[str, str | bytes]  # name -> content; the first one is validated
    expect: list[str]  # substrings of the error output besides the file name (keys, lines, reasons)
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    at_fault: str | None = None  # the file the error must name (default: the first)


def _with(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


CASES: dict[str, Case] = {
    # -- YAML syntax and encoding: the file and the line
    "nul_character": Case({"c.yaml": "num_samples: 2\x00\n" + MODEL}, ["line 1", "U+0000 (NUL)"]),
    "control_character": Case({"c.yaml": "num_samples: 2\n# bell \x07\n" + MODEL}, ["line 2", "U+0007"]),
    "invalid_utf8": Case({"c.yaml": b"num_samples: 2\nseed: \xff\xfe\n" + MODEL.encode()}, ["line 2", "UTF-8"]),
    "latin1_text": Case({"c.yaml": "num_samples: 2\n# caf\xe9\n".encode("latin-1") + MODEL.encode()}, ["UTF-8"]),
    "tab_indentation": Case({"c.yaml": "inference_config:\n\tmodel: {model_name: x}\n"}, ["line 2", "tab"]),
    "unclosed_quote": Case({"c.yaml": 'num_samples: 2\nseed: "abc\n' + MODEL}, ["line"]),
    "unclosed_flow_mapping": Case({"c.yaml": "inference_config: {model: {model_name: x}\n"}, ["line"]),
    "unclosed_flow_sequence": Case({"c.yaml": "num_samples: [1, 2\n" + MODEL}, ["line"]),
    "bad_indentation": Case(
        {"c.yaml": "inference_config:\n  model:\n    model_name: x\n   engine: OPENAI\n"}, ["line"]
    ),
    "colon_in_plain_value": Case({"c.yaml": "num_samples: 2\noutput_path: a: b\n" + MODEL}, ["line 2", "quote"]),
    "duplicate_key": Case({"c.yaml": "num_samples: 2\nnum_samples: 3\n" + MODEL}, ["duplicate key", "num_samples"]),
    "python_tag": Case({"c.yaml": "num_samples: !!python/object:os.system x\n" + MODEL}, ["line 1", "Python tags"]),
    "undefined_alias": Case({"c.yaml": "num_samples: *nope\n" + MODEL}, ["line 1", "nope"]),
    "unhashable_key": Case({"c.yaml": "? [a, b]\n: 1\n" + MODEL}, ["line"]),
    "two_documents": Case({"c.yaml": "num_samples: 2\n---\nseed: 1\n"}, ["line"]),
    "deep_nesting": Case({"c.yaml": "num_samples: " + "[" * 3000 + "]" * 3000 + "\n" + MODEL}, ["nested"]),
    "empty_file": Case({"c.yaml": ""}, ["empty"]),
    "scalar_document": Case({"c.yaml": "just a sentence\n"}, ["mapping"]),
    "too_large": Case(
        {"c.yaml": VALID + "#" + "x" * 400 + "\n"},
        ["limit", "ENVSIM_MAX_CONFIG_BYTES"],
        env={"ENVSIM_MAX_CONFIG_BYTES": "300"},
    ),
    "bad_size_limit": Case(
        {"c.yaml": VALID}, ["positive"], env={"ENVSIM_MAX_CONFIG_BYTES": "lots"}, at_fault="ENVSIM_MAX_CONFIG_BYTES"
    ),
    # -- shape and values: the file and the key
    "unknown_top_level_key": Case({"c.yaml": "num_sample: 2\n" + MODEL}, ["num_sample", "did you mean"]),
    "num_samples_not_a_number": Case({"c.yaml": _with("num_samples: 2", "num_samples: many")}, ["num_samples"]),
    "num_samples_negative": Case({"c.yaml": _with("num_samples: 2", "num_samples: -1")}, ["num_samples"]),
    "seed_not_a_number": Case({"c.yaml": "seed: abc\n" + MODEL}, ["seed"]),
    "unknown_strategy": Case({"c.yaml": "strategy: CLEVER\n" + MODEL}, ["strategy"]),
    "no_inference_config": Case({"c.yaml": "num_samples: 2\n"}, ["inference_config"]),
    "model_without_name": Case({"c.yaml": "inference_config:\n  model: {engine: OPENAI}\n"}, ["model_name"]),
    "zero_workers": Case({"c.yaml": VALID + "  remote_params: {num_workers: 0}\n"}, ["num_workers"]),
    "negative_temperature": Case({"c.yaml": VALID + "  generation: {temperature: -1}\n"}, ["temperature"]),
    "top_p_above_one": Case({"c.yaml": VALID + "  generation: {top_p: 2}\n"}, ["top_p"]),
    "output_path_is_a_list": Case({"c.yaml": "output_path: [a, b]\n" + MODEL}, ["output_path"]),
    "environment_type_typo": Case(
        {"c.yaml": _with("type: deterministic", "type: determinstic")}, ["type", "did you mean"]
    ),
    "duplicate_environment_id": Case(
        {
            "c.yaml": _with(
                "    - id: weather\n", "    - {id: weather, type: deterministic, tools: []}\n    - id: weather\n"
            )
        },
        ["weather"],
    ),
    "parameters_not_a_schema": Case(
        {"c.yaml": _with("parameters: {type: object,", "parameters: {type: objekt,")}, ["parameters", "JSON Schema"]
    ),
    "min_turns_above_max": Case({"c.yaml": _with("min_turns: 1", "min_turns: 5")}, ["min_turns"]),
    "missing_role": Case({"c.yaml": _with("ASSISTANT: Help.", "ASISTANT: Help.")}, ["ASISTANT"]),
    "unknown_placeholder": Case({"c.yaml": _with("{mood} traveller", "{moood} traveller")}, ["moood"]),
    "sample_rate_above_one": Case(
        {"c.yaml": _with("[{id: calm}, {id: angry}]", "[{id: calm, sample_rate: 1.5}, {id: angry}]")}, ["sample_rate"]
    ),
    "missing_input_data": Case(
        {"c.yaml": VALID.replace("strategy_params:\n", "strategy_params:\n  input_data: [{path: rows.jsonl}]\n")},
        ["input_data[0].path", "rows.jsonl"],
    ),
    # -- files named by the config: the file that is wrong, or the key naming a missing one
    "catalog_file_missing": Case(
        {"c.yaml": "environment_config_path: envs/nope.yaml\n" + CHAT + MODEL}, ["environment_config_path", "nope.yaml"]
    ),
    "catalog_file_with_nul": Case(
        {"c.yaml": "environment_config_path: envs.yaml\n" + CHAT + MODEL, "envs.yaml": "environments:\x00\n"},
        ["NUL"],
        at_fault="envs.yaml",
    ),
    "catalog_file_too_large": Case(
        {
            "c.yaml": "environment_config_path: envs.yaml\n" + CHAT + MODEL,
            "envs.yaml": CATALOG + "#" + "x" * 2000 + "\n",
        },
        ["limit"],
        env={"ENVSIM_MAX_CONFIG_BYTES": "1500"},
        at_fault="envs.yaml",
    ),
    "catalog_file_is_a_directory": Case(
        {"c.yaml": "environment_config_path: envs\n" + CHAT + MODEL, "envs/x.txt": ""}, ["environment_config_path"]
    ),
    "catalog_file_bad_type": Case(
        {
            "c.yaml": "environment_config_path: envs.yaml\n" + CHAT + MODEL,
            "envs.yaml": CATALOG.replace("deterministic", "determinstic"),
        },
        ["environments[0].type"],
        at_fault="envs.yaml",
    ),
    "initial_state_file_missing": Case(
        {
            "c.yaml": _with(
                "      type: deterministic\n",
                "      type: deterministic\n      state_params: {initial_state_path: s.json}\n",
            )
        },
        ["initial_state_path", "s.json"],
    ),
    "initial_state_bad_json": Case(
        {
            "c.yaml": _with(
                "      type: deterministic\n",
                "      type: deterministic\n      state_params: {initial_state_path: s.json}\n",
            ),
            "s.json": '{"a": 1,\n "b": }\n',
        },
        ["initial_state_path", "line 2"],
    ),
    "initial_state_bad_utf8": Case(
        {
            "c.yaml": _with(
                "      type: deterministic\n",
                "      type: deterministic\n      state_params: {initial_state_path: s.json}\n",
            ),
            "s.json": b'{"a": "\xff"}',
        },
        ["initial_state_path", "UTF-8"],
    ),
    "scenario_catalog_missing": Case(
        {"c.yaml": VALID + "scenario_catalog_path: scenarios.yaml\n"}, ["scenario_catalog_path"]
    ),
    # -- command line
    "override_unknown_key": Case(
        {"c.yaml": VALID}, ["temprature"], args=["--set", "inference_config.generation.temprature=1"]
    ),
    "override_bad_value": Case({"c.yaml": VALID}, ["num_samples"], args=["--set", "num_samples=lots"]),
}


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.console, "width", 200)
    monkeypatch.setattr(cli.err_console, "width", 200)


def _write(case: Case, root: Path) -> Path:
    for name, content in case.files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root / next(iter(case.files))


def _check(result: object, case: Case) -> None:
    output = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 1, output  # type: ignore[attr-defined]
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # type: ignore[attr-defined]
    assert "Traceback" not in output
    assert (case.at_fault or next(iter(case.files))) in output, output
    for expected in case.expect:
        assert expected in output, f"{expected!r} not in:\n{output}"


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", list(CASES))
def test_validate_refuses_it(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[name]
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    config = _write(case, tmp_path)
    _check(runner.invoke(app, ["validate", str(config), *case.args]), case)


@pytest.mark.parametrize(
    "name", ["nul_character", "invalid_utf8", "too_large", "catalog_file_missing", "override_bad_value"]
)
def test_run_refuses_it_before_simulating(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES[name]
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    config = _write(case, tmp_path)
    result = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "run"), *case.args])
    _check(result, case)
    assert not (tmp_path / "run" / "traces.jsonl").exists()


def test_the_valid_base_config_is_valid(tmp_path: Path) -> None:
    """The corpus breaks one thing each: without it, the same config validates."""
    (tmp_path / "c.yaml").write_text(VALID, encoding="utf-8")
    result = runner.invoke(app, ["validate", str(tmp_path / "c.yaml")])
    assert result.exit_code == 0, result.output
