"""Model strings, engines and provider plug-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from envsim.config.models import ModelSpec
from envsim.errors import ConfigError, ModelAuthError
from envsim.messages import Message
from envsim.models.anthropic_provider import AnthropicChatModel
from envsim.models.base import ChatModel, ModelRequest, ModelResponse
from envsim.models.mock import MockModel
from envsim.models.openai_provider import OpenAIChatModel
from envsim.models.registry import (
    ModelRef,
    ProviderOptions,
    create_model,
    create_model_from_spec,
    known_providers,
    model_ref_from_spec,
    parse_model_string,
    register_provider,
)
from envsim.testing.scripted import FunctionModel, ScriptedModel


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("openai:gpt-4o-mini", ModelRef("openai", "gpt-4o-mini")),
        ("anthropic:claude-sonnet-4-5", ModelRef("anthropic", "claude-sonnet-4-5")),
        ("openai:qwen2.5@http://127.0.0.1:8000/v1", ModelRef("openai", "qwen2.5", "http://127.0.0.1:8000/v1")),
        (
            "openai:llama3.1:8b@http://localhost:11434/v1",
            ModelRef("openai", "llama3.1:8b", "http://localhost:11434/v1"),
        ),
        ("scripted:scripts/support.yaml", ModelRef("scripted", "scripts/support.yaml")),
        ("function:my_pkg.replies:reply", ModelRef("function", "my_pkg.replies:reply")),
        ("mock:anything at all", ModelRef("mock", "anything at all")),
        ("  OpenAI:gpt-4o ", ModelRef("openai", "gpt-4o")),
    ],
)
def test_parse_model_string(text: str, ref: ModelRef) -> None:
    assert parse_model_string(text) == ref


def test_name_round_trips_and_hides_credentials_in_urls() -> None:
    ref = parse_model_string("openai:m@http://user:hunter2@127.0.0.1:8000/v1")
    assert "hunter2" not in ref.name
    assert parse_model_string("openai:m@http://127.0.0.1:8000/v1").name == "openai:m@http://127.0.0.1:8000/v1"


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        parse_model_string("gemini:flash")
    text = info.value.render()
    assert "gemini" in text
    for known in ("openai", "anthropic", "scripted", "function", "mock"):
        assert known in text


@pytest.mark.parametrize("text", ["gpt-4o-mini", "openai:", ":model"])
def test_malformed_model_strings(text: str) -> None:
    with pytest.raises(ConfigError, match="provider"):
        parse_model_string(text)


@pytest.mark.parametrize(
    ("engine", "base_url", "ref"),
    [
        ("OPENAI", None, ModelRef("openai", "m")),
        ("anthropic", None, ModelRef("anthropic", "m")),
        ("CLAUDE", None, ModelRef("anthropic", "m")),
        ("VLLM", "http://h:8000/v1", ModelRef("openai", "m", "http://h:8000/v1")),
        ("OLLAMA", "http://h:11434/v1", ModelRef("openai", "m", "http://h:11434/v1")),
        ("REMOTE_VLLM", "http://h/v1", ModelRef("openai", "m", "http://h/v1")),
        ("MOCK", None, ModelRef("mock", "m")),
        ("SCRIPTED", None, ModelRef("scripted", "m")),
    ],
)
def test_engines_map_onto_providers(engine: str, base_url: str | None, ref: ModelRef) -> None:
    assert model_ref_from_spec(ModelSpec(model_name="m", engine=engine, base_url=base_url)) == ref


def test_engine_can_come_from_inference_config() -> None:
    assert model_ref_from_spec(ModelSpec(model_name="claude-x"), "ANTHROPIC") == ModelRef("anthropic", "claude-x")
    # The spec's own engine wins over the inference_config one.
    assert model_ref_from_spec(ModelSpec(model_name="x", engine="MOCK"), "OPENAI").provider == "mock"


@pytest.mark.parametrize(("engine", "port"), [("VLLM", "8000"), ("SGLANG", "30000"), ("LLAMACPP", "8080")])
def test_local_server_engines_need_base_url(engine: str, port: str) -> None:
    with pytest.raises(ConfigError) as info:
        model_ref_from_spec(ModelSpec(model_name="m", engine=engine))
    assert info.value.location == "inference_config.model.base_url"
    assert f"127.0.0.1:{port}" in info.value.render()


def test_unknown_engine_is_named() -> None:
    with pytest.raises(ConfigError, match="TGI") as info:
        model_ref_from_spec(ModelSpec(model_name="m", engine="TGI"))
    assert "VLLM" in info.value.render()


def test_model_name_without_engine() -> None:
    assert model_ref_from_spec(ModelSpec(model_name="openai:gpt-4o")) == ModelRef("openai", "gpt-4o")
    assert model_ref_from_spec(ModelSpec(model_name="gpt-4o-mini")) == ModelRef("openai", "gpt-4o-mini")
    assert model_ref_from_spec(ModelSpec(model_name="claude-opus-4-5")).provider == "anthropic"
    with pytest.raises(ConfigError, match="which provider"):
        model_ref_from_spec(ModelSpec(model_name="my-finetune"))


def test_create_builtin_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k2")
    assert isinstance(create_model("openai:gpt-4o-mini"), OpenAIChatModel)
    assert isinstance(create_model("anthropic:claude-opus-4-5"), AnthropicChatModel)
    assert isinstance(create_model("mock:x"), MockModel)
    (tmp_path / "script.yaml").write_text("- hello\n- text: bye\n", encoding="utf-8")
    scripted = create_model("scripted:script.yaml", base_dir=tmp_path)
    assert isinstance(scripted, ScriptedModel) and scripted.remaining == 2
    (tmp_path / "replies.py").write_text("def reply(request):\n    return 'from a file'\n", encoding="utf-8")
    assert isinstance(create_model("function:replies.py:reply", base_dir=tmp_path), FunctionModel)


async def test_function_model_from_a_module(tmp_path: Path) -> None:
    (tmp_path / "envsim_test_replies_mod.py").write_text("def reply(request):\n    return 'hi'\n", encoding="utf-8")
    model = create_model("function:envsim_test_replies_mod:reply", base_dir=tmp_path)
    response = await model.generate(ModelRequest(messages=[Message.user("x")]))
    assert response.text == "hi"


def test_create_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        create_model("scripted:missing.yaml", base_dir=tmp_path)
    with pytest.raises(ConfigError, match="cannot import"):
        create_model("function:no_such_module_xyz:reply")
    (tmp_path / "replies.py").write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no function 'reply'"):
        create_model("function:replies.py:reply", base_dir=tmp_path)


def test_missing_key_names_the_configured_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEAM_OPENAI_KEY", raising=False)
    spec = ModelSpec(model_name="gpt-4o", engine="OPENAI", api_key_env="TEAM_OPENAI_KEY")
    with pytest.raises(ModelAuthError, match="TEAM_OPENAI_KEY"):
        create_model_from_spec(spec)


def test_api_key_in_config_needs_explicit_consent(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-in-config-DO-NOT-PRINT"
    with pytest.raises(ConfigError) as info:
        create_model_from_spec(ModelSpec(model_name="gpt-4o", engine="OPENAI", api_key=secret))
    assert secret not in info.value.render() and info.value.location == "inference_config.model.api_key"
    spec = ModelSpec(model_name="gpt-4o", engine="OPENAI", api_key=secret, allow_api_key_in_config=True)
    model = create_model_from_spec(spec)
    assert secret not in repr(model) and secret not in model.name


def test_register_a_new_provider() -> None:
    class Echo(ChatModel):
        def __init__(self, ref: ModelRef) -> None:
            self.name = ref.name

        async def generate(self, request: ModelRequest) -> ModelResponse:
            return ModelResponse(message=Message.assistant("echo"))

    @register_provider("echo-test")
    def _make(ref: ModelRef, options: ProviderOptions) -> ChatModel:
        return Echo(ref)

    assert "echo-test" in known_providers()
    model = create_model("echo-test:m@http://127.0.0.1:1/v1")
    assert isinstance(model, Echo) and model.name == "echo-test:m@http://127.0.0.1:1/v1"


def test_transport_is_chosen_per_model_section() -> None:
    default = create_model_from_spec(ModelSpec(model_name="llama3", engine="VLLM", base_url="http://127.0.0.1:8000/v1"))
    sdk = create_model_from_spec(
        ModelSpec(model_name="llama3", engine="VLLM", base_url="http://127.0.0.1:8000/v1", transport="sdk")
    )
    assert isinstance(default, OpenAIChatModel) and default.transport == "direct"
    assert isinstance(sdk, OpenAIChatModel) and sdk.transport == "sdk"


def test_transport_on_a_model_that_is_not_openai_compatible_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    with pytest.raises(ConfigError) as info:
        create_model_from_spec(ModelSpec(model_name="anthropic:claude-x", transport="sdk"), location="roles.user")
    assert info.value.location == "roles.user.transport"
    with pytest.raises(ValueError, match="transport"):
        ModelSpec(model_name="gpt-4o", transport="curl")  # type: ignore[arg-type]
