"""Members of our groups on fake remote servers: joining, and posting the way their software does.

Everything goes through the real inbox: a signed Follow, a signed Create whose object the
author's server serves, then the pipeline stores and announces it. Tests that need posts in
a group (pages, conversations) make them here, so what they read is what a real member's
post leaves behind.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

from fedgroup.activitypub.vocab import PUBLIC
from fedgroup.service.membership import approve
from fedgroup.storage.models import (
    Activity,
    ActivityState,
    Group,
    Membership,
    MembershipMode,
    MembershipState,
    StoredObject,
)

from .instance import FakeInstance
from .sender import post_signed, send_follow, wait_accepted
from .server import FedgroupServer
from .verify import verify_signed_post

_ids = itertools.count(1)


async def start_remote(software: str, *names: str, **options: Any) -> FakeInstance:
    """A started fake server of `software` with these actors, verifying what it receives."""
    remote = FakeInstance(software=software, **options)
    await remote.start()
    for name in names:
        remote.add_actor(name)
    remote.verify = verify_signed_post
    return remote


async def join(server: FedgroupServer, remote: FakeInstance, name: str, group: str) -> None:
    """`name` on `remote` follows `group` and its server receives the Accept (a group that
    needs approval gets it from its admin, as `fedgroup admin members approve` gives it)."""
    follow = await send_follow(remote, name, server.group_url(group))
    row = await Group.get(name=group)
    if row.membership_mode == MembershipMode.APPROVAL:
        await _approve_when_requested(server, row, remote.actor_url(name))
    await wait_accepted(remote, follow)


async def _approve_when_requested(server: FedgroupServer, group: Group, actor: str) -> None:
    for _ in range(500):  # the request is stored by the inbound worker, soon after the 202
        if await Membership.exists(group=group, actor__url=actor, state=MembershipState.PENDING):
            await approve(server.settings, group, actor)
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{actor} never asked to join {group.name}")


async def post_to_group(
    server: FedgroupServer,
    author: FakeInstance,
    name: str,
    group: str,
    content: str,
    **options: Any,
) -> StoredObject:
    """`name` on `author` posts `content` to `group` (a Mastodon-style mention, or a Lemmy
    `Page` with a `title` when `kind="Page"`; `send_post`'s options); returns the row once
    the group has stored it."""
    create = await send_post(server, author, name, group, content, **options)
    object_id = create["object"]["id"]
    # The group passes every post on to its members, the author's server included: once
    # that arrives, the post is stored.
    await author.wait_for(lambda p: object_id in p.body.decode(errors="replace"), timeout=10)
    return await StoredObject.get(ap_id=object_id)


async def send_post(
    server: FedgroupServer,
    author: FakeInstance,
    name: str,
    group: str,
    content: str,
    *,
    public: bool = True,
    in_reply_to: str | None = None,
    kind: str = "Note",
    title: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """`name` on `author` sends the Create of a post to `group` (the post served by its
    author's server); returns the Create once the inbox took it, whatever the group then
    decides (`wait_handled` tells)."""
    actor = author.actor_url(name)
    object_id = author.url(f"/users/{name}/statuses/{next(_ids)}{uuid.uuid4().hex[:8]}")
    group_url = server.group_url(group)
    audience = [PUBLIC] if public else [actor + "/followers"]
    note: dict[str, Any] = {
        "id": object_id,
        "type": kind,
        "attributedTo": actor,
        "to": audience,
        "cc": [group_url],
        "content": content,
        "tag": [{"type": "Mention", "href": group_url, "name": f"@{group}"}],
        "published": "2026-11-23T10:00:00Z",
        **fields,
    }
    if in_reply_to is not None:
        note["inReplyTo"] = in_reply_to
    if title is not None:
        note["name"] = title
    author.serve(object_id.removeprefix(author.base_url), {"@context": [], **note})
    create = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": object_id + "/activity",
        "type": "Create",
        "actor": actor,
        "to": note["to"],
        "cc": note["cc"],
        "object": note,
    }
    answer = await post_signed(author, server.url("/inbox"), create, actor=name)
    assert answer.status == 202, answer.body
    return create


async def wait_handled(ap_id: str, timeout: float = 10.0) -> Activity:  # noqa: ASYNC109
    """The inbound row of `ap_id` once the inbound worker has handled it (or given up)."""
    async with asyncio.timeout(timeout):
        while True:
            row = await Activity.get_or_none(ap_id=ap_id, inbound=True)
            if row is not None and row.state != ActivityState.RECEIVED:
                return row
            await asyncio.sleep(0.02)
