"""A server with one group and a fake remote instance with two actors, for every test here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes import FakeInstance
from tests.fakes.server import FedgroupServer


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[FedgroupServer]:
    async with FedgroupServer(tmp_path) as srv:
        await srv.create_group("jazz")
        yield srv


@pytest.fixture
async def remote() -> AsyncIterator[FakeInstance]:
    async with FakeInstance() as inst:
        inst.add_actor("alice")
        inst.add_actor("bob")
        yield inst
