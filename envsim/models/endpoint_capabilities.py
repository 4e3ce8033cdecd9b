"""What one endpoint accepts right now: its profile, the config's settings, and what it refused so far.

`EndpointCapabilities` answers the provider's questions while it builds a request (which structured-output
mechanism, which `tool_choice`, whether to send `seed` ...) and takes the endpoint's refusals: a parameter
the endpoint refused that the config left on `auto` falls back once to the next mechanism (remembered for
the endpoint, logged once); one the config asked for explicitly cannot fall back, and the refusal stops the
run with the config key that changes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Literal

from envsim.config.models import StructuredOutputSetting
from envsim.models.endpoint_profiles import EndpointProfile, StructuredOutput, ToolChoiceMode

log = logging.getLogger(__name__)

# Request parameters a refusal can name, and the feature each belongs to.
STRUCTURED_PARAMS = ("response_format", "json_schema", "guided_json")
Feature = Literal["structured_output", "tool_choice", "seed", "parallel_tool_calls", "tool_call_content"]


def feature_of(param: str) -> Feature | None:
    if param in STRUCTURED_PARAMS:
        return "structured_output"
    if param == "messages" or param.startswith("messages["):
        return "tool_call_content"  # the one thing about messages envsim can send differently
    if param in ("tool_choice", "seed", "parallel_tool_calls"):
        return param  # type: ignore[return-value]
    return None


@dataclass(frozen=True)
class EndpointSettings:
    """The config's say (a model section's `server`, `structured_output` and `features`); None = the
    profile decides and a refusal may correct it."""

    server: str | None = None
    structured_output: StructuredOutputSetting = "auto"
    tool_choice_modes: frozenset[ToolChoiceMode] | None = None
    explicit_tool_choice: bool | None = None
    seed: bool | None = None
    parallel_tool_calls: bool | None = None
    stream_options: bool | None = None
    usage_details: bool | None = None
    tool_call_content: Literal["null", "empty"] | None = None
    location: str = "inference_config.model"  # the config section, for messages

    def apply(self, profile: EndpointProfile) -> EndpointProfile:
        """The profile with the config's explicit choices laid over it."""
        changes: dict[str, object] = {}
        for name in (
            "explicit_tool_choice",
            "seed",
            "parallel_tool_calls",
            "stream_options",
            "usage_details",
            "tool_call_content",
        ):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value
        if self.tool_choice_modes is not None:
            changes["tool_choice_modes"] = self.tool_choice_modes
        if self.structured_output != "auto":
            changes["structured_output"] = (self.structured_output,)
        return replace(profile, **changes) if changes else profile

    def explicit(self, feature: Feature) -> bool:
        if feature == "structured_output":
            return self.structured_output != "auto"
        if feature == "tool_choice":
            return self.tool_choice_modes is not None
        return getattr(self, feature) is not None


@dataclass
class EndpointCapabilities:
    endpoint: str
    profile: EndpointProfile
    settings: EndpointSettings = field(default_factory=EndpointSettings)
    _structured_index: int = 0
    _fallbacks: list[str] = field(default_factory=list)
    _tried_content: bool = False

    def __post_init__(self) -> None:
        self.profile = self.settings.apply(self.profile)

    def use_profile(self, profile: EndpointProfile) -> None:
        """Switch to a detected server's profile (before the first request)."""
        self.profile = self.settings.apply(profile)
        self._structured_index = 0

    @property
    def structured_output(self) -> StructuredOutput:
        chain = self.profile.structured_output
        return chain[min(self._structured_index, len(chain) - 1)] if chain else "prompt"

    @property
    def fallbacks(self) -> list[str]:
        """One line per fallback taken so far, for logs and tests."""
        return list(self._fallbacks)

    def tool_choice_allows(self, mode: ToolChoiceMode) -> bool:
        return mode in self.profile.tool_choice_modes

    def fall_back(self, param: str) -> bool:
        """The endpoint refused `param`: move to the next way of asking, if the config allows it. True when
        the request should be built and sent again."""
        feature = feature_of(param)
        if feature is None or self.settings.explicit(feature):
            return False
        if feature == "structured_output":
            chain = self.profile.structured_output
            if self._structured_index >= len(chain) - 1:
                return False
            before = self.structured_output
            self._structured_index += 1
            return self._note(f"structured output {before} -> {self.structured_output}")
        if feature == "tool_choice":
            if not self.tool_choice_allows("required"):
                return False
            self.profile = replace(self.profile, tool_choice_modes=self.profile.tool_choice_modes - {"required"})
            return self._note("tool_choice required -> auto")
        if feature == "tool_call_content":
            if self.profile.tool_call_content == "empty" or self._tried_content:
                return False
            self._tried_content = True
            self.profile = replace(self.profile, tool_call_content="empty")
            return self._note('content of tool-call-only assistant messages null -> ""')
        if not getattr(self.profile, feature):
            return False
        self.profile = replace(self.profile, **{feature: False})
        return self._note(f"{feature} no longer sent")

    def _note(self, change: str) -> bool:
        line = f"{self.endpoint} refused a request parameter; {change} for this endpoint from now on"
        self._fallbacks.append(line)
        log.warning("%s (set it in %s to choose yourself; see docs/servers.md)", line, self.settings.location)
        return True
