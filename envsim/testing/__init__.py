"""Public test doubles: scripted and function models, and (see `fake_server`) a fake HTTP model server."""

from envsim.testing.fake_server import FakeModelServer, FaultPlan
from envsim.testing.scripted import FunctionModel, ScriptedModel, ScriptStep

__all__ = ["FakeModelServer", "FaultPlan", "FunctionModel", "ScriptStep", "ScriptedModel"]
