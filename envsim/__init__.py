"""envsim: simulate multi-turn, tool-using conversations against environments."""

from envsim.environments import EnvironmentSet, StepContext, StepResult, ToolResult, tool
from envsim.errors import ConfigError, EnvsimError, ModelError
from envsim.messages import Message, ToolCall, ToolSpec
from envsim.models.base import ChatModel, GenerationParams, ModelRequest, ModelResponse, Usage

__version__ = "0.1.0"

__all__ = [
    "ChatModel",
    "ConfigError",
    "EnvironmentSet",
    "EnvsimError",
    "GenerationParams",
    "Message",
    "ModelError",
    "ModelRequest",
    "ModelResponse",
    "StepContext",
    "StepResult",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "Usage",
    "__version__",
    "tool",
]
