"""An episode costs what it touches at its start and end too: a live trace holds the shared base state
(no copy) and the committed overlay, the recorder serializes each distinct base once per run and writes
only a reference (plus a scenario's override patch), small states stay inline, and everything that reads
the states back (loading, the state check, expectations) sees the same states the episode had."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from envsim.canonical import stable_hash
from envsim.config.loader import load_environment_catalog
from envsim.config.models import EnvironmentConfig, MultiTurnAttribute
from envsim.environments import EnvironmentSet
from envsim.environments.overlay import to_plain
from envsim.environments.shared_states import shared_initial_state
from envsim.environments.state import apply_patch
from envsim.environments.tracked_state import ReadOnlyStateError
from envsim.errors import DataError
from envsim.messages import Message, ToolCall
from envsim.models.base import ModelRequest
from envsim.recording import RunDirectory, RunManifest, load_trace
from envsim.recording import state_store as state_store_module
from envsim.recording.run_dir import TRACES_FILE
from envsim.recording.state_store import INLINE_LIMIT_BYTES, STATES_DIR
from envsim.recording.trace import TerminationReason, Trace
from envsim.recording.verify import verify_trace
from envsim.scenarios.catalog import Expectations, StateAssertion
from envsim.scenarios.expectations import evaluate_expectations
from envsim.simulation.episode import EpisodeDeps, EpisodeSpec, episode_id_for, simulate_episode
from envsim.testing import FunctionModel

RETAIL = Path(__file__).resolve().parents[2] / "environments" / "retail" / "retail.yaml"
CONVERSATION = MultiTurnAttribute(
    id="chat",
    min_turns=1,
    max_turns=1,
    role_instruction_messages={"USER": "You are {customer}.", "ASSISTANT": "Help."},
    max_tool_rounds=2,
)
CANCEL = {"order_id": "#W1001", "reason": "no longer needed"}


def retail_config(orders: int | None = None) -> EnvironmentConfig:
    """The shipped retail environment (about 24 KB of state), or one whose state has `orders` extra orders."""
    config = load_environment_catalog(RETAIL).environments[0]
    if orders is None:
        return config
    assert config.state_params is not None
    state = json.loads(json.dumps(config.state_params.initial_state))
    template = state["orders"]["#W1002"]
    for i in range(orders):
        state["orders"][f"#W9{i:06d}"] = {**template, "order_id": f"#W9{i:06d}"}
    params = config.state_params.model_copy(update={"initial_state": state})
    return config.model_copy(update={"state_params": params})


class Attributes:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {"customer": "a customer"}

    def render(self, template: str) -> str:
        return template.format_map(self.values)


async def attributes_from_spec(spec: EpisodeSpec) -> Attributes:
    return Attributes()


def assistant_calls(*calls: tuple[str, dict[str, Any]]) -> FunctionModel:
    def reply(request: ModelRequest) -> Message:
        if request.messages[-1].role == "user":
            made = [ToolCall.make(name, args, id=f"c{k}") for k, (name, args) in enumerate(calls)]
            return Message.assistant(None, made)
        return Message.assistant("done")

    return FunctionModel(reply)  # type: ignore[arg-type]


def deps(
    configs: list[EnvironmentConfig],
    *calls: tuple[str, dict[str, Any]],
    base_dir: Path = RETAIL.parent,
    env_model: FunctionModel | None = None,
) -> EpisodeDeps:
    def build(initial_states: Any) -> EnvironmentSet:
        return EnvironmentSet.build(configs, model=env_model, base_dir=base_dir, initial_states=initial_states)

    models = {"user": FunctionModel(lambda request: "please cancel #W1001"), "assistant": assistant_calls(*calls)}
    return EpisodeDeps(
        conversation=CONVERSATION,
        models=models,  # type: ignore[arg-type]
        environments=build,
        attributes=attributes_from_spec,
        use_planner=False,
    )


def spec(index: int, initial_states: dict[str, Any] | None = None) -> EpisodeSpec:
    return EpisodeSpec(episode_id=episode_id_for(index), seed=index, sample_index=index, initial_states=initial_states)


def manifest() -> RunManifest:
    config = {"num_samples": 1, "inference_config": {"model": {"model_name": "mock:x"}}}
    return RunManifest.create(config, seed=1, models={"assistant": "mock:x"}, command_line=[])


def lines(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / TRACES_FILE).read_text().splitlines()]


async def test_a_live_trace_holds_the_shared_base_and_the_overlay_not_copies() -> None:
    config = retail_config()
    trace = await simulate_episode(spec(0), deps([config], ("cancel_pending_order", CANCEL)))
    assert trace.steps[0].error is None and trace.steps[0].patch
    base = shared_initial_state(config.state_params.initial_state)  # type: ignore[union-attr]
    initial = trace.initial_state["retail"]
    assert isinstance(initial, dict) and initial._base is base.value  # a view of the per-process shared state
    assert trace.state_origins["retail"].base is base and trace.state_origins["retail"].patch == []
    final = trace.final_state["retail"]
    assert final["orders"]["#W1001"]["status"] == "cancelled"
    committed_orders = final._base._raw("orders")  # the environment's overlay, under the read-only view
    assert committed_orders._raw("#W1002") is base.value["orders"]["#W1002"]  # untouched records are shared
    assert base.value["orders"]["#W1001"]["status"] == "pending"  # and the base never changes
    for state in (initial, final):  # what every later episode shares cannot be changed by accident
        with pytest.raises(ReadOnlyStateError):
            state["orders"]["#W1002"]["status"] = "lost"
    assert base.value["orders"]["#W1002"]["status"] != "lost"
    assert verify_trace(trace) == []
    # Dumped whole (e.g. to another process), the overlay is plain JSON.
    dumped = json.loads(trace.model_dump_json())
    assert dumped["final_state"]["retail"] == to_plain(final)


async def test_large_states_are_recorded_by_reference_and_read_back_equal(tmp_path: Path) -> None:
    config = retail_config()
    originals = [
        await simulate_episode(spec(i), deps([config], ("cancel_pending_order", CANCEL), ("get_user_details", {})))
        for i in range(3)
    ]
    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        for trace in originals:
            run.append_trace(trace)
    for line in lines(tmp_path / "run"):
        assert line["initial_state"] == {} and line["final_state"] == {}
        ref = line["state_refs"]["retail"]
        assert set(ref) == {"sha256", "path", "bytes"} and ref["bytes"] > INLINE_LIMIT_BYTES
    (stored,) = (tmp_path / "run" / STATES_DIR).iterdir()
    assert json.loads(stored.read_text()) == config.state_params.initial_state  # type: ignore[union-attr]
    loaded = list(RunDirectory.open(tmp_path / "run", manifest=None).traces())
    for got, live in zip(loaded, originals, strict=True):
        assert got.final_state["retail"] == to_plain(live.final_state["retail"])
        assert got.initial_state["retail"] == live.initial_state["retail"]
        assert verify_trace(got) == []
        # The same trace, whether its states are live overlays or loaded from the store.
        assert got.model_copy(update={"state_refs": {}}) == live


async def test_each_distinct_base_is_serialized_once_per_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serialized: list[int] = []
    real = state_store_module.canonical_json

    def counting(value: Any) -> str:
        text = real(value)
        serialized.append(len(text))
        return text

    monkeypatch.setattr(state_store_module, "canonical_json", counting)
    config = retail_config()
    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        for i in range(5):
            run.append_trace(await simulate_episode(spec(i), deps([config], ("cancel_pending_order", CANCEL))))
    assert len(serialized) == 1 and serialized[0] > INLINE_LIMIT_BYTES
    assert len(list((tmp_path / "run" / STATES_DIR).iterdir())) == 1
    # A resumed run in a new process writes nothing again: the content-addressed file is there.
    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        run.append_trace(await simulate_episode(spec(9), deps([config], ("cancel_pending_order", CANCEL))))
    assert len(list((tmp_path / "run" / STATES_DIR).iterdir())) == 1
    assert len(lines(tmp_path / "run")) == 6


async def test_an_override_patch_is_recorded_over_the_base_reference(tmp_path: Path) -> None:
    config = retail_config()
    override = {"retail": [{"op": "replace", "path": "/orders/#W1002/status", "value": "pending"}]}
    second = {"order_id": "#W1002", "reason": "ordered by mistake"}
    live = await simulate_episode(spec(0, override), deps([config], ("cancel_pending_order", second)))
    assert live.steps[0].error is None
    assert live.initial_state["retail"]["orders"]["#W1002"]["status"] == "pending"
    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        run.append_trace(live)
    (line,) = lines(tmp_path / "run")
    assert line["state_refs"]["retail"]["patch"] == override["retail"]
    loaded = load_trace(tmp_path / "run", live.episode_id)
    base = config.state_params.initial_state  # type: ignore[union-attr]
    assert loaded.initial_state["retail"] == apply_patch(base, override["retail"])
    assert loaded.final_state["retail"]["orders"]["#W1002"]["status"] == "cancelled"
    assert loaded.final_state["retail"] == to_plain(live.final_state["retail"]) and verify_trace(loaded) == []


async def test_small_states_stay_inline(tmp_path: Path) -> None:
    (tmp_path / "notes.py").write_text(
        "def add_note(state):\n    state['notes']['n2'] = 'added'\n    return 'ok'\n", encoding="utf-8"
    )
    config = EnvironmentConfig.model_validate(
        {
            "id": "notes",
            "type": "python",
            "state_params": {"initial_state": {"notes": {"n1": "hello"}}},
            "tools": [{"id": "add_note", "handler": "notes.py:add_note", "parameters": {"type": "object"}}],
        }
    )
    live = await simulate_episode(spec(0), deps([config], ("add_note", {}), base_dir=tmp_path))
    assert live.steps[0].error is None
    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        run.append_trace(live)
    (line,) = lines(tmp_path / "run")
    assert line["state_refs"] == {} and not (tmp_path / "run" / STATES_DIR).exists()
    assert line["initial_state"] == {"notes": {"notes": {"n1": "hello"}}}
    assert line["final_state"] == {"notes": {"notes": {"n1": "hello", "n2": "added"}}}
    assert verify_trace(load_trace(tmp_path / "run", live.episode_id)) == []


async def test_state_expectations_read_the_live_overlay() -> None:
    trace = await simulate_episode(spec(0), deps([retail_config()], ("cancel_pending_order", CANCEL)))
    expect = Expectations(
        state=[
            StateAssertion(path="/orders/#W1001/status", equals="cancelled"),
            StateAssertion(path="/orders/#W1001", contains={"status": "cancelled"}),
            StateAssertion(path="/orders/#W0000", absent=True),
        ]
    )
    checks = evaluate_expectations(trace, expect, default_env="retail")
    assert [c.passed for c in checks] == [True, True, True], checks
    # The canonical sha256 (expect.state_hash) of the overlay is that of the plain final state.
    expected = stable_hash(to_plain(trace.final_state["retail"]))
    (check,) = evaluate_expectations(trace, Expectations(state_hash={"retail": expected}))
    assert check.passed, check.reason


async def test_database_environments_record_their_shared_table_view(tmp_path: Path) -> None:
    rows = ", ".join(f"({i}, 'patient {i:05d} with a long enough name')" for i in range(1, 801))
    config = EnvironmentConfig.model_validate(
        {
            "id": "ehr",
            "type": "database",
            "schema_sql": "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
            "seed_sql": f"INSERT INTO patients (id, name) VALUES {rows};",
            "tools": [
                {
                    "id": "rename",
                    "parameters": {
                        "type": "object",
                        "properties": {"pat_id": {"type": "integer"}, "name": {"type": "string"}},
                        "required": ["pat_id", "name"],
                    },
                    "sql": "UPDATE patients SET name = :name WHERE id = :pat_id",
                }
            ],
        }
    )
    live = [
        await simulate_episode(spec(i), deps([config], ("rename", {"pat_id": 7, "name": f"renamed {i}"})))
        for i in range(2)
    ]
    assert live[0].steps[0].error is None and live[0].steps[0].patch
    assert live[0].initial_state["ehr"]._base is live[1].initial_state["ehr"]._base  # the template's, shared
    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        for trace in live:
            run.append_trace(trace)
    assert all("ehr" in line["state_refs"] for line in lines(tmp_path / "run"))
    assert len(list((tmp_path / "run" / STATES_DIR).iterdir())) == 1
    loaded = load_trace(tmp_path / "run", live[1].episode_id)
    assert loaded.final_state["ehr"]["tables"]["patients"]["7"]["name"] == "renamed 1"
    assert loaded.final_state["ehr"] == live[1].final_state["ehr"] and verify_trace(loaded) == []


def _recorded_episode_cost(config: EnvironmentConfig, run: Path, episodes: int) -> float:
    """Process CPU seconds per episode, simulated and recorded (after the run's first episode)."""
    import asyncio

    async def simulate_all() -> list[float]:
        costs = []
        with RunDirectory.open(run, manifest=manifest()) as directory:
            for i in range(episodes + 1):
                started = time.process_time()
                trace: Trace = await simulate_episode(spec(i), deps([config], ("cancel_pending_order", CANCEL)))
                directory.append_trace(trace)
                costs.append(time.process_time() - started)
        return costs[1:]  # the first one also writes the run's copy of the base state

    return min(asyncio.run(simulate_all()))


def test_an_episode_costs_the_same_over_a_16_times_larger_state(tmp_path: Path) -> None:
    small, large = retail_config(orders=500), retail_config(orders=8000)  # about 0.2 MB vs 3 MB of state
    for config in (small, large):  # the once-per-process work (copy, hash, validation) is not the episode's
        EnvironmentSet.build([config], base_dir=RETAIL.parent)
    small_cost = _recorded_episode_cost(small, tmp_path / "small", 12)
    large_cost = _recorded_episode_cost(large, tmp_path / "large", 12)
    # Copying or serializing the state per episode would make the large run at least ~10x slower.
    assert large_cost < 3 * small_cost + 0.002, (small_cost, large_cost)


async def test_traces_from_worker_processes_send_each_base_once_and_record_the_same_bytes(tmp_path: Path) -> None:
    from envsim.recording.wire import TraceReceiver, TraceSender

    config = retail_config()
    override = {"retail": [{"op": "replace", "path": "/orders/#W1002/status", "value": "pending"}]}
    live = [
        await simulate_episode(spec(0), deps([config], ("cancel_pending_order", CANCEL))),
        await simulate_episode(spec(1, override), deps([config], ("get_order_details", {"order_id": "#W1002"}))),
    ]
    sender, receiver = TraceSender(), TraceReceiver()
    payloads = [sender.encode(trace) for trace in live]
    sizes = [len(payload) for payload in payloads]
    assert sizes[0] > INLINE_LIMIT_BYTES > sizes[1]  # the base state crosses with the first trace only
    received = [receiver.decode(payload) for payload in payloads]
    for got, sent in zip(received, live, strict=True):
        assert got == sent and got.state_origins["retail"].patch == sent.state_origins["retail"].patch
    assert received[1].initial_state["retail"]["orders"]["#W1002"]["status"] == "pending"
    for name, traces in (("here", live), ("there", received)):
        with RunDirectory.open(tmp_path / name, manifest=manifest()) as run:
            for trace in traces:
                run.append_trace(trace)
    assert (tmp_path / "here" / TRACES_FILE).read_bytes() == (tmp_path / "there" / TRACES_FILE).read_bytes()
    assert [p.name for p in (tmp_path / "here" / STATES_DIR).iterdir()] == [
        p.name for p in (tmp_path / "there" / STATES_DIR).iterdir()
    ]


async def test_readers_that_need_no_states_never_parse_the_store(tmp_path: Path) -> None:
    from envsim.recording.exporters import export_run

    config = retail_config()
    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        for i in range(2):
            run.append_trace(await simulate_episode(spec(i), deps([config], ("cancel_pending_order", CANCEL))))
    (stored,) = (tmp_path / "run" / STATES_DIR).iterdir()
    stored.unlink()  # listings, exports and datasets read conversations only
    run = RunDirectory.open(tmp_path / "run", manifest=None)
    assert run.episode_ids() == ["ep-000000", "ep-000001"]
    conversations = list(run.traces(states=False))
    assert [t.initial_state for t in conversations] == [{}, {}] and all("retail" in t.state_refs for t in conversations)
    assert export_run(tmp_path / "run", tmp_path / "chat.jsonl", "openai").written == 2
    with pytest.raises(DataError, match="cannot be read"):  # the one that asks for states says what is missing
        load_trace(tmp_path / "run", "ep-000001")


def test_a_worker_and_the_parent_agree_on_the_bases_held_however_many_pass() -> None:
    # Full-state overrides make a new base per episode: both sides remember a bounded number, in step.
    from envsim.environments.state_origin import StateOrigin
    from envsim.environments.state_tree import SharedState
    from envsim.recording.wire import KNOWN_BASES, TraceReceiver, TraceSender

    bases = [SharedState.of({"n": i}) for i in range(KNOWN_BASES + 3)]
    sender, receiver = TraceSender(), TraceReceiver()
    sent_whole = []
    for k, i in enumerate([*range(len(bases)), 0, len(bases) - 1, 3, 0]):
        trace = Trace(
            episode_id=f"ep-{k}",
            seed=k,
            termination=TerminationReason.MAX_TURNS,
            initial_state={"a": bases[i].value, "b": bases[i].value},
            final_state={"a": bases[i].value, "b": bases[i].value},
        )
        trace.set_state_origins({"a": StateOrigin(bases[i]), "b": StateOrigin(bases[i])})  # one base, twice
        payload = sender.encode(trace)
        sent_whole.append(bool(json.loads(payload)["bases"]))
        assert receiver.decode(payload).final_state == {"a": {"n": i}, "b": {"n": i}}
    # Every base went once; of the repeats, the evicted ones (0, then 3) went again, the others not.
    assert sent_whole == [True] * len(bases) + [True, False, True, False]


async def test_hybrid_environments_record_python_and_simulated_changes_by_reference(tmp_path: Path) -> None:
    from envsim.config.models import EnvironmentType

    retail = retail_config()
    # retail made synthetic: every tool keeps its Python handler except cancel_pending_order, now simulated
    simulated = {"handler": None, "output_schema": None, "state_view": ["/orders/{order_id}"]}
    tools = [
        type(t).model_validate(t.model_dump(exclude_unset=True) | simulated) if t.id == "cancel_pending_order" else t
        for t in retail.tools
    ]
    config = retail.model_copy(update={"type": EnvironmentType.SYNTHETIC, "tools": tools})
    cancelled = {"op": "replace", "path": "/orders/#W1001/status", "value": "cancelled"}
    simulator = FunctionModel(lambda request: json.dumps({"output": {"status": "cancelled"}, "patch": [cancelled]}))
    user_id = retail.state_params.initial_state["orders"]["#W1001"]["user_id"]  # type: ignore[union-attr]
    address = {"address1": "1 Main St", "address2": "", "city": "Austin", "state_code": "TX", "country": "USA"}
    calls = [("cancel_pending_order", CANCEL), ("modify_user_address", {"user_id": user_id, **address, "zip": "73301"})]
    live = await simulate_episode(spec(0), deps([config], *calls, env_model=simulator))
    assert [step.error for step in live.steps] == [None, None] and all(step.patch for step in live.steps)
    assert live.steps[0].state_view == ["/orders/#W1001"] and live.steps[1].state_view is None  # simulated, Python
    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        run.append_trace(live)
    (line,) = lines(tmp_path / "run")
    assert "retail" in line["state_refs"] and line["initial_state"] == {} and line["final_state"] == {}
    loaded = load_trace(tmp_path / "run", live.episode_id)
    assert loaded.final_state["retail"]["orders"]["#W1001"]["status"] == "cancelled"
    assert loaded.final_state["retail"]["users"][user_id]["address"]["city"] == "Austin"
    assert loaded.final_state["retail"] == to_plain(live.final_state["retail"]) and verify_trace(loaded) == []


async def test_reexecution_starts_from_the_catalog_state_and_the_recorded_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from envsim.environments.state_tree import SharedState
    from envsim.scenarios.reexecute import reexecute_run

    config = retail_config()
    override = {"retail": [{"op": "replace", "path": "/orders/#W1002/status", "value": "pending"}]}
    second = {"order_id": "#W1002", "reason": "ordered by mistake"}
    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        run.append_trace(await simulate_episode(spec(0), deps([config], ("cancel_pending_order", CANCEL))))
        run.append_trace(await simulate_episode(spec(1, override), deps([config], ("cancel_pending_order", second))))
        run.append_trace(await simulate_episode(spec(2), deps([config], ("get_order_details", {"order_id": "#W1"}))))
    built: list[int] = []
    real = SharedState.of.__func__  # type: ignore[attr-defined]

    def counting(cls: type[SharedState], state: dict[str, Any], **kw: Any) -> SharedState:
        built.append(len(state))
        return real(cls, state, **kw)  # type: ignore[no-any-return]

    monkeypatch.setattr(SharedState, "of", classmethod(counting))
    report = await reexecute_run(tmp_path / "run", environments_path=RETAIL)
    assert report.episodes == 3 and report.steps == 3 and not report.changed, report.differences
    assert len(built) == 1  # today's catalog state, once; no episode starts from a copy of the whole state
