"""Fixtures: a fake model server in the test's event loop, and providers pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from provider_helpers import TEST_KEY

from envsim.testing.fake_server import FakeModelServer


@pytest.fixture
async def server() -> AsyncIterator[FakeModelServer]:
    async with FakeModelServer(api_key=TEST_KEY) as s:
        yield s
