"""Traces hold large initial states by reference: a content-addressed store in the run directory, final
states recomputed from the patches; small states stay inline; old inline traces still load."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envsim.environments.state import PatchError, apply_patch, state_hash
from envsim.errors import DataError
from envsim.recording import RunDirectory, RunManifest, load_trace
from envsim.recording.run_dir import TRACES_FILE
from envsim.recording.shared_patch import apply_patch_shared
from envsim.recording.state_store import INLINE_LIMIT_BYTES, STATES_DIR
from envsim.recording.trace import Trace
from envsim.recording.verify import verify_trace

from .factories import CANCEL_PATCH, make_trace

CONFIG = {"num_samples": 2, "inference_config": {"model": {"model_name": "mock:x"}}}


def manifest() -> RunManifest:
    return RunManifest.create(CONFIG, seed=1, models={"assistant": "mock:x"}, command_line=[])


def shop_state(orders: int) -> dict[str, Any]:
    state = {"orders": {f"A{i}": {"status": "late", "item": f"lamp model {i:06d}"} for i in range(1, orders + 1)}}
    return state


def trace_over(state: dict[str, Any], episode_id: str = "ep-0000", sample_index: int = 0) -> Trace:
    """The factory's conversation (look up A1, cancel it) over `state`, with consistent hashes."""
    trace = make_trace(episode_id, sample_index=sample_index)
    final = apply_patch(state, CANCEL_PATCH)
    trace.steps[0].state_hash = state_hash(state)
    trace.steps[1].state_hash = state_hash(final)
    trace.initial_state = {"shop": copy.deepcopy(state)}
    trace.final_state = {"shop": final}
    return trace


def written_lines(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / TRACES_FILE).read_text().splitlines()]


def test_small_states_stay_inline(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        run.append_trace(trace_over(shop_state(3)))
    (line,) = written_lines(tmp_path / "run")
    assert line["initial_state"]["shop"] == shop_state(3) and line["final_state"]["shop"]["orders"]["A1"]["status"]
    assert line["state_refs"] == {} and not (tmp_path / "run" / STATES_DIR).exists()


def test_large_states_are_written_once_by_reference_and_loaded_back(tmp_path: Path) -> None:
    state = shop_state(2000)
    originals = [trace_over(state, f"ep-{i}", sample_index=i) for i in range(3)]
    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        for trace in originals:
            run.append_trace(trace)
    lines = written_lines(tmp_path / "run")
    for line in lines:
        assert line["initial_state"] == {} and line["final_state"] == {}
        ref = line["state_refs"]["shop"]
        assert ref["path"] == f"states/{ref['sha256']}.json" and ref["bytes"] > INLINE_LIMIT_BYTES
    stored = list((tmp_path / "run" / STATES_DIR).iterdir())
    assert len(stored) == 1  # one distinct initial state, one file
    assert json.loads(stored[0].read_text()) == state
    loaded = list(RunDirectory.open(tmp_path / "run", manifest=None).traces())
    assert len(loaded) == 3
    for got, original in zip(loaded, originals, strict=True):
        assert got.initial_state == original.initial_state and got.final_state == original.final_state
        assert verify_trace(got) == []


def test_trace_size_does_not_grow_with_the_state(tmp_path: Path) -> None:
    sizes = []
    for orders in (500, 8000):
        with RunDirectory.open(tmp_path / f"run{orders}", manifest=manifest()) as run:
            run.append_trace(trace_over(shop_state(orders)))
        sizes.append(len((tmp_path / f"run{orders}" / TRACES_FILE).read_bytes()))
    assert abs(sizes[1] - sizes[0]) <= 8, sizes  # only the byte count's digits differ


def test_old_traces_with_inline_states_still_load(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        run.append_trace(make_trace())
    # As an envsim without state references wrote it: a large state inline, no `state_refs` key.
    line = written_lines(tmp_path / "run")[0]
    big = trace_over(shop_state(2000))
    line.pop("state_refs")
    line["initial_state"], line["final_state"] = big.initial_state, big.final_state
    line["steps"] = [s.model_dump(mode="json", exclude={"state_view"}) for s in big.steps]
    (tmp_path / "run" / TRACES_FILE).write_text(json.dumps(line) + "\n")
    loaded = load_trace(tmp_path / "run", "ep-0000")
    assert loaded.final_state == big.final_state and verify_trace(loaded) == []


def test_a_missing_or_altered_state_file_is_a_clear_error(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        run.append_trace(trace_over(shop_state(2000)))
    (stored,) = (tmp_path / "run" / STATES_DIR).iterdir()
    stored.write_text(stored.read_text().replace("A1", "B1", 1))
    with pytest.raises(DataError, match="sha256 mismatch"):
        load_trace(tmp_path / "run", "ep-0000")
    stored.unlink()
    with pytest.raises(DataError, match="cannot be read") as info:
        load_trace(tmp_path / "run", "ep-0000")
    assert "states/ folder" in (info.value.hint or "")


def test_a_tampered_patch_is_caught_by_the_step_hashes(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        run.append_trace(trace_over(shop_state(2000)))
    path = tmp_path / "run" / TRACES_FILE
    path.write_text(path.read_text().replace('"value":"cancelled"', '"value":"refunded"'))
    problems = verify_trace(load_trace(tmp_path / "run", "ep-0000"))
    assert any("state_hash" in problem and "does not match the replayed state" in problem for problem in problems)


# --------------------------------------------------------------------------- the sharing patch applier


def test_shared_apply_copies_only_the_touched_path() -> None:
    state = shop_state(100)
    before = copy.deepcopy(state)
    after = apply_patch_shared(state, [*CANCEL_PATCH, {"op": "add", "path": "/orders/A1/notes", "value": []}])
    assert state == before  # the input is never changed
    assert after["orders"]["A1"] == {"status": "cancelled", "item": "lamp model 000001", "notes": []}
    assert after["orders"]["A2"] is state["orders"]["A2"]  # untouched records are shared, not copied


def test_a_value_added_then_changed_does_not_change_the_patch() -> None:
    patch = [{"op": "add", "path": "/x", "value": {"a": 1}}, {"op": "replace", "path": "/x/a", "value": 2}]
    recorded = copy.deepcopy(patch)
    assert apply_patch_shared({}, patch) == {"x": {"a": 2}} and patch == recorded


def test_shared_apply_reports_operations_that_do_not_apply() -> None:
    with pytest.raises(PatchError, match=r"operation 0 \(remove /nope\)"):
        apply_patch_shared({"a": 1}, [{"op": "remove", "path": "/nope"}])


_KEYS = st.sampled_from(["a", "b", "c"])
_LEAVES = st.one_of(st.integers(-3, 3), st.text(max_size=2), st.none())
_JSON = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=3)),
    max_leaves=10,
)


@st.composite
def _patches(draw: st.DrawFn) -> list[dict[str, Any]]:
    ops = []
    for _ in range(draw(st.integers(1, 4))):
        depth = draw(st.integers(0, 3))
        path = "".join("/" + draw(st.sampled_from(["a", "b", "c", "0", "1", "-"])) for _ in range(depth))
        op = draw(st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]))
        entry: dict[str, Any] = {"op": op, "path": path}
        if op in ("add", "replace", "test"):
            entry["value"] = draw(_JSON)
        if op in ("move", "copy"):
            entry["from"] = "".join(
                "/" + draw(st.sampled_from(["a", "b", "0"])) for _ in range(draw(st.integers(1, 2)))
            )
        ops.append(entry)
    return ops


@settings(max_examples=150, deadline=None)
@given(document=st.dictionaries(_KEYS, _JSON, max_size=3), patch=_patches())
def test_shared_apply_agrees_with_the_copying_applier(document: dict[str, Any], patch: list[dict[str, Any]]) -> None:
    before = copy.deepcopy(document)
    try:
        expected: Any = apply_patch(document, patch)
    except PatchError:
        expected = PatchError
    try:
        got: Any = apply_patch_shared(document, patch)
    except PatchError:
        got = PatchError
    assert got == expected
    assert document == before


def test_resolving_large_traces_costs_what_the_patches_touch(tmp_path: Path) -> None:
    # Reading back 20 episodes over one large state parses the state once (shared), not once per trace.
    template = trace_over(shop_state(2000))
    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        for i in range(20):
            run.append_trace(template.model_copy(update={"episode_id": f"ep-{i:02d}", "sample_index": i}))
    loaded = list(RunDirectory.open(tmp_path / "run", manifest=None).traces())
    first, second = loaded[0].initial_state["shop"], loaded[1].initial_state["shop"]
    assert first is second
    assert loaded[0].final_state["shop"]["orders"]["A7"] is first["orders"]["A7"]
    random.seed(0)
    assert loaded[random.randrange(20)].final_state["shop"]["orders"]["A1"]["status"] == "cancelled"


# --------------------------------------------------------------------------- envsim show --state


def test_show_state_prints_the_reconstructed_final_state_or_a_part(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from envsim.cli import app

    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        run.append_trace(trace_over(shop_state(2000)))
    cli = CliRunner()
    whole = cli.invoke(app, ["show", str(tmp_path / "run"), "ep-0000", "--state"])
    assert whole.exit_code == 0, whole.output
    assert json.loads(whole.output)["orders"]["A1"]["status"] == "cancelled"
    part = cli.invoke(app, ["show", str(tmp_path / "run"), "ep-0000", "--state", "/orders/A1"])
    assert json.loads(part.output) == {"item": "lamp model 000001", "status": "cancelled"}
    missing = cli.invoke(app, ["show", str(tmp_path / "run"), "ep-0000", "--state", "/orders/Z9"])
    assert missing.exit_code == 1 and "'/orders/Z9' is not in the final state of 'shop'" in missing.output
    wrong_env = cli.invoke(app, ["show", str(tmp_path / "run"), "ep-0000", "--state", "--env", "crm"])
    assert wrong_env.exit_code == 1 and "no state for environment 'crm'" in wrong_env.output
    # The episode view names the reference instead of printing a huge state.
    view = cli.invoke(app, ["show", str(tmp_path / "run"), "ep-0000"], terminal_width=300)
    assert view.exit_code == 0 and "initial state by reference" in view.output
    assert "lamp model 001999" not in view.output


# --------------------------------------------------------------------------- the readers, end to end


def test_replay_expectations_and_reexecution_work_on_states_by_reference(tmp_path: Path) -> None:
    import asyncio

    from envsim.scenarios.reexecute import reexecute_run
    from envsim.scenarios.replay import replay_catalogs

    # The shipped retail state is larger than the inline limit: its traces hold it by reference.
    catalog = Path(__file__).resolve().parents[2] / "scenarios" / "retail_cancellations.yaml"
    report = asyncio.run(replay_catalogs(catalog, tmp_path / "run"))
    assert report.outcomes and report.failed == []  # state expectations passed on reconstructed states
    assert len(list((tmp_path / "run" / STATES_DIR).iterdir())) == 1
    lines = written_lines(tmp_path / "run")
    assert all("retail" in line["state_refs"] and line["final_state"] == {} for line in lines)
    run = RunDirectory.open(tmp_path / "run", manifest=None)
    assert all(verify_trace(trace) == [] for trace in run.traces(include_failed=True))
    reexecuted = asyncio.run(reexecute_run(tmp_path / "run"))
    assert reexecuted.episodes == len(lines) and not reexecuted.changed
