"""Fan-out: one member's post announced by the group to every member's server.

fedgroup as an operator runs it (`python -m fedgroup serve` on a SQLite file, default
settings: bench.served) hosts a public group with `count` members spread over 50 remote
servers. The servers are counting receivers in a child
process (each on its own 127.0.0.x address, so per-host limits apply as to real servers);
members, their servers' software and the author's key are inserted as rows, as if they had
joined long ago. The author's Create is POSTed signed to the group's inbox; the clock starts
when it is answered 202 and stops when the last living server has received what it is owed.

Two inbox layouts: shared inboxes (Mastodon, Lemmy: one delivery per server, the usual case)
and personal inboxes only (one delivery per member, the worst case, which shows the delivery
worker's own rate). Each is run with every server up, then with 5 servers dead (their ports
closed), to show that the dead do not slow the living.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from fedgroup.activitypub.httpsig import sign_request
from fedgroup.activitypub.keys import generate_rsa_key_pair, load_private_key
from fedgroup.activitypub.vocab import PUBLIC
from fedgroup.storage.models import (
    Delivery,
    DeliveryState,
    Group,
    Instance,
    Membership,
    MembershipState,
    RemoteActor,
    RemoteKey,
)
from tests.fakes.instance import next_loopback_address
from tests.fakes.process import ServerProcess
from tests.fakes.server import create_group

from .fedify import FEDIFY_VERSION, FedifyFanout, FedifyUnavailable, fedify_fanout
from .receivers import Arrival, CountingServers
from .report import Figure, emit
from .served import (
    its_database,
    peak_rss_line,
    peak_rss_mb,
    server_process,
    until_worker_runs,
)

DEFAULT_COUNT = 2000
SERVERS = 50
DEAD = 5
DELIVERY_TIMEOUT = 60.0
SOFTWARE = ("mastodon", "lemmy")  # alternating: both shapes of announce are exercised


@dataclass(frozen=True)
class Layout:
    """Where the members live: `origins[i]` is server i's `http://host:port`."""

    origins: list[str]
    dead: set[int]
    shared_inboxes: bool

    def inbox_of(self, server: int, member: int) -> str:
        if self.shared_inboxes:
            return f"{self.origins[server]}/inbox"
        return f"{self.origins[server]}/users/m{member}/inbox"


def closed_port(address: str) -> int:
    """A port on `address` that nothing listens on: connecting to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def silent_listener(address: str) -> socket.socket:
    """A server that is up but never answers: the kernel completes every connection, nothing
    reads it. Harder on the sender than a closed port: only timeouts end its requests."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((address, 0))
    sock.listen(1024)
    return sock


async def insert_members(group: Group, layout: Layout, count: int) -> list[tuple[int, str]]:
    """`count` accepted members, member i on server i % servers; returns (server, inbox)
    for each member. Member 0 is the author."""
    servers = len(layout.origins)
    placed = [(i % servers, layout.inbox_of(i % servers, i)) for i in range(count)]
    await Instance.bulk_create(
        [
            Instance(
                host=origin.removeprefix("http://"),
                software=SOFTWARE[i % len(SOFTWARE)],
                nodeinfo_fetched_at=datetime.now(UTC),
            )
            for i, origin in enumerate(layout.origins)
        ]
    )
    actors = [
        RemoteActor(
            url=f"{layout.origins[server]}/users/m{i}",
            preferred_username=f"m{i}",
            host=layout.origins[server].removeprefix("http://"),
            inbox=f"{layout.origins[server]}/users/m{i}/inbox",
            shared_inbox=f"{layout.origins[server]}/inbox" if layout.shared_inboxes else None,
        )
        for i, (server, _inbox) in enumerate(placed)
    ]
    await RemoteActor.bulk_create(actors, batch_size=500)
    ids = dict(await RemoteActor.all().values_list("url", "id"))
    await Membership.bulk_create(
        [
            Membership(group=group, actor_id=ids[a.url], state=MembershipState.ACCEPTED)
            for a in actors
        ],
        batch_size=500,
    )
    return placed


def author_create(author: str, group_url: str) -> dict:
    """A Mastodon-style public status mentioning the group, embedded in its Create."""
    status = f"{author}/statuses/{uuid.uuid4().int % 10**12}"
    note = {
        "id": status,
        "type": "Note",
        "attributedTo": author,
        "to": [PUBLIC],
        "cc": [author + "/followers", group_url],
        "content": "<p>@jazz who plays stride piano? Looking for a duo partner.</p>",
        "tag": [{"type": "Mention", "href": group_url, "name": "@jazz"}],
        "published": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": status + "/activity",
        "type": "Create",
        "actor": author,
        "to": note["to"],
        "cc": note["cc"],
        "object": note,
    }


async def post_create(server: ServerProcess, author: str, private_pem: str) -> float:
    """POST the author's Create to the group inbox; the moment it was answered 202."""
    url = server.url("/groups/jazz/inbox")
    body = json.dumps(author_create(author, server.group_url("jazz"))).encode()
    headers = sign_request(
        "POST",
        url,
        {"Content-Type": "application/activity+json"},
        body,
        key_id=author + "#main-key",
        private_key=load_private_key(private_pem),
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        answer = await response.text()
        if response.status != 202:
            raise RuntimeError(f"the Create was refused: {response.status} {answer}")
    return time.time()


#: Run with the sinks still up once fedgroup's server has stopped: (sinks, origins, count).
AfterFanout = Callable[[CountingServers, list[str], int], Awaitable[None]]


async def scenario(
    count: int,
    servers: int,
    dead: int,
    shared_inboxes: bool,
    *,
    silent: bool = False,
    after: AfterFanout | None = None,
) -> Figure:
    """One fan-out; the figure counts deliveries to living servers until the last arrived.
    The `dead` servers have closed ports, or with `silent` accept and never answer.
    `after` runs once fedgroup's server has stopped (so it takes no CPU), on the same sinks."""
    addresses = [next_loopback_address() for _ in range(servers)]
    dead_servers = set(range(servers - dead, servers))
    living = [a for i, a in enumerate(addresses) if i not in dead_servers]
    with contextlib.ExitStack() as held, tempfile.TemporaryDirectory(prefix="fedgroup-") as tmp:
        async with CountingServers(living) as receivers:
            ports = dict(receivers.port)
            for i in dead_servers:
                if silent:
                    listener = held.enter_context(silent_listener(addresses[i]))
                    ports[addresses[i]] = listener.getsockname()[1]
                else:
                    ports[addresses[i]] = closed_port(addresses[i])
            origins = [f"http://{a}:{ports[a]}" for a in addresses]
            layout = Layout(origins, dead_servers, shared_inboxes)
            server = server_process(Path(tmp) / "server")
            author = f"{origins[0]}/users/m0"
            private_pem, public_pem = generate_rsa_key_pair()
            async with its_database(server):
                group = await create_group("jazz")
                placed = await insert_members(group, layout, count)
                await RemoteKey.create(
                    key_id=author + "#main-key", owner=author, public_key=public_pem
                )

            owed: Counter[str] = Counter()  # host -> deliveries owed to a living server
            for server_index, _inbox in dict.fromkeys(
                (s, inbox) for s, inbox in placed if s not in dead_servers
            ):
                owed[origins[server_index].removeprefix("http://")] += 1
            expected = sum(owed.values())

            def complete(arrivals: list[Arrival]) -> bool:
                got = Counter(a.host for a in arrivals if a.type == "Announce")
                return all(got[host] >= n for host, n in owed.items())

            async with server:
                await until_worker_runs(server)
                accepted_at = await post_create(server, author, private_pem)
                arrived = await receivers.wait_until(complete, DELIVERY_TIMEOUT)
                peaks = peak_rss_mb(server)
            announces = [a for a in receivers.arrivals if a.type == "Announce"]
            last = max((a.at for a in announces), default=accepted_at)
            dead_hosts = [origins[i].removeprefix("http://") for i in dead_servers]
            async with its_database(server):
                to_dead = await Delivery.filter(host__in=dead_hosts).count()
                dead_pending = await Delivery.filter(
                    host__in=dead_hosts, state__in=(DeliveryState.QUEUED, DeliveryState.RETRYING)
                ).count()
            if after is not None:
                await after(
                    receivers, [origins[i] for i in range(servers) if i not in dead_servers], count
                )

    layout_name = "shared inboxes" if shared_inboxes else "personal inboxes"
    note = f"{count} members on {servers} servers"
    if dead:
        kind = "silent" if silent else "dead"
        note += f", {dead} {kind}: {to_dead} deliveries to them, {dead_pending} still pending"
    if not arrived:
        note += f"; INCOMPLETE after {DELIVERY_TIMEOUT:.0f} s: {len(announces)} of {expected}"
    print(peak_rss_line(peaks), flush=True)
    return Figure(
        f"fan-out, {layout_name}, {servers - dead} living servers: Create 202 -> last delivery"
        + (f" ({dead} silent)" if silent else ""),
        len(announces),
        last - accepted_at,
        "deliveries",
        note=note,
    )


async def measure(count: int) -> list[Figure]:
    servers = max(1, min(SERVERS, count))
    dead = DEAD if servers >= 2 * DEAD else 0
    figures = []
    for shared in (True, False):
        for dead_now in dict.fromkeys((0, dead)):
            figures.append(emit(await scenario(count, servers, dead_now, shared)))
    return figures


def run(count: int = DEFAULT_COUNT) -> list[Figure]:
    return asyncio.run(measure(count))


WIDE_DEFAULT_COUNT = 10_000
WIDE_SERVERS = 1_000


def _signs_per_second(count: int = 300) -> float:
    """RSA-2048 signatures per second on one core, now: the floor of any fan-out."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    started = time.perf_counter()
    for n in range(count):
        key.sign(str(n).encode(), padding.PKCS1v15(), hashes.SHA256())
    return count / (time.perf_counter() - started)


async def measure_wide(count: int) -> list[Figure]:
    """One post to `count` members on 1,000 servers (shared inboxes, all up), against its
    target measured in the same run: 3 x (1,000 / RSA-2048 signs per second); then, on the
    same sinks once fedgroup's server has stopped, the same fan-out to the same members sent
    by Fedify (bench/fedify.py), and the ratio fedgroup/Fedify (issue 11: fedgroup no slower,
    i.e. at most 1). If Fedify cannot be installed or run, the output says so and fedgroup's
    figures stand alone: no Fedify figure is made up."""
    servers = min(WIDE_SERVERS, count)
    peer: list[FedifyFanout] = []
    unavailable: list[str] = []

    async def send_with_fedify(sinks: CountingServers, origins: list[str], members: int) -> None:
        try:
            peer.append(await fedify_fanout(sinks, origins, members, DELIVERY_TIMEOUT))
        except FedifyUnavailable as exc:
            unavailable.append(str(exc))

    before = _signs_per_second()
    figure = emit(await scenario(count, servers, 0, True, after=send_with_fedify))
    after = _signs_per_second()
    signs = (before + after) / 2
    target = 3 * servers / signs
    print(
        f"# fan-out target: <= 3 x ({servers} / {signs:,.0f} signs/s) = {target:.2f} s;"
        f" took {figure.wall:.2f} s ({figure.wall / target:.2f} x the target)",
        flush=True,
    )
    if unavailable:
        said = [line for line in unavailable[0].splitlines() if line.strip()]
        said = said[:1] + [line for line in said[1:] if "EBADENGINE" not in line][-8:]
        print("# Fedify comparison not run: " + "\n#   ".join(said), flush=True)
        return [figure]
    return [figure, emit(_fedify_figure(peer[0], figure, servers))]


FEDIFY_WHAT = "fan-out, Fedify sender"


def check_wide(figures: list[Figure]) -> list[str]:
    """For `--quick`: the Fedify comparison ran, and Fedify's activity reached every server
    fedgroup's did (a missing comparison says why in the `#` line above it)."""
    ours = [f for f in figures if not f.what.startswith(FEDIFY_WHAT)]
    theirs = [f for f in figures if f.what.startswith(FEDIFY_WHAT)]
    if not theirs:
        return ["no Fedify figure: the Fedify comparison did not run"]
    if ours and theirs[0].count < ours[0].count:
        return [f"Fedify's activity reached {theirs[0].count} of {ours[0].count} servers"]
    return []


def _fedify_figure(peer: FedifyFanout, ours: Figure, servers: int) -> Figure:
    """Fedify's figure, its note carrying the ratio (saved in the JSON with it); the same
    ratio as a `#` line beside the target's."""
    note = (
        f"Fedify {FEDIFY_VERSION} on Node {peer.node}, sendActivity (no queue, RFC 9421,"
        f" RSA-2048) to {peer.inboxes} shared inboxes; settled after"
        f" {peer.returned_at - peer.asked_at:.3f} s"
    )
    if peer.inboxes == servers and peer.complete:
        ratio = ours.wall / peer.wall
        note += f"; fedgroup/Fedify {ratio:.2f}"
        print(
            f"# fan-out vs Fedify, same {servers} sinks: fedgroup {ours.wall:.2f} s,"
            f" Fedify {peer.wall:.2f} s; fedgroup/Fedify = {ratio:.2f} (target: <= 1)",
            flush=True,
        )
    if not peer.complete:
        note += (
            f"; INCOMPLETE after {DELIVERY_TIMEOUT:.0f} s: {peer.hosts_reached} of"
            f" {peer.inboxes} servers"
        )
    if peer.errors:
        note += "; Fedify said: " + " ".join(peer.errors[0].split())
    return Figure(
        f"{FEDIFY_WHAT}, shared inboxes, {peer.inboxes} servers: sendActivity -> last delivery",
        peer.received,
        peer.wall,
        "deliveries",
        note=note,
    )


def run_wide(count: int = WIDE_DEFAULT_COUNT) -> list[Figure]:
    return asyncio.run(measure_wide(count))


HUNG_DEFAULT_COUNT = 100


async def measure_hung(count: int) -> list[Figure]:
    """Opt-in (`python -m bench fanout-hung`): 5 servers that hang instead of refusing.
    Takes at least the delivery timeout while hung requests hold the worker's slots."""
    servers = max(2 * DEAD, min(SERVERS, count))
    figures = []
    for shared in (True, False):
        figures.append(emit(await scenario(count, servers, DEAD, shared, silent=True)))
    return figures


def run_hung(count: int = HUNG_DEFAULT_COUNT) -> list[Figure]:
    return asyncio.run(measure_hung(count))
