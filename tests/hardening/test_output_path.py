"""`output_path` resolves against the working directory (as oumi does), and a run does not overwrite a
dataset file another run directory wrote unless --force, naming that run."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from envsim.cli import app
from tests.simulation.conftest import CONFIG

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "travel.yaml"
    path.write_text(textwrap.dedent(CONFIG.format(model="mock:test", num_samples=2, output="out/data.jsonl")))
    return path


def test_a_relative_output_path_resolves_against_the_working_directory(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert (work / "out/data.jsonl").read_text().count("\n") == 2
    assert not (config.parent / "out").exists()


def test_another_run_directory_does_not_overwrite_the_dataset_unless_forced(
    config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    written = (tmp_path / "out/data.jsonl").read_bytes()

    second = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "b"), "--seed", "9"])
    assert second.exit_code == 1
    message = " ".join(second.output.split())
    assert "written by another run" in message and str(tmp_path / "a") in message and "--force" in message
    assert (tmp_path / "out/data.jsonl").read_bytes() == written
    assert not (tmp_path / "b" / "traces.jsonl").exists()  # refused before simulating

    again = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "a")])
    assert again.exit_code == 0, again.output  # its own run may rewrite it (resume)
    forced = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "b"), "--seed", "9", "--force"])
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "out/data.jsonl").read_bytes() != written
