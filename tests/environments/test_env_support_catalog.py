"""The shipped support catalog (environments/support.yaml) is valid and works end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from envsim.config.models import EnvironmentCatalog, EnvironmentType
from envsim.environments import EnvironmentSet
from envsim.environments.schema import check_schema, fill_defaults, schema_errors
from envsim.messages import ToolCall
from envsim.testing import ScriptedModel

CATALOG = Path(__file__).resolve().parents[2] / "environments" / "support.yaml"


def load() -> EnvironmentCatalog:
    return EnvironmentCatalog.model_validate(yaml.safe_load(CATALOG.read_text(encoding="utf-8")))


def test_catalog_is_internally_consistent() -> None:
    catalog = load()
    envs = {e.id: e for e in catalog.environments}
    assert list(envs) == ["support_backend", "faq", "policy_table"]
    backend, faq, policy = envs["support_backend"], envs["faq"], envs["policy_table"]
    assert backend.type is EnvironmentType.SYNTHETIC and backend.state_params is not None
    assert faq.type is EnvironmentType.SYNTHETIC and faq.cache_by_input and faq.state_params is None
    assert policy.type is EnvironmentType.DETERMINISTIC and "default_output" in policy.tools[0].model_fields_set
    read_only = {t.id: t.read_only for t in backend.tools}
    assert read_only == {
        "create_ticket": False,
        "get_ticket": True,
        "update_ticket_status": False,
        "list_user_tickets": True,
        "get_user": True,
    }
    assert check_schema(backend.state_params.state_schema) == []
    assert schema_errors(backend.state_params.state_schema, backend.state_params.initial_state) == []
    for env in catalog.environments:
        for tool in env.tools:
            assert tool.description and tool.output_schema, tool.id
            assert check_schema(tool.parameters) == [] and check_schema(tool.output_schema) == []
            for row in tool.deterministic_outputs:
                assert schema_errors(tool.parameters, fill_defaults(tool.parameters, row.input)) == []
                assert schema_errors(tool.output_schema, row.output) == []
            if "default_output" in tool.model_fields_set:
                assert schema_errors(tool.output_schema, tool.default_output) == []


async def test_a_ticket_flow_against_the_support_backend() -> None:
    new_ticket = {
        "ticket_id": "T-1006",
        "user_id": "U-0002",
        "subject": "Export fails",
        "description": "502 again",
        "status": "open",
        "priority": "normal",
        "category": "technical",
        "created_at": "2024-03-14T10:00:00Z",
        "updated_at": "2024-03-14T10:00:00Z",
    }
    created_output = {k: new_ticket[k] for k in ("ticket_id", "user_id", "subject", "status", "priority", "category")}
    created_output["created_at"] = new_ticket["created_at"]
    model = ScriptedModel(
        [
            json.dumps(
                {
                    "output": created_output,
                    "patch": [
                        {"op": "add", "path": "/tickets/T-1006", "value": new_ticket},
                        {"op": "replace", "path": "/next_ticket_number", "value": 1007},
                    ],
                }
            ),
            json.dumps({"output": {"user_id": "U-0002", "tickets": []}, "patch": []}),
        ]
    )
    envs = EnvironmentSet.build(load().environments, model=model, only=["support_backend", "policy_table"])
    args = {"user_id": "U-0002", "subject": "Export fails", "description": "502 again", "category": "technical"}
    created = await envs.step(ToolCall.make("create_ticket", args))
    assert created.ok and created.arguments["priority"] == "normal"  # schema default filled
    state = envs.states()["support_backend"]
    assert state["tickets"]["T-1006"]["status"] == "open" and state["next_ticket_number"] == 1007
    listed = await envs.step(ToolCall.make("list_user_tickets", {"user_id": "U-0002"}))
    assert listed.ok and listed.patch == []
    policy = await envs.step(ToolCall.make("get_refund_policy", {"policy_type": "standard"}))
    assert policy.output["region"] == "US" and policy.output["refund_window_days"] == 30
    fallback = await envs.step(ToolCall.make("get_refund_policy", {"policy_type": "enterprise", "region": "UK"}))
    assert fallback.ok and fallback.output["policy_type"] == "general"
    bad = await envs.step(ToolCall.make("get_refund_policy", {"policy_type": "lifetime"}))
    assert "is not one of" in (bad.error or "")


@pytest.mark.parametrize("status", ["archived", None])
async def test_update_ticket_status_arguments_are_checked(status: str | None, tmp_path: Path) -> None:
    envs = EnvironmentSet.build(load().environments, model=ScriptedModel([]), cache_dir=tmp_path)
    args = {"ticket_id": "T-1001"} | ({"status": status} if status else {})
    result = await envs.step(ToolCall.make("update_ticket_status", args))
    assert not result.ok and "status" in (result.error or "")
