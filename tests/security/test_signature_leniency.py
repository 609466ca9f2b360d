"""Interop: the leniency Mastodon has that is safe to have too.

A keyId that is the actor's own URL (no fragment, or another fragment) when the actor's
document holds the key; a signature date up to an hour ahead and up to 65 minutes old,
configurable. `host`, `(request-target)` and `digest` stay required on POSTs.
"""

from __future__ import annotations

import base64
import json
import time
from email.utils import formatdate

import aiohttp
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from fedgroup.activitypub.digest import digest_header
from fedgroup.activitypub.httpsig import cavage_signing_string
from fedgroup.storage.models import RemoteKey
from tests.fakes.sender import post_signed
from tests.fakes.server import FedgroupServer

from .support import NOTHING, follow, inbound_ids, stored_counts


@pytest.mark.parametrize("suffix", ["", "#other-key", "#"])
async def test_a_key_id_that_is_the_actors_url_is_accepted(server, remote, suffix):
    key_id = remote.actor_url("alice") + suffix
    activity = follow(remote, server.group_url("jazz"))
    answer = await post_signed(remote, server.url("/inbox"), activity, key_id=key_id)
    assert answer.status == 202, answer.body
    assert activity["id"] in await inbound_ids()
    assert (await RemoteKey.get(key_id=key_id)).owner == remote.actor_url("alice")
    # The next request with that key id is verified from the cache.
    again = follow(remote, server.group_url("jazz"))
    assert (await post_signed(remote, server.url("/inbox"), again, key_id=key_id)).status == 202


async def test_another_actors_url_as_key_id_speaks_for_that_actor_only(server, remote):
    """Bob's URL as keyId is bob's key (the fake instance signs all its actors with one key):
    a request signed so is bob's, and cannot carry alice's activity."""
    activity = follow(remote, server.group_url("jazz"), actor="alice")
    answer = await post_signed(
        remote, server.url("/inbox"), activity, key_id=remote.actor_url("bob")
    )
    assert answer.status == 401, answer.body
    assert "not by the actor" in answer.body
    assert await inbound_ids() == []


@pytest.mark.parametrize(("offset", "status"), [(-3840, 202), (+3540, 202), (-4000, 401),
                                                 (+3700, 401)])
async def test_mastodons_date_window(server, remote, offset, status):
    activity = follow(remote, server.group_url("jazz"))
    answer = await post_signed(remote, server.url("/inbox"), activity, now=time.time() + offset)
    assert answer.status == status, answer.body


async def test_the_date_window_is_configurable(tmp_path, remote):
    async with FedgroupServer(
        tmp_path, signature_max_future=60, signature_max_age=120
    ) as server:
        await server.create_group("jazz")
        for offset in (+600, -600):
            activity = follow(remote, server.group_url("jazz"))
            answer = await post_signed(
                remote, server.url("/inbox"), activity, now=time.time() + offset
            )
            assert answer.status == 401, answer.body
        assert await stored_counts() == NOTHING


@pytest.mark.parametrize("missing", ["host", "(request-target)", "digest"])
async def test_host_target_and_digest_stay_required(server, remote, missing):
    activity = follow(remote, server.group_url("jazz"))
    body = json.dumps(activity).encode()
    url = server.url("/inbox")
    covered = [h for h in ("(request-target)", "host", "date", "digest") if h != missing]
    headers = {
        "Host": f"127.0.0.1:{server.port}",
        "Date": formatdate(usegmt=True),
        "Digest": digest_header(body),
        "Content-Type": "application/activity+json",
    }
    base = cavage_signing_string("POST", url, headers, covered)
    value = remote.private_key.sign(base.encode(), padding.PKCS1v15(), hashes.SHA256())
    headers["Signature"] = (
        f'keyId="{remote.key_id("alice")}",algorithm="rsa-sha256",'
        f'headers="{" ".join(covered)}",signature="{base64.b64encode(value).decode()}"'
    )
    async with aiohttp.ClientSession() as session, session.post(
        url, data=body, headers=headers
    ) as response:
        assert response.status == 401, await response.text()
        assert "does not cover" in await response.text()
    assert await stored_counts() == NOTHING
