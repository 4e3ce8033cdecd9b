"""A dead endpoint (nothing listening) fails a run fast, naming the endpoint and what to check."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import envsim
from envsim.errors import CircuitOpenError, ModelError
from envsim.models.base import ModelRequest
from envsim.models.breaker import CircuitBreaker, CircuitBreakerModel
from envsim.models.retry import RetryingModel, RetryPolicy
from envsim.models.unreachable import UnreachableEndpointError, is_unreachable
from envsim.testing import FunctionModel
from tests.simulation.conftest import CONFIG

LOAD_FACTOR = float(os.environ.get("ENVSIM_TEST_LOAD_FACTOR", "1"))
MODELS = {
    "openai-direct": ("{{model_name: m, engine: OPENAI, base_url: '{url}/v1'}}", "OPENAI_API_KEY"),
    "openai-sdk": ("{{model_name: m, engine: OPENAI, transport: sdk, base_url: '{url}/v1'}}", "OPENAI_API_KEY"),
    "anthropic": ("{{model_name: claude-x, engine: ANTHROPIC, base_url: '{url}'}}", "ANTHROPIC_API_KEY"),
}


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("kind", ["openai-direct", pytest.param("openai-sdk", marks=pytest.mark.slow), "anthropic"])
def test_a_run_against_a_dead_endpoint_ends_within_10_s(kind: str, tmp_path: Path) -> None:
    model, key_env = MODELS[kind]
    url = _dead_url()
    text = CONFIG.format(model="placeholder", num_samples=3, output=tmp_path / "data.jsonl")
    # The defaults (5 retries, 300 s reads) are what a user gets: only max_retries: 0 is taken out.
    text = text.replace('{model_name: "placeholder"}', model.format(url=url)).replace(", max_retries: 0", "")
    config = tmp_path / "run.yaml"
    config.write_text(text, encoding="utf-8")
    env = {**os.environ, key_env: "unused-key-123", "PYTHONPATH": str(Path(envsim.__file__).parents[1])}
    # What starting envsim costs on this machine right now (seconds on a loaded CI machine): the bound
    # below is 10 s or three such startups, whichever is larger.
    started = time.monotonic()
    imports = "import envsim.cli, envsim.api, aiohttp, openai, anthropic"  # what a run loads before its first call
    subprocess.run([sys.executable, "-c", imports], capture_output=True, env=env, timeout=120)
    startup = time.monotonic() - started
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "envsim", "run", str(config), "--out", str(tmp_path / "run")],
        capture_output=True,
        env=env,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    stderr = " ".join(result.stderr.decode(errors="replace").split())
    assert result.returncode == 1, stderr[-2000:]
    assert elapsed < max(10.0, 3 * startup) * LOAD_FACTOR, f"took {elapsed:.1f} s (startup {startup:.1f} s)"
    assert "gave up after 3 attempts" in stderr  # a few quick retries, not six with exponential backoff
    assert "stopped calling model endpoint" in stderr and url in stderr and "nothing answers there" in stderr
    assert "check that the server is running" in stderr and "Traceback" not in stderr


def _refused() -> UnreachableEndpointError:
    return UnreachableEndpointError("e: cannot connect (refused)", endpoint="e")


async def test_unreachable_is_retried_a_few_times_quickly() -> None:
    calls: list[int] = []
    waits: list[float] = []

    def fail(request: ModelRequest) -> str:
        calls.append(1)
        raise _refused()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    model = RetryingModel(FunctionModel(fail), RetryPolicy(max_attempts=6), sleep=sleep)
    with pytest.raises(UnreachableEndpointError) as info:
        await model.generate(ModelRequest(messages=[]))
    assert len(calls) == 3 and sum(waits) < 1.0 and info.value.attempts == 3


async def test_the_breaker_opens_at_once_only_for_an_endpoint_that_never_answered() -> None:
    never = CircuitBreakerModel(FunctionModel(lambda r: (_ for _ in ()).throw(_refused())), CircuitBreaker("e"))
    with pytest.raises(CircuitOpenError, match="nothing answers there"):
        await never.generate(ModelRequest(messages=[]))

    outcomes = iter(["ok", "refused"])

    def flaky(request: ModelRequest) -> str:
        if next(outcomes) == "refused":
            raise _refused()
        return "ok"

    answered = CircuitBreakerModel(FunctionModel(flaky), CircuitBreaker("e"))
    await answered.generate(ModelRequest(messages=[]))
    with pytest.raises(ModelError) as info:  # a blip after success is counted, not fatal
        await answered.generate(ModelRequest(messages=[]))
    assert not isinstance(info.value, CircuitOpenError)


def test_connection_refused_is_classified_through_wrappers() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except OSError as inner:
            raise RuntimeError("client error") from inner
    except RuntimeError as outer:
        assert is_unreachable(outer)
    assert not is_unreachable(TimeoutError("read timed out"))
