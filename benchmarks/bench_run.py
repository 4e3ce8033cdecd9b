"""Whole-run benchmarks of `envsim run`: throughput, memory, per-call overhead.

    python benchmarks/bench_run.py [--episodes 1000] [--workers 128] [--latency 0.2] [--http-episodes 64]

1. Throughput, endpoint in-process: `--episodes` conversations of 6 turns with tool calls (a mock
   model calls a tool after every user message, then answers), `--workers` open episodes, every model
   call taking `--latency` s. Achieved model calls/s vs the ideal (open episodes / latency); target
   >= 0.95. This isolates envsim's scheduling and per-call work from any HTTP client.
2. Throughput over HTTP: the same workload against the fake server (separate process) through the
   official OpenAI SDK, next to a bare asyncio loop of raw SDK calls at the same concurrency. On small
   machines the SDK's own CPU cost per request caps both far below the ideal, so the ratio that
   measures envsim is envsim / bare SDK.
3. Memory: 10,000 short episodes vs 1,000, each in a fresh subprocess; peak RSS ratio, target < 2.
4. Overhead at zero latency: client CPU per model call of a whole envsim run over HTTP, minus the bare
   SDK's; envsim's framework cost per call in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from envsim.api import RunSummary, run_config
from envsim.models.base import ModelRequest, ModelResponse
from envsim.models.mock import MockModel
from envsim.testing.fake_server import FakeModelServer

THROUGHPUT_TARGET = 0.95
MEMORY_TARGET = 2.0

CONFIG = """\
num_samples: {episodes}
seed: 1
environment_config:
  environments:
    - id: orders
      type: deterministic
      tools:
        - id: get_order
          description: Look up an order by id.
          read_only: true
          parameters: {{type: object, properties: {{order_id: {{type: string}}}}, required: [order_id]}}
          default_output: {{status: shipped, eta_days: 2}}
strategy_params:
  sampled_attributes:
    - id: mood
      possible_values: [{{id: calm}}, {{id: hurried}}, {{id: annoyed}}]
  multiturn_attributes:
    - id: support
      min_turns: {turns}
      max_turns: {turns}
      role_instruction_messages:
        USER: You are a {{mood}} customer asking about an order.
        ASSISTANT: Help the customer; use the tools.
      output_system_prompt: You are a support assistant.
inference_config:
  model: {{model_name: "{model}"}}
  remote_params: {{num_workers: {workers}, max_validation_retries: 0, max_retries: 2}}
"""


def write_config(folder: Path, *, episodes: int, turns: int, workers: int, model: str) -> Path:
    path = folder / "bench.yaml"
    path.write_text(CONFIG.format(episodes=episodes, turns=turns, workers=workers, model=model), encoding="utf-8")
    return path


async def run_once(config: Path, out: Path) -> RunSummary:
    return await run_config(config, out_dir=out, no_cache=True, status_interval_s=5.0)


# --------------------------------------------------------------------------- 1. throughput


def slow_mock(latency: float) -> Callable[[ModelRequest], Awaitable[ModelResponse]]:
    """The mock model's replies, each after `latency` seconds: an endpoint with no client cost."""
    mock = MockModel("bench")

    async def reply(request: ModelRequest) -> ModelResponse:
        await asyncio.sleep(latency)
        return mock.reply(request)

    return reply


def throughput_in_process(episodes: int, workers: int, latency: float) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "endpoint.py").write_text(
            f"from bench_run import slow_mock\nreply = slow_mock({latency})\n", encoding="utf-8"
        )
        config = write_config(
            Path(tmp), episodes=episodes, turns=6, workers=workers, model="function:endpoint.py:reply"
        )
        started = time.perf_counter()
        summary = asyncio.run(run_once(config, Path(tmp) / "run"))
        elapsed = time.perf_counter() - started
    calls = summary.usage.requests
    ratio = calls / elapsed / (workers / latency)
    ok = ratio >= THROUGHPUT_TARGET and summary.failed == 0
    print(
        f"[throughput] {summary.done} episodes ({summary.failed} failed), {calls} calls in {elapsed:.1f} s: "
        f"{calls / elapsed:.1f} calls/s vs ideal {workers / latency:.1f} ({workers} open / {latency} s)"
    )
    print(f"[throughput] ratio {ratio:.3f} (target >= {THROUGHPUT_TARGET}) {'OK' if ok else 'MISSED'}")
    return ok


def throughput_http(episodes: int, workers: int, latency: float) -> None:
    with FakeModelServer.start_process(latency=latency) as server, tempfile.TemporaryDirectory() as tmp:
        model = f"openai:bench@{server.openai_base_url}"
        config = write_config(Path(tmp), episodes=episodes, turns=6, workers=workers, model=model)
        started = time.perf_counter()
        summary = asyncio.run(run_once(config, Path(tmp) / "run"))
        elapsed = time.perf_counter() - started
        calls = summary.usage.requests
        bare_wall, _ = asyncio.run(bare_sdk(server.openai_base_url, calls, workers))
    ideal = workers / latency
    print(
        f"[http] {summary.done} episodes, {calls} calls in {elapsed:.1f} s: envsim {calls / elapsed:.1f} calls/s, "
        f"bare SDK {calls / bare_wall:.1f} calls/s, ideal {ideal:.1f}"
    )
    print(
        f"[http] envsim / bare SDK {bare_wall / elapsed:.3f}; of ideal: envsim {calls / elapsed / ideal:.3f}, "
        f"bare SDK {calls / bare_wall / ideal:.3f} (the SDK's client CPU per request is the ceiling here)"
    )


# --------------------------------------------------------------------------- 2. memory


def memory_child(episodes: int) -> None:
    """Run `episodes` one-turn episodes in-process with the mock model; print peak RSS in KiB as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), episodes=episodes, turns=1, workers=128, model="mock:bench")
        summary = asyncio.run(run_once(config, Path(tmp) / "run"))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"episodes": episodes, "done": summary.done, "peak_kib": peak_kib}))


def memory() -> bool:
    results = {}
    for episodes in (1_000, 10_000):
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", str(episodes)], capture_output=True, text=True, check=True
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results[episodes] = result
        took = time.perf_counter() - started
        print(f"[memory] {episodes:>6} episodes: peak RSS {result['peak_kib'] / 1024:.1f} MiB ({took:.1f} s)")
    ratio = results[10_000]["peak_kib"] / results[1_000]["peak_kib"]
    ok = ratio < MEMORY_TARGET and results[10_000]["done"] == 10_000
    print(f"[memory] ratio 10k/1k {ratio:.2f} (target < {MEMORY_TARGET}) {'OK' if ok else 'MISSED'}")
    return ok


# --------------------------------------------------------------------------- 3. overhead


async def bare_sdk(base_url: str, calls: int, concurrency: int) -> tuple[float, float]:
    """Wall and client CPU seconds for `calls` raw SDK requests (one tool offered, like the assistant's)."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
    tools = [
        {
            "type": "function",
            "function": {"name": "get_order", "description": "Look up an order by id.", "parameters": {}},
        }
    ]
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < calls:
            index = next_index
            next_index += 1
            await client.chat.completions.create(
                model="bench",
                messages=[{"role": "user", "content": f"Where is my order {index}?"}],
                tools=tools,  # type: ignore[arg-type]
            )

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await client.close()
    return wall, cpu


def overhead(episodes: int, workers: int) -> None:
    with FakeModelServer.start_process(latency=0.0) as server, tempfile.TemporaryDirectory() as tmp:
        model = f"openai:bench@{server.openai_base_url}"
        config = write_config(Path(tmp), episodes=episodes, turns=3, workers=workers, model=model)
        cpu = time.process_time()
        wall = time.perf_counter()
        summary = asyncio.run(run_once(config, Path(tmp) / "run"))
        wall = time.perf_counter() - wall
        envsim_cpu = time.process_time() - cpu
        calls = summary.usage.requests
        _, bare_cpu = asyncio.run(bare_sdk(server.openai_base_url, calls, workers))
    per_call = 1e6 * envsim_cpu / calls
    bare_per_call = 1e6 * bare_cpu / calls
    print(f"[overhead] {calls} calls, {wall:.1f} s wall ({calls / wall:.0f} calls/s at zero latency)")
    print(f"[overhead] client CPU per call: envsim run {per_call:.0f} us, bare SDK {bare_per_call:.0f} us")
    print(f"[overhead] envsim framework overhead: {per_call - bare_per_call:.0f} us per model call")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=128)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--http-episodes", type=int, default=64, help="episodes (= open episodes) over HTTP")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key")
    if args.memory_child:
        memory_child(args.memory_child)
        return 0
    started = time.perf_counter()
    ok = throughput_in_process(args.episodes, args.workers, args.latency)
    throughput_http(args.http_episodes, args.http_episodes, args.latency)
    if not args.skip_memory:
        ok = memory() and ok
    overhead(episodes=100, workers=32)
    print(f"total {time.perf_counter() - started:.0f} s: {'all targets met' if ok else 'TARGET MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
