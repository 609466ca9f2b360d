"""Signed POSTs from a fake instance to our server, the way Mastodon or Fedify send them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

from fedgroup.activitypub.httpsig import Scheme, sign_request

from .instance import FakeInstance


@dataclass
class Answer:
    status: int
    body: str


async def post_signed(
    remote: FakeInstance,
    url: str,
    activity: dict[str, Any] | bytes,
    *,
    actor: str = "alice",
    scheme: Scheme = "cavage",
    private_key: Any = None,
    key_id: str | None = None,
    now: float | None = None,
    tamper_body: bytes | None = None,
    drop_headers: tuple[str, ...] = (),
    signed_for: str | None = None,
) -> Answer:
    """Sign `activity` as `actor` of `remote` and POST it; optionally break it on the way.

    `signed_for` signs for another URL than the one posted to (its `Host` is sent along),
    as a replayed request made for another server's inbox would be.
    """
    body = activity if isinstance(activity, bytes) else json.dumps(activity).encode()
    headers = sign_request(
        "POST",
        signed_for or url,
        {"Content-Type": "application/activity+json"},
        body,
        key_id=key_id or remote.key_id(actor),
        private_key=private_key or remote.private_key,
        scheme=scheme,
        now=now,
    )
    for name in drop_headers:
        headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=tamper_body or body, headers=headers) as response,
    ):
        return Answer(response.status, await response.text())


def signed_get(remote: FakeInstance, actor: str, url: str) -> dict[str, str]:
    """Headers of a GET signed by one of `remote`'s actors, as a server in secure mode (or a
    member's server reading members-only content) fetches."""
    return sign_request(
        "GET",
        url,
        {"Accept": "application/activity+json"},
        None,
        key_id=remote.key_id(actor),
        private_key=remote.private_key,
    )


async def post_unsigned(url: str, activity: dict[str, Any] | bytes) -> Answer:
    body = activity if isinstance(activity, bytes) else json.dumps(activity).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url, data=body, headers={"Content-Type": "application/activity+json"}
        ) as response,
    ):
        return Answer(response.status, await response.text())


async def send_follow(
    remote: FakeInstance, actor: str, group_url: str, *, inbox: str | None = None
) -> dict[str, Any]:
    """`actor` of `remote` sends a Follow of the group (to the shared inbox of the group's
    server unless `inbox` is given); returns the Follow once it is accepted with 202."""
    follow = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": remote.url(f"/follows/{uuid.uuid4()}"),
        "type": "Follow",
        "actor": remote.actor_url(actor),
        "object": group_url,
    }
    target = inbox or group_url.split("/groups/", 1)[0] + "/inbox"
    answer = await post_signed(remote, target, follow, actor=actor)
    assert answer.status == 202, answer
    return follow


async def wait_accepted(remote: FakeInstance, follow: dict[str, Any]) -> None:
    """Until the group's Accept of this Follow reaches `remote`."""

    def accepted(post) -> bool:
        body = post.json or {}
        inner = body.get("object")
        return (
            body.get("type") == "Accept"
            and isinstance(inner, dict)
            and inner.get("id") == follow["id"]
        )

    await remote.wait_for(accepted, timeout=10)


async def follow_group(
    remote: FakeInstance, actor: str, group_url: str, *, inbox: str | None = None
) -> dict[str, Any]:
    """Follow an open group and wait for its Accept, over HTTP only (any server process)."""
    follow = await send_follow(remote, actor, group_url, inbox=inbox)
    await wait_accepted(remote, follow)
    return follow
