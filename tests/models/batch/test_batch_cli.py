"""`envsim batch` verbs end to end, and a client killed with SIGKILL that resumes where it was."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from envsim.cli import app
from envsim.testing import FakeModelServer

runner = CliRunner()


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-batch")


def _requests_file(path: Path, n: int) -> Path:
    rows = [
        {"custom_id": f"q{i}", "messages": [{"role": "user", "content": f"hi {i}"}], "max_tokens": 50} for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_every_verb(tmp_path: Path) -> None:
    work = str(tmp_path / "work")
    with FakeModelServer(batch_delay=0.05) as server:
        model = f"openai:fake@{server.openai_base_url}"
        source = _requests_file(tmp_path / "in.jsonl", 3)
        result = runner.invoke(
            app, ["batch", "add", "t", "-i", str(source), "--model", model, "-w", work, "--batch-size", "2"]
        )
        assert result.exit_code == 0, result.output
        assert "added 3 request(s)" in result.output
        result = runner.invoke(app, ["batch", "submit", "t", "-w", work])
        assert result.exit_code == 0, result.output
        assert "submitted 2 batch(es)" in result.output
        time.sleep(0.3)
        result = runner.invoke(app, ["batch", "status", "t", "-w", work])
        assert result.exit_code == 0 and "3 succeeded" in result.output, result.output
        result = runner.invoke(app, ["batch", "download", "t", "-w", work])
        assert result.exit_code == 0, result.output
        lines = [json.loads(x) for x in (tmp_path / "work" / "t" / "results.jsonl").read_text().splitlines()]
        assert [x["custom_id"] for x in lines] == ["q0", "q1", "q2"]
        assert all(x["outcome"] == "succeeded" for x in lines)
        source2 = _requests_file(tmp_path / "in2.jsonl", 0)
        assert (
            runner.invoke(app, ["batch", "add", "t", "-i", str(source2), "--model", model, "-w", work]).exit_code == 0
        )
        result = runner.invoke(app, ["batch", "run", "t", "-w", work, "--poll-interval", "0.02"])
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["batch", "cancel", "t", "-w", work])
        assert result.exit_code == 0 and "cancelling 0 batch(es)" in result.output
        result = runner.invoke(app, ["batch", "clean", "t", "-w", work])
        assert result.exit_code == 0 and "deleted 4 remote file(s)" in result.output, result.output
        assert server.batches.files == {}


def test_bad_rows_and_unknown_tasks_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"custom_id": "a", "messages": [{"role": "user", "content": "x"}]}\n{"prompt": "no messages"}\n')
    result = runner.invoke(
        app, ["batch", "add", "t", "-i", str(bad), "--model", "openai:m@http://127.0.0.1:9/v1", "-w", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "bad.jsonl:2: not a chat request row" in result.output
    result = runner.invoke(app, ["batch", "status", "nope", "-w", str(tmp_path)])
    assert result.exit_code == 1 and "no batch task 'nope'" in result.output
    result = runner.invoke(app, ["batch", "add", "t", "-i", str(bad), "--model", "mock:x", "-w", str(tmp_path)])
    assert result.exit_code == 1 and "needs an openai:, azure: or anthropic: model" in result.output


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_client_killed_mid_task_resumes_without_resubmitting(tmp_path: Path, provider: str) -> None:
    work = tmp_path / "work"
    server = FakeModelServer.start_process(batch_delay=1.5)
    try:
        url = server.openai_base_url if provider == "openai" else server.anthropic_base_url
        model = f"{provider}:fake@{url}"
        source = _requests_file(tmp_path / "in.jsonl", 4)
        env = {**os.environ, "OPENAI_API_KEY": "sk-test-batch", "ANTHROPIC_API_KEY": "sk-ant-test-batch"}
        cli = [sys.executable, "-m", "envsim", "batch"]
        subprocess.run([*cli, "add", "t", "-i", str(source), "--model", model, "-w", str(work)], check=True, env=env)
        proc = subprocess.Popen(
            [*cli, "run", "t", "-w", str(work), "--poll-interval", "0.05"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        state_file = work / "t" / "task.json"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (
                state_file.is_file()
                and json.loads(state_file.read_text())["parts"]
                and json.loads(state_file.read_text())["parts"][0].get("batch_id")
            ):
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = json.loads(state_file.read_text())
        batch_id = before["parts"][0]["batch_id"]
        assert batch_id and not before["merged"]
        done = subprocess.run(
            [*cli, "run", "t", "-w", str(work), "--poll-interval", "0.05"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        after = json.loads(state_file.read_text())
        assert [p["batch_id"] for p in after["parts"]] == [batch_id]  # resumed, not resubmitted
        lines = [json.loads(x) for x in (work / "t" / "results.jsonl").read_text().splitlines()]
        assert [x["custom_id"] for x in lines] == ["q0", "q1", "q2", "q3"]
        assert all(x["outcome"] == "succeeded" and x["attempts"] == 1 for x in lines)
    finally:
        server.stop()
