"""tau2's 114 retail gold replays through envsim's `step()`, and the checks against tau2's own results.

    python benchmarks/bench_gold_replay.py [--rounds 3] [--tasks 0,5,36] [--profile replay|checks]

Loads the shipped `environments/tau2_retail` catalog (tau2's database, from `$ENVSIM_TAU2_RETAIL_DIR` or
`<project root>/../shared/datasets/tau2-retail/`, looked up in the ancestors of the project root too) and,
per round, replays every task's gold actions (tasks.json) the way a conversation would: fresh episode
environments per task (`EnvironmentSet.build`), one `step()` per action. Reported separately:

- setup: loading the catalog and the first build (the once-per-process copy, Merkle hash and full
  validation of the catalog state);
- replays: wall and process-CPU time of all tasks (target: all 114 <= 10 s wall on the 2-core machine),
  and per task (mean, median, max);
- checks: what tests/environments/test_tau2_retail_replay.py asserts, against the fingerprints of tau2-bench's
  own run (tests/environments/data/tau2_retail/fingerprints.json): each action's output digest or error,
  tau2's `get_db_hash()` of the final database, and initial state + recorded patches == final state.

`--rounds` repeats the replays in the same process (figures per round; the machine is shared and loaded,
so the best round is the least disturbed). `--profile replay|checks` prints the top of a cProfile of one
round of that phase instead (cumulative and own time).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import json
import os
import pstats
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from envsim.config.loader import load_environment_catalog  # noqa: E402
from envsim.config.models import EnvironmentCatalog  # noqa: E402
from envsim.environments import EnvironmentSet  # noqa: E402
from envsim.environments.base import StepContext, StepResult  # noqa: E402
from envsim.environments.state import apply_patch  # noqa: E402
from envsim.messages import ToolCall  # noqa: E402

CATALOG_DIR = ROOT / "environments" / "tau2_retail"
CATALOG = CATALOG_DIR / "tau2_retail.yaml"
FINGERPRINTS = ROOT / "tests" / "environments" / "data" / "tau2_retail" / "fingerprints.json"
DATA_ENV = "ENVSIM_TAU2_RETAIL_DIR"
_DATASET = Path("shared") / "datasets" / "tau2-retail"


def find_data() -> Path:
    explicit = os.environ.get(DATA_ENV)
    candidates = [Path(explicit)] if explicit else []
    candidates += [ancestor / _DATASET for ancestor in ROOT.parents]
    for candidate in candidates:
        if (candidate / "tasks.json").is_file() and (candidate / "db.json").is_file():
            os.environ.setdefault(DATA_ENV, str(candidate))  # the catalog reads db.json from the same place
            return candidate
    raise SystemExit(f"tau2 retail data not found: set {DATA_ENV} or put it at <project root>/../{_DATASET}")


Sample = tuple[float, float]  # (wall s, process CPU s)


def clock() -> Sample:
    return time.perf_counter(), time.process_time()


def since(start: Sample) -> Sample:
    now = clock()
    return now[0] - start[0], now[1] - start[1]


@dataclass
class Replay:
    task: str
    results: list[StepResult]
    envs: EnvironmentSet


class GoldReplays:
    def __init__(self, data: Path, task_ids: list[str] | None) -> None:
        all_tasks = {t["id"]: t for t in json.loads((data / "tasks.json").read_text(encoding="utf-8"))}
        self.tasks = {tid: all_tasks[tid] for tid in (task_ids or list(all_tasks))}
        self.fingerprints = {t["task"]: t for t in json.loads(FINGERPRINTS.read_text(encoding="utf-8"))["tasks"]}
        self.catalog: EnvironmentCatalog = load_environment_catalog(CATALOG)
        sys.path.insert(0, str(CATALOG_DIR))
        import tau2_retail_db  # the catalog's own copy of tau2's data model (dumps and hash)

        self.db = tau2_retail_db
        params = self.catalog.environments[0].state_params
        assert params is not None
        self.initial: dict[str, Any] = params.initial_state
        self.hasher = tau2_retail_db.DbHasher(json.loads(json.dumps(self.initial)))

    def build(self) -> EnvironmentSet:
        return EnvironmentSet.build(self.catalog.environments, base_dir=CATALOG.parent)

    async def replay(self, task_id: str) -> Replay:
        envs = self.build()  # fresh episode environments, as a conversation has them
        results = []
        for action in self.tasks[task_id]["evaluation_criteria"].get("actions") or []:
            call = ToolCall.make(action["name"], action["arguments"], id=action["action_id"])
            results.append(await envs.step(call, StepContext(episode_id=task_id)))
        return Replay(task_id, results, envs)

    async def replay_all(self) -> tuple[list[Replay], list[Sample]]:
        replays, samples = [], []
        for task_id in self.tasks:
            started = clock()
            replays.append(await self.replay(task_id))
            samples.append(since(started))
        return replays, samples

    def check(self, replay: Replay) -> list[str]:
        """What differs from tau2's run of this task (empty: the same outputs, errors and database)."""
        expected = self.fingerprints[replay.task]
        problems = []
        for result, want in zip(replay.results, expected["actions"], strict=True):
            if want.get("error") is not None:
                if (result.error, result.patch) != (f"ValueError: {want['error']}", []):
                    problems.append(f"{want['id']}: expected tau2's error {want['error']!r}, got {result.error!r}")
            elif result.error is not None:
                problems.append(f"{want['id']}: {result.error}")
            else:
                content = self.db.message_content(result.output)
                if hashlib.sha256(content.encode("utf-8")).hexdigest()[:16] != want["output"]:
                    problems.append(f"{want['id']}: output differs from tau2's")
        final = replay.envs.states()["tau2_retail"]
        if self.hasher.hash(final) != expected["db_hash"]:
            problems.append("the database differs from tau2's")
        patches = [operation for result in replay.results for operation in result.patch]
        if apply_patch(self.initial, patches) != final:
            problems.append("initial state + recorded patches != final state")
        return problems

    def check_all(self, replays: list[Replay]) -> tuple[dict[str, list[str]], Sample]:
        started = clock()
        failures = {r.task: p for r in replays if (p := self.check(r))}
        return failures, since(started)


def run(bench: GoldReplays, rounds: int) -> None:
    n = len(bench.tasks)
    print(f"{n} tasks, {sum(len(t['evaluation_criteria'].get('actions') or []) for t in bench.tasks.values())} actions")
    print("round | replays wall s | replays CPU s | per task wall ms (mean / median / max) | checks wall / CPU s")
    totals = []
    for index in range(rounds):
        replays, samples = asyncio.run(bench.replay_all())
        failures, checks = bench.check_all(replays)
        walls = [w * 1000 for w, _ in samples]
        wall, cpu = sum(w for w, _ in samples), sum(c for _, c in samples)
        totals.append(wall)
        print(
            f"{index + 1} | {wall:.2f} | {cpu:.2f} | {statistics.mean(walls):.1f} / {statistics.median(walls):.1f}"
            f" / {max(walls):.1f} | {checks[0]:.2f} / {checks[1]:.2f}"
        )
        for task, problems in failures.items():
            print(f"  task {task}: " + "; ".join(problems))
        if failures:
            raise SystemExit(f"{len(failures)} of {n} tasks differ from tau2's run")
    print(f"replays of {n} tasks: best {min(totals):.2f} s wall, median {statistics.median(totals):.2f} s (target <= 10 s)")


def profile(bench: GoldReplays, phase: str) -> None:
    profiler = cProfile.Profile()
    if phase == "replay":
        profiler.runcall(asyncio.run, bench.replay_all())
    else:
        replays, _ = asyncio.run(bench.replay_all())
        profiler.runcall(bench.check_all, replays)
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(35)
    stats.sort_stats("tottime").print_stats(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", help="comma-separated task ids (default: all)")
    parser.add_argument("--profile", choices=["replay", "checks"])
    args = parser.parse_args()
    data = find_data()
    started = clock()
    bench = GoldReplays(data, args.tasks.split(",") if args.tasks else None)
    bench.build()  # the once-per-process work: shared state copy, Merkle hash, full validation
    setup = since(started)
    print(f"setup (catalog load + first build, once per process): {setup[0]:.2f} s wall / {setup[1]:.2f} s CPU")
    if args.profile:
        profile(bench, args.profile)
    else:
        run(bench, args.rounds)


if __name__ == "__main__":
    main()
