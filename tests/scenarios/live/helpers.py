"""Live scenario catalogs over the shipped retail domain, played by a deterministic function model.

The assistant (`replies.py:reply`) reads its orders from the system prompt, which the scenario's
attributes fill (`Mode: {mode}. Order: {order}.`):
- `cancel`: cancels the order, then says so: every expectation of a cancel scenario holds;
- `chat`: only talks: the cancel expectations fail on every trial;
- `odd`: acts like `cancel` on odd trials (read from the episode id) and like `chat` on the others.
The user always asks for help; the planner is the mock model.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
RETAIL_CATALOG = REPO / "environments" / "retail" / "retail.yaml"

REPLIES = """
import re

from envsim.messages import Message, ToolCall
from envsim.models.mock import MockModel

_mock = MockModel("planner")


def reply(request):
    role = request.context.role
    if role == "planner":
        return _mock.reply(request)
    if role == "user":
        return "Hello, I need help with my order."
    system = request.messages[0].content or ""
    mode = re.search(r"Mode: (\\w+)", system).group(1)
    order = re.search(r"Order: (#W\\d+)", system).group(1)
    trial = int(request.context.episode_id.rpartition("-t")[2]) if "-t" in request.context.episode_id else 0
    acts = mode == "cancel" or (mode == "odd" and trial % 2 == 1)
    called = any(m.role == "tool" for m in request.messages)
    if acts and not called:
        call = ToolCall.make("cancel_pending_order", {"order_id": order, "reason": "no longer needed"}, id="call_1")
        return Message.assistant(None, [call])
    if acts:
        return f"Order {order} is cancelled."
    return "How can I help you today?"
"""


def cancel_scenario(scenario_id: str, mode: str, order: str = "#W1001", **extra: Any) -> dict[str, Any]:
    """A scenario whose expectations hold exactly when `order` ends up cancelled and the assistant says so."""
    return {
        "id": scenario_id,
        "attributes": {"mode": mode, "order": order},
        "expect": {
            "state": [{"path": f"/orders/{order}/status", "equals": "cancelled"}],
            "tools_called": [{"name": "cancel_pending_order", "arguments": {"order_id": order}, "outcome": "success"}],
            "communicates": ["cancelled"],
        },
        **extra,
    }


def catalog_document(
    scenarios: list[dict[str, Any]], *, model: str | None = "function:replies.py:reply", multiturn: bool = True
) -> dict[str, Any]:
    document: dict[str, Any] = {"environment_config_path": str(RETAIL_CATALOG), "seed": 7}
    if model is not None:
        document["inference_config"] = {"model": {"model_name": model}, "remote_params": {"num_workers": 3}}
    if multiturn:
        document["multiturn"] = {
            "id": "retail_chat",
            "min_turns": 1,
            "max_turns": 1,
            "output_system_prompt": "Mode: {mode}. Order: {order}.",
            "role_instruction_messages": {"USER": "You want help with {order}.", "ASSISTANT": "Help."},
        }
    document["scenarios"] = scenarios
    return document


def write_catalog(folder: Path, scenarios: list[dict[str, Any]], name: str = "live.yaml", **kwargs: Any) -> Path:
    """A catalog file (and the assistant's replies.py next to it) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "replies.py").write_text(textwrap.dedent(REPLIES), encoding="utf-8")
    path = folder / name
    path.write_text(yaml.safe_dump(catalog_document(scenarios, **kwargs), sort_keys=False), encoding="utf-8")
    return path
