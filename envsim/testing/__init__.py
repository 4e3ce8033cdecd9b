"""Public test doubles: scripted and function models, and (see `fake_server`) a fake HTTP model server."""

from envsim.testing.scripted import FunctionModel, ScriptedModel, ScriptStep

__all__ = ["FunctionModel", "ScriptStep", "ScriptedModel"]
