"""Class 8: a signature made for another server's inbox, replayed here.

The path and body of an inbox POST are the same everywhere; only the signed `Host` (or RFC
9421 `@authority`) says which server it was for. It must be ours.
"""

from __future__ import annotations

import pytest

from tests.fakes.sender import post_signed

from .support import NOTHING, follow, stored_counts


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
@pytest.mark.parametrize(
    "host",
    ["mastodon.example", "127.0.0.1", "127.0.0.2:{port}", "127.0.0.1:{other}", "localhost:{port}"],
)
async def test_a_signature_for_another_host_is_refused(server, remote, scheme, host):
    host = host.format(port=server.port, other=server.port + 1)
    activity = follow(remote, server.group_url("jazz"))
    answer = await post_signed(
        remote, server.url("/inbox"), activity, scheme=scheme, signed_for=f"http://{host}/inbox"
    )
    assert answer.status == 401, answer.body
    assert "another host" in answer.body
    assert await stored_counts() == NOTHING


@pytest.mark.parametrize("path", ["/inbox", "/groups/jazz/inbox"])
async def test_a_signature_for_us_is_accepted(server, remote, path):
    answer = await post_signed(remote, server.url(path), follow(remote, server.group_url("jazz")))
    assert answer.status == 202, answer.body


async def test_a_client_cannot_choose_the_host_through_forwarding_headers(server, remote):
    """X-Forwarded-Host is believed only from a trusted proxy, so a replayed signature for
    another host cannot be made to match by adding it."""
    activity = follow(remote, server.group_url("jazz"))
    answer = await post_signed(
        remote, server.url("/inbox"), activity, signed_for="http://mastodon.example/inbox"
    )
    assert answer.status == 401
