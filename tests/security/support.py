"""Activities and checks shared by the security regression tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp

from fedgroup.storage.models import Activity, RemoteActor, RemoteKey, StoredObject
from tests.fakes import FakeInstance

AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = AS + "#Public"


def follow(remote: FakeInstance, group_url: str, actor: str = "alice") -> dict[str, Any]:
    return {
        "@context": AS,
        "id": remote.url(f"/activities/{uuid.uuid4()}"),
        "type": "Follow",
        "actor": remote.actor_url(actor),
        "object": group_url,
    }


def note_create(
    remote: FakeInstance, group_url: str, actor: str = "alice", **note: Any
) -> dict[str, Any]:
    note_id = note.pop("id", None) or remote.url(f"/notes/{uuid.uuid4()}")
    obj = {
        "id": note_id,
        "type": "Note",
        "attributedTo": remote.actor_url(actor),
        "content": "<p>hello group</p>",
        "to": [group_url, PUBLIC],
        **note,
    }
    return {
        "@context": AS,
        "id": remote.url(f"/activities/{uuid.uuid4()}"),
        "type": "Create",
        "actor": remote.actor_url(actor),
        "to": [group_url, PUBLIC],
        "object": obj,
    }


async def inbound_ids() -> list[str]:
    return [a.ap_id for a in await Activity.filter(inbound=True).order_by("id")]


async def stored_counts() -> dict[str, int]:
    """How many rows a refused request could have left behind, per table."""
    return {
        "activities": await Activity.all().count(),
        "actors": await RemoteActor.all().count(),
        "keys": await RemoteKey.all().count(),
        "objects": await StoredObject.all().count(),
    }


NOTHING = {"activities": 0, "actors": 0, "keys": 0, "objects": 0}


FAST = 0.1  # seconds: the slowest /healthz answer allowed while an attack runs
T = TypeVar("T")


async def answering_fast_while(url: str, attack: Callable[[], Awaitable[T]]) -> T:
    """Run `attack()` while `/healthz` at `url` is asked every 10 ms; every answer must come
    within `FAST`. Returns what the attack returned.

    The attack runs a second time if the first run saw a slow answer: on a shared two-core
    machine running other tests, the scheduler alone can hold a process back now and then.
    A server that blocks its event loop is slow on both runs."""
    worst: list[float] = []
    for _run in range(2):
        async with HealthProbe(url) as probe:
            result = await attack()
        if probe.worst < FAST:
            return result
        worst.append(probe.worst)
    raise AssertionError(f"/healthz took {worst} s at worst on each run (limit {FAST} s)")


class HealthProbe:
    """`async with HealthProbe(url) as probe:` asks `/healthz` every few milliseconds on its
    own connection while the block runs; `probe.worst` is the slowest answer in seconds.

    Why: a server whose event loop is stuck answers nothing, so the slowest `/healthz` answer
    during an attack is what every other user of the server waited."""

    def __init__(self, url: str, interval: float = 0.01) -> None:
        self.url, self.interval = url, interval
        self.latencies: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                started = time.monotonic()
                async with session.get(self.url) as response:
                    assert response.status == 200, await response.text()
                    await response.read()
                self.latencies.append(time.monotonic() - started)
                await asyncio.sleep(self.interval)

    @property
    def worst(self) -> float:
        return max(self.latencies)

    async def __aenter__(self) -> HealthProbe:
        self._task = asyncio.create_task(self._run())
        while not self.latencies:  # the first answer: the probe is connected and running
            await asyncio.sleep(0.005)
            if self._task.done():
                self._task.result()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        if self._task.done():
            self._task.result()  # a probe that failed says why
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
