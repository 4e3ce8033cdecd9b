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
- checks: what tests/environments/test_tau2_retail_replay.py asserts (its own code), against the fingerprints
  of tau2-bench's own run (tests/environments/data/tau2_retail/fingerprints.json): each action's output
  digest or error, tau2's `get_db_hash()` of the final database, and initial state + recorded patches ==
  final state.

`--rounds` repeats the replays in the same process (figures per round; the machine is shared and loaded,
so the best round is the least disturbed). `--profile replay|checks` prints the top of a cProfile of one
round of that phase instead (cumulative and own time).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from envsim.config.loader import load_environment_catalog  # noqa: E402
from envsim.config.models import EnvironmentCatalog  # noqa: E402
from envsim.environments import EnvironmentSet  # noqa: E402
from envsim.environments.base import StepContext, StepResult  # noqa: E402
from envsim.messages import ToolCall  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "environments"))  # the checks are the replay test's own
from tau2_retail_data import DATA_ENV, TAU2_DIR, db_module, fingerprints, replay_problems, state_store, tasks  # noqa: E402

CATALOG = ROOT / "environments" / "tau2_retail" / "tau2_retail.yaml"
_DATASET = Path("shared") / "datasets" / "tau2-retail"


def find_data() -> Path:
    if TAU2_DIR is None:  # the test helper's (and the catalog's) search: $ENVSIM_TAU2_RETAIL_DIR, <root>/../shared
        raise SystemExit(f"tau2 retail data not found: set {DATA_ENV} or put it at <project root>/../{_DATASET}")
    os.environ.setdefault(DATA_ENV, str(TAU2_DIR))  # the catalog then reads db.json from the same place
    return TAU2_DIR


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
    def __init__(self, task_ids: list[str] | None) -> None:
        self.tasks = {tid: tasks()[tid] for tid in (task_ids or list(tasks()))}
        self.fingerprints = fingerprints()
        self.catalog: EnvironmentCatalog = load_environment_catalog(CATALOG)
        self.base = state_store(self.build()).shared.value  # built once per process, shared by every episode
        self.hasher = db_module().DbHasher(self.base)

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
        final = state_store(replay.envs).root  # the committed overlay, not a copy
        return replay_problems(replay.results, final, self.base, self.hasher, self.fingerprints[replay.task])

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
    best, median = min(totals), statistics.median(totals)
    print(f"replays of {n} tasks: best {best:.2f} s wall, median {median:.2f} s (target <= 10 s)")


def profile(bench: GoldReplays, phase: str) -> None:
    profiler = cProfile.Profile()
    workers: list[cProfile.Profile] = []
    if phase == "replay":
        # Sync tools run on envsim's worker threads (started on first use): profile those threads too, or
        # the tools' own time shows up only as the loop waiting on a lock.
        threading.setprofile(lambda *_: _profile_this_thread(workers))
        try:
            profiler.runcall(asyncio.run, bench.replay_all())
        finally:
            threading.setprofile(None)  # type: ignore[arg-type]
            for worker in workers:
                worker.disable()
    else:
        replays, _ = asyncio.run(bench.replay_all())
        profiler.runcall(bench.check_all, replays)
    stats = pstats.Stats(profiler)
    for worker in workers:
        stats.add(worker)
    stats.sort_stats("cumulative").print_stats(35)
    stats.sort_stats("tottime").print_stats(20)


def _profile_this_thread(workers: list[cProfile.Profile]) -> None:
    worker = cProfile.Profile()
    workers.append(worker)
    worker.enable()  # replaces this thread's setprofile hook with the profiler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", help="comma-separated task ids (default: all)")
    parser.add_argument("--profile", choices=["replay", "checks"])
    args = parser.parse_args()
    find_data()
    started = clock()
    bench = GoldReplays(args.tasks.split(",") if args.tasks else None)
    bench.build()  # the once-per-process work: shared state copy, Merkle hash, full validation
    setup = since(started)
    print(f"setup (catalog load + first build, once per process): {setup[0]:.2f} s wall / {setup[1]:.2f} s CPU")
    if args.profile:
        profile(bench, args.profile)
    else:
        run(bench, args.rounds)


if __name__ == "__main__":
    main()
