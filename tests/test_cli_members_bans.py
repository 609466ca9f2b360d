"""`members …` and `bans …`: admin decisions reach the member's server as queued activities."""

from __future__ import annotations

import asyncio
from typing import Any

from fedgroup.storage.db import close_database, open_database
from fedgroup.storage.models import Activity, Ban, Delivery, Group, Membership, RemoteActor
from tests.test_cli_groups import assert_one_error_line, cli, cli_json, run_subprocess

FOLLOW_ID = "https://remote.example/follows/1"


def seed(database_url: str, group: str, name: str, state: str) -> str:
    """A remote actor with a membership in `state`, as the inbox leaves it after a Follow."""
    actor_url = f"https://remote.example/users/{name}"

    async def run() -> None:
        await open_database(database_url)
        try:
            g = await Group.get(name=group)
            actor = await RemoteActor.create(
                url=actor_url,
                preferred_username=name,
                host="remote.example",
                inbox=actor_url + "/inbox",
                shared_inbox="https://remote.example/inbox",
            )
            follow = {
                "id": f"{FOLLOW_ID}/{name}",
                "type": "Follow",
                "actor": actor_url,
                "object": f"http://127.0.0.1:8080/groups/{group}",
            }
            await Membership.create(group=g, actor=actor, state=state, follow_activity=follow)
        finally:
            await close_database()

    asyncio.run(run())
    return actor_url


def queued(database_url: str) -> list[tuple[str, Any, str]]:
    """(type, object, inbox) of every queued outbound delivery."""

    async def run() -> list[tuple[str, Any, str]]:
        await open_database(database_url)
        try:
            rows = await Delivery.all().order_by("id").prefetch_related("activity")
            return [(d.activity.type, d.activity.payload["object"], d.inbox) for d in rows]
        finally:
            await close_database()

    return asyncio.run(run())


def count(database_url: str, model) -> int:
    async def run() -> int:
        await open_database(database_url)
        try:
            return await model.all().count()
        finally:
            await close_database()

    return asyncio.run(run())


def test_members_list_approve_and_reject(fedgroup_env, database_url, capsys):
    cli_json(capsys, "group", "create", "vetted", "--approval-required")
    seed(database_url, "vetted", "ann", "pending")
    seed(database_url, "vetted", "ben", "pending")
    assert cli_json(capsys, "members", "list", "vetted") == []
    pending = cli_json(capsys, "members", "list", "vetted", "--pending")
    assert [p["handle"] for p in pending] == ["@ann@remote.example", "@ben@remote.example"]

    approved = cli_json(capsys, "members", "approve", "vetted", "@ann@remote.example")
    assert approved["state"] == "accepted"
    code, out, _ = cli(capsys, "members", "reject", "vetted", "https://remote.example/users/ben")
    assert code == 0 and "rejected" in out

    sent = queued(database_url)
    assert sent[0][0] == "Accept" and sent[0][1]["id"] == f"{FOLLOW_ID}/ann"
    assert sent[0][2] == "https://remote.example/users/ann/inbox"
    assert sent[1][0] == "Reject" and sent[1][1]["id"] == f"{FOLLOW_ID}/ben"
    members = cli_json(capsys, "members", "list", "vetted")
    assert [m["handle"] for m in members] == ["@ann@remote.example"]
    code, out, _ = cli(capsys, "members", "list", "vetted")
    assert "@ann@remote.example" in out


def test_members_remove_sends_reject(fedgroup_env, database_url, capsys):
    cli_json(capsys, "group", "create", "jazz")
    seed(database_url, "jazz", "ann", "accepted")
    code, _, err = cli(capsys, "members", "remove", "jazz", "ann@remote.example")
    assert code == 0, err
    assert [t for t, _, _ in queued(database_url)] == ["Reject"]
    assert count(database_url, Membership) == 0


def test_members_errors_are_one_line(fedgroup_env, database_url, capsys):
    cli_json(capsys, "group", "create", "jazz")
    seed(database_url, "jazz", "ann", "accepted")
    code, _, err = cli(capsys, "members", "list", "nosuch")
    assert code == 1
    assert_one_error_line(err, "nosuch")
    code, _, err = cli(capsys, "members", "approve", "jazz", "@ghost@remote.example")
    assert code == 1
    assert_one_error_line(err, "ghost")
    code, _, err = cli(capsys, "members", "approve", "jazz", "@ann@remote.example")
    assert code == 1
    assert_one_error_line(err, "already a member")
    code, _, err = cli(capsys, "members", "remove", "jazz", "not a handle")
    assert code == 1
    assert_one_error_line(err, "handle")
    assert queued(database_url) == []


def test_ban_member_removes_and_tells_in_both_shapes(fedgroup_env, database_url, capsys):
    cli_json(capsys, "group", "create", "jazz")
    actor = seed(database_url, "jazz", "ann", "accepted")
    ban = cli_json(capsys, "bans", "add", "jazz", "@ann@remote.example", "--reason", "spam")
    assert ban["actor"] == actor and ban["reason"] == "spam"
    kinds = [(t, o if isinstance(o, str) else o["type"]) for t, o, _ in queued(database_url)]
    assert kinds == [("Reject", "Follow"), ("Block", actor)]
    assert count(database_url, Membership) == 0
    listed = cli_json(capsys, "bans", "list", "jazz")
    assert [b["actor"] for b in listed] == [actor]
    code, _, err = cli(capsys, "bans", "add", "jazz", "@ann@remote.example")
    assert code == 1
    assert_one_error_line(err, "already banned")
    assert cli_json(capsys, "bans", "remove", "jazz", actor) == {"unbanned": actor}
    assert count(database_url, Ban) == 0


def test_domain_and_server_bans(fedgroup_env, database_url, capsys):
    cli_json(capsys, "group", "create", "jazz")
    seed(database_url, "jazz", "ann", "accepted")
    ban = cli_json(capsys, "bans", "add", "--server", "--domain", "Remote.Example")
    assert ban["domain"] == "remote.example"
    assert count(database_url, Membership) == 0
    assert [b["domain"] for b in cli_json(capsys, "bans", "list", "--server")] == ["remote.example"]
    code, _, err = cli(capsys, "bans", "add", "--server", "--domain", "not a domain")
    assert code == 1
    assert_one_error_line(err, "not a domain")
    code, _, err = cli(capsys, "bans", "list")
    assert code == 2
    assert_one_error_line(err, "--server")
    code, _, err = cli(capsys, "bans", "remove", "jazz", "nobody.example")
    assert code == 1
    assert_one_error_line(err, "no ban")
    assert count(database_url, Activity) == 0


def test_members_through_the_real_entry_point(fedgroup_env, database_url):
    assert run_subprocess(fedgroup_env, "group", "create", "jazz").returncode == 0
    seed(database_url, "jazz", "ann", "accepted")
    result = run_subprocess(fedgroup_env, "members", "list", "jazz")
    assert result.returncode == 0 and "@ann@remote.example" in result.stdout
    typo = run_subprocess(fedgroup_env, "members", "aprove", "jazz", "x")
    assert typo.returncode == 2 and "invalid choice" in typo.stderr
