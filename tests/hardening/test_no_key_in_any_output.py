"""No key reaches any byte a run writes or prints, whatever way it was given, whether the endpoint works.

Each case runs `python -m envsim run` in a subprocess against the fake server (which requires the key)
or a dead port, then greps stdout, stderr and every file the run created (run directory, dataset,
response cache) for the key.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import envsim
from envsim.testing import FakeModelServer
from envsim.testing.fake_server.server import ServerProcess
from tests.simulation.conftest import CONFIG

KEY = "zq-local-key-7f3a9c2e41"  # matches no known key format: only the source-based redaction can catch it
FORMATTED_KEY = "sk-proj-Zq7F3a9C2e41Bb8Dd6Ee4Ff2"  # caught by its format too


@dataclass
class Case:
    """How the key is given: where it sits in the model section, extra CLI args, environment."""

    model: str  # the YAML flow mapping of inference_config.model, with {url} and {key}
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    key: str = KEY


CASES = {
    "env": Case("{{model_name: m, engine: OPENAI, base_url: '{url}/v1'}}", env={"OPENAI_API_KEY": "{key}"}),
    "config": Case(
        "{{model_name: m, engine: OPENAI, base_url: '{url}/v1', api_key: {key}, allow_api_key_in_config: true}}"
    ),
    "set": Case(
        "{{model_name: m, engine: OPENAI, base_url: '{url}/v1'}}",
        args=[
            "--set",
            "inference_config.model.api_key={key}",
            "--set",
            "inference_config.model.allow_api_key_in_config=true",
        ],
    ),
    "seed_style": Case(
        "{{model_name: m, engine: OPENAI, base_url: '{url}/v1', allow_api_key_in_config: true}}",
        args=["--inference_config.model.api_key", "{key}"],
    ),
    "url_userinfo": Case("{{model_name: m, engine: OPENAI, base_url: 'http://user:{key}@{hostport}/v1'}}"),
    "url_query": Case("{{model_name: m, engine: OPENAI, base_url: '{url}/v1?api_key={key}'}}"),
    "custom_env_var": Case(
        "{{model_name: m, engine: OPENAI, base_url: '{url}/v1', api_key_env: LLM_CRED}}",
        env={"LLM_CRED": "{key}"},
        key=FORMATTED_KEY,
    ),
    "anthropic": Case(
        "{{model_name: claude-x, engine: ANTHROPIC, base_url: '{url}'}}", env={"ANTHROPIC_API_KEY": "{key}"}
    ),
}
FAST = {"set", "url_query"}  # the rest run with -m slow: each case is two subprocess runs


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with FakeModelServer.start_process(api_key=KEY) as process:
        yield process


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there once the socket is closed


def _run(case: Case, url: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[bytes], set[Path]]:
    folder = tmp_path / "cfg"
    folder.mkdir()
    model = case.model.format(url=url, key=case.key, hostport=url.removeprefix("http://"))
    text = CONFIG.format(model="placeholder", num_samples=2, output="out/data.jsonl").replace(
        '{model_name: "placeholder"}', model
    )
    text = text.replace("max_retries: 0}", "max_retries: 0, connection_timeout: 5}")
    config = folder / "run.yaml"
    config.write_text(text, encoding="utf-8")
    written_by_us = {config}
    env = {**os.environ, **{k: v.format(key=case.key) for k, v in case.env.items()}}
    env["PYTHONPATH"] = str(Path(envsim.__file__).parents[1])  # the envsim under test, not another install
    env.pop("OPENAI_API_KEY", None) if "OPENAI_API_KEY" not in case.env else None
    args = [a.format(key=case.key) for a in case.args]
    result = subprocess.run(
        [sys.executable, "-m", "envsim", "run", str(config), "--out", str(tmp_path / "run"), *args],
        capture_output=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    return result, written_by_us


def _assert_no_key(key: str, result: subprocess.CompletedProcess[bytes], root: Path, ours: set[Path]) -> None:
    printed = result.stdout + result.stderr
    assert printed, "the run printed nothing"
    assert key.encode() not in printed, printed.decode(errors="replace")[-3000:]
    files = [p for p in root.rglob("*") if p.is_file() and p not in ours]
    assert any(p.name == "manifest.json" for p in files)
    for path in files:
        assert key.encode() not in path.read_bytes(), f"{path.relative_to(root)} holds the key"


def _params() -> list[object]:
    return [
        pytest.param(name, endpoint, marks=() if name in FAST else pytest.mark.slow, id=f"{name}-{endpoint}")
        for name in CASES
        for endpoint in ("working", "dead")
    ]


@pytest.mark.parametrize(("name", "endpoint"), _params())
def test_the_key_appears_in_no_output(name: str, endpoint: str, server: ServerProcess, tmp_path: Path) -> None:
    case = CASES[name]
    result, ours = _run(case, server.url if endpoint == "working" else _dead_url(), tmp_path)
    if endpoint == "dead":
        assert result.returncode == 1
    _assert_no_key(case.key, result, tmp_path, ours)
    assert b"Traceback" not in result.stderr, result.stderr.decode(errors="replace")[-3000:]


def test_a_working_run_with_the_key_from_set_succeeds(server: ServerProcess, tmp_path: Path) -> None:
    """The redaction does not get in the way: the key given by --set really authenticates."""
    result, _ = _run(CASES["set"], server.url, tmp_path)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
    assert (tmp_path / "out/data.jsonl").read_text().count("\n") == 2
