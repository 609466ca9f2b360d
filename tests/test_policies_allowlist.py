"""Allow-list mode (`allowlist_mode`): the server federates only with domains on its allow
list; any other is refused at the inbox as if suspended, before any request to it.

Its own module: it needs a server started with the setting on, and one process holds one
database connection set at a time.
"""

from __future__ import annotations

from fedgroup.service import domain_policies
from tests.fakes.members import join, start_remote
from tests.fakes.sender import post_signed
from tests.fakes.server import FedgroupServer
from tests.security.support import follow


async def test_allowlist_mode_federates_only_with_allowed_domains(tmp_path):
    friend = await start_remote("mastodon", "fred")
    stranger = await start_remote("mastodon", "sam")
    try:
        async with FedgroupServer(tmp_path, allowlist_mode="true") as server:
            await server.create_group("jazz")
            await domain_policies.allow_domain(friend.address)
            await join(server, friend, "fred", "jazz")
            asked = follow(stranger, server.group_url("jazz"), "sam")
            answer = await post_signed(stranger, server.url("/inbox"), asked, actor="sam")
            assert answer.status == 403
            assert stranger.requests == []
    finally:
        await friend.close()
        await stranger.close()
