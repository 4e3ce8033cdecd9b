"""The live run display: redrawn from progress callbacks, with no thread of its own (so worker
processes can be forked while it shows)."""

from __future__ import annotations

import io
import threading

import pytest
from rich.console import Console

from envsim.simulation import progress as progress_module
from envsim.simulation.progress import LiveRunDisplay
from envsim.simulation.runner import RunProgress


def test_the_display_runs_no_thread_and_redraws_on_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    display = LiveRunDisplay(Console(file=out, force_terminal=True, width=100), title="envsim run demo")
    threads = threading.active_count()
    monkeypatch.setattr(progress_module, "MIN_REDRAW_S", 0.0)
    with display:
        assert threading.active_count() == threads
        display.update(RunProgress(total=10, done=7, failed=1, in_flight=2))
        assert "7" in out.getvalue()
        redrawn = len(out.getvalue())
        monkeypatch.setattr(progress_module, "MIN_REDRAW_S", 3600.0)
        display.update(RunProgress(total=10, done=8, failed=1, in_flight=1))
        assert len(out.getvalue()) == redrawn  # throttled: no redraw within MIN_REDRAW_S
    assert threading.active_count() == threads
