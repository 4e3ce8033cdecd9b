"""The run directory: create, append, resume after a kill, refuse a changed config, finalize deterministically."""

from __future__ import annotations

import json
import random
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envsim.errors import DataError, RunError
from envsim.recording import RunDirectory, RunManifest, RunState, load_trace
from envsim.recording.run_dir import FAILURES_FILE, TIMINGS_FILE, TRACES_FILE

from .factories import make_trace

CONFIG = {
    "num_samples": 4,
    "output_path": "a.jsonl",
    "inference_config": {"model": {"model_name": "gpt-4o-mini"}, "generation": {}},
}


def manifest(config: dict | None = None, seed: int = 7) -> RunManifest:
    return RunManifest.create(config or CONFIG, seed=seed, models={"assistant": "openai:gpt-4o-mini"}, command_line=[])


def test_new_directory_has_manifest_and_queued_status(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path / "run", manifest=manifest()) as run:
        assert run.status().state is RunState.QUEUED
        assert run.finished_episode_ids() == set()
    saved = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert saved["config_hash"] == manifest().config_hash
    assert saved["seed"] == 7


def test_append_and_read_back_with_timings(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path, manifest=manifest()) as run:
        run.append_trace(make_trace("ep-1", wall_time_s=2.5))
        run.append_trace(make_trace("ep-2", failed=True))
    reader = RunDirectory.open(tmp_path, manifest=None)
    (ok,) = list(reader.traces())
    assert ok == make_trace("ep-1", wall_time_s=2.5)  # timings merged back: the loaded trace is complete
    assert [t.episode_id for t in reader.traces(include_failed=True)] == ["ep-1", "ep-2"]
    assert reader.finished_episode_ids() == {"ep-1", "ep-2"}
    assert load_trace(tmp_path, "ep-2").status == "failed"


def test_traces_jsonl_has_no_run_dependent_measurements(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path, manifest=manifest()) as run:
        run.append_trace(make_trace("ep-1"))
    line = (tmp_path / TRACES_FILE).read_text()
    for field in ("wall_time_s", "latency_s", "usage", "cached"):
        assert field not in line
    timing = json.loads((tmp_path / TIMINGS_FILE).read_text())
    assert timing["wall_time_s"] == 1.25
    assert [s["latency_s"] for s in timing["steps"]] == [0.1, 0.2]
    assert timing["usage"]["assistant"]["input_tokens"] == 420


def test_cache_replay_gives_the_same_trace_bytes_and_loads_its_own_measurements(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path / "live", manifest=manifest()) as run:
        run.append_trace(make_trace("ep-1"))
    with RunDirectory.open(tmp_path / "cached", manifest=manifest()) as run:
        run.append_trace(make_trace("ep-1", from_cache=True, wall_time_s=0.01))
    assert (tmp_path / "live" / TRACES_FILE).read_bytes() == (tmp_path / "cached" / TRACES_FILE).read_bytes()
    (loaded,) = RunDirectory.open(tmp_path / "cached", manifest=None).traces()
    assert loaded == make_trace("ep-1", from_cache=True, wall_time_s=0.01)
    assert loaded.usage["assistant"].cache_hits == 3 and all(step.cached for step in loaded.steps)


def test_trace_whose_measurements_were_lost_still_loads(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path, manifest=manifest()) as run:
        run.append_trace(make_trace("ep-1"))
    (tmp_path / TIMINGS_FILE).write_text("")  # killed between the trace line and its measurements
    (loaded,) = RunDirectory.open(tmp_path, manifest=None).traces()
    assert loaded.wall_time_s == 0.0 and loaded.messages == make_trace("ep-1").messages


def test_duplicate_episode_is_refused(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path, manifest=manifest()) as run:
        run.append_trace(make_trace("ep-1"))
        with pytest.raises(RunError, match="already recorded"):
            run.append_trace(make_trace("ep-1", failed=True))


def test_torn_last_line_is_ignored_then_truncated_on_resume(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path, manifest=manifest()) as run:
        run.append_trace(make_trace("ep-1"))
        run.append_trace(make_trace("ep-2"))
    # A kill -9 mid-write leaves half a line without its newline.
    whole = (tmp_path / TRACES_FILE).read_bytes()
    torn = json.dumps(make_trace("ep-3").model_dump(mode="json")).encode()[:200]
    (tmp_path / TRACES_FILE).write_bytes(whole + torn)

    reader = RunDirectory.open(tmp_path, manifest=None)
    assert reader.finished_episode_ids() == {"ep-1", "ep-2"}
    assert (tmp_path / TRACES_FILE).read_bytes().endswith(torn)  # read-only never modifies

    with RunDirectory.open(tmp_path, manifest=manifest()) as run:
        assert run.finished_episode_ids() == {"ep-1", "ep-2"}
        assert (tmp_path / TRACES_FILE).read_bytes() == whole
        run.append_trace(make_trace("ep-3"))  # the in-flight episode is redone
    lines = (tmp_path / TRACES_FILE).read_text().splitlines()
    assert [json.loads(line)["episode_id"] for line in lines] == ["ep-1", "ep-2", "ep-3"]


def test_corrupt_middle_line_names_file_and_line(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path, manifest=manifest()) as run:
        run.append_trace(make_trace("ep-1"))
    with (tmp_path / TRACES_FILE).open("ab") as fh:
        fh.write(b"{not json}\n")
    with pytest.raises(DataError, match=r"traces\.jsonl:2: corrupt JSON line"):
        list(RunDirectory.open(tmp_path, manifest=None).traces())


def test_changed_config_is_refused_naming_keys_then_forced(tmp_path: Path) -> None:
    RunDirectory.open(tmp_path, manifest=manifest()).close()
    changed = {**CONFIG, "output_path": "b.jsonl"}
    with pytest.raises(RunError) as info:
        RunDirectory.open(tmp_path, manifest=manifest(changed))
    text = info.value.render()
    assert "config.output_path" in text and "inference_config" not in text
    assert "--force" in text and "--out" in text
    with pytest.raises(RunError, match="seed"):
        RunDirectory.open(tmp_path, manifest=manifest(seed=8))

    with RunDirectory.open(tmp_path, manifest=manifest(changed), force=True) as run:
        assert run.manifest.config["output_path"] == "b.jsonl"
    assert json.loads((tmp_path / "manifest.json").read_text())["config"]["output_path"] == "b.jsonl"
    assert json.loads((tmp_path / "manifest.superseded-1.json").read_text())["config"]["output_path"] == "a.jsonl"


def test_more_samples_extend_the_same_run(tmp_path: Path) -> None:
    """num_samples is the run's size, not its identity: raising it resumes and extends the run."""
    RunDirectory.open(tmp_path, manifest=manifest()).close()
    with RunDirectory.open(tmp_path, manifest=manifest({**CONFIG, "num_samples": 8})) as run:
        assert run.manifest.config["num_samples"] == 4  # the original manifest is kept


def test_same_config_resumes_keeping_original_manifest(tmp_path: Path) -> None:
    first = manifest()
    RunDirectory.open(tmp_path, manifest=first).close()
    with RunDirectory.open(tmp_path, manifest=manifest()) as run:
        assert run.manifest.created_at == first.created_at


def test_second_writer_is_refused_while_first_is_open(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path, manifest=manifest()), pytest.raises(RunError, match="in use"):
        RunDirectory.open(tmp_path, manifest=manifest())
    RunDirectory.open(tmp_path, manifest=manifest()).close()  # free again once closed


def test_status_transitions_and_counts(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path, manifest=manifest()) as run:
        assert run.status().state is RunState.QUEUED
        run.set_status(RunState.RUNNING, in_flight=2, total=3, detail=["started"])
        run.append_trace(make_trace("ep-1"))
        run.append_trace(make_trace("ep-2", failed=True))
        status = run.status()
        assert (status.state, status.total, status.in_flight, status.detailed_status) == (
            RunState.RUNNING,
            3,
            2,
            ["started"],
        )
        run.set_status("RUNNING", in_flight=1)
        assert (run.status().done, run.status().failed) == (1, 1)
        run.set_status(RunState.CANCELLED, detail=["interrupted"])
    # Resume: counts come back from disk, total is remembered.
    with RunDirectory.open(tmp_path, manifest=manifest()) as run:
        assert run.status().state is RunState.CANCELLED
        run.set_status(RunState.RUNNING)
        run.append_trace(make_trace("ep-3"))
        final = run.finalize(RunState.DONE, detail=["3 episodes"])
    assert (final.state, final.done, final.failed, final.in_flight, final.total) == (RunState.DONE, 2, 1, 0, 3)
    assert RunDirectory.open(tmp_path, manifest=None).status() == final


def test_detail_list_stays_short(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path, manifest=manifest()) as run:
        run.set_status(RunState.RUNNING, detail=[f"line {i}" for i in range(100)])
        assert len(run.status().detailed_status) == 20
        assert run.status().detailed_status[-1] == "line 99"


def _run_in_order(path: Path, order: list[int]) -> None:
    with RunDirectory.open(path, manifest=manifest()) as run:
        for i in order:
            run.append_trace(make_trace(f"ep-{i:03d}", sample_index=i, failed=i % 5 == 0, wall_time_s=random.random()))
        run.finalize(RunState.DONE)


def test_finalize_gives_byte_identical_files_whatever_the_completion_order(tmp_path: Path) -> None:
    order = list(range(30))
    shuffled = order[:]
    random.Random(3).shuffle(shuffled)
    _run_in_order(tmp_path / "a", order)
    _run_in_order(tmp_path / "b", shuffled)
    for name in (TRACES_FILE, FAILURES_FILE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    ids = [json.loads(line)["episode_id"] for line in (tmp_path / "b" / TRACES_FILE).read_text().splitlines()]
    assert ids == sorted(ids) and len(ids) == 24
    # Timings were different, yet each trace still gets its own back.
    timings_b = {json.loads(x)["episode_id"] for x in (tmp_path / "b" / TIMINGS_FILE).read_text().splitlines()}
    assert timings_b == {f"ep-{i:03d}" for i in range(30)}


def test_concurrent_appends_from_threads_are_whole_lines(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path, manifest=manifest()) as run:
        threads = [
            threading.Thread(target=lambda k=k: [run.append_trace(make_trace(f"ep-{k}-{j}")) for j in range(20)])
            for k in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    reader = RunDirectory.open(tmp_path, manifest=None)
    assert len(reader.finished_episode_ids()) == 160
    assert len(list(reader.traces())) == 160


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "no run directory"),
        (lambda p: p.mkdir(), "not an envsim run directory"),
        (lambda p: p.write_text("x"), "is a file"),
        (lambda p: (p.mkdir(), (p / "manifest.json").write_text("{")), "manifest.json is corrupt"),
    ],
)
def test_read_only_open_errors_are_clear(tmp_path: Path, setup, message: str) -> None:
    path = tmp_path / "run"
    setup(path)
    with pytest.raises(RunError, match=message):
        RunDirectory.open(path, manifest=None)


def test_non_empty_foreign_directory_is_not_written_into(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunError, match="not empty"):
        RunDirectory.open(tmp_path, manifest=manifest())


def test_read_only_directory_cannot_write(tmp_path: Path) -> None:
    RunDirectory.open(tmp_path, manifest=manifest()).close()
    reader = RunDirectory.open(tmp_path, manifest=None)
    with pytest.raises(RunError, match="read-only"):
        reader.append_trace(make_trace())


def test_load_trace_unknown_and_prefix(tmp_path: Path) -> None:
    with RunDirectory.open(tmp_path, manifest=manifest()) as run:
        run.append_trace(make_trace("alpha-1"))
        run.append_trace(make_trace("alpha-2"))
        run.append_trace(make_trace("beta-1"))
    assert load_trace(tmp_path, "beta").episode_id == "beta-1"
    with pytest.raises(RunError, match=r"ambiguous.*alpha-1, alpha-2"):
        load_trace(tmp_path, "alpha")
    with pytest.raises(RunError, match=r"no episode 'gamma'.*alpha-1, alpha-2, beta-1"):
        load_trace(tmp_path, "gamma")


@settings(max_examples=15, deadline=None)
@given(st.permutations(range(12)), st.sets(st.integers(0, 11)))
def test_finalized_bytes_depend_only_on_the_episodes(order: list[int], failed: set[int]) -> None:
    def record(path: Path, sequence: list[int]) -> tuple[bytes, bytes]:
        with RunDirectory.open(path, manifest=manifest()) as run:
            for i in sequence:
                run.append_trace(make_trace(f"ep-{i:02d}", sample_index=i // 3, trial=i % 3, failed=i in failed))
            run.finalize(RunState.DONE)
        return (path / TRACES_FILE).read_bytes(), (path / FAILURES_FILE).read_bytes()

    with tempfile.TemporaryDirectory() as tmp:
        assert record(Path(tmp) / "a", list(range(12))) == record(Path(tmp) / "b", order)


@settings(max_examples=15, deadline=None)
@given(st.permutations(range(12)), st.integers(0, 12), st.integers(0, 12))
def test_finalize_after_resume_and_between_appends_matches_one_pass(order: list[int], stop: int, pause: int) -> None:
    """finalize reorders by the positions it noted when lines were written or scanned on resume: however a
    run was interrupted (a finalize mid-session, then a resume), the files end as one uninterrupted pass."""

    def append(run: RunDirectory, ids: list[int]) -> None:
        for i in ids:
            run.append_trace(make_trace(f"ep-{i:02d}", sample_index=i, failed=i % 4 == 0, wall_time_s=float(i)))

    def files(path: Path) -> list[bytes]:
        return [(path / name).read_bytes() for name in (TRACES_FILE, FAILURES_FILE, TIMINGS_FILE)]

    with tempfile.TemporaryDirectory() as tmp:
        one_pass, interrupted = Path(tmp) / "a", Path(tmp) / "b"
        with RunDirectory.open(one_pass, manifest=manifest()) as run:
            append(run, list(range(12)))
            run.finalize(RunState.DONE)
        first, later = order[:stop], order[stop:]
        with RunDirectory.open(interrupted, manifest=manifest()) as run:
            append(run, first[:pause])
            run.finalize(RunState.CANCELLED)
            append(run, first[pause:])  # appends after a finalize land after the rewritten lines
            run.finalize(RunState.CANCELLED)
        with RunDirectory.open(interrupted, manifest=manifest()) as run:
            append(run, later)
            run.finalize(RunState.DONE)
        assert files(interrupted) == files(one_pass)
        timings = [json.loads(x) for x in (interrupted / TIMINGS_FILE).read_text().splitlines()]
        assert all(t["wall_time_s"] == float(t["episode_id"][3:]) for t in timings)
