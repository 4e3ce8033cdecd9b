"""`envsim run --batch`: whole runs through batch waves give the same dataset bytes as online runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envsim.api import run_config
from envsim.testing import FakeModelServer

ROOT = Path(__file__).resolve().parents[3]
FAST = ["inference_config.batch.collect_s=0.05", "inference_config.batch.poll_interval_s=0.05"]


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-batch")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-batch")


def _strip_timing(traces: Path) -> list[dict]:
    rows = []
    for line in traces.read_text().splitlines():
        row = json.loads(line)
        row.pop("wall_time_s", None)
        for step in row.get("steps", []):
            step.pop("latency_s", None)
        for usage in row.get("usage", {}).values():
            usage.pop("batch_requests", None)
        rows.append(row)
    return rows


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_batch_run_writes_the_bytes_an_online_run_writes(tmp_path: Path, provider: str) -> None:
    config = ROOT / "examples" / "support_chat.yaml"
    async with FakeModelServer(batch_delay=0.05) as server:
        url = server.openai_base_url if provider == "openai" else server.anthropic_base_url
        model = f"{provider}:fake-model@{url}"
        common = dict(model_override=model, num_samples=3, no_cache=True)
        online = await run_config(
            # Separate parents: each run has its own tool cache (.envsim_cache beside the run directory).
            config,
            out_dir=tmp_path / "on" / "online",
            overrides=[f"output_path={tmp_path / 'online.jsonl'}"],
            **common,
        )
        batched = await run_config(
            config,
            out_dir=tmp_path / "b" / "batch",
            overrides=[f"output_path={tmp_path / 'batch.jsonl'}", *FAST],
            batch=True,
            **common,
        )
        batch_requests = [e for e in server.log if e.api and e.api.endswith("-batch")]
    assert online.ok and batched.ok
    assert (tmp_path / "online.jsonl").read_bytes() == (tmp_path / "batch.jsonl").read_bytes()
    online_traces = _strip_timing(tmp_path / "on" / "online" / "traces.jsonl")
    assert online_traces == _strip_timing(tmp_path / "b" / "batch" / "traces.jsonl")
    assert batched.usage.batch_requests == online.usage.requests > 0
    assert batch_requests  # the replies really came through the batch API
    tasks = list((tmp_path / "b" / "batch" / "batch").glob("*/task.json"))
    parts = [p for t in tasks for p in json.loads(t.read_text())["parts"]]
    # Waves: several episodes' requests share one batch.
    assert len(parts) < batched.usage.batch_requests


def test_batch_prices_are_half_the_online_price() -> None:
    from envsim.models.base import Usage
    from envsim.models.pricing import PriceTable

    table = PriceTable()
    online = table.cost("openai:gpt-4o-mini", Usage(requests=1, input_tokens=1000, output_tokens=500))
    batch = table.cost("openai:gpt-4o-mini", Usage(requests=1, input_tokens=1000, output_tokens=500, batch_requests=1))
    assert online is not None and batch == pytest.approx(online / 2)


async def test_roles_not_listed_stay_online(tmp_path: Path) -> None:
    config = ROOT / "examples" / "support_chat.yaml"
    async with FakeModelServer(batch_delay=0.02) as server:
        summary = await run_config(
            config,
            out_dir=tmp_path / "mixed",
            model_override=f"openai:fake-model@{server.openai_base_url}",
            num_samples=2,
            no_cache=True,
            overrides=[*FAST, "inference_config.batch.roles=[user]", f"output_path={tmp_path / 'mixed.jsonl'}"],
        )
        online = [e for e in server.log if e.api == "openai"]
    assert summary.ok
    assert summary.usage_by_role["user"].batch_requests == summary.usage_by_role["user"].requests > 0
    assert summary.usage_by_role["assistant"].batch_requests == 0
    assert online  # the planner's and assistant's calls went to the online endpoint


async def test_batch_mode_refuses_models_without_a_batch_api(tmp_path: Path) -> None:
    from envsim.errors import ConfigError

    with pytest.raises(ConfigError, match="has no batch API"):
        await run_config(
            ROOT / "examples" / "support_chat.yaml", out_dir=tmp_path / "x", num_samples=1, batch=True, overrides=FAST
        )


@pytest.mark.slow  # two CLI runs of a dozen waves each: ~1 minute on a loaded machine
def test_a_killed_batch_run_resumes_without_paying_twice(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    server = FakeModelServer.start_process(batch_delay=0.3)
    try:
        out = tmp_path / "run"
        command = [
            sys.executable, "-m", "envsim", "run", str(ROOT / "examples" / "support_chat.yaml"), "--batch",
            "--out", str(out), "--model", f"openai:fake-model@{server.openai_base_url}", "--num-samples", "2",
            "--no-cache", "--set", f"output_path={tmp_path / 'data.jsonl'}",
            *[arg for item in FAST for arg in ("--set", item)],
        ]  # fmt: skip
        env = {**os.environ, "OPENAI_API_KEY": "sk-test-batch"}
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        task_file = None
        while time.monotonic() < deadline and task_file is None:
            for candidate in (out / "batch").glob("*/task.json"):
                parts = json.loads(candidate.read_text())["parts"]
                if parts and parts[0].get("batch_id"):
                    task_file = candidate
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert task_file is not None, "the run never submitted a wave"
        first = json.loads(task_file.read_text())["parts"][0]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
        parts = json.loads(task_file.read_text())["parts"]
        assert parts[0]["batch_id"] == first["batch_id"]  # the interrupted wave was waited for, not resent
        first_attempts = [cid for part in parts if part["attempt"] == 1 for cid in part["rows"]]
        assert len(first_attempts) == len(set(first_attempts))  # no request was submitted twice
        assert (tmp_path / "data.jsonl").read_text().count("\n") == 2
    finally:
        server.stop()
