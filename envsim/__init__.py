"""envsim: simulate multi-turn, tool-using conversations against environments."""

from envsim.errors import ConfigError, EnvsimError, ModelError
from envsim.messages import Message, ToolCall, ToolSpec
from envsim.models.base import ChatModel, GenerationParams, ModelRequest, ModelResponse, Usage

__version__ = "0.1.0"

__all__ = [
    "ChatModel",
    "ConfigError",
    "EnvsimError",
    "GenerationParams",
    "Message",
    "ModelError",
    "ModelRequest",
    "ModelResponse",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "__version__",
]
