"""Which batch API a task uses: a serialisable spec (saved with the task) and the backend it builds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from envsim.errors import ConfigError
from envsim.models.batch.backend import BatchBackend

Provider = Literal["openai", "azure", "anthropic"]


class BackendSpec(BaseModel):
    """Never holds a key: `api_key_env` names the variable to read it from when the task runs."""

    model_config = ConfigDict(extra="forbid")

    provider: Provider
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    azure_api_version: str | None = None  # provider azure: the API version of the deployment

    @classmethod
    def parse(cls, model: str, *, base_url: str | None = None, api_key_env: str | None = None) -> BackendSpec:
        """From an envsim model string: `openai:gpt-4o-mini`, `anthropic:claude-haiku-4-5`,
        `openai:name@http://host:port/v1`."""
        provider, sep, rest = model.partition(":")
        if not sep or provider not in ("openai", "azure", "anthropic"):
            raise ConfigError(
                f"batch inference needs an openai:, azure: or anthropic: model, got {model!r}",
                hint="e.g. --model openai:gpt-4o-mini or --model anthropic:claude-haiku-4-5",
            )
        name, at, url = rest.partition("@")
        return cls(provider=provider, model=name, base_url=url if at else base_url, api_key_env=api_key_env)  # type: ignore[arg-type]


def create_backend(spec: BackendSpec) -> BatchBackend:
    if spec.provider == "anthropic":
        from envsim.models.anthropic_provider import AnthropicChatModel
        from envsim.models.batch.anthropic_batch import AnthropicBatchBackend

        model = AnthropicChatModel(
            spec.model, base_url=spec.base_url, api_key_env=spec.api_key_env or "ANTHROPIC_API_KEY"
        )
        return AnthropicBatchBackend(model)
    from envsim.models.batch.openai_batch import OpenAIBatchBackend
    from envsim.models.openai_provider import OpenAIChatModel

    default_env = "AZURE_OPENAI_API_KEY" if spec.provider == "azure" else "OPENAI_API_KEY"
    if spec.provider == "azure" and not (spec.base_url and spec.azure_api_version):
        raise ConfigError(
            "an azure batch backend needs the resource endpoint (base_url) and azure_api_version",
            hint="e.g. base_url https://NAME.openai.azure.com and azure_api_version 2024-10-21",
        )
    openai_model = OpenAIChatModel(spec.model, base_url=spec.base_url, api_key_env=spec.api_key_env or default_env)
    return OpenAIBatchBackend(openai_model, azure_api_version=spec.azure_api_version)
