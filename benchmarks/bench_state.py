"""State engine benchmark: tau2's retail database in the shipped `retail` python environment.

    python benchmarks/bench_state.py [--scales 1 4 16] [--steps 300] [--profile write|read|start]

The database (`<project root>/../shared/datasets/tau2-retail/db.json`, looked up in the ancestors of the
project root too, or `--db PATH`) is loaded as the environment's initial state at 1x, 4x and 16x its
size (users and orders duplicated under new ids). Per scale, in one process:

- first build: the once-per-process work (copy, Merkle hash and full validation of the catalog state);
- episode start: `EnvironmentSet.build` of the environments of one conversation, afterwards (target
  <= 5 ms at 1x, O(1) in size);
- read step: `get_order_details` through `EnvironmentSet.step` (target <= 0.2 ms);
- write step: `modify_user_address` on a different user each time (target <= 1 ms at 1x, and at 16x
  <= 1.5x the 1x figure); `cancel_pending_order` is reported alongside (more ops per step).

Figures are medians over `--steps` steps, in milliseconds: wall time, and process CPU time (all
threads; on a shared, loaded machine the wall figure includes waiting for a core, the CPU one does not).
`--profile` prints a cProfile of that phase at the largest scale instead of the table.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import cProfile
import json
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from envsim.config.loader import load_environment_catalog  # noqa: E402
from envsim.config.models import EnvironmentConfig  # noqa: E402
from envsim.environments import EnvironmentSet  # noqa: E402
from envsim.messages import ToolCall  # noqa: E402

RETAIL = ROOT / "environments" / "retail" / "retail.yaml"
DATASET = Path("shared") / "datasets" / "tau2-retail" / "db.json"


def find_db(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    for ancestor in [ROOT, *ROOT.parents]:
        candidate = ancestor.parent / DATASET if ancestor == ROOT else ancestor / DATASET
        if candidate.is_file():
            return candidate
    raise SystemExit(f"tau2 retail db not found as <project root>/../{DATASET} (or above); pass --db")


def scaled(db: dict[str, Any], factor: int) -> dict[str, Any]:
    """`factor` copies of every user and order under new ids (products are shared)."""
    out = {"products": db["products"], "users": dict(db["users"]), "orders": dict(db["orders"])}
    for k in range(1, factor):
        for user_id, user in db["users"].items():
            clone = copy.deepcopy(user)
            clone["user_id"] = f"{user_id}_x{k}"
            clone["email"] = f"x{k}.{user['email']}"
            clone["orders"] = [f"#W{k}{oid[2:]}" for oid in user["orders"]]
            out["users"][clone["user_id"]] = clone
        for order_id, order in db["orders"].items():
            clone = copy.deepcopy(order)
            clone["order_id"] = f"#W{k}{order_id[2:]}"
            clone["user_id"] = f"{order['user_id']}_x{k}"
            out["orders"][clone["order_id"]] = clone
    return out


def retail_config(state: dict[str, Any]) -> EnvironmentConfig:
    config = load_environment_catalog(RETAIL).environments[0]
    params = config.state_params.model_copy(update={"initial_state": state})  # type: ignore[union-attr]
    return config.model_copy(update={"state_params": params})


Sample = tuple[float, float]  # (wall s, process CPU s)


def median_ms(samples: list[Sample]) -> tuple[float, float]:
    return statistics.median(w for w, _ in samples) * 1000, statistics.median(c for _, c in samples) * 1000


def clock() -> Sample:
    return time.perf_counter(), time.process_time()


def since(start: Sample) -> Sample:
    now = clock()
    return now[0] - start[0], now[1] - start[1]


class Bench:
    def __init__(self, state: dict[str, Any], steps: int) -> None:
        self.config = retail_config(state)
        self.state = state
        self.steps = steps

    def build(self) -> EnvironmentSet:
        return EnvironmentSet.build([self.config], base_dir=RETAIL.parent)

    def first_build(self) -> float:
        started = time.perf_counter()
        self.build()
        return time.perf_counter() - started

    def episode_start(self) -> list[Sample]:
        samples = []
        for _ in range(self.steps):
            started = clock()
            self.build()
            samples.append(since(started))
        return samples

    async def steps_of(self, calls: list[ToolCall]) -> list[Sample]:
        envs = self.build()
        samples = []
        for call in calls:
            started = clock()
            result = await envs.step(call)
            samples.append(since(started))
            if result.error is not None:
                raise SystemExit(f"{call.name} failed: {result.error}")
        return samples

    def read_calls(self) -> list[ToolCall]:
        ids = list(self.state["orders"])[: self.steps]
        return [ToolCall.make("get_order_details", {"order_id": oid}, id=f"r{i}") for i, oid in enumerate(ids)]

    def write_calls(self) -> list[ToolCall]:
        users = list(self.state["users"])[: self.steps]
        address = {"address1": "1 Main St", "address2": "", "city": "Austin", "state_code": "TX", "country": "USA"}
        return [
            ToolCall.make("modify_user_address", {"user_id": uid, **address, "zip": "73301"}, id=f"w{i}")
            for i, uid in enumerate(users)
        ]

    def cancel_calls(self) -> list[ToolCall]:
        pending = [oid for oid, o in self.state["orders"].items() if o["status"] == "pending"][: self.steps]
        return [
            ToolCall.make("cancel_pending_order", {"order_id": oid, "reason": "no longer needed"}, id=f"c{i}")
            for i, oid in enumerate(pending)
        ]


def run(db: dict[str, Any], scales: list[int], steps: int) -> None:
    rows = []
    for factor in scales:
        state = scaled(db, factor)
        bench = Bench(state, steps)
        size_mb = len(json.dumps(state, separators=(",", ":"))) / 1e6
        first = bench.first_build()
        start = median_ms(bench.episode_start())
        read = median_ms(asyncio.run(bench.steps_of(bench.read_calls())))
        write = median_ms(asyncio.run(bench.steps_of(bench.write_calls())))
        cancel = median_ms(asyncio.run(bench.steps_of(bench.cancel_calls())))
        rows.append((factor, size_mb, first * 1000, start, read, write, cancel))
    header = ("scale", "state MB", "first build ms", "episode start ms", "read ms", "write ms", "cancel ms")
    print("wall / CPU, medians")
    print(" | ".join(header))
    for row in rows:
        cells = [f"{v[0]:.3f} / {v[1]:.3f}" for v in row[3:]]
        print(" | ".join([f"{row[0]}x", f"{row[1]:.1f}", f"{row[2]:.0f}", *cells]))
    for row in rows[1:]:
        wall, cpu = row[5][0] / rows[0][5][0], row[5][1] / rows[0][5][1]
        print(f"write at {row[0]}x / write at {rows[0][0]}x: wall {wall:.2f}, CPU {cpu:.2f}")


def profile(db: dict[str, Any], factor: int, steps: int, phase: str) -> None:
    bench = Bench(scaled(db, factor), steps)
    bench.first_build()
    profiler = cProfile.Profile()
    if phase == "start":
        profiler.runcall(bench.episode_start)
    else:
        calls = bench.read_calls() if phase == "read" else bench.write_calls()
        profiler.runcall(asyncio.run, bench.steps_of(calls))
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--profile", choices=["read", "write", "start"])
    args = parser.parse_args()
    db = json.loads(find_db(args.db).read_text())
    if args.profile:
        profile(db, max(args.scales), args.steps, args.profile)
    else:
        run(db, args.scales, args.steps)


if __name__ == "__main__":
    main()
