"""Activities and checks shared by the security regression tests."""

from __future__ import annotations

import asyncio
import http.client
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

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


FAST = 0.1  # seconds: the slowest /healthz answer allowed while an attack runs, beyond the floor
FLOOR_WINDOW = 1.0  # seconds of /healthz asked with no attack, for the floor
T = TypeVar("T")


async def answering_fast_while(url: str, attack: Callable[[], Awaitable[T]]) -> T:
    """Run `attack()` while `/healthz` at `url` is asked every 10 ms; every answer must come
    within `FAST` of the floor. Returns what the attack returned.

    The floor is the slowest answer in `FLOOR_WINDOW` seconds just before, with no attack:
    on a quiet machine a few milliseconds, so the limit is ~100 ms; on a shared two-core
    machine running other tests it is what the scheduler alone costs, measured in the same
    run rather than guessed. The attack runs a second time if the first run saw a slow
    answer, since the scheduler can hold a process back now and then. A server that blocks
    its event loop (the attacks here did for 0.3 to 30 s) is slow on both runs."""
    worst: list[float] = []
    limits: list[float] = []
    for _run in range(2):
        async with HealthProbe(url) as idle:
            await asyncio.sleep(FLOOR_WINDOW)
        limit = FAST + idle.worst
        async with HealthProbe(url) as probe:
            result = await attack()
        if probe.worst < limit:
            return result
        worst.append(probe.worst)
        limits.append(limit)
    raise AssertionError(
        f"/healthz took {worst} s at worst on each run (limits {limits} s: "
        f"{FAST} s beyond the slowest answer with no attack)"
    )


class HealthProbe:
    """`async with HealthProbe(url) as probe:` asks `/healthz` every 10 ms on its own
    connection while the block runs; `probe.worst` is the slowest answer in seconds.

    Why: a server whose event loop is stuck answers nothing, so the slowest `/healthz` answer
    during an attack is what every other user of the server waited. The probe runs in a
    thread of its own, with blocking sockets: a probe on the event loop of an in-process
    server would be stuck with it, and would never see the stall it is there to see."""

    def __init__(self, url: str, interval: float = 0.01) -> None:
        self.url, self.interval = url, interval
        self.latencies: list[float] = []
        self.failure: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="healthz-probe", daemon=True)

    def _run(self) -> None:
        parts = urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response, body = self._get(connection, parts.path)
                except (ConnectionError, http.client.RemoteDisconnected):
                    # A server may close an idle kept-alive connection (to make room): ask
                    # again on a new one, as every HTTP client does; the time counts.
                    connection.close()
                    response, body = self._get(connection, parts.path)
                if response.status != 200:
                    raise AssertionError(f"/healthz answered {response.status}: {body[:200]!r}")
                self.latencies.append(time.monotonic() - started)
                self._stop.wait(self.interval)
        except BaseException as exc:  # reported by __aexit__, in the test
            self.failure = exc
        finally:
            connection.close()

    @staticmethod
    def _get(connection: http.client.HTTPConnection, path: str) -> tuple[Any, bytes]:
        connection.request("GET", path)
        response = connection.getresponse()
        return response, response.read()

    @property
    def worst(self) -> float:
        return max(self.latencies)

    def _check(self) -> None:
        if self.failure is not None:
            raise AssertionError(f"/healthz probe failed: {self.failure!r}") from self.failure

    async def __aenter__(self) -> HealthProbe:
        self._thread.start()
        while not self.latencies:  # the first answer: the probe is connected and running
            self._check()
            await asyncio.sleep(0.005)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        await asyncio.to_thread(self._thread.join)
        self._check()
