"""Synthetic environments: a scripted model plays the tools; replies are checked, re-asked, cached."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from envsim.config.models import EnvironmentConfig
from envsim.environments import EnvironmentSet, StepContext
from envsim.environments.synthetic_prompt import SyntheticReply
from envsim.errors import ConfigError, RateLimitError
from envsim.messages import Message, ToolCall
from envsim.models.base import ModelRequest, ModelResponse, Usage
from envsim.testing import FunctionModel, ScriptedModel, ScriptStep

LOOKUP = {
    "id": "lookup_user",
    "description": "Find a user by email.",
    "read_only": True,
    "parameters": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}},
    "output_schema": {"type": "object", "required": ["user_id"], "properties": {"user_id": {"type": "string"}}},
}
TICKETS_SCHEMA = {
    "type": "object",
    "required": ["tickets"],
    "properties": {
        "tickets": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "status"],
                "properties": {"id": {"type": "string"}, "status": {"enum": ["open", "closed"]}},
            },
        }
    },
}
CREATE = {"id": "create_ticket", "parameters": {"type": "object", "properties": {"subject": {"type": "string"}}}}
GET = {
    "id": "get_ticket",
    "read_only": True,
    "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
}


def directory(**extra: Any) -> EnvironmentConfig:
    return EnvironmentConfig.model_validate(
        {"id": "directory", "type": "synthetic", "system_prompt": "You are ACME's user directory.", "tools": [LOOKUP]}
        | extra
    )


def helpdesk(**extra: Any) -> EnvironmentConfig:
    return EnvironmentConfig.model_validate(
        {
            "id": "helpdesk",
            "type": "synthetic",
            "system_prompt": "You are a helpdesk.",
            "state_params": {"state_schema": TICKETS_SCHEMA, "initial_state": {"tickets": []}},
            "tools": [CREATE, GET],
        }
        | extra
    )


def reply(output: Any, patch: list[dict[str, Any]] | None = None, tokens: int = 0) -> ModelResponse:
    body: dict[str, Any] = {"output": output}
    if patch is not None:
        body["patch"] = patch
    return ModelResponse(
        message=Message.assistant(json.dumps(body)),
        usage=Usage(requests=1, input_tokens=tokens, output_tokens=tokens),
    )


ADD_T1 = [{"op": "add", "path": "/tickets/-", "value": {"id": "T-1", "status": "open"}}]


async def call(envs: EnvironmentSet, name: str, args: dict[str, Any], context: StepContext | None = None) -> Any:
    return await envs.step(ToolCall.make(name, args, id="call_x"), context)


# --------------------------------------------------------------------------- stateless


async def test_prompt_carries_persona_contract_and_arguments() -> None:
    model = ScriptedModel([ScriptStep(reply({"user_id": "U-1"}), expect_role="environment")])
    envs = EnvironmentSet.build([directory()], model=model)
    result = await call(envs, "lookup_user", {"email": "a@b.c"}, StepContext(episode_id="ep-7"))
    assert result.ok and result.output == {"user_id": "U-1"} and result.attempts == 1
    request = model.requests[0]
    assert request.context.role == "environment" and request.context.episode_id == "ep-7"
    system, user = request.messages
    assert system.role == "system" and system.content.startswith("You are ACME's user directory.")
    # The stable part (persona, every tool contract) leads; the call itself comes last.
    for needle in ('"name": "lookup_user"', "Find a user by email.", '"output_schema"'):
        assert needle in system.content
    assert "Tool call: `lookup_user`" in user.content and '"email": "a@b.c"' in user.content
    assert request.cache_prefix == 1
    assert "Current state" not in user.content
    assert request.response_schema is not None and "output" in request.response_schema["properties"]
    assert "patch" not in request.response_schema["properties"]  # stateless tools are not offered a patch


async def test_history_is_shown_only_when_configured() -> None:
    history = [
        Message.system("assistant instructions"),
        Message.user("I am Ana, ana@example.com"),
        Message.assistant(None, [ToolCall.make("lookup_user", {"email": "ana@example.com"}, id="c0")]),
        Message.tool("c0", '{"user_id": "U-9"}', name="lookup_user"),
    ]
    context = StepContext(history=history)
    for include, expected in ((True, True), (False, False)):
        model = ScriptedModel([reply({"user_id": "U-9"})])
        envs = EnvironmentSet.build([directory(include_history=include)], model=model)
        await call(envs, "lookup_user", {"email": "ana@example.com"}, context)
        prompt = model.requests[0].messages[-1].content or ""
        assert ("I am Ana, ana@example.com" in prompt) is expected
        assert "assistant instructions" not in prompt


async def test_bad_replies_are_re_asked_with_the_exact_problem_and_usage_is_summed() -> None:
    model = ScriptedModel(
        [
            ModelResponse(message=Message.assistant("sure thing!"), usage=Usage(requests=1, input_tokens=5)),
            reply({"uid": 3}, tokens=7),
            reply({"user_id": "U-1"}, tokens=11),
        ]
    )
    envs = EnvironmentSet.build([directory()], model=model)
    result = await call(envs, "lookup_user", {"email": "a@b.c"})
    assert result.ok and result.output == {"user_id": "U-1"} and result.attempts == 3
    assert result.usage is not None and result.usage.requests == 3 and result.usage.input_tokens == 23
    second = model.requests[1].messages
    assert second[-2].role == "assistant" and second[-2].content == "sure thing!"
    assert "not valid JSON" in (second[-1].content or "")
    third = model.requests[2].messages
    assert "at /: 'user_id' is a required property" in (third[-1].content or "")
    assert envs.usage.requests == 3


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"result": 1}', "unexpected key (allowed: output, patch)"),
        ("[1, 2]", "must be a JSON object"),
        ('{"output": {"user_id": "U"}, "patch": [{"op": "add", "path": "/x", "value": 1}]}', "has no state"),
    ],
)
async def test_after_max_attempts_the_step_is_an_error_saying_what_failed(text: str, problem: str) -> None:
    model = ScriptedModel([text, text])
    envs = EnvironmentSet.build([directory(max_attempts=2)], model=model)
    result = await call(envs, "lookup_user", {"email": "a@b.c"})
    assert not result.ok and result.attempts == 2
    assert "'lookup_user' gave no valid reply in 2 attempt(s)" in (result.error or "")
    assert problem in (result.error or "")
    model.assert_consumed()


async def test_bad_arguments_never_reach_the_model() -> None:
    model = ScriptedModel([])
    envs = EnvironmentSet.build([directory()], model=model)
    result = await call(envs, "lookup_user", {"mail": "a@b.c"})
    assert "'email' is a required property" in (result.error or "")
    assert model.requests == []


async def test_model_failures_propagate() -> None:
    model = ScriptedModel([RateLimitError("slow down", status=429)])
    envs = EnvironmentSet.build([directory()], model=model)
    with pytest.raises(RateLimitError):
        await call(envs, "lookup_user", {"email": "a@b.c"})


def test_synthetic_environment_without_a_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"'directory' is synthetic .* no model was given") as info:
        EnvironmentSet.build([directory()])
    assert info.value.location == "environments[0]"


# --------------------------------------------------------------------------- stateful


async def test_stateful_model_sees_state_and_its_patch_is_applied() -> None:
    model = ScriptedModel([reply({"id": "T-1"}, ADD_T1), reply({"id": "T-1", "status": "open"}, [])])
    envs = EnvironmentSet.build([helpdesk()], model=model)
    created = await call(envs, "create_ticket", {"subject": "printer"})
    assert created.ok and created.patch == ADD_T1
    assert envs.states() == {"helpdesk": {"tickets": [{"id": "T-1", "status": "open"}]}}
    assert created.state_hash == envs.environments["helpdesk"].state_hash  # type: ignore[attr-defined]
    fetched = await call(envs, "get_ticket", {"id": "T-1"})
    assert fetched.patch == [] and fetched.state_hash == created.state_hash
    prompt = model.requests[1].messages[-1].content or ""
    assert "Current state" in prompt and '"T-1"' in prompt and "State schema" in model.requests[1].messages[0].content
    assert "patch" in (model.requests[0].response_schema or {})["properties"]
    assert "(read-only: the patch must be [])" in prompt
    assert model.requests[1].messages[0] == model.requests[0].messages[0]  # one cacheable prefix for all tools


@pytest.mark.parametrize(
    ("bad_patch", "reason"),
    [
        ([{"op": "remove", "path": "/tickets/5"}], "does not apply to the current state"),
        ([{"op": "add", "path": "/tickets/-", "value": {"id": "T-1", "status": "lost"}}], "state schema"),
        ([{"op": "jump", "path": "/tickets"}], "invalid operation"),
    ],
)
async def test_rejected_patches_are_re_asked_with_the_reason(bad_patch: list[dict[str, Any]], reason: str) -> None:
    model = ScriptedModel([reply({"id": "T-1"}, bad_patch), reply({"id": "T-1"}, ADD_T1)])
    envs = EnvironmentSet.build([helpdesk()], model=model)
    result = await call(envs, "create_ticket", {"subject": "printer"})
    assert result.ok and result.attempts == 2 and result.patch == ADD_T1
    assert reason in (model.requests[1].messages[-1].content or "")


async def test_read_only_tool_proposing_a_change_is_rejected_and_state_untouched() -> None:
    model = ScriptedModel([reply({"id": "T-1"}, ADD_T1)] * 3)
    envs = EnvironmentSet.build([helpdesk()], model=model)
    before = envs.states()
    result = await call(envs, "get_ticket", {"id": "T-1"})
    assert not result.ok and "read-only" in (result.error or "") and result.attempts == 3
    assert result.patch == [] and envs.states() == before


async def test_output_schema_is_enforced_for_stateful_tools_too() -> None:
    config = helpdesk()
    config.tools[0].output_schema = {"type": "object", "required": ["id"]}
    model = ScriptedModel([reply("created", ADD_T1), reply({"id": "T-1"}, ADD_T1)])
    envs = EnvironmentSet.build([config], model=model)
    result = await call(envs, "create_ticket", {"subject": "x"})
    assert result.ok and result.attempts == 2
    assert "output_schema" in (model.requests[1].messages[-1].content or "")
    assert envs.states()["helpdesk"]["tickets"] == [{"id": "T-1", "status": "open"}]  # applied once


async def test_initial_state_is_never_shared_between_conversations() -> None:
    model = ScriptedModel([reply({"id": "T-1"}, ADD_T1)])
    first = EnvironmentSet.build([helpdesk()], model=model)
    await call(first, "create_ticket", {"subject": "x"})
    second = EnvironmentSet.build([helpdesk()], model=model)
    assert second.states() == {"helpdesk": {"tickets": []}}


# --------------------------------------------------------------------------- cache_by_input


async def test_cache_persists_across_environment_sets_and_skips_the_model(tmp_path: Path) -> None:
    model = ScriptedModel([reply({"user_id": "U-1"})])
    cfg = directory(cache_by_input=True)
    first = await call(EnvironmentSet.build([cfg], model=model, cache_dir=tmp_path), "lookup_user", {"email": "a@b"})
    again = EnvironmentSet.build([cfg], model=model, cache_dir=tmp_path)
    second = await call(again, "lookup_user", {"email": "a@b"})
    assert not first.cached and second.cached and second.output == {"user_id": "U-1"}
    assert second.usage is not None and second.usage.requests == 0 and second.usage.cache_hits == 1
    assert len(model.requests) == 1
    assert list(tmp_path.iterdir())  # on disk, not in memory


async def test_cache_misses_on_other_arguments_and_never_stores_failures(tmp_path: Path) -> None:
    model = ScriptedModel(["junk", reply({"user_id": "U-2"}), reply({"user_id": "U-1"})])
    envs = EnvironmentSet.build([directory(cache_by_input=True, max_attempts=1)], model=model, cache_dir=tmp_path)
    failed = await call(envs, "lookup_user", {"email": "a@b"})
    other = await call(envs, "lookup_user", {"email": "z@b"})
    retried = await call(envs, "lookup_user", {"email": "a@b"})
    assert not failed.ok and not other.cached and not retried.cached and retried.output == {"user_id": "U-1"}
    model.assert_consumed()


async def test_cache_key_of_stateful_tools_includes_the_state(tmp_path: Path) -> None:
    calls: list[ModelRequest] = []

    def backend(request: ModelRequest) -> str:
        calls.append(request)
        state = json.loads((request.messages[-1].content or "").split("Current state:\n")[1].split("\n\nCall")[0])
        n = len(state["tickets"])
        if "Tool call: `get_ticket`" in (request.messages[-1].content or ""):
            return json.dumps({"output": {"count": n}})
        patch = [{"op": "add", "path": "/tickets/-", "value": {"id": f"T-{n}", "status": "open"}}]
        return json.dumps({"output": {"id": f"T-{n}"}, "patch": patch})

    model = FunctionModel(backend)
    envs = EnvironmentSet.build([helpdesk(cache_by_input=True)], model=model, cache_dir=tmp_path)
    assert (await call(envs, "get_ticket", {"id": "x"})).output == {"count": 0}
    assert (await call(envs, "get_ticket", {"id": "x"})).cached
    created = await call(envs, "create_ticket", {"subject": "s"})
    after = await call(envs, "get_ticket", {"id": "x"})
    assert not after.cached and after.output == {"count": 1}  # state changed: no stale answer
    # A fresh conversation starts from the initial state again: the cached create replays with its patch.
    replay = EnvironmentSet.build([helpdesk(cache_by_input=True)], model=model, cache_dir=tmp_path)
    again = await call(replay, "create_ticket", {"subject": "s"})
    assert again.cached and again.patch == created.patch and replay.states() == envs.states()
    assert len(calls) == 3


def test_reply_model_shape() -> None:
    assert SyntheticReply.model_validate({"output": None}).patch == []
    with pytest.raises(ValueError):
        SyntheticReply.model_validate({"patch": []})


async def test_cache_directory_is_created_only_when_used(tmp_path: Path) -> None:
    target = tmp_path / "tools"
    model = ScriptedModel([reply({"user_id": "U-1"})])
    envs = EnvironmentSet.build([directory(cache_by_input=True)], model=model, cache_dir=target)
    assert not target.exists()
    await call(envs, "lookup_user", {"email": "a@b"})
    assert target.exists()


async def test_concurrent_calls_on_a_stateful_environment_see_each_others_changes() -> None:
    import asyncio

    async def backend(request: ModelRequest) -> str:
        prompt = request.messages[-1].content or ""
        n = len(json.loads(prompt.split("Current state:\n")[1].split("\n\nCall")[0])["tickets"])
        await asyncio.sleep(0.01)  # both calls are in flight at once
        patch = [{"op": "add", "path": "/tickets/-", "value": {"id": f"T-{n}", "status": "open"}}]
        return json.dumps({"output": {"id": f"T-{n}"}, "patch": patch})

    envs = EnvironmentSet.build([helpdesk()], model=FunctionModel(backend))
    first, second = await asyncio.gather(
        envs.step(ToolCall.make("create_ticket", {}, id="a")), envs.step(ToolCall.make("create_ticket", {}, id="b"))
    )
    assert {first.output["id"], second.output["id"]} == {"T-0", "T-1"}
    assert [t["id"] for t in envs.states()["helpdesk"]["tickets"]] == ["T-0", "T-1"]
