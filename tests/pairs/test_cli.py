"""`envsim pairs` against the fake model server over HTTP: a run directory, resume, status and export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from envsim.cli import app
from envsim.testing import FakeModelServer
from tests.pairs.fake_generator import reply

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_pairs_command_generates_resumes_and_exports(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "support"
    with FakeModelServer(reply) as server:
        model = f"openai:fake-gen@{server.openai_base_url}"
        args = ["pairs", "--seeds", str(EXAMPLES / "pairs_seeds.jsonl"), "-n", "8", "--model", model]
        args += ["--system-prompt-file", str(EXAMPLES / "pairs_support_prompt.txt"), "--out", str(out)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "DONE" in result.output and "8 of 8" in result.output
        calls = server.count
        again = runner.invoke(app, args)  # resumes: nothing left to generate
        assert again.exit_code == 0 and server.count == calls
        changed = runner.invoke(app, [*args, "--mode", "ADVENTUROUS"])
        assert changed.exit_code == 1 and "different config" in changed.output
    pairs = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == 8 and all(set(p) == {"llm_input", "llm_output"} for p in pairs)
    assert all(p["llm_output"].startswith("Answer to: ") for p in pairs)  # the responder under the prompt
    assert json.loads((out / "diversity.json").read_text())["pairs"] == 8

    status = runner.invoke(app, ["status", str(out)])
    assert status.exit_code == 0 and "generated_pair" in status.output
    exported = runner.invoke(app, ["export", str(out), "--format", "sharegpt", "--out", str(tmp_path / "sg.jsonl")])
    assert exported.exit_code == 0
    assert len((tmp_path / "sg.jsonl").read_text().splitlines()) == 8


def test_bad_seeds_and_options_are_user_errors(tmp_path: Path) -> None:
    bad = tmp_path / "seeds.jsonl"
    bad.write_text('{"llm_input": "hi", "llm_output": "hello"}\n{"input": "oops"}\n', encoding="utf-8")
    result = runner.invoke(app, ["pairs", "--seeds", str(bad), "-n", "3", "--model", "mock:x"])
    assert result.exit_code == 1 and "line 2: not a seed pair" in result.output
    good = EXAMPLES / "pairs_seeds.jsonl"
    result = runner.invoke(app, ["pairs", "--seeds", str(good), "-n", "3", "--model", "mock:x", "--batch-size", "20"])
    assert result.exit_code == 1 and "batch_size" in result.output
    result = runner.invoke(app, ["pairs", "--seeds", str(good), "-n", "3", "--model", "mock:x", "--mode", "WILD"])
    assert result.exit_code == 1 and "unknown --mode" in result.output


def test_serve_refuses_to_start_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVSIM_SERVE_API_KEY", raising=False)
    result = runner.invoke(app, ["serve", "--model", "mock:x"])
    assert result.exit_code == 1 and "no API key configured" in result.output
    result = runner.invoke(app, ["serve", "--model", "mock:x", "--host", "0.0.0.0", "--no-auth"])
    assert result.exit_code == 1 and "loopback" in result.output


def test_without_seeds_the_recorded_job_is_resumed_and_may_be_extended(tmp_path: Path) -> None:
    out = tmp_path / "job"
    seeds = str(EXAMPLES / "pairs_seeds.jsonl")
    first = runner.invoke(app, ["pairs", "--seeds", seeds, "-n", "3", "--model", "mock:x", "--out", str(out)])
    assert first.exit_code == 0, first.output
    before = (out / "pairs.jsonl").read_text().splitlines()
    more = runner.invoke(app, ["pairs", "--out", str(out), "-n", "5", "--model", "mock:x"])
    assert more.exit_code == 0, more.output
    after = (out / "pairs.jsonl").read_text().splitlines()
    assert after[:3] == before and len(after) == 5

    changed = runner.invoke(app, ["pairs", "--out", str(out), "--model", "mock:x", "--mode", "CREATIVE"])
    assert changed.exit_code == 1 and "which --mode cannot change" in changed.output
    nothing = runner.invoke(app, ["pairs", "--model", "mock:x"])
    assert nothing.exit_code == 1 and "give --seeds to start a job, or --out to resume one" in nothing.output
    missing = runner.invoke(app, ["pairs", "--out", str(tmp_path / "new"), "--model", "mock:x"])
    assert missing.exit_code == 1 and "--seeds is required" in missing.output
    no_n = runner.invoke(app, ["pairs", "--seeds", seeds, "--model", "mock:x", "--out", str(tmp_path / "x")])
    assert no_n.exit_code == 1 and "-n/--num-pairs is required" in no_n.output
