"""The redaction layer: known keys from every source and credential-shaped strings become ***."""

from __future__ import annotations

import io

import pytest

from envsim import redaction
from envsim.errors import ConfigError, ModelError
from envsim.recording import jsonl
from envsim.redaction import RedactingStream, redact_text, register_argv, register_secrets_in


@pytest.mark.parametrize(
    "text",
    [
        "key sk-proj-ABCDEFGHIJKLMNOPQRSTUV123456 here",
        "sk-ant-api03-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "aws AKIAIOSFODNN7EXAMPLE",
        "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "hf_ABCDEFGHIJKLMNOPQRSTUVWXYZabcd",
        "xoxb-1234567890-abcdefghij",
        "Authorization: Bearer eyJhbGciOi.payload.sig",
        'headers {"x-api-key": "plainvalue123"}',
        "GET http://127.0.0.1:9/v1?api_key=plainvalue123&model=m",
        "https://user:plainvalue123@example.com/v1",
        "--set inference_config.model.api_key=plainvalue123",
    ],
)
def test_credential_shaped_strings_are_redacted(text: str) -> None:
    out = redact_text(text)
    assert "***" in out
    for secret in ("ABCDEFGHIJKLMNOP", "IOSFODNN7", "plainvalue123", "payload.sig", "1234567890-abc"):
        assert secret not in out


def test_ordinary_text_is_left_alone() -> None:
    text = "max_tokens=512 tokens_per_minute=1000 key: value http://127.0.0.1:8080/v1?model=m ask-me-anything"
    assert redact_text(text) == text


def test_a_registered_value_is_redacted_wherever_it_appears(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redaction, "_registered", set())
    register_secrets_in({"inference_config": {"model": {"api_key": "no-format-value-1"}}})
    register_argv(["run", "c.yaml", "--inference_config.model.api_key", "no-format-value-2"])
    register_secrets_in({"model": {"base_url": "http://u:no-format-value-3@h/v1?token=no-format-value-4"}})
    text = "a no-format-value-1 b no-format-value-2 c no-format-value-3 d no-format-value-4"
    assert redact_text(text) == "a *** b *** c *** d ***"


def test_environment_keys_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_API_KEY", "env-value-abcdef")
    monkeypatch.setenv("HOME_DIRECTORY_NAME", "not-a-secret-value")
    assert redact_text("env-value-abcdef not-a-secret-value") == "*** not-a-secret-value"


def test_writers_errors_and_streams_redact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "env-value-ghijkl")
    assert b"env-value" not in jsonl.dumps_line({"error": "HTTP 401 for key env-value-ghijkl"})
    assert "env-value" not in ModelError("refused env-value-ghijkl").render()
    assert "env-value" not in str(ConfigError("bad", file="x?api_key=env-value-ghijkl", hint="env-value-ghijkl"))
    sink = io.StringIO()
    stream = RedactingStream(sink)
    assert stream.write("printed env-value-ghijkl\n") == len("printed env-value-ghijkl\n")
    assert sink.getvalue() == "printed ***\n"
