"""Fixtures: a fake model server in the test's event loop, and providers pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from envsim.testing.fake_server import FakeModelServer

TEST_KEY = "sk-test-SECRET-0123456789"


@pytest.fixture
async def server() -> AsyncIterator[FakeModelServer]:
    async with FakeModelServer(api_key=TEST_KEY) as s:
        yield s
