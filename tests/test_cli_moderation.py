"""`modlog`, `held …`, `mods …`, `posts …`, `reports …` and `bans … --days/--purge` from the
admin CLI: what is stored, what is printed, and one line for every mistake. What members'
servers then receive is tests/test_moderation.py's (and test_moderation_held.py's) business."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from fedgroup.storage.db import close_database, open_database
from fedgroup.storage.models import Ban, Group, Moderator, Report, StoredObject
from tests.test_cli_groups import assert_one_error_line, cli, cli_json
from tests.test_cli_members_bans import seed

POST = "https://remote.example/users/ann/statuses/1"


def run(database_url: str, coroutine_factory):
    async def go():
        await open_database(database_url)
        try:
            return await coroutine_factory()
        finally:
            await close_database()

    return asyncio.run(go())


def seed_post(database_url: str, group: str, author: str) -> None:
    async def make():
        row = await StoredObject.create(
            ap_id=POST,
            type="Note",
            attributed_to=author,
            group=await Group.get(name=group),
            content_html="<p>hi</p>",
            document={
                "id": POST,
                "type": "Note",
                "to": ["https://www.w3.org/ns/activitystreams#Public"],
            },
        )
        row.thread_id = row.id
        await row.save()

    run(database_url, make)


def post_row(database_url: str) -> StoredObject:
    return run(database_url, lambda: StoredObject.get(ap_id=POST))


def test_posts_commands_change_the_post_and_log_it(fedgroup_env, database_url, capsys):
    cli_json(capsys, "group", "create", "jazz")
    ann = seed(database_url, "jazz", "ann", "accepted")
    seed_post(database_url, "jazz", ann)
    done = cli_json(capsys, "posts", "pin", "jazz", POST, "--reason", "welcome")
    assert done == {"post": POST, "group": "jazz", "action": "pin"}
    assert post_row(database_url).pinned_at is not None
    code, out, _ = cli(capsys, "posts", "lock", "jazz", POST)
    assert (code, out) == (0, f"locked {POST} in jazz\n")
    cli_json(capsys, "posts", "remove", "jazz", POST, "--reason", "spam")
    row = post_row(database_url)
    assert row.removed and row.locked
    code, _, err = cli(capsys, "posts", "unpin", "jazz", POST)
    assert code == 1
    assert_one_error_line(err, "is removed; restore it first")
    cli_json(capsys, "posts", "restore", "jazz", POST)
    cli_json(capsys, "posts", "unpin", "jazz", POST)
    cli_json(capsys, "posts", "unlock", "jazz", POST)
    row = post_row(database_url)
    assert not (row.removed or row.locked or row.pinned_at)
    log = cli_json(capsys, "modlog", "jazz")
    assert [(e["action"], e["target"], e["reason"]) for e in log] == [
        ("unlock_post", POST, ""),
        ("unpin_post", POST, ""),
        ("restore_post", POST, ""),
        ("remove_post", POST, "spam"),
        ("lock_post", POST, ""),
        ("pin_post", POST, "welcome"),
    ]


def test_posts_and_mods_errors_are_one_line(fedgroup_env, database_url, capsys):
    cli_json(capsys, "group", "create", "jazz")
    ann = seed(database_url, "jazz", "ann", "accepted")
    seed_post(database_url, "jazz", ann)
    code, _, err = cli(capsys, "posts", "remove", "jazz", POST + "9")
    assert code == 1
    assert_one_error_line(err, f"no post {POST}9 in jazz")
    code, _, err = cli(capsys, "posts", "unlock", "jazz", POST)
    assert code == 1
    assert_one_error_line(err, "is not locked")
    code, _, err = cli(capsys, "posts", "pin", "nosuch", POST)
    assert code == 1
    assert_one_error_line(err, "nosuch")
    code, _, err = cli(capsys, "posts", "shred", "jazz", POST)
    assert code == 2
    assert_one_error_line(err, "shred")

    assert cli_json(capsys, "mods", "list", "jazz") == []
    code, _, err = cli(capsys, "mods", "add", "jazz", "https://127.0.0.1:1/users/x")
    assert code == 1
    assert_one_error_line(err, "cannot name https://127.0.0.1:1/users/x a moderator")
    code, _, err = cli(capsys, "mods", "remove", "jazz", ann)
    assert code == 1
    assert_one_error_line(err, "is not a moderator of jazz")
    assert cli_json(capsys, "modlog", "jazz") == []


def test_bans_for_some_days_end_by_themselves(fedgroup_env, database_url, capsys):
    cli_json(capsys, "group", "create", "jazz")
    ann = seed(database_url, "jazz", "ann", "accepted")
    code, out, err = cli(capsys, "bans", "add", "jazz", ann, "--days", "3", "--reason", "cool off")
    assert code == 0, err
    assert out.startswith(f"banned {ann} from jazz until ") and out.endswith(" UTC\n")
    listed = cli_json(capsys, "bans", "list", "jazz")
    expires = datetime.fromisoformat(listed[0]["expires"])
    assert timedelta(days=2, hours=23) < expires - datetime.now(UTC) <= timedelta(days=3)
    assert cli_json(capsys, "modlog", "jazz")[0]["reason"] == "cool off; for 3 days"

    async def expire():
        await Ban.filter(actor_url=ann).update(expires_at=datetime.now(UTC) - timedelta(seconds=1))

    run(database_url, expire)
    assert cli_json(capsys, "bans", "list", "jazz") == []
    again = cli_json(capsys, "bans", "add", "jazz", ann, "--days", "1")
    assert again["expires"] is not None, "an expired ban does not stand in the way"

    for bad in ("0", "-2", "many"):
        code, _, err = cli(capsys, "bans", "add", "jazz", ann, "--days", bad)
        assert code == 2
        assert_one_error_line(err, "days")
    code, _, err = cli(capsys, "bans", "add", "jazz", ann, "--days", "4000")
    assert code == 1
    assert_one_error_line(err, "--days must be between 1 and 3650")
    code, _, err = cli(capsys, "bans", "add", "jazz", "--domain", "bad.example", "--purge")
    assert code == 2
    assert_one_error_line(err, "--purge")


def test_reports_list_and_resolve(fedgroup_env, database_url, capsys):
    cli_json(capsys, "group", "create", "jazz")
    ann = seed(database_url, "jazz", "ann", "accepted")
    seed_post(database_url, "jazz", ann)

    async def report():
        return await Report.create(
            group=await Group.get(name="jazz"),
            flag_id="https://lemmy.example/activities/flag/1",
            reporter="https://lemmy.example/u/bo",
            author=ann,
            objects=[POST],
            reason="rude",
            flag={"id": "https://lemmy.example/activities/flag/1", "type": "Flag"},
        )

    number = run(database_url, report).id
    listed = cli_json(capsys, "reports", "list", "jazz")
    assert [(r["id"], r["author"], r["objects"], r["reason"]) for r in listed] == [
        (number, ann, [POST], "rude")
    ]
    code, out, _ = cli(capsys, "reports", "list")
    assert code == 0 and "rude" in out and POST in out
    done = cli_json(capsys, "reports", "resolve", "jazz", str(number), "--reason", "warned")
    assert done["state"] == "resolved" and done["resolved_by"] == "admin"
    assert cli_json(capsys, "reports", "list") == []
    assert [r["state"] for r in cli_json(capsys, "reports", "list", "--all")] == ["resolved"]
    assert cli_json(capsys, "modlog", "jazz")[0]["action"] == "resolve_report"

    code, _, err = cli(capsys, "reports", "resolve", "jazz", str(number))
    assert code == 1
    assert_one_error_line(err, f"report {number} was already resolved by admin")
    code, _, err = cli(capsys, "reports", "resolve", "jazz", "99")
    assert code == 1
    assert_one_error_line(err, "no report 99 in jazz")
    code, _, err = cli(capsys, "reports", "resolve", "jazz", "first")
    assert code == 1
    assert_one_error_line(err, "not a report number")


def test_group_edit_publishes_the_moderation_log(fedgroup_env, database_url, capsys):
    cli_json(capsys, "group", "create", "jazz")
    shown = cli_json(capsys, "group", "show", "jazz")
    assert (shown["publish_modlog"], shown["modlog_names_moderators"]) == (False, False)
    edited = cli_json(
        capsys, "group", "edit", "jazz", "--publish-modlog", "--modlog-names-moderators"
    )
    assert (edited["publish_modlog"], edited["modlog_names_moderators"]) == (True, True)
    code, out, _ = cli(capsys, "group", "show", "jazz")
    assert code == 0 and "publish modlog:" in out
    back = cli_json(capsys, "group", "edit", "jazz", "--no-modlog-names-moderators")
    assert (back["publish_modlog"], back["modlog_names_moderators"]) == (True, False)


def test_modlog_records_member_and_ban_decisions(fedgroup_env, database_url, capsys):
    cli_json(capsys, "group", "create", "jazz")
    cli_json(capsys, "group", "create", "blues", "--approval-required")
    ann = seed(database_url, "blues", "ann", "pending")
    ben = seed(database_url, "jazz", "ben", "accepted")
    cli_json(capsys, "members", "approve", "blues", ann)
    cli_json(capsys, "bans", "add", "jazz", ben, "--reason", "spam")
    cli_json(capsys, "bans", "add", "--server", "--domain", "bad.example", "--reason", "abuse")
    cli_json(capsys, "bans", "remove", "jazz", ben)

    jazz = cli_json(capsys, "modlog", "jazz")
    assert [(e["action"], e["target"], e["reason"]) for e in jazz] == [
        ("unban", ben, ""),
        ("ban", ben, "spam"),
    ]
    everything = cli_json(capsys, "modlog")
    assert [(e["group"], e["action"]) for e in everything] == [
        ("jazz", "unban"),
        (None, "ban"),
        ("jazz", "ban"),
        ("blues", "approve_member"),
    ]
    assert cli_json(capsys, "modlog", "--limit", "1")[0]["action"] == "unban"
    code, out, _ = cli(capsys, "modlog", "jazz")
    assert code == 0
    header, *lines = out.splitlines()
    assert header.split() == ["WHEN", "GROUP", "BY", "ACTION", "TARGET", "REASON"]
    assert lines[1].split()[1:] == ["jazz", "admin", "ban", ben, "spam"]


def test_modlog_and_held_errors_are_one_line(fedgroup_env, database_url, capsys):
    cli_json(capsys, "group", "create", "jazz")
    assert cli_json(capsys, "modlog", "jazz") == []
    code, out, _ = cli(capsys, "modlog")
    assert (code, out) == (0, "the moderation log is empty\n")
    code, _, err = cli(capsys, "modlog", "nosuch")
    assert code == 1
    assert_one_error_line(err, "nosuch")
    code, _, err = cli(capsys, "modlog", "--limit", "0")
    assert code == 2
    assert_one_error_line(err, "above 0")
    assert cli_json(capsys, "held", "list") == []
    code, _, err = cli(capsys, "held", "approve", "jazz", "7")
    assert code == 1
    assert_one_error_line(err, "no held post 7 in jazz")
    code, _, err = cli(capsys, "held", "reject", "jazz", "not-a-post")
    assert code == 1
    assert_one_error_line(err, "not a held post number or URL")
    code, _, err = cli(capsys, "held", "approve", "nosuch", "1")
    assert code == 1
    assert_one_error_line(err, "nosuch")
    assert cli_json(capsys, "modlog") == []


def test_a_moved_group_keeps_its_moderators_bans_in_force_and_log_settings(
    fedgroup_env, database_url, capsys, tmp_path
):
    cli_json(capsys, "group", "create", "jazz")
    cli_json(capsys, "group", "edit", "jazz", "--publish-modlog")
    ann = seed(database_url, "jazz", "ann", "accepted")
    mia = "https://lemmy.example/u/mia"

    async def name_moderator():
        await Moderator.create(group=await Group.get(name="jazz"), actor_url=mia)

    run(database_url, name_moderator)
    cli_json(capsys, "bans", "add", "jazz", ann, "--days", "2")
    cli_json(capsys, "bans", "add", "jazz", "--domain", "spam.example")
    export = tmp_path / "jazz.json"
    cli_json(capsys, "group", "export", "jazz", str(export))
    cli_json(capsys, "group", "import", str(export), "--name", "jazz2")

    assert [m["actor"] for m in cli_json(capsys, "mods", "list", "jazz2")] == [mia]
    bans = {
        (b["actor"] or b["domain"]): b["expires"] for b in cli_json(capsys, "bans", "list", "jazz2")
    }
    assert bans["spam.example"] is None
    assert datetime.fromisoformat(bans[ann]) > datetime.now(UTC) + timedelta(days=1)
    assert cli_json(capsys, "group", "show", "jazz2")["publish_modlog"] is True
