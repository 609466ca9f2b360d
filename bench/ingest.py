"""Ingest: members' posts into a group at many connections, delivery running, against the floor.

fedgroup as a real server process (`python -m fedgroup serve` on a SQLite file, loopback, its
default worker mode: a web process and a worker process) hosts a group whose
members live on 10 remote servers (20 each, shared inboxes), each a counting receiver on its
own loopback address in a child process. `count` signed `Create{Note}` by those members are
POSTed to the shared inbox at 10, 50 and 200 connections by a load client in another child
process. Per run: POSTs answered 202 per second with p50/p99, and end to end, from the first
POST until every server holds every Announce, posts/s and deliveries/s.

In the same run, under the same load, the floor (`bench.floor`: verify with a cached key,
group commit, 202) takes the same requests, and the ratio fedgroup/floor is printed: the
machine is shared, so only a ratio measured in one run means anything.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from fedgroup.activitypub.httpsig import load_public_key, sign_request
from fedgroup.activitypub.keys import generate_rsa_key_pair, load_private_key
from fedgroup.storage.models import RemoteKey
from tests.fakes.instance import next_loopback_address
from tests.fakes.process import ServerProcess
from tests.fakes.server import create_group

from .child import start_child
from .fanout import Layout, author_create, insert_members
from .floor import FloorInbox
from .receivers import Arrival, CountingServers
from .report import Figure, emit, percentile
from .served import (
    its_database,
    peak_rss_line,
    peak_rss_mb,
    server_process,
    until_worker_runs,
)

DEFAULT_COUNT = 3000
SERVERS = 10
MEMBERS_PER_SERVER = 20
CONNECTIONS = (10, 50, 200)
DRAIN_TIMEOUT = 600.0
#: Settings of the server under test: none, the defaults an operator gets.
SERVER_SETTINGS: dict[str, object] = {}


def _signed(url: str, doc: dict[str, Any], key_id: str, private_key: Any) -> dict[str, Any]:
    body = json.dumps(doc).encode()
    headers = sign_request(
        "POST",
        url,
        {"Content-Type": "application/activity+json"},
        body,
        key_id=key_id,
        private_key=private_key,
    )
    return {"url": url, "headers": headers, "body": body.decode()}


#: Where the posts come from: one address per remote server, as on the network (the server
#: caps connections per address, 64 by default, which 200 connections from one would hit).
SOURCES = [next_loopback_address() for _ in range(SERVERS)]


async def _fire(requests: list[dict[str, Any]], clients: int) -> dict[str, Any]:
    child = await start_child(
        "load_client", {"requests": requests, "concurrency": clients, "sources": SOURCES}
    )
    try:
        return await child.next_message()
    finally:
        await child.close()


def _accepted(what: str, burst: dict[str, Any], clients: int) -> Figure:
    refused = {k: v for k, v in burst["statuses"].items() if k != "202"}
    return emit(
        Figure(
            f"{what}, {clients} connections",
            burst["statuses"].get("202", 0),
            burst["wall"],
            "POSTs",
            burst["latencies"],
            note=f"refused {refused}" if refused else "none refused",
        )
    )


async def floor_run(docs: list[dict[str, Any]], clients: int, key_pem: tuple[str, str]) -> Figure:
    """The same posts into the floor inbox, at the same concurrency."""
    private_pem, public_pem = key_pem
    private_key = load_private_key(private_pem)
    keys = {doc["actor"] + "#main-key": load_public_key(public_pem) for doc in docs}
    with tempfile.TemporaryDirectory(prefix="fedgroup-floor-") as tmp:
        async with FloorInbox(Path(tmp) / "floor.sqlite3", keys) as floor:
            requests = [
                _signed(floor.url("/inbox"), doc, doc["actor"] + "#main-key", private_key)
                for doc in docs
            ]
            burst = await _fire(requests, clients)
            if floor.stored() != burst["statuses"].get("202", 0):
                raise RuntimeError("the floor answered 202 for rows it did not store")
    return _accepted("floor: verify + group commit, 202", burst, clients)


async def fedgroup_run(
    count: int, clients: int
) -> tuple[list[Figure], list[dict[str, Any]], tuple[str, str], dict[str, float]]:
    """`count` posts into fedgroup; returns its figures, the posts and their key (for the
    floor), and the peak RSS of each server process, read before it stops."""
    addresses = [next_loopback_address() for _ in range(SERVERS)]
    key_pem = generate_rsa_key_pair()
    with tempfile.TemporaryDirectory(prefix="fedgroup-ingest-") as tmp:
        server = server_process(Path(tmp) / "server", **SERVER_SETTINGS)
        async with CountingServers(addresses) as receivers:
            origins = [f"http://{a}:{receivers.port[a]}" for a in addresses]
            async with its_database(server):
                group = await create_group("jazz")
                placed = await insert_members(
                    group, Layout(origins, set(), True), SERVERS * MEMBERS_PER_SERVER
                )
                authors = [f"{origins[s]}/users/m{i}" for i, (s, _inbox) in enumerate(placed)]
                await RemoteKey.bulk_create(
                    [
                        RemoteKey(key_id=a + "#main-key", owner=a, public_key=key_pem[1])
                        for a in authors
                    ]
                )
            docs = [
                author_create(authors[n % len(authors)], server.group_url("jazz"))
                for n in range(count)
            ]
            async with server:
                await until_worker_runs(server)
                figures = await _posts_into(server, receivers, docs, key_pem[0], origins, clients)
                peaks = peak_rss_mb(server)
    return figures, docs, key_pem, peaks


async def _posts_into(
    server: ServerProcess,
    receivers: CountingServers,
    docs: list[dict[str, Any]],
    private_pem: str,
    origins: list[str],
    clients: int,
) -> list[Figure]:
    """POST the posts; figures for their 202s and for every server getting every Announce."""
    private_key = load_private_key(private_pem)
    requests = [
        _signed(server.url("/inbox"), doc, doc["actor"] + "#main-key", private_key) for doc in docs
    ]
    count = len(docs)
    hosts = [o.removeprefix("http://") for o in origins]
    got: Counter[str] = Counter()
    seen = 0

    def complete(arrivals: list[Arrival]) -> bool:
        # Counted as they come: this runs on every arrival, in the receivers' process.
        nonlocal seen
        got.update(a.host for a in arrivals[seen:] if a.type == "Announce")
        seen = len(arrivals)
        return all(got[host] >= count for host in hosts)

    burst = await _fire(requests, clients)
    accepted = _accepted("fedgroup inbox: Create{Note} answered 202", burst, clients)
    arrived = await receivers.wait_until(complete, DRAIN_TIMEOUT)
    announces = [a for a in receivers.arrivals if a.type == "Announce"]
    last = max((a.at for a in announces), default=burst["started_at"])
    wall = last - burst["started_at"]
    note = (
        "every server has every Announce"
        if arrived
        else (
            f"INCOMPLETE after {DRAIN_TIMEOUT:.0f} s: "
            f"{len(announces)} of {count * len(hosts)} Announces"
        )
    )
    posts = Figure(f"end to end, {clients} connections: posts", count, wall, "posts", note=note)
    deliveries = Figure(
        f"end to end, {clients} connections: deliveries", len(announces), wall, "deliveries"
    )
    return [accepted, emit(posts), emit(deliveries)]


def _ratio_line(ours: Figure, floor: Figure) -> str:
    ratio = ours.rate / floor.rate if floor.rate else float("nan")
    p99_ours = percentile(ours.latencies, 0.99) * 1000
    p99_floor = percentile(floor.latencies, 0.99) * 1000
    return (
        f"# ratio fedgroup/floor, accepted/s: {ratio:.2f} (target >= 0.6) | p99 {p99_ours:.0f} ms"
        f" vs floor {p99_floor:.0f} ms"
    )


async def measure(count: int, connections: tuple[int, ...] = CONNECTIONS) -> list[Figure]:
    figures: list[Figure] = []
    for clients in connections:
        ours, docs, key_pem, peaks = await fedgroup_run(count, clients)
        floor = await floor_run(docs, clients, key_pem)
        figures.extend([*ours, floor])
        print(_ratio_line(ours[0], floor), flush=True)
        print(peak_rss_line(peaks), flush=True)
    return figures


def run(count: int = DEFAULT_COUNT) -> list[Figure]:
    return asyncio.run(measure(count))
