"""A fake HTTP model server speaking the OpenAI Chat Completions and Anthropic Messages wire formats.

See `server.py` for the API (`FakeModelServer`), `faults.py` for fault injection (`FaultPlan`).
"""

from envsim.testing.fake_server.faults import FAULT_KINDS, FaultPlan
from envsim.testing.fake_server.server import FakeModelServer, RequestLogEntry, ServerProcess

__all__ = ["FAULT_KINDS", "FakeModelServer", "FaultPlan", "RequestLogEntry", "ServerProcess"]
