"""Whole-run benchmarks of `envsim run`: throughput over HTTP, in-process throughput, memory, per-call overhead.

    python benchmarks/bench_run.py [--episodes 1000] [--workers 128] [--latency 0.2] [--repeat 3] [--skip-memory]

1. Throughput over HTTP (the headline): `--episodes` conversations of 6 turns with tool calls (the mock
   model calls a tool after every user message, then answers) against the fake model server running in
   a separate process with `--latency` s per reply, through the OpenAI provider (its default "direct"
   transport; `--transport sdk` sends every request through the SDK's client) and the full policy stack,
   `--workers` open episodes, `--processes` worker processes. Achieved model calls/s vs the ideal (open
   episodes / latency), two ways:
   - whole run (target >= 0.95, the judged figure): all calls over the wall time from `run_config` to
     its return (start-up, ramp-down and recording included). Judged on the median of `--repeat` runs
     (default 3): this shared 2-core machine varies by a few percent from run to run. Its ceiling is
     below 1 for this workload: 1,000 equal episodes in 128 slots run as 8 waves, the last one with 104
     episodes (1000 / (8 * 128) = 0.977);
   - steady state (a diagnostic): while every one of the `--workers` episodes is open, i.e. between the
     end of the first wave of episodes and the end of the last wave that still starts a full set
     (completions `workers` .. `k * workers`): the rate the runner sustains against the endpoint.
   The SDK and the HTTP client are imported before the clock starts, as envsim itself is (a
   once-per-process cost, about 0.6 s, that a run of hours does not notice).
2. Throughput in-process (secondary): the same workload with an in-process endpoint that just sleeps
   `--latency` s: envsim's scheduling and per-call work without any HTTP client.
3. Memory: 10,000 short episodes vs 1,000, each in a fresh subprocess; peak RSS ratio, target < 2.
4. Overhead at zero latency, in microseconds of client CPU per model call: a whole envsim run over HTTP
   (framework + the default direct transport), a bare loop of `AsyncOpenAI.chat.completions.create` calls (the SDK
   alone, default settings), and envsim's own framework cost (an in-process run at zero latency, minus
   the time the mock model spends computing its replies).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from envsim.api import RunSummary, run_config
from envsim.event_loop import run_async
from envsim.models.base import ModelRequest, ModelResponse
from envsim.models.mock import MockModel
from envsim.simulation.runner import RunProgress
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
  remote_params: {{num_workers: {workers}, num_processes: {processes}, max_validation_retries: 0, max_retries: 2}}
"""


def write_config(
    folder: Path, *, episodes: int, turns: int, workers: int, model: str, processes: int = 1, transport: str = ""
) -> Path:
    path = folder / "bench.yaml"
    text = CONFIG.format(episodes=episodes, turns=turns, workers=workers, model=model, processes=processes)
    if transport:
        text = text.replace("model: {model_name: ", f"model: {{transport: {transport}, model_name: ", 1)
    path.write_text(text, encoding="utf-8")
    return path


async def run_once(config: Path, out: Path, on_progress: Callable[[RunProgress], None] | None = None) -> RunSummary:
    return await run_config(config, out_dir=out, no_cache=True, status_interval_s=5.0, on_progress=on_progress)


# --------------------------------------------------------------------------- 1-2. throughput


def slow_mock(latency: float) -> Callable[[ModelRequest], Awaitable[ModelResponse]]:
    """The mock model's replies, each after `latency` seconds: an endpoint with no client cost."""
    mock = MockModel("bench")

    async def reply(request: ModelRequest) -> ModelResponse:
        await asyncio.sleep(latency)
        return mock.reply(request)

    return reply


class WaveClock:
    """An `on_progress` callback noting when the `workers`-th and the `k * workers`-th episodes finished
    (k as large as still leaves a full set of episodes running), and the calls finished by then."""

    def __init__(self, episodes: int, workers: int) -> None:
        waves = max(1, (episodes - workers) // workers)  # full waves after the first one
        self.first, self.last = workers, workers * (1 + waves)
        self.marks: dict[int, tuple[float, int]] = {}

    def __call__(self, progress: RunProgress) -> None:
        finished = progress.finished
        if finished in (self.first, self.last) and finished not in self.marks:
            self.marks[finished] = (time.perf_counter(), progress.usage.requests)

    def steady_calls_per_s(self) -> float | None:
        if self.first not in self.marks or self.last not in self.marks or self.last == self.first:
            return None
        (t0, c0), (t1, c1) = self.marks[self.first], self.marks[self.last]
        return (c1 - c0) / (t1 - t0)


@dataclass
class Throughput:
    """One throughput run's ratios to the ideal (None: too few episodes for a steady state)."""

    whole: float
    steady: float | None
    failed: int

    @property
    def passed(self) -> bool:
        return self.whole >= THROUGHPUT_TARGET and self.failed == 0


def report_throughput(
    tag: str,
    summary: RunSummary,
    elapsed: float,
    workers: int,
    latency: float,
    clock: WaveClock,
    processes: int = 1,
) -> Throughput:
    calls = summary.usage.requests
    ideal = workers / latency
    episodes = summary.done + summary.failed
    ceiling = episodes / (workers * -(-episodes // workers))
    whole = calls / elapsed / ideal
    print(
        f"[{tag}] {summary.done} episodes ({summary.failed} failed), {calls} calls in {elapsed:.1f} s, "
        f"{processes} process{'es' if processes != 1 else ''}; ideal {ideal:.1f} calls/s ({workers} open / {latency} s)"
    )
    print(
        f"[{tag}] whole run: {calls / elapsed:.1f} calls/s, ratio {whole:.3f} (target >= {THROUGHPUT_TARGET}; "
        f"workload ceiling {ceiling:.3f}) {'PASS' if whole >= THROUGHPUT_TARGET and summary.failed == 0 else 'MISS'}"
    )
    steady = clock.steady_calls_per_s()
    result = Throughput(whole, None if steady is None else steady / ideal, summary.failed)
    if steady is None:
        print(f"[{tag}] steady state: too few episodes to measure (need at least 2 x {workers})")
        return result
    print(
        f"[{tag}] steady state (all {workers} open, episodes {clock.first}..{clock.last} finished): "
        f"{steady:.1f} calls/s, ratio {steady / ideal:.3f} (diagnostic)"
    )
    return result


def throughput_http(
    episodes: int, workers: int, latency: float, processes: int, transport: str = "direct"
) -> Throughput:
    """The headline: the fake server in its own process, the OpenAI provider and the whole stack,
    simulated by `processes` worker processes (remote_params.num_processes)."""
    import aiohttp  # noqa: F401 - imported before the clock starts (see the module docstring)
    import openai  # noqa: F401

    clock = WaveClock(episodes, workers)
    with FakeModelServer.start_process(latency=latency) as server, tempfile.TemporaryDirectory() as tmp:
        model = f"openai:bench@{server.openai_base_url}"
        folder = Path(tmp)
        config = write_config(
            folder, episodes=episodes, turns=6, workers=workers, model=model, processes=processes, transport=transport
        )
        started = time.perf_counter()
        summary = run_async(run_once(config, Path(tmp) / "run", clock))
        elapsed = time.perf_counter() - started
    return report_throughput("http", summary, elapsed, workers, latency, clock, processes)


def throughput_http_repeated(
    episodes: int, workers: int, latency: float, processes: int, repeat: int, transport: str = "direct"
) -> bool:
    """`repeat` HTTP runs, judged on their median whole-run ratio (a shared 2-core machine varies by a
    few percent from run to run; the median of several is the figure to compare)."""
    results = [throughput_http(episodes, workers, latency, processes, transport) for _ in range(repeat)]
    if repeat == 1:
        return results[0].passed
    steady = [r.steady for r in results if r.steady is not None]
    if steady:
        print(f"[http] {repeat} runs: steady-state ratios {', '.join(f'{x:.3f}' for x in steady)} (diagnostic)")
    median = statistics.median(r.whole for r in results)
    ok = median >= THROUGHPUT_TARGET and all(r.failed == 0 for r in results)
    print(
        f"[http] {repeat} runs: whole-run ratios {', '.join(f'{r.whole:.3f}' for r in results)}; "
        f"median {median:.3f} (target >= {THROUGHPUT_TARGET}) {'PASS' if ok else 'MISS'}"
    )
    return ok


def throughput_in_process(episodes: int, workers: int, latency: float) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "endpoint.py").write_text(
            f"from bench_run import slow_mock\nreply = slow_mock({latency})\n", encoding="utf-8"
        )
        config = write_config(
            Path(tmp), episodes=episodes, turns=6, workers=workers, model="function:endpoint.py:reply"
        )
        clock = WaveClock(episodes, workers)
        started = time.perf_counter()
        summary = run_async(run_once(config, Path(tmp) / "run", clock))
        elapsed = time.perf_counter() - started
    return report_throughput("in-process", summary, elapsed, workers, latency, clock).passed


# --------------------------------------------------------------------------- 3. memory


def memory_child(episodes: int) -> None:
    """Run `episodes` one-turn episodes in-process with the mock model; print peak RSS in KiB as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), episodes=episodes, turns=1, workers=128, model="mock:bench")
        summary = run_async(run_once(config, Path(tmp) / "run"))
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


# --------------------------------------------------------------------------- 4. overhead


async def bare_sdk(base_url: str, calls: int, concurrency: int) -> tuple[float, float]:
    """Wall and client CPU seconds for `calls` plain SDK requests (one tool offered, like the assistant's)."""
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


MOCK_CPU = [0.0]  # seconds the in-process endpoint spent computing mock replies (see timed_mock)


def timed_mock() -> Callable[[ModelRequest], Awaitable[ModelResponse]]:
    """The mock model's replies at zero latency, counting the CPU spent computing them."""
    mock = MockModel("bench")

    async def reply(request: ModelRequest) -> ModelResponse:
        started = time.thread_time()
        response = mock.reply(request)
        MOCK_CPU[0] += time.thread_time() - started
        return response

    return reply


def framework_cpu_per_call(episodes: int, workers: int) -> float:
    """Client CPU seconds per model call of an in-process run at zero latency, mock replies excluded."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "endpoint.py").write_text(
            "from bench_run import timed_mock\nreply = timed_mock()\n", encoding="utf-8"
        )
        model = "function:endpoint.py:reply"
        config = write_config(Path(tmp), episodes=episodes, turns=3, workers=workers, model=model)
        import bench_run  # the endpoint's copy of this module (not `__main__` when run as a script)

        run_async(run_once(config, Path(tmp) / "warm"))
        bench_run.MOCK_CPU[0] = 0.0
        cpu = time.process_time()
        summary = run_async(run_once(config, Path(tmp) / "run"))
        cpu = time.process_time() - cpu
    return (cpu - bench_run.MOCK_CPU[0]) / summary.usage.requests


def overhead(episodes: int, workers: int) -> None:
    with FakeModelServer.start_process(latency=0.0) as server, tempfile.TemporaryDirectory() as tmp:
        model = f"openai:bench@{server.openai_base_url}"
        config = write_config(Path(tmp), episodes=episodes, turns=3, workers=workers, model=model)
        run_async(run_once(config, Path(tmp) / "warm"))  # imports, SDK client set-up: not per-call costs
        cpu = time.process_time()
        wall = time.perf_counter()
        summary = run_async(run_once(config, Path(tmp) / "run"))
        wall = time.perf_counter() - wall
        envsim_cpu = time.process_time() - cpu
        calls = summary.usage.requests
        _, bare_cpu = asyncio.run(bare_sdk(server.openai_base_url, calls, workers))
    framework = framework_cpu_per_call(episodes, workers)
    print(f"[overhead] {calls} calls, {wall:.1f} s wall ({calls / wall:.0f} calls/s at zero latency)")
    print(
        f"[overhead] client CPU per call: envsim run over HTTP {1e6 * envsim_cpu / calls:.0f} us "
        f"(framework + direct transport), bare SDK create() loop {1e6 * bare_cpu / calls:.0f} us"
    )
    print(f"[overhead] envsim framework overhead: {1e6 * framework:.0f} us per model call (in-process, zero latency)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=128)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument(
        "--processes",
        type=int,
        default=3,
        help="worker processes of the HTTP run (default 3: measured best on 2 cores)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="HTTP throughput runs, judged on their median (default 3)"
    )
    parser.add_argument(
        "--transport", choices=("direct", "sdk"), default="direct", help="the OpenAI provider's transport (HTTP run)"
    )
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-not-a-real-key")
    if args.memory_child:
        memory_child(args.memory_child)
        return 0
    started = time.perf_counter()
    ok = throughput_http_repeated(
        args.episodes, args.workers, args.latency, args.processes, args.repeat, args.transport
    )
    if not args.skip_in_process:
        ok = throughput_in_process(args.episodes, args.workers, args.latency) and ok
    if not args.skip_memory:
        ok = memory() and ok
    overhead(episodes=100, workers=32)
    print(f"total {time.perf_counter() - started:.0f} s: {'PASS: all targets met' if ok else 'MISS: a target missed'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
