"""`status.json`: where a run stands (state, counts, a short detail list), rewritten atomically."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class RunState(StrEnum):
    QUEUED = "QUEUED"  # directory created, nothing simulated yet
    RUNNING = "RUNNING"
    DONE = "DONE"
    ERROR = "ERROR"  # the run as a whole failed (not: some episodes failed)
    CANCELLED = "CANCELLED"  # stopped by the user (Ctrl-C); resumable

    @property
    def terminal(self) -> bool:
        return self in (RunState.DONE, RunState.ERROR, RunState.CANCELLED)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RunStatus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: RunState = RunState.QUEUED
    done: int = 0  # finished successfully
    failed: int = 0  # finished as failed episodes
    in_flight: int = 0
    total: int | None = None  # episodes the run will have when complete (None: not known yet)
    detailed_status: list[str] = Field(default_factory=list)
    updated_at: str = Field(default_factory=now_iso)
    # Who wrote this status: lets `envsim status` tell a live RUNNING run from one whose process died.
    pid: int | None = None
    host: str | None = None

    @classmethod
    def current(cls, state: RunState, **fields: object) -> RunStatus:
        return cls(state=state, pid=os.getpid(), host=socket.gethostname(), **fields)  # type: ignore[arg-type]

    def is_stale(self) -> bool:
        """RUNNING, written on this host by a process that no longer exists (killed or crashed)."""
        if self.state is not RunState.RUNNING or self.pid is None or self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
