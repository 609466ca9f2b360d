"""The inbox under load: signed Follows from many actors at once, into the real server.

The real app (FedgroupServer: aiohttp on a loopback port, a real SQLite file, its inbound and
delivery workers running) receives `count` signed Follows from one fake remote server with
`actors` actors, `clients` POSTs in flight at a time, from a child process (remote servers
do not share our CPU). Before the timed burst every actor has followed a warm-up group, so
keys, actor documents and NodeInfo are cached, as they are for a server we already know.

Three figures, each from what a remote server (or the database) can see:
* POSTs answered 202 per second, with per-request latency;
* Follows turned into memberships per second, from the first POST until the last membership
  row exists (the inbound queue drained);
* Accepts that reached the follower's server, from the first POST until the last arrived.
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fedgroup.activitypub.httpsig import sign_request
from fedgroup.storage.models import Activity, ActivityState, Membership
from tests.fakes.instance import FakeInstance, next_loopback_address
from tests.fakes.server import FedgroupServer

from .child import start_child
from .receivers import CountingServers
from .report import Figure, emit

DEFAULT_COUNT = 1000
ACTORS = 100
CLIENTS = 16
DRAIN_TIMEOUT = 120.0


def _follow(remote: FakeInstance, actor: str, group_url: str) -> dict[str, Any]:
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": remote.url(f"/follows/{uuid.uuid4()}"),
        "type": "Follow",
        "actor": remote.actor_url(actor),
        "object": group_url,
    }


def signed_follows(
    server: FedgroupServer, remote: FakeInstance, pairs: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """One signed POST per (actor, group), ready for the load client to send as is."""
    requests = []
    for actor, group in pairs:
        url = server.url(f"/groups/{group}/inbox")
        body = json.dumps(_follow(remote, actor, server.group_url(group))).encode()
        headers = sign_request(
            "POST",
            url,
            {"Content-Type": "application/activity+json"},
            body,
            key_id=remote.key_id(actor),
            private_key=remote.private_key,
        )
        requests.append({"url": url, "headers": headers, "body": body.decode()})
    return requests


async def _send(requests: list[dict[str, Any]], clients: int) -> dict[str, Any]:
    child = await start_child("load_client", {"requests": requests, "concurrency": clients})
    try:
        return await child.next_message()
    finally:
        await child.close()


async def _members_of(group_names: list[str]) -> int:
    return await Membership.filter(group__name__in=group_names).count()


async def _wait_for_members(group_names: list[str], expected: int, within: float) -> int:
    """Poll (5 Hz, a negligible load) until the groups have `expected` members, for at most
    `within` seconds; the count reached."""
    deadline = time.monotonic() + within
    while True:
        members = await _members_of(group_names)
        if members >= expected or time.monotonic() > deadline:
            return members
        await asyncio.sleep(0.2)


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _accepts(arrivals: list[Any]) -> int:
    return sum(1 for arrival in arrivals if arrival.type == "Accept")


async def measure(count: int, *, actors: int = ACTORS, clients: int = CLIENTS) -> list[Figure]:
    actors = max(1, min(actors, count))
    clients = max(1, min(clients, count))
    names = [f"member{i}" for i in range(actors)]
    group_names = [f"group{i}" for i in range(math.ceil(count / actors))]
    pairs = [(names[i % actors], group_names[i // actors]) for i in range(count)]
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="fedgroup-bench-") as tmp:
        async with (
            CountingServers([next_loopback_address()]) as followers_server,
            FedgroupServer(Path(tmp)) as server,
            FakeInstance(software="mastodon") as remote,
        ):
            ((address, port),) = followers_server.port.items()
            for name in names:
                # Actor documents are served here; their inboxes are in the counting child.
                remote.add_actor(name, inbox=f"http://{address}:{port}/users/{name}/inbox")
            for group in ["warmup", *group_names]:
                await server.create_group(group)

            warmup = await _send(signed_follows(server, remote, [(n, "warmup") for n in names]), 4)
            if warmup["statuses"] != {"202": actors}:
                raise RuntimeError(f"warm-up Follows were refused: {warmup['statuses']}")
            if await _wait_for_members(["warmup"], actors, DRAIN_TIMEOUT) < actors:
                raise RuntimeError("warm-up Follows were not all processed")
            if not await followers_server.wait_until(
                lambda a: _accepts(a) >= actors, DRAIN_TIMEOUT
            ):
                raise RuntimeError("warm-up Accepts did not all reach the followers' server")

            requests = signed_follows(server, remote, pairs)
            burst = await _send(requests, clients)
            accepted = burst["statuses"].get("202", 0)
            refused = {k: v for k, v in burst["statuses"].items() if k != "202"}
            figures.append(
                emit(
                    Figure(
                        f"inbox: signed Follows answered 202, {clients} clients, {actors} actors",
                        accepted,
                        burst["wall"],
                        "POSTs",
                        burst["latencies"],
                        note=f"refused {refused}" if refused else "none refused",
                    )
                )
            )

            members = await _wait_for_members(group_names, accepted, DRAIN_TIMEOUT)
            last = (
                await Membership.filter(group__name__in=group_names)
                .order_by("-created_at")
                .first()
                .values_list("created_at", flat=True)
            )
            failed = await Activity.filter(inbound=True, state=ActivityState.FAILED).count()
            waiting = await Activity.filter(inbound=True, state=ActivityState.RECEIVED).count()
            if last is None or members == 0:
                raise RuntimeError("no Follow became a membership")
            drained_after = _epoch(last) - burst["started_at"]
            note = f"queue drained {drained_after - burst['wall']:.2f} s after the last POST"
            if members < accepted or failed or waiting:
                note += f"; INCOMPLETE: {accepted - members} missing, {failed} failed, "
                note += f"{waiting} still queued after {DRAIN_TIMEOUT:.0f} s"
            figures.append(
                emit(
                    Figure(
                        "inbound queue: Follows -> memberships, from first POST",
                        members,
                        drained_after,
                        "Follows",
                        note=note,
                    )
                )
            )

            expected = actors + accepted
            arrived = await followers_server.wait_until(
                lambda a: _accepts(a) >= expected, DRAIN_TIMEOUT
            )
            timed = [a for a in followers_server.arrivals if a.type == "Accept"][actors:]
            if timed:
                last_at = max(a.at for a in timed)
                figures.append(
                    emit(
                        Figure(
                            "Accepts delivered to the follower's server, from first POST",
                            len(timed),
                            last_at - burst["started_at"],
                            "Accepts",
                            note="all arrived" if arrived else f"INCOMPLETE: {expected} expected",
                        )
                    )
                )
    return figures


def run(count: int = DEFAULT_COUNT) -> list[Figure]:
    return asyncio.run(measure(count))
