"""Small catalogs over the shipped retail domain, written by tests into tmp_path."""

from __future__ import annotations

from pathlib import Path

import yaml


def write_catalog(path: Path, environment: Path, scenarios: list[dict], **extra: object) -> Path:
    document = {"environment_config_path": str(environment), **extra, "scenarios": scenarios}
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def cancel_scenario(scenario_id: str = "cancel", **expect: object) -> dict:
    """Authenticate Maya, cancel her pending order #W1001, say so."""
    return {
        "id": scenario_id,
        "script": [
            {"user": "Cancel #W1001 please, maya.okafor@example.com"},
            {
                "assistant": {
                    "rounds": [
                        [{"name": "find_user_id_by_email", "arguments": {"email": "maya.okafor@example.com"}}],
                        [
                            {
                                "name": "cancel_pending_order",
                                "arguments": {"order_id": "#W1001", "reason": "no longer needed"},
                            }
                        ],
                    ],
                    "text": "Order #W1001 is cancelled; $104.98 will be refunded.",
                }
            },
        ],
        "expect": expect or {"state": [{"path": "/orders/#W1001/status", "equals": "cancelled"}]},
    }
