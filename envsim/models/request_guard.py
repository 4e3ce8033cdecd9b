"""A kill switch for real model requests (pydantic-ai's ALLOW_MODEL_REQUESTS idea).

Tests turn it off (tests/conftest.py) so that a provider pointed at a real endpoint fails at once with a
clear message instead of reaching the network; loopback endpoints (the fake model server) stay allowed.
Users can turn it off too: `ENVSIM_ALLOW_MODEL_REQUESTS=0`, e.g. in CI of a project that uses envsim.
"""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlparse

from envsim.errors import RealModelRequestBlocked

ALLOW_MODEL_REQUESTS: bool = os.environ.get("ENVSIM_ALLOW_MODEL_REQUESTS", "1").lower() not in {"0", "false", "no"}


def is_loopback_url(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ensure_model_requests_allowed(base_url: str, endpoint: str) -> None:
    """Raise RealModelRequestBlocked when real requests are switched off and `base_url` is not loopback."""
    if not ALLOW_MODEL_REQUESTS and not is_loopback_url(base_url):
        raise RealModelRequestBlocked(
            f"real model requests are switched off, but {endpoint} would reach {base_url}",
            hint="use a mock:, scripted: or function: model, or the fake server (envsim.testing.FakeModelServer); "
            "set ENVSIM_ALLOW_MODEL_REQUESTS=1 (or envsim.models.request_guard.ALLOW_MODEL_REQUESTS = True) to allow",
        )
