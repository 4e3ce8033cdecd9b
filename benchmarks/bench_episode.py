"""Per-episode cost of a whole recorded episode over tau2's retail database, at 1x, 4x and 16x its size.

    python benchmarks/bench_episode.py [--scales 1 4 16] [--episodes 30] [--profile SCALE]

A real run (`envsim.api.run_config`: the runner, the episode loop, the recorder writing a run
directory) of `--episodes` conversations with the shipped `tau2_retail` python environment
(`environments/tau2_retail/`), whose database is tau2's `db.json` (`<project root>/../shared/datasets/
tau2-retail/db.json`, or `--db PATH`) scaled up by duplicating users and orders under new ids (as in
bench_state.py). The model is an in-process function: the planner and the user get the mock model's
replies; the assistant makes the same calls in every episode, on a different user each time: turn 1
reads (`get_user_details`, `get_order_details`), turn 2 writes (`modify_user_address`,
`cancel_pending_order`), then answers in text.

Each scale runs in a fresh process, one open episode at a time (num_workers 1), so the time between two
recorded episodes is one episode's whole cost: build its environments, plan, converse, step, then record
the trace. Reported
per scale (medians over the episodes after the first, in ms):

- per episode: that time minus the time spent inside the model function (what envsim costs), as wall
  time and as process CPU time (all threads; on a loaded machine the wall figure includes waiting for a
  core, the CPU one does not);
- the first episode's overhead (it also writes the run's copy of the shared initial state, once);
- trace bytes per episode (its traces.jsonl line) and the run's states/ folder;
- the once-per-process set-up before the first episode (loading, hashing and validating the state);
- isolated, the part of an episode that handles its states at start and end: taking the initial states
  and origins, the final states, and recording the trace (in microseconds).

Target (issue 11): overhead at 16x <= 1.5x the 1x figure, a few ms at 1x, trace bytes independent of
the state's size. `--profile SCALE` prints a cProfile of the episodes after the first at that scale.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_state import find_db, scaled  # noqa: E402

from envsim.api import run_config  # noqa: E402
from envsim.config.loader import load_environment_catalog  # noqa: E402
from envsim.environments import EnvironmentSet  # noqa: E402
from envsim.event_loop import run_async  # noqa: E402
from envsim.messages import Message, ToolCall  # noqa: E402
from envsim.models.base import ModelRequest, ModelResponse  # noqa: E402
from envsim.models.mock import MockModel  # noqa: E402
from envsim.recording import RunDirectory, RunManifest  # noqa: E402
from envsim.recording.trace import TerminationReason, Trace  # noqa: E402
from envsim.simulation.runner import RunProgress  # noqa: E402

CATALOG = ROOT / "environments" / "tau2_retail" / "tau2_retail.yaml"

CONFIG = """\
num_samples: {episodes}
seed: 7
environment_config_path: {catalog}
strategy_params:
  multiturn_attributes:
    - id: retail_chat
      min_turns: 2
      max_turns: 2
      available_environments: [tau2_retail]
      role_instruction_messages:
        USER: You are a customer of an online shop.
        ASSISTANT: Help the customer; use the tools.
      output_system_prompt: You are a retail support assistant.
inference_config:
  model: {{model_name: "function:endpoint.py:reply"}}
  remote_params: {{num_workers: 1, max_validation_retries: 0, max_retries: 0}}
"""


@dataclass
class Script:
    """The assistant's calls, per episode: one user with a pending order each."""

    customers: list[tuple[str, str, str]] = field(default_factory=list)  # user id, any order, a pending order
    model_s: float = 0.0  # wall time spent in `reply` so far
    model_cpu_s: float = 0.0  # process CPU time spent in `reply` so far
    first_call: tuple[float, float] | None = None  # (wall, CPU) of the first model call: set-up is over
    mock: MockModel = field(default_factory=lambda: MockModel("bench"))

    def calls(self, episode: int, turn: int) -> list[ToolCall]:
        user, order, pending = self.customers[episode % len(self.customers)]
        if turn == 1:
            return [
                ToolCall.make("get_user_details", {"user_id": user}, id=f"r{episode}a"),
                ToolCall.make("get_order_details", {"order_id": order}, id=f"r{episode}b"),
            ]
        address = {"address1": "1 Main St", "address2": "", "city": "Austin", "state": "TX", "country": "USA"}
        return [
            ToolCall.make("modify_user_address", {"user_id": user, **address, "zip": "73301"}, id=f"w{episode}a"),
            ToolCall.make(
                "cancel_pending_order", {"order_id": pending, "reason": "no longer needed"}, id=f"w{episode}b"
            ),
        ]


SCRIPT = Script()


def reply(request: ModelRequest) -> ModelResponse | Message:
    """The model function the config names (through endpoint.py): timed, so the benchmark can subtract it."""
    started, started_cpu = time.perf_counter(), time.process_time()
    if SCRIPT.first_call is None:
        SCRIPT.first_call = (started, started_cpu)
    try:
        if request.context.role != "assistant":
            return SCRIPT.mock.reply(request)
        episode = int((request.context.episode_id or "ep-0").split("-")[1])
        users = sum(1 for m in request.messages if m.role == "user")
        after_user = request.messages[-1].role != "tool"
        if after_user and users <= 2:
            return Message.assistant(None, SCRIPT.calls(episode, users))
        return Message.assistant("Done: your request is handled.")
    finally:
        SCRIPT.model_s += time.perf_counter() - started
        SCRIPT.model_cpu_s += time.process_time() - started_cpu


def customers(db: dict[str, Any]) -> list[tuple[str, str, str]]:
    found = []
    for user_id, user in db["users"].items():
        pending = [o for o in user["orders"] if db["orders"][o]["status"] == "pending"]
        if pending:
            found.append((user_id, user["orders"][0], pending[0]))
    return found


Mark = tuple[float, float, float, float]  # wall, process CPU, model wall, model CPU


class EpisodeClock:
    """`on_progress`: the clocks and the model's share of them at every recorded episode."""

    def __init__(self, profile: cProfile.Profile | None) -> None:
        self.marks: list[Mark] = []
        self.profile = profile

    def __call__(self, progress: RunProgress) -> None:
        if not self.marks:  # from the first model call on (set-up is over)
            wall, cpu = SCRIPT.first_call or (time.perf_counter(), time.process_time())
            self.marks.append((wall, cpu, 0.0, 0.0))
        if progress.finished >= len(self.marks):  # the status ticker calls too, without a new episode
            self.marks.append((time.perf_counter(), time.process_time(), SCRIPT.model_s, SCRIPT.model_cpu_s))
            if self.profile is not None and len(self.marks) == 2:
                self.profile.enable()  # after the first episode: per-episode work only

    def overheads_ms(self) -> list[tuple[float, float]]:
        """Per episode: (wall, CPU) minus the model's share, in ms."""
        pairs = zip(self.marks, self.marks[1:], strict=False)
        return [(((a[0] - b[0]) - (a[2] - b[2])) * 1000, ((a[1] - b[1]) - (a[3] - b[3])) * 1000) for b, a in pairs]


def state_handling_us(folder: Path, rounds: int = 50) -> float:
    """Median microseconds an episode spends on its states at start and end, isolated: take the initial
    states and origins after building the environments, take the final states after two writes, record
    the trace (reference or inline) into a run directory."""
    config = load_environment_catalog(CATALOG).environments[0]
    EnvironmentSet.build([config], base_dir=CATALOG.parent)  # the once-per-process work
    manifest = RunManifest.create({"num_samples": rounds}, seed=1, models={}, command_line=[])
    samples = []
    with RunDirectory.open(folder / "state_run", manifest=manifest) as run:
        for index in range(rounds + 1):
            envs = EnvironmentSet.build([config], base_dir=CATALOG.parent)
            started = time.perf_counter()
            initial, origins = envs.initial_states(), envs.state_origins()
            spent = time.perf_counter() - started
            for call in SCRIPT.calls(index, 2):
                run_async(envs.step(call))
            started = time.perf_counter()
            trace = Trace(
                episode_id=f"ep-{index:06d}",
                seed=index,
                sample_index=index,
                termination=TerminationReason.MAX_TURNS,
                initial_state=initial,
                final_state=envs.committed_states(),
            )
            trace.set_state_origins(origins)
            run.append_trace(trace)
            samples.append(spent + time.perf_counter() - started)
    return statistics.median(samples[1:]) * 1e6  # the first one writes the run's copy of the base state


@dataclass
class Row:
    scale: int
    state_mb: float
    setup_s: float
    first_ms: tuple[float, float]
    median_ms: tuple[float, float]
    fastest_cpu_ms: float  # the least noisy figure on a loaded machine
    trace_bytes: float
    states_bytes: int
    episodes: int
    state_us: float


def run_scale(db: dict[str, Any], factor: int, episodes: int, profile: bool) -> Row:
    state = scaled(db, factor)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "db").mkdir()
        text = json.dumps(state, separators=(",", ":"))
        (folder / "db" / "db.json").write_text(text, encoding="utf-8")
        os.environ["ENVSIM_TAU2_RETAIL_DIR"] = str(folder / "db")
        os.environ["ENVSIM_MAX_CONFIG_BYTES"] = str(len(text) + 1024)  # 16x is past the default 8 MiB guard
        (folder / "endpoint.py").write_text("from bench_episode import reply\n", encoding="utf-8")
        config = folder / "bench.yaml"
        config.write_text(CONFIG.format(episodes=episodes, catalog=CATALOG), encoding="utf-8")
        profiler = cProfile.Profile() if profile else None
        clock = EpisodeClock(profiler)
        SCRIPT.first_call, SCRIPT.model_s, SCRIPT.model_cpu_s = None, 0.0, 0.0
        started = time.perf_counter()
        summary = run_async(
            run_config(config, out_dir=folder / "run", no_cache=True, status_interval_s=3600, on_progress=clock)
        )
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
        if summary.failed or summary.done != episodes:
            raise SystemExit(f"{summary.failed} episode(s) failed at {factor}x: {summary.detail}")
        lines = (folder / "run" / "traces.jsonl").read_bytes().splitlines()
        steps = [step for line in lines for step in json.loads(line)["steps"]]
        errors = [f"{s['tool']}: {s['error']}" for s in steps if s["error"] is not None]
        writes = sum(1 for s in steps if s["patch"])
        if errors or len(steps) != 4 * episodes or writes != 2 * episodes:
            raise SystemExit(f"unexpected steps at {factor}x ({len(steps)}, {writes} writes): {errors[:3]}")
        states = folder / "run" / "states"
        states_bytes = sum(p.stat().st_size for p in states.iterdir()) if states.exists() else 0
        overheads = clock.overheads_ms()
        return Row(
            scale=factor,
            state_mb=len(text) / 1e6,
            setup_s=(SCRIPT.first_call or (started, 0.0))[0] - started,
            first_ms=overheads[0],
            median_ms=(statistics.median(w for w, _ in overheads[1:]), statistics.median(c for _, c in overheads[1:])),
            fastest_cpu_ms=min(c for _, c in overheads[1:]),
            trace_bytes=statistics.mean(len(line) + 1 for line in lines),
            states_bytes=states_bytes,
            episodes=len(lines),
            state_us=state_handling_us(folder),
        )


def scale_in_child(factor: int, args: argparse.Namespace) -> Row:
    """One scale in a fresh process: no state, cache or heap of another scale skews its figures."""
    command = [sys.executable, __file__, "--one", str(factor), "--episodes", str(args.episodes)]
    out = subprocess.run([*command, *(["--db", args.db] if args.db else [])], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the {factor}x run failed:\n{out.stderr[-2000:]}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return Row(**{**data, "first_ms": tuple(data["first_ms"]), "median_ms": tuple(data["median_ms"])})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db")
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--profile", type=int, metavar="SCALE", help="cProfile the episodes at this scale")
    parser.add_argument("--one", type=int, metavar="SCALE", help=argparse.SUPPRESS)  # a child: one scale, as JSON
    args = parser.parse_args()
    sys.modules.setdefault("bench_episode", sys.modules[__name__])  # endpoint.py imports this module
    db = json.loads(find_db(args.db).read_text())
    SCRIPT.customers = customers(db)
    if args.profile:
        run_scale(db, args.profile, args.episodes, profile=True)
        return
    if args.one:
        print(json.dumps(asdict(run_scale(db, args.one, args.episodes, profile=False))))
        return
    rows = [scale_in_child(factor, args) for factor in args.scales]
    print("wall / process CPU, minus the model's share")
    header = "scale | state MB | set-up s | first episode ms | per episode ms (median) | fastest CPU ms"
    print(header + " | trace bytes | states/")
    for r in rows:
        print(
            f"{r.scale}x | {r.state_mb:.1f} | {r.setup_s:.1f} | {r.first_ms[0]:.1f} / {r.first_ms[1]:.1f} | "
            f"{r.median_ms[0]:.2f} / {r.median_ms[1]:.2f} | {r.fastest_cpu_ms:.2f} | {r.trace_bytes:,.0f} | "
            f"{r.states_bytes:,} B ({r.episodes} episodes)"
        )
    for r in rows[1:]:
        wall, cpu = r.median_ms[0] / rows[0].median_ms[0], r.median_ms[1] / rows[0].median_ms[1]
        fastest = r.fastest_cpu_ms / rows[0].fastest_cpu_ms
        ratio = f"wall {wall:.2f}, CPU {cpu:.2f}, fastest CPU {fastest:.2f}"
        print(f"per episode at {r.scale}x / at {rows[0].scale}x: {ratio}")
    print("states at episode start and end, isolated (take initial + final states, record the trace), median:")
    print(", ".join(f"{r.scale}x {r.state_us:.0f} us" for r in rows))


if __name__ == "__main__":
    main()
