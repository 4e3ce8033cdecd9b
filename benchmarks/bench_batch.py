"""Batch inference against the fake server (in its own process), with a processing delay.

    python benchmarks/bench_batch.py [--rows 10000] [--conversations 1000] [--batch-delay 0.5]

Reports:
1. batch task overhead: client CPU and wall time per 10,000 rows (add, partition, upload, poll,
   download, merge), and the client's peak memory at 1/10 and all of the rows (flat = O(rows) small);
2. whole runs: the same config online and with `--batch`, requests per batch and waves per run;
3. cost of the run online vs batch under the default price table (gpt-4o-mini's list price, priced on
   the fake server's token counts), scaled to 1,000 conversations when fewer were run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envsim.api import run_config  # noqa: E402
from envsim.messages import Message  # noqa: E402
from envsim.models.base import ModelRequest  # noqa: E402
from envsim.models.batch import BackendSpec, BatchTask  # noqa: E402
from envsim.models.pricing import DEFAULT_PRICES  # noqa: E402
from envsim.testing import FakeModelServer  # noqa: E402


async def task_overhead(url: str, rows: int, work: Path, *, trace_memory: bool) -> dict[str, float]:
    """One task of `rows` requests from add to merged results. With `trace_memory`, the peak of
    Python allocations (tracemalloc slows everything, so CPU is measured in a pass without it)."""
    spec = BackendSpec(provider="openai", model="gpt-4o-mini", base_url=url)
    if trace_memory:
        tracemalloc.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    task = BatchTask.create(work, f"rows{rows}-{trace_memory}", spec, batch_size=1000)
    requests = (ModelRequest(messages=[Message.user(f"question {i}: what is {i} + {i}?")]) for i in range(rows))
    task.add_many((request, None) for request in requests)
    await task.run(poll_interval_s=0.2)
    answered = sum(1 for r in task.results() if r.ok)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    peak = tracemalloc.get_traced_memory()[1] if trace_memory else 0
    if trace_memory:
        tracemalloc.stop()
    await task.aclose()
    return {"rows": rows, "answered": answered, "cpu_s": cpu, "wall_s": wall, "peak_mb": peak / 1e6}


async def whole_runs(url: str, conversations: int, work: Path) -> dict[str, object]:
    price = DEFAULT_PRICES["gpt-4o-mini"]
    listed = f"input: {price.input}, output: {price.output}, cache_read: {price.cache_read}"
    prices = f"inference_config.prices={{gpt-4o-mini: {{{listed}}}}}"  # list price on the fake server's tokens
    config = ROOT / "examples" / "support_chat.yaml"
    common = dict(model_override=f"openai:gpt-4o-mini@{url}", num_samples=conversations, no_cache=True)
    # Every episode open at once: a waiting episode holds nothing, and a wave takes them all.
    open_all = f"inference_config.remote_params.num_workers={min(conversations, 1000)}"
    t0 = time.perf_counter()
    online = await run_config(
        config, out_dir=work / "on" / "run", overrides=[prices, open_all, f"output_path={work / 'on.jsonl'}"], **common
    )
    online_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    batch = await run_config(
        config,
        out_dir=work / "b" / "run",  # its own tool cache (.envsim_cache beside the run): no shared hits
        overrides=[
            prices,
            open_all,
            f"output_path={work / 'batch.jsonl'}",
            "inference_config.batch.collect_s=0.2",
            "inference_config.batch.poll_interval_s=0.2",
        ],
        batch=True,
        **common,
    )
    batch_s = time.perf_counter() - t0
    tasks = (work / "b" / "run" / "batch").glob("*/task.json")
    parts = [p for t in tasks for p in json.loads(t.read_text())["parts"]]
    same = (work / "on.jsonl").read_bytes() == (work / "batch.jsonl").read_bytes()
    scale = 1000 / conversations
    return {
        "conversations": conversations,
        "online_requests": online.usage.requests,
        "batch_requests": batch.usage.batch_requests,
        "batches": len(parts),
        "requests_per_batch": batch.usage.batch_requests / max(1, len(parts)),
        "same_dataset_bytes": same,
        "online_wall_s": online_s,
        "batch_wall_s": batch_s,
        "cost_online_usd_per_1000": (online.usage.cost_usd or 0.0) * scale,
        "cost_batch_usd_per_1000": (batch.usage.cost_usd or 0.0) * scale,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--batch-delay", type=float, default=0.5)
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    server = FakeModelServer.start_process(batch_delay=args.batch_delay)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            url = server.openai_base_url
            await task_overhead(url, 10, work, trace_memory=False)  # imports and connections, off the clock
            print("batch task overhead (client side, fake server in its own process)")
            for rows in (max(1, args.rows // 10), args.rows):
                timed = await task_overhead(url, rows, work, trace_memory=False)
                traced = await task_overhead(url, rows, work, trace_memory=True)
                per = 10_000 / rows
                print(
                    f"  {rows:>6} rows: answered {timed['answered']}, client CPU {timed['cpu_s']:.2f} s "
                    f"({timed['cpu_s'] * per:.2f} s per 10k rows), wall {timed['wall_s']:.2f} s, "
                    f"peak Python memory {traced['peak_mb']:.1f} MB"
                )
            runs = await whole_runs(server.openai_base_url, args.conversations, work / "runs")
            print("whole runs (examples/support_chat.yaml)")
            for key, value in runs.items():
                print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
            print(f"  max RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
