"""Class 9: oracles and leaks.

A request that has not proved who sent it learns nothing: not whether an activity id is
known (nothing is looked up before the signature verifies), and not what our network sees
when we try to fetch its key (refusals say what was refused).
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.sender import post_signed, post_unsigned
from tests.fakes.server import FedgroupServer

from .support import follow

STRANGER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("forgery", ["wrong-key", "unreachable-key", "unsigned", "bad-digest"])
async def test_a_forged_request_cannot_tell_a_known_activity(server, remote, forgery):
    known = follow(remote, server.group_url("jazz"))
    assert (await post_signed(remote, server.url("/inbox"), known)).status == 202
    unknown = follow(remote, server.group_url("jazz"))
    answers = []
    for activity in (known, unknown):
        if forgery == "wrong-key":
            answer = await post_signed(
                remote, server.url("/inbox"), activity, private_key=STRANGER
            )
        elif forgery == "unreachable-key":
            answer = await post_signed(
                remote, server.url("/inbox"), activity, key_id=remote.url("/nokey#k")
            )
        elif forgery == "unsigned":
            answer = await post_unsigned(server.url("/inbox"), activity)
        else:
            answer = await post_signed(
                remote, server.url("/inbox"), activity,
                tamper_body=json.dumps({**activity, "x": 1}).encode(),
            )
        answers.append((answer.status, answer.body))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401


@pytest.mark.parametrize(
    "key_id",
    [
        "http://localhost:1/users/x#main-key",
        "http://10.0.0.5/users/x#main-key",
        "https://no-such-host.invalid/users/x#main-key",
        "http://127.0.0.1:1/users/x#main-key",
    ],
)
async def test_refusals_do_not_show_what_our_network_sees(tmp_path, remote, key_id):
    async with FedgroupServer(tmp_path, allow_private_network=0) as server:
        await server.create_group("jazz")
        answer = await post_signed(
            remote, server.url("/inbox"), follow(remote, server.group_url("jazz")), key_id=key_id
        )
    assert answer.status == 401
    assert json.loads(answer.body) == {"error": "signature key unavailable"}
