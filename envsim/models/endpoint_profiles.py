"""Endpoint facts: what a *server* accepts, kept apart from what a *model family* accepts (`profiles.py`).

pydantic-ai splits model, provider and profile the same way: "gpt-4o takes max_completion_tokens" is a fact
about a model family; "llama-cpp-python answers HTTP 500 to a `json_schema` response format" is a fact about
the server that hosts whatever model. An `EndpointProfile` holds the second kind, for the servers envsim
knows (OpenAI, Anthropic, vLLM, SGLang, Ollama, llama.cpp's llama-server, llama-cpp-python, LM Studio, TGI)
and a permissive `generic` one for the rest.

A profile is picked from the config (`server:`), else detected from the server itself (`/v1/models`'s
`owned_by`, the `server` response header), else `generic`. Where a profile is wrong, the endpoint's own
refusal corrects it at run time (see `envsim.models.endpoint_capabilities`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from envsim.config.models import ServerName

# How a structured reply is asked for, best first. `prompt`: the schema only in the prompt (always there).
StructuredOutput = Literal["json_schema", "json_object", "guided", "prompt"]
STRUCTURED_OUTPUTS: tuple[str, ...] = get_args(StructuredOutput)
ToolChoiceMode = Literal["auto", "none", "required", "function"]

SERVER_NAMES: tuple[str, ...] = get_args(ServerName)


@dataclass(frozen=True)
class EndpointProfile:
    """What one kind of server accepts on the Chat Completions wire.

    `structured_output`: the mechanisms to try, best first (an `auto` endpoint starts at the first and
    falls back along this list when the server refuses one); `prompt` always ends it.
    `json_object_schema`: `response_format: {type: json_object}` also takes a `schema` key (llama-cpp-python,
    Anyscale) and then constrains the reply to it.
    `tool_call_content`: what a tool-call-only assistant message carries as `content` (OpenAI's types send
    null; some chat templates need a string).
    `explicit_tool_choice`: the server ignores `tools` unless `tool_choice` is sent (llama-cpp-python's
    function-calling chat formats), so envsim sends `auto` when the caller left it open.
    """

    server: ServerName
    structured_output: tuple[StructuredOutput, ...] = ("json_schema", "json_object", "prompt")
    json_object_schema: bool = False
    tool_choice_modes: frozenset[ToolChoiceMode] = frozenset({"auto", "none", "required", "function"})
    explicit_tool_choice: bool = False
    seed: bool = True
    parallel_tool_calls: bool = True
    stream_options: bool = True
    usage_details: bool = True  # prompt_tokens_details.cached_tokens and the like
    tool_call_content: Literal["null", "empty"] = "null"
    # False: with tools offered (`tool_choice: auto`) the server can only call a tool or send an empty
    # message (llama-cpp-python's chatml-function-calling grammar); an empty reply is then asked again
    # with `tool_choice: none`, which lets the model write its text.
    text_with_tools: bool = True


_ALL_CHOICES: frozenset[ToolChoiceMode] = frozenset({"auto", "none", "required", "function"})

PROFILES: dict[str, EndpointProfile] = {
    "openai": EndpointProfile("openai"),
    # Anthropic has its own provider; the profile documents it in the same table (docs/servers.md).
    "anthropic": EndpointProfile("anthropic", structured_output=("json_schema", "prompt"), stream_options=False),
    "vllm": EndpointProfile("vllm", structured_output=("json_schema", "guided", "json_object", "prompt")),
    "sglang": EndpointProfile("sglang", structured_output=("json_schema", "json_object", "prompt")),
    "ollama": EndpointProfile(
        "ollama",
        structured_output=("json_schema", "json_object", "prompt"),
        tool_choice_modes=frozenset({"auto", "none"}),
        parallel_tool_calls=False,
        usage_details=False,
    ),
    "llama-server": EndpointProfile(
        "llama-server",
        structured_output=("json_schema", "json_object", "prompt"),
        tool_choice_modes=frozenset({"auto", "none", "required"}),
        parallel_tool_calls=False,
        usage_details=False,
        tool_call_content="empty",
    ),
    "llama-cpp-python": EndpointProfile(
        "llama-cpp-python",
        # Its request type allows `text` or `json_object` (+ `schema`); `json_schema` is an HTTP 500.
        structured_output=("json_object", "prompt"),
        json_object_schema=True,
        # `required` fails an assertion (HTTP 500 with an empty message); a named tool works.
        tool_choice_modes=frozenset({"auto", "none", "function"}),
        explicit_tool_choice=True,
        parallel_tool_calls=False,
        stream_options=False,
        usage_details=False,
        # Its request type wants a string (null is an HTTP 500), its chat template the key (missing: 500).
        tool_call_content="empty",
        text_with_tools=False,
    ),
    "lmstudio": EndpointProfile(
        "lmstudio",
        structured_output=("json_schema", "prompt"),
        tool_choice_modes=frozenset({"auto", "none", "required"}),
        parallel_tool_calls=False,
        usage_details=False,
    ),
    "tgi": EndpointProfile(
        "tgi",
        structured_output=("json_object", "prompt"),
        json_object_schema=False,
        tool_choice_modes=frozenset({"auto", "none", "required", "function"}),
        parallel_tool_calls=False,
        stream_options=False,
        usage_details=False,
    ),
    "generic": EndpointProfile("generic", tool_choice_modes=_ALL_CHOICES),
}


def profile_named(server: str) -> EndpointProfile:
    try:
        return PROFILES[server]
    except KeyError:
        raise ValueError(f"unknown server {server!r}; known: {', '.join(SERVER_NAMES)}") from None


# `/v1/models` -> data[].owned_by, as each server fills it in.
_OWNED_BY: dict[str, ServerName] = {
    "me": "llama-cpp-python",
    "llamacpp": "llama-server",
    "vllm": "vllm",
    "sglang": "sglang",
    "library": "ollama",
    "ollama": "ollama",
    "organization_owner": "lmstudio",
    "tgi": "tgi",
    "text-generation-inference": "tgi",
    "openai": "openai",
    "system": "openai",
    "openai-internal": "openai",
}
# The `server` response header, lower-cased prefixes.
_SERVER_HEADER: dict[str, ServerName] = {"llama.cpp": "llama-server", "text-generation-inference": "tgi"}


def detect_server(models_payload: Any, headers: Mapping[str, str] | None = None) -> ServerName | None:
    """The server behind an endpoint, from its `/v1/models` reply (JSON) and response headers; None when
    nothing says (a uvicorn `server` header alone says nothing: half of these servers run on uvicorn)."""
    header = {k.lower(): v for k, v in (headers or {}).items()}.get("server", "").lower()
    for prefix, name in _SERVER_HEADER.items():
        if header.startswith(prefix):
            return name
    data = models_payload.get("data") if isinstance(models_payload, Mapping) else None
    if isinstance(data, list):
        for entry in data:
            owner = entry.get("owned_by") if isinstance(entry, Mapping) else None
            if isinstance(owner, str) and owner.lower() in _OWNED_BY:
                return _OWNED_BY[owner.lower()]
    return None
