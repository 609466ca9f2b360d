"""A group moves to another fedgroup server and its members' servers follow it there.

Two real fedgroup servers: the old home in this process (its own SQLite file), the new one a
`fedgroup serve` child process with another. The operator runs the admin CLI as processes:
`group export` on the old server, `group import` on the new one, `group move` on the old.
Members on a fake Mastodon and a fake Lemmy receive the Move, decide as their software does
(tests/fakes/software.py) whether to follow it, and follow the new address; the new server
accepts the members it imported at once, though the group approves members.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from fedgroup.activitypub.vocab import PUBLIC
from fedgroup.service.bans import ban_domain
from fedgroup.service.moderation import set_pinned
from fedgroup.storage.models import Group, Membership, MembershipState
from tests.fakes import FakeInstance
from tests.fakes.members import join, post_to_group, start_remote
from tests.fakes.process import AdminCli, ServerProcess
from tests.fakes.sender import post_signed, send_follow, wait_accepted
from tests.fakes.server import FedgroupServer
from tests.fakes.software import lemmy_move_target, mastodon_move_target
from tests.test_cli_groups import assert_one_error_line, cli, cli_json

AS_JSON = {"Accept": "application/activity+json"}


async def get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=AS_JSON) as answer:
        text = await answer.text()
        try:
            return answer.status, json.loads(text)
        except ValueError:
            return answer.status, text


def of_type(kind: str, actor: str):
    return lambda p: (p.json or {}).get("type") == kind and p.json.get("actor") == actor


def admin_of(server: FedgroupServer, tmp_path: Path) -> AdminCli:
    """The admin CLI as a process against the in-process server's database."""
    env = {
        **ServerProcess(tmp_path / "unused").env,
        "FEDGROUP_BASE_URL": server.base_url,
        "FEDGROUP_PORT": str(server.port),
        "FEDGROUP_DATABASE_URL": server.settings.database_url,
    }
    return AdminCli(env)


async def leave(remote: FakeInstance, name: str, server_url: str, follow: dict) -> None:
    undo = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": remote.url(f"/undo/{uuid.uuid4()}"),
        "type": "Undo",
        "actor": remote.actor_url(name),
        "object": follow,
    }
    assert (await post_signed(remote, server_url + "/inbox", undo, actor=name)).status == 202


@pytest.fixture
async def homes(tmp_path: Path):
    (tmp_path / "old").mkdir()
    async with (
        FedgroupServer(tmp_path / "old") as old,
        ServerProcess(tmp_path / "new") as new,
    ):
        masto = await start_remote("mastodon", "carol", "frank")
        lemmy = await start_remote("lemmy", "bob", "erin")
        try:
            yield old, new, masto, lemmy
        finally:
            await masto.close()
            await lemmy.close()


async def test_export_import_move_members_servers_follow_the_group(homes, tmp_path: Path):
    old, new, masto, lemmy = homes
    await old.create_group("jazz", approval=True, display_name="Jazz", rules="Be kind")
    await join(old, masto, "carol", "jazz")
    await join(old, lemmy, "bob", "jazz")
    await send_follow(lemmy, "erin", old.group_url("jazz"))  # a request nobody approved yet
    group = await Group.get(name="jazz")
    await ban_domain(group, "spam.example", "spam")
    topic = await post_to_group(
        old, lemmy, "bob", "jazz", "<p>Welcome</p>", kind="Page", title="Read me first"
    )
    await set_pinned(old.settings, group, topic, True)
    status, old_featured = await get(old.group_url("jazz") + "/featured")
    assert status == 200 and old_featured["totalItems"] == 1
    status, known = await get(old.group_url("jazz"))
    assert status == 200
    old_admin = admin_of(old, tmp_path)

    export = tmp_path / "jazz.json"
    result = await old_admin("group", "export", "jazz", str(export))
    assert "3 members (1 pending), 1 bans, 1 pinned posts" in result.stdout
    assert export.stat().st_mode & 0o077 == 0, "the member list is private"
    exported = json.loads(export.read_text())
    states = {m["actor"]: m["state"] for m in exported["members"]}
    assert states == {
        masto.actor_url("carol"): "accepted",
        lemmy.actor_url("bob"): "accepted",
        lemmy.actor_url("erin"): "pending",
    }
    assert "PRIVATE KEY" not in export.read_text()

    # The new home does not name the old group yet: a move there is refused, nothing sent.
    await new.admin("group", "create", "elsewhere")
    refused = await old_admin("group", "move", "jazz", new.group_url("elsewhere"), check=False)
    assert refused.returncode == 1 and "alsoKnownAs" in refused.stderr
    assert (await Group.get(name="jazz")).moved_to is None

    imported = await new.admin("group", "import", str(export))
    assert "2 members are accepted when their servers follow it here" in imported.stdout
    assert "1 pending requests not carried; 1 bans, 1 pinned posts" in imported.stdout
    status, new_home = await new.get_json(new.group_url("jazz"))
    assert status == 200 and new_home["alsoKnownAs"] == [old.group_url("jazz")]
    assert new_home["name"] == "Jazz" and new_home["manuallyApprovesFollowers"] is True
    assert new_home["publicKey"]["publicKeyPem"] != known["publicKey"]["publicKeyPem"]
    listed = json.loads((await new.admin("members", "list", "jazz", "--json")).stdout)
    assert listed == [], "nobody is a member before their server follows"
    bans = await new.admin("bans", "list", "jazz")
    assert "spam.example" in bans.stdout
    status, featured = await new.get_json(new.group_url("jazz") + "/featured")
    assert status == 200
    assert featured["orderedItems"] == old_featured["orderedItems"], "the pin moved along"

    moved = await old_admin("group", "move", "jazz", "@" + new.group_handle("jazz"))
    assert "Move goes to 2 inboxes" in moved.stdout
    status, old_home = await get(old.group_url("jazz"))
    assert old_home["movedTo"] == new.group_url("jazz")

    # Each member's server decides as its software does, then follows the new address.
    follows = {}
    for remote, name in ((masto, "carol"), (lemmy, "bob")):
        move = await remote.wait_for(of_type("Move", old.group_url("jazz")), timeout=10)
        if remote is masto:
            target = await mastodon_move_target(move)
        else:
            target = await lemmy_move_target(move, known)
        assert target == new.group_url("jazz"), move.json
        update = await remote.wait_for(of_type("Update", old.group_url("jazz")), timeout=10)
        assert update.json["object"]["movedTo"] == target
        follows[name] = await send_follow(remote, name, target)
        await wait_accepted(remote, follows[name])
        old_follow = next(
            p.json["object"]
            for p in remote.received
            if (p.json or {}).get("type") == "Accept"
            and p.json["actor"] == old.group_url("jazz")
            and p.json["object"]["actor"] == remote.actor_url(name)
        )
        await leave(remote, name, old.base_url, old_follow)

    listed = json.loads((await new.admin("members", "list", "jazz", "--json")).stdout)
    assert {m["actor"] for m in listed} == {masto.actor_url("carol"), lemmy.actor_url("bob")}
    # Someone new still asks, and waits for approval.
    await send_follow(masto, "frank", new.group_url("jazz"))
    for _ in range(20):
        pending = await new.admin("members", "list", "jazz", "--pending", "--json")
        if json.loads(pending.stdout):
            break
        await asyncio.sleep(0.1)
    assert [m["actor"] for m in json.loads(pending.stdout)] == [masto.actor_url("frank")]

    # The group works at its new home: carol's post reaches bob's Lemmy from there.
    note_id = masto.url(f"/users/carol/statuses/{uuid.uuid4().hex}")
    note = {
        "id": note_id,
        "type": "Note",
        "attributedTo": masto.actor_url("carol"),
        "to": [PUBLIC],
        "cc": [new.group_url("jazz")],
        "content": "<p>Hello from the new home</p>",
        "tag": [{"type": "Mention", "href": new.group_url("jazz"), "name": "@jazz"}],
        "published": "2026-11-27T10:00:00Z",
    }
    masto.serve(note_id.removeprefix(masto.base_url), {"@context": [], **note})
    create = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": note_id + "/activity",
        "type": "Create",
        "actor": masto.actor_url("carol"),
        "to": note["to"],
        "cc": note["cc"],
        "object": note,
    }
    answer = await post_signed(masto, new.shared_inbox_url, create, actor="carol")
    assert answer.status == 202
    announce = await lemmy.wait_for(of_type("Announce", new.group_url("jazz")), timeout=10)
    assert announce.verified and announce.json["object"]["id"] == create["id"]

    # The old home keeps nobody: both servers left it.
    async with asyncio.timeout(10):
        while True:
            if not await Membership.filter(group=group, state=MembershipState.ACCEPTED).exists():
                break
            await asyncio.sleep(0.05)


# --- bad exports: one line, exit 1, nothing stored ------------------------------------------


def exported_group(capsys, tmp_path: Path) -> dict[str, Any]:
    assert cli(capsys, "group", "create", "jazz", "--rules", "Be kind")[0] == 0
    path = tmp_path / "jazz.json"
    assert cli(capsys, "group", "export", "jazz", str(path))[0] == 0
    document = json.loads(path.read_text())
    document["members"] = [
        {
            "actor": "https://social.example/users/ann",
            "preferred_username": "ann",
            "inbox": "https://social.example/users/ann/inbox",
            "shared_inbox": "https://social.example/inbox",
            "state": "accepted",
        }
    ]
    return document


def import_of(capsys, tmp_path: Path, document: Any, *extra: str) -> tuple[int, str]:
    path = tmp_path / f"{uuid.uuid4().hex}.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    code, _, err = cli(capsys, "group", "import", str(path), *extra)
    return code, err


def test_an_export_imports_under_another_name(fedgroup_env, capsys, tmp_path: Path) -> None:
    document = exported_group(capsys, tmp_path)
    code, err = import_of(capsys, tmp_path, document, "--name", "jazz2")
    assert code == 0, err
    shown = cli_json(capsys, "group", "show", "jazz2")
    assert shown["rules"] == "Be kind" and shown["members"] == {"accepted": 0, "pending": 0}
    code, err = import_of(capsys, tmp_path, document)
    assert code == 1
    assert_one_error_line(err, "a group named 'jazz' exists already")


SPOILT_EXPORTS = [
    (lambda d: "{not json", "is not JSON"),
    (lambda d: [d], "not a JSON object"),
    (lambda d: {**d, "format": "mastodon-archive"}, "format is 'mastodon-archive'"),
    (lambda d: {**d, "version": 9}, "version 9"),
    (lambda d: {**d, "members": [{**d["members"][0], "state": "owner"}]}, "state 'owner'"),
    (
        lambda d: {**d, "members": [{**d["members"][0], "inbox": "https://evil.example/i"}]},
        "is not on the actor's host",
    ),
    (
        lambda d: {**d, "members": [{**d["members"][0], "actor": "file:///etc/passwd"}]},
        "not an http(s) URL",
    ),
    (lambda d: {**d, "group": {**d["group"], "display_name": " "}}, "display name is empty"),
    (lambda d: {**d, "group": {**d["group"], "members_only": "yes"}}, "members_only"),
    (
        lambda d: {**d, "group": {**d["group"], "icon": {"media_type": "image/png", "data": "!"}}},
        "not base64",
    ),
    (lambda d: {**d, "bans": [{"reason": "x"}]}, "needs an actor or a domain"),
    (
        lambda d: {**d, "bans": [{"domain": "x.example", "expires": "soon"}]},
        "ban 1's expiry 'soon'",
    ),
    (lambda d: {**d, "moderators": [{"actor": "javascript:x"}]}, "moderator 1's actor"),
    (lambda d: {**d, "group": {**d["group"], "publish_modlog": "yes"}}, "publish_modlog"),
    (
        lambda d: {
            **d,
            "pinned": [
                {
                    "attributed_to": "https://social.example/users/ann",
                    "document": {"id": "https://forged.example/p/1", "type": "Note"},
                }
            ],
        },
        "pinned post 1 'https://forged.example/p/1' is not on the actor's host",
    ),
]


def test_a_bad_export_is_refused_in_one_line_and_nothing_is_stored(
    fedgroup_env, capsys, tmp_path: Path
) -> None:
    document = exported_group(capsys, tmp_path)
    for spoil, says in SPOILT_EXPORTS:
        code, err = import_of(capsys, tmp_path, spoil(document), "--name", "jazz2")
        assert code == 1, says
        assert_one_error_line(err, says)
    assert [g["name"] for g in cli_json(capsys, "group", "list")] == ["jazz"]
    code, _, _ = cli(capsys, "members", "list", "jazz")
    assert code == 0


def test_export_and_move_refuse_without_touching_anything(
    fedgroup_env, capsys, tmp_path: Path
) -> None:
    exported_group(capsys, tmp_path)
    code, _, err = cli(capsys, "group", "export", "jazz", str(tmp_path / "jazz.json"))
    assert code == 1
    assert_one_error_line(err, "exists already")
    code, _, err = cli(capsys, "group", "move", "nope", "https://new.example/groups/jazz")
    assert code == 1
    assert_one_error_line(err, "no group named 'nope'")
    code, _, err = cli(capsys, "group", "move", "jazz", "http://127.0.0.1:1/groups/jazz")
    assert code == 1
    assert_one_error_line(err, "cannot fetch")
