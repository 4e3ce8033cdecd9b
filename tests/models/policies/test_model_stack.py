"""The composed stack and the per-role models built from an inference config."""

from __future__ import annotations

from pathlib import Path

import pytest

from envsim.config.models import CacheConfig, InferenceConfig, ModelSpec, RemoteParams, RoleModels
from envsim.errors import CircuitOpenError, ConfigError, ModelAuthError, RateLimitError
from envsim.messages import Message
from envsim.models.base import ModelRequest, ModelResponse, RequestContext, Usage
from envsim.models.cache import ResponseCache
from envsim.models.limits import EndpointKey
from envsim.models.retry import RetryPolicy
from envsim.models.stack import ModelPolicies, build_model_stack, build_role_models
from envsim.testing import FunctionModel

REPLY_MODULE = """
from envsim.models.base import ModelResponse, Usage
from envsim.messages import Message

def reply(request):
    text = "from " + request.context.role
    return ModelResponse(message=Message.assistant(text), usage=Usage(requests=1, input_tokens=5))
"""


def _request(role: str | None = None, episode: str = "ep1", text: str = "hi") -> ModelRequest:
    return ModelRequest(messages=[Message.user(text)], context=RequestContext(role=role, episode_id=episode))


@pytest.fixture
def reply_dir(tmp_path: Path) -> Path:
    (tmp_path / "replies.py").write_text(REPLY_MODULE, encoding="utf-8")
    return tmp_path


def test_roles_use_overrides_else_the_default(reply_dir: Path) -> None:
    config = InferenceConfig(
        model=ModelSpec(model_name="function:replies.py:reply"),
        roles=RoleModels(planner=ModelSpec(model_name="mock:planner")),
    )
    models = build_role_models(config, base_dir=reply_dir, no_cache=True)
    assert set(models) == {"planner", "user", "assistant", "environment", "attribute"}
    assert models["planner"].name == "mock:planner"
    assert models["user"].name == models["environment"].name == "function:replies.py:reply"


def test_model_override_replaces_the_default_but_not_role_overrides(reply_dir: Path) -> None:
    config = InferenceConfig(
        model=ModelSpec(model_name="gpt-4o-mini", engine="OPENAI"),
        roles=RoleModels(user=ModelSpec(model_name="mock:user")),
    )
    models = build_role_models(config, base_dir=reply_dir, no_cache=True, model_override="mock:fast")
    assert models["assistant"].name == "mock:fast" and models["user"].name == "mock:user"


def test_bad_model_strings_name_where_they_came_from() -> None:
    bad_user = RoleModels(user=ModelSpec(model_name="nope:x"))
    config = InferenceConfig(model=ModelSpec(model_name="mock:x"), roles=bad_user)
    with pytest.raises(ConfigError) as raised:
        build_role_models(config, no_cache=True)
    assert "inference_config.roles.user" in str(raised.value)
    with pytest.raises(ConfigError, match="--model"):
        build_role_models(InferenceConfig(model=ModelSpec(model_name="mock:x")), no_cache=True, model_override="zz")


async def test_roles_share_one_stack_and_usage_lands_per_role(reply_dir: Path) -> None:
    config = InferenceConfig(model=ModelSpec(model_name="function:replies.py:reply"))
    models = build_role_models(config, base_dir=reply_dir, no_cache=True)
    assert len(models.stacks) == 1
    assert (await models["user"].generate(_request())).text == "from user"  # role filled in when missing
    await models["assistant"].generate(_request(role="assistant"))
    await models["assistant"].generate(_request(role="assistant", episode="ep2"))
    by_role = models.tracker.by_role()
    assert by_role["user"].input_tokens == 5 and by_role["assistant"].requests == 2
    assert models.tracker.episode("ep1").keys() == {"user", "assistant"}
    models.episode_finished("ep1")
    assert models.tracker.episode("ep1") == {}
    await models.aclose()


async def test_cache_is_shared_located_and_replays_without_rate_budget(reply_dir: Path) -> None:
    config = InferenceConfig(
        model=ModelSpec(model_name="function:replies.py:reply"), cache=CacheConfig(path="my-cache")
    )
    models = build_role_models(config, base_dir=reply_dir)
    assert models.cache is not None and models.cache.directory == reply_dir / "my-cache"
    first = await models["user"].generate(_request(role="user"))
    models.episode_finished("ep1")
    limiter = models.limiters.get(EndpointKey.parse("function:replies.py:reply"))
    before = limiter.requests
    again = await models["user"].generate(_request(role="user"))
    assert again.cached and again.text == first.text
    assert limiter.requests == before  # a hit never touches the limiter
    assert models.tracker.total().cache_hits == 1
    await models.aclose()

    explicit = build_role_models(config, base_dir=reply_dir, cache_dir=reply_dir / "elsewhere")
    assert explicit.cache is not None and explicit.cache.directory == reply_dir / "elsewhere"
    await explicit.aclose()
    disabled = InferenceConfig(model=ModelSpec(model_name="mock:x"), cache=CacheConfig(enabled=False))
    assert build_role_models(disabled, base_dir=reply_dir).cache is None


async def test_every_retry_attempt_goes_through_the_limiter() -> None:
    outcomes: list[BaseException | str] = [RateLimitError("429", status=429, retry_after=0.01)] * 2 + ["ok"]

    def reply(request: ModelRequest) -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    policies = ModelPolicies(retry=RetryPolicy(initial_delay=0.001))
    model = build_model_stack(FunctionModel(reply, name="openai:m@http://127.0.0.1:1/v1"), policies=policies)
    response = await model.generate(_request(role="user"))
    assert response.text == "ok" and response.call is not None and response.call.attempts == 3
    limiter = policies.limiters.get(EndpointKey.parse("openai:m@http://127.0.0.1:1/v1"))
    assert limiter.requests == 3 and limiter.overloads == 2


async def test_auth_failure_stops_at_once_through_the_whole_stack(tmp_path: Path) -> None:
    inner = FunctionModel(lambda r: (_ for _ in ()).throw(ModelAuthError("invalid key", status=401)), name="openai:m")
    policies = ModelPolicies(cache=ResponseCache(tmp_path))
    model = build_model_stack(inner, policies=policies)
    with pytest.raises(CircuitOpenError, match="refused the credentials"):
        await model.generate(_request(role="user"))
    with pytest.raises(CircuitOpenError):
        await model.generate(_request(role="user", text="another"))
    assert inner.calls == 1 and len(policies.cache or []) == 0


async def test_policies_follow_remote_params() -> None:
    config = InferenceConfig(
        model=ModelSpec(model_name="mock:x"),
        remote_params=RemoteParams(num_workers=3, max_retries=2, requests_per_minute=120, politeness_policy=0.5),
        prices={"mock:x": {"input": 1.0, "output": 1.0}},
    )
    policies = ModelPolicies.from_config(config)
    assert policies.retry.max_attempts == 3
    settings = policies.limiters.settings
    assert (settings.max_concurrency, settings.requests_per_minute, settings.politeness_s) == (3, 120, 0.5)
    model = build_model_stack(ModelSpec(model_name="mock:x"), inference_config=config, policies=policies)
    response = await model.generate(_request(role="user"))
    assert response.usage.cost_usd is not None and response.usage.cost_usd > 0


async def test_prices_make_it_into_the_response_usage() -> None:
    inner = FunctionModel(
        lambda r: ModelResponse(message=Message.assistant("x"), usage=Usage(requests=1, input_tokens=1_000_000)),
        name="openai:gpt-4o-mini",
    )
    response = await build_model_stack(inner).generate(_request(role="user"))
    assert response.usage.cost_usd == pytest.approx(0.15)
