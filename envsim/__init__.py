"""envsim: simulate multi-turn, tool-using conversations against environments."""

from envsim.environments import EnvironmentSet, StepContext, StepResult, ToolResult, tool
from envsim.errors import ConfigError, EnvsimError, ModelError
from envsim.messages import Message, ToolCall, ToolSpec
from envsim.models.base import ChatModel, GenerationParams, ModelRequest, ModelResponse, Usage

__version__ = "0.1.0"

# Running configs pulls in every layer; load it on first use so `import envsim` stays light.
_LAZY = {
    "run": "envsim.api",
    "run_config": "envsim.api",
    "RunSummary": "envsim.api",
    "RunPlan": "envsim.runs.plan",
    "plan_run": "envsim.runs.plan",
    "execute_plan": "envsim.runs.execute",
    "load_config": "envsim.config.loader",
    "SynthConfig": "envsim.config.models",
    "create_model": "envsim.models.registry",
    "structured_call": "envsim.models.structured",
    "Trace": "envsim.recording.trace",
    "RunDirectory": "envsim.recording.run_dir",
    "export_run": "envsim.recording.exporters",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'envsim' has no attribute {name!r}")


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
    "RunDirectory",
    "RunPlan",
    "RunSummary",
    "StepContext",
    "StepResult",
    "SynthConfig",
    "ToolCall",
    "ToolResult",
    "ToolSpec",
    "Trace",
    "Usage",
    "__version__",
    "create_model",
    "execute_plan",
    "export_run",
    "load_config",
    "plan_run",
    "run",
    "run_config",
    "structured_call",
    "tool",
]
