"""Multi-process runs (`processes` / `--processes` / remote_params.num_processes): same output as one
process, resumable after cancellation, and worker-side failures stop the run with their message."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from envsim.api import RunSummary, run_config
from envsim.cli import app
from envsim.errors import CircuitOpenError, ConfigError, ModelAuthError, RunError
from envsim.recording import RunDirectory, RunState
from envsim.simulation import processes
from envsim.simulation.runner import RunProgress

DYING = """\
import os


def reply(request):
    os._exit(3)  # a worker process killed mid-episode (OOM killer, segfault, ...)
"""


def traces_bytes(run: Path) -> bytes:
    return (run / "traces.jsonl").read_bytes()


async def test_two_processes_write_the_same_traces_as_one(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(num_samples=9)
    one = await run_config(config, out_dir=tmp_path / "one", processes=1, no_cache=True)
    two = await run_config(config, out_dir=tmp_path / "two", processes=2, no_cache=True)
    assert two.state is RunState.DONE and two.done == one.done == 9
    assert traces_bytes(tmp_path / "two") == traces_bytes(tmp_path / "one")
    assert two.usage.requests == one.usage.requests > 0
    assert (config.parent / "out" / "data.jsonl").is_file()
    for name in ("cached", "replayed"):  # the workers write, then read, the shared response cache
        cached = await run_config(config, out_dir=tmp_path / name, processes=2)
        assert traces_bytes(tmp_path / name) == traces_bytes(tmp_path / "one")
    assert cached.usage.cache_hits == one.usage.requests and cached.usage.requests == 0


async def test_forked_workers_store_every_reply_in_the_shared_cache(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    """Workers forked from a parent that built its own models (and cache) store every reply, and a rerun
    replays them all. SQLite connections must not cross the fork: with one open in the parent, the
    workers' last writes were lost or the database came out malformed."""
    config = write_config(num_samples=300)
    first = await run_config(config, out_dir=tmp_path / "first", processes=3)
    again = await run_config(config, out_dir=tmp_path / "again", processes=3)
    assert first.usage.requests > 300
    assert again.usage.requests == 0 and again.usage.cache_hits == first.usage.requests
    assert traces_bytes(tmp_path / "again") == traces_bytes(tmp_path / "first")


FROZEN = """import gc


def reply(request):
    return f"frozen objects: {gc.get_freeze_count()}"
"""


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
async def test_workers_keep_long_lived_objects_out_of_the_collector(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_method: str
) -> None:
    """A worker freezes what it has once started (modules, config, simulator): its full collections then
    skip them (measured: pauses of 0.1 s or more, each stalling all the worker's episodes, became ~5 ms)."""
    monkeypatch.setattr(processes, "default_start_method", lambda: start_method)
    config = write_config(model="function:frozen.py:reply", num_samples=4)
    (config.parent / "frozen.py").write_text(FROZEN, encoding="utf-8")
    summary = await run_config(config, out_dir=tmp_path / "run", processes=2, no_cache=True)
    assert summary.done == 4
    replies = [
        m["content"]
        for line in traces_bytes(tmp_path / "run").splitlines()
        for m in json.loads(line)["messages"]
        if m["role"] == "assistant" and m.get("content")
    ]
    assert replies and all(int(r.split(": ")[1]) > 10_000 for r in replies)


async def test_spawned_workers_write_the_same_traces_as_forked_ones(
    write_config: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(num_samples=6)
    forked = await run_config(config, out_dir=tmp_path / "forked", processes=2, no_cache=True)
    monkeypatch.setattr(processes, "default_start_method", lambda: "spawn")
    spawned = await run_config(config, out_dir=tmp_path / "spawned", processes=2, no_cache=True)
    assert spawned.done == forked.done == 6
    assert traces_bytes(tmp_path / "spawned") == traces_bytes(tmp_path / "forked")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is the default on Linux only")
def test_workers_fork_only_from_a_single_threaded_process() -> None:
    assert threading.active_count() == 1 or processes.default_start_method() == "spawn"
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        assert processes.default_start_method() == "spawn"  # a fork would copy a process with threads
    finally:
        stop.set()
        helper.join()


PARENT = """import asyncio, sys
from envsim.api import run_config
asyncio.run(run_config(sys.argv[1], out_dir=sys.argv[2], processes=2))
"""

SLOW = """import time


def reply(request):
    time.sleep(0.2)
    return "still thinking"
"""


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_workers_end_when_the_parent_is_killed(write_config: Callable[..., Path], tmp_path: Path) -> None:
    """kill -9 of the parent leaves no orphan: each worker sees its pipe close and exits."""
    config = write_config(model="function:slow.py:reply", num_samples=50)
    (config.parent / "slow.py").write_text(SLOW, encoding="utf-8")
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(config), str(tmp_path / "run")])
    try:
        deadline = time.monotonic() + 30
        workers: list[int] = []
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            workers = [pid for pid in _children(parent.pid) if _alive(pid)]
        assert len(workers) >= 2, "the run did not start its two worker processes"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in workers), "a worker outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_cli_processes_option_and_config_field(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(num_samples=4)
    runner = CliRunner()
    by_option = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "a"), "--processes", "2"])
    assert by_option.exit_code == 0, by_option.output
    by_config = runner.invoke(
        app,
        ["run", str(config), "--out", str(tmp_path / "b"), "--set", "inference_config.remote_params.num_processes=2"],
    )
    assert by_config.exit_code == 0, by_config.output
    assert traces_bytes(tmp_path / "a") == traces_bytes(tmp_path / "b")
    bad = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "c"), "--processes", "0"])
    assert bad.exit_code == 1 and "--processes must be at least 1" in bad.output


async def test_a_cancelled_multiprocess_run_resumes_without_duplicates(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config(model="function:replies.py:slow", num_samples=12)
    reference = await run_config(config, out_dir=tmp_path / "reference")
    out = tmp_path / "run"
    holder: dict[str, asyncio.Task[RunSummary]] = {}

    def cancel_after_three(progress: RunProgress) -> None:
        if progress.done >= 3:
            holder["task"].cancel()

    holder["task"] = asyncio.create_task(run_config(config, out_dir=out, processes=2, on_progress=cancel_after_three))
    with pytest.raises(asyncio.CancelledError):
        await holder["task"]
    partial = RunDirectory.open(out, manifest=None)
    assert partial.status().state is RunState.CANCELLED
    recorded = len(partial.episode_ids())
    assert 3 <= recorded < 12

    resumed = await run_config(config, out_dir=out, processes=2)
    assert resumed.state is RunState.DONE and resumed.skipped == recorded
    ids = RunDirectory.open(out, manifest=None).episode_ids()
    assert len(ids) == len(set(ids)) == 12
    assert reference.done == 12 and traces_bytes(out) == traces_bytes(tmp_path / "reference")


async def test_a_worker_side_auth_error_stops_the_run(write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config(model="function:replies.py:auth_fails")
    with pytest.raises((ModelAuthError, CircuitOpenError)) as caught:
        await run_config(config, out_dir=tmp_path / "run", processes=2)
    assert "refused" in str(caught.value)
    status = RunDirectory.open(tmp_path / "run", manifest=None).status()
    assert status.state is RunState.ERROR and "refused" in status.detailed_status[0]


async def test_a_worker_that_dies_fails_the_run_with_a_clear_message(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config = write_config(model="function:dying.py:reply")
    (config.parent / "dying.py").write_text(DYING, encoding="utf-8")
    with pytest.raises(RunError, match=r"worker process \d \(pid \d+\) exited unexpectedly \(exit code 3\)"):
        await run_config(config, out_dir=tmp_path / "run", processes=2)
    assert RunDirectory.open(tmp_path / "run", manifest=None).status().state is RunState.ERROR


async def test_processes_must_be_positive(write_config: Callable[..., Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--processes"):
        await run_config(write_config(), out_dir=tmp_path / "run", processes=0)


RETAIL_CONFIG = """\
num_samples: 6
seed: 5
environment_config_path: {catalog}
strategy_params:
  multiturn_attributes:
    - id: retail_chat
      min_turns: 1
      max_turns: 1
      available_environments: [retail]
      role_instruction_messages: {{USER: "You are a customer.", ASSISTANT: "Help the customer."}}
inference_config:
  model: {{model_name: "function:retail_replies.py:reply"}}
  remote_params: {{num_workers: 4, max_retries: 0}}
"""

RETAIL_REPLIES = """\
from envsim.messages import Message, ToolCall
from envsim.models.mock import MockModel

_mock = MockModel("retail")
_ORDERS = ["#W1001", "#W1005"]


def reply(request):
    if request.context.role != "assistant":
        return _mock.reply(request)
    if request.messages[-1].role == "tool":
        return Message.assistant("done")
    index = int(request.context.episode_id.split("-")[1])
    order = {"order_id": _ORDERS[index % 2], "reason": "no longer needed"}
    return Message.assistant(None, [ToolCall.make("cancel_pending_order", order, id=f"c{index}")])
"""


async def test_workers_send_large_states_by_reference_and_the_run_records_the_same_bytes(tmp_path: Path) -> None:
    # The shipped retail state is larger than the inline limit: traces hold it by reference, and each
    # worker sends it to the parent once (envsim.recording.wire), not with every trace.
    catalog = Path(__file__).resolve().parents[2] / "environments" / "retail" / "retail.yaml"
    (tmp_path / "retail_replies.py").write_text(RETAIL_REPLIES, encoding="utf-8")
    config = tmp_path / "retail_run.yaml"
    config.write_text(RETAIL_CONFIG.format(catalog=catalog), encoding="utf-8")
    one = await run_config(config, out_dir=tmp_path / "one", processes=1, no_cache=True)
    two = await run_config(config, out_dir=tmp_path / "two", processes=2, no_cache=True)
    assert one.done == two.done == 6 and two.failed == 0
    assert traces_bytes(tmp_path / "two") == traces_bytes(tmp_path / "one")
    lines = [json.loads(line) for line in traces_bytes(tmp_path / "two").splitlines()]
    assert all("retail" in line["state_refs"] and line["steps"][0]["patch"] for line in lines)
    assert len(list((tmp_path / "two" / "states").iterdir())) == 1
    run = RunDirectory.open(tmp_path / "two", manifest=None)
    statuses = {t.final_state["retail"]["orders"]["#W1001"]["status"] for t in run.traces()}
    assert statuses == {"pending", "cancelled"}  # half the episodes cancelled #W1001, half #W1005
