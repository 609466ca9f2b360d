"""The schema comes from migrations, on SQLite and PostgreSQL, and upgrades lose nothing.

Standing rule (README, "Schema migrations"): every model change ships a migration and a test
here that builds a database with the schema before it (`build_database_at`), fills it with
rows written in that older schema's terms, upgrades it the way a restarted server does
(`open_database`) and checks every row is still there and readable by the current models.
Add the new migration's predecessor to `UPGRADE_CASES` with rows that exercise what changed.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from tortoise import Tortoise, connections
from tortoise.migrations.api.migrate import migrate
from tortoise.migrations.autodetector import MigrationAutodetector

from fedgroup.activitypub.hosts import canonical_host
from fedgroup.config import DEFAULT_DATABASE_URL, Settings
from fedgroup.policy import rule_for
from fedgroup.service.cache_epochs import bump
from fedgroup.service.policies import load_policies
from fedgroup.storage.db import (
    APP_LABEL,
    DatabaseUnavailable,
    close_database,
    open_database,
    tortoise_config,
)
from fedgroup.storage.models import (
    Ban,
    CacheEpoch,
    Delivery,
    DomainAllow,
    DomainPolicy,
    Group,
    GroupTombstone,
    HeldPost,
    HeldState,
    Instance,
    Membership,
    MembershipState,
    Moderator,
    ModlogEntry,
    RemoteActor,
    Report,
    ReportState,
    StoredObject,
)

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "fedgroup/storage/migrations"
MIGRATIONS = sorted(p.stem for p in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.py"))
LATEST = MIGRATIONS[-1]
POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
RECORD_TABLE = "tortoise_migrations"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


# --- scaffolding for upgrade tests ---------------------------------------------------------


async def build_database_at(database_url: str, migration: str) -> None:
    """Make a database whose schema is exactly `migration` (a module name in migrations/)."""
    await migrate(config=tortoise_config(database_url), target=f"{APP_LABEL}.{migration}")
    await Tortoise.close_connections()


async def insert_raw(database_url: str, rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
    """Insert rows with plain SQL, so they are written in the old schema's terms, not through
    today's models (which may already expect columns the old schema lacks)."""
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        conn = connections.get("default")
        postgres = conn.capabilities.dialect == "postgres"
        for table, table_rows in rows.items():
            for row in table_rows:
                columns = ", ".join(f'"{c}"' for c in row)
                marks = ", ".join(f"${i}" if postgres else "?" for i in range(1, len(row) + 1))
                await conn.execute_query(
                    f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', list(row.values())
                )
    finally:
        await Tortoise.close_connections()


async def applied_migrations(database_url: str) -> list[str]:
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        _, rows = await connections.get("default").execute_query(
            f'SELECT "name" FROM "{RECORD_TABLE}" WHERE "app" = \'{APP_LABEL}\' ORDER BY "id"'
        )
        return [row["name"] for row in rows]
    finally:
        await Tortoise.close_connections()


async def table_names(database_url: str) -> set[str]:
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        conn = connections.get("default")
        if conn.capabilities.dialect == "postgres":
            sql = "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        _, rows = await conn.execute_query(sql)
        return {row["name"] for row in rows} - {"sqlite_sequence"}
    finally:
        await Tortoise.close_connections()


@dataclass(frozen=True)
class UpgradeCase:
    """Rows written at `before`; after upgrading, `check` must find them through the models."""

    before: str
    rows: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)


async def upgrade_from(database_url: str, case: UpgradeCase) -> None:
    """Build at `case.before`, insert its rows, then open the database as the server does."""
    await build_database_at(database_url, case.before)
    assert await applied_migrations(database_url) == MIGRATIONS[: MIGRATIONS.index(case.before) + 1]
    await insert_raw(database_url, case.rows)
    await open_database(database_url)  # the upgrade a restarted server performs


ROWS_AT_0001: dict[str, list[dict[str, Any]]] = {
    "groups": [
        {
            "id": 1, "name": "jazzpiano", "display_name": "Jazz piano", "summary": "Voicings",
            "rules": "Be kind", "visibility": "members_only", "membership_mode": "approval",
            "posting_restricted_to_mods": True, "publish_members": False, "discoverable": True,
            "private_key_pem": "PRIVATE", "public_key_pem": "PUBLIC",
            "created_at": NOW, "updated_at": NOW,
        }
    ],
    "remote_actors": [
        {
            "id": 1, "url": "https://social.example/users/ann", "type": "Person",
            "host": "social.example", "inbox": "https://social.example/users/ann/inbox",
            "document": "{}", "fetched_at": NOW,
        }
    ],
    "memberships": [
        {
            "id": 1, "group_id": 1, "actor_id": 1, "state": "accepted",
            "created_at": NOW, "updated_at": NOW,
        }
    ],
}


async def check_rows_from_0001() -> None:
    group = await Group.get(name="jazzpiano")
    assert (group.display_name, group.summary, group.rules) == ("Jazz piano", "Voicings", "Be kind")
    assert group.visibility == "members_only" and group.membership_mode == "approval"
    assert group.posting_restricted_to_mods is True
    assert group.created_at == NOW
    membership = await Membership.get(group=group).prefetch_related("actor")
    assert membership.state == MembershipState.ACCEPTED
    assert membership.actor.url == "https://social.example/users/ann"


async def check_0002_group_tombstones() -> None:
    """0002 adds the table of deleted groups; what was there stays, and the table works."""
    await check_rows_from_0001()
    await GroupTombstone.create(name="oldgroup", private_key_pem="K", public_key_pem="P")
    tombstone = await GroupTombstone.get(name="oldgroup")
    assert tombstone.settled_at is None and tombstone.members_told == 0


HOSTS_AS_0002_SPELT_THEM: dict[str, list[dict[str, Any]]] = {
    "groups": ROWS_AT_0001["groups"],
    # Two spellings of one domain with different rules, and a fullwidth one.
    "domain_policies": [
        {"id": 1, "domain": "bücher.example", "action": "allow", "reason": "", "created_at": NOW},
        {"id": 2, "domain": "xn--bcher-kva.example", "action": "block", "reason": "spam",
         "created_at": NOW},
        {"id": 3, "domain": "ｅｖｉｌ.example", "action": "limit", "reason": "", "created_at": NOW},
    ],
    "bans": [
        {"id": 1, "group_id": None, "domain": "bad。example", "reason": "", "created_at": NOW},
        {"id": 2, "group_id": None, "domain": "bad.example", "reason": "", "created_at": NOW},
        {"id": 3, "group_id": 1, "domain": "ｂａｄ.example", "reason": "", "created_at": NOW},
        {"id": 4, "group_id": 1, "actor_url": "https://x.example/users/y", "reason": "",
         "created_at": NOW},
    ],
    "remote_actors": [
        {
            "id": 1, "url": "https://Social.Example:443/users/ann", "type": "Person",
            "preferred_username": "ann", "host": "social.example:443",
            "inbox": "https://social.example/users/ann/inbox", "document": "{}", "fetched_at": NOW,
        },
        {
            "id": 2, "url": "https://bücher.example/users/bo", "type": "Person",
            "host": "bücher.example", "inbox": "https://bücher.example/users/bo/inbox",
            "document": "{}", "fetched_at": NOW,
        },
    ],
    "instances": [
        {"id": 1, "host": "bücher.example", "software": "mastodon", "software_version": "4.3.0",
         "nodeinfo_fetched_at": NOW, "first_failure_at": NOW},
        {"id": 2, "host": "xn--bcher-kva.example", "signature_scheme": "rfc9421",
         "last_success_at": NOW},
        {"id": 3, "host": "127.0.0.5:8123"},
    ],
    "activities": [
        {"id": 1, "ap_id": "https://groups.example/activities/1", "type": "Announce",
         "actor": "https://groups.example/groups/jazzpiano", "inbound": False,
         "payload": "{}", "public": False, "state": "received", "attempts": 0,
         "created_at": NOW},
    ],
    "deliveries": [
        {"id": 1, "activity_id": 1, "inbox": "https://bücher.example/inbox",
         "host": "bücher.example", "state": "queued", "attempts": 0, "next_attempt_at": NOW,
         "created_at": NOW},
        {"id": 2, "activity_id": 1, "inbox": "http://127.0.0.5:8123/inbox",
         "host": "127.0.0.5:8123", "state": "queued", "attempts": 0, "next_attempt_at": NOW,
         "created_at": NOW},
    ],
}


async def check_hosts_made_canonical() -> None:
    """Every stored host is now spelt canonically, rows collapsed into one keep what either
    knew, and the rules still apply, to every spelling."""
    policies = {p.domain: p.severity for p in await DomainPolicy.all()}
    assert policies == {"xn--bcher-kva.example": "suspend", "evil.example": "silence"}
    bans = {(b.group_id, b.domain, b.actor_url) for b in await Ban.all()}
    assert bans == {
        (None, "bad.example", None),
        (1, None, "https://x.example/users/y"),
        (1, "bad.example", None),
    }
    actors = {a.url: a.host for a in await RemoteActor.all()}
    assert actors == {
        "https://Social.Example:443/users/ann": "social.example",
        "https://bücher.example/users/bo": "xn--bcher-kva.example",
    }
    instances = {i.host: i for i in await Instance.all()}
    assert set(instances) == {"xn--bcher-kva.example", "127.0.0.5:8123"}
    merged = instances["xn--bcher-kva.example"]
    assert (merged.software, merged.signature_scheme) == ("mastodon", "rfc9421")
    assert merged.first_failure_at is None, "a success under either spelling proves it alive"
    assert merged.last_success_at == NOW
    assert sorted(await Delivery.all().values_list("host", flat=True)) == [
        "127.0.0.5:8123",
        "xn--bcher-kva.example",
    ]
    for spelling in ("https://BÜCHER.example/users/z", "bad.example.", "ｅｖｉｌ.example:443"):
        host = canonical_host(spelling)
        assert rule_for(host, (await load_policies(Settings())).rules) is not None, spelling


ANN = "https://social.example/users/ann"
ROWS_WITH_A_THREAD = {
    **ROWS_AT_0001,
    "objects": [
        {
            "id": n, "ap_id": f"{ANN}/statuses/{n}", "type": "Note", "attributed_to": ANN,
            "group_id": 1, "in_reply_to": f"{ANN}/statuses/{n - 1}" if n > 1 else None,
            "content_html": f"<p>post {n}</p>", "document": "{}", "deleted": False,
            "created_at": NOW,
        }
        for n in (1, 2, 3)
    ],
}


async def check_thread_from_0003() -> None:
    """0004 indexes a group's posts by what they answer; the posts are all still there and
    found by the queries the pages make."""
    starters = await StoredObject.filter(group_id=1, in_reply_to__isnull=True)
    assert [o.ap_id for o in starters] == [f"{ANN}/statuses/1"]
    answers = await StoredObject.filter(group_id=1, in_reply_to=f"{ANN}/statuses/2")
    assert [o.content_html for o in answers] == ["<p>post 3</p>"]
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        sql = "SELECT indexdef AS d FROM pg_indexes WHERE tablename = 'objects'"
    else:
        sql = "SELECT sql AS d FROM sqlite_master WHERE type = 'index' AND tbl_name = 'objects'"
    _, rows = await conn.execute_query(sql)
    assert any("group_id" in (r["d"] or "") and "in_reply_to" in (r["d"] or "") for r in rows)


ROWS_WITH_TWO_THREADS = {
    **ROWS_WITH_A_THREAD,
    "objects": [
        *ROWS_WITH_A_THREAD["objects"],
        # Answers a post that is not here: it starts its own thread.
        {
            "id": 4, "ap_id": f"{ANN}/statuses/4", "type": "Note", "attributed_to": ANN,
            "group_id": 1, "in_reply_to": "https://elsewhere.example/notes/9",
            "content_html": "<p>post 4</p>", "document": "{}", "deleted": False,
            "created_at": NOW,
        },
    ],
}


async def check_threads_from_0004() -> None:
    """0005 gives every stored post its thread (the first post of its inReplyTo chain in the
    group) and its arrival as its publication time; the thread's posts are then found by
    the query the thread collection makes."""
    threads = {o.ap_id: o.thread_id for o in await StoredObject.all()}
    assert threads == {
        f"{ANN}/statuses/1": 1,
        f"{ANN}/statuses/2": 1,
        f"{ANN}/statuses/3": 1,
        f"{ANN}/statuses/4": 4,
    }
    thread = await StoredObject.filter(group_id=1, thread_id=1).order_by("published", "id")
    assert [o.content_html for o in thread] == ["<p>post 1</p>", "<p>post 2</p>", "<p>post 3</p>"]
    assert all(o.published == NOW and o.context is None for o in thread)


async def check_modlog_and_held_from_0005() -> None:
    """0006 adds the moderation log and the held-posts queue; the posts are untouched, a
    group's log and queue take rows, and deleting the group takes them with it."""
    assert await StoredObject.filter(group_id=1).count() == 4
    group = await Group.get(name="jazzpiano")
    await ModlogEntry.create(group=group, moderator="admin", action="ban", target=ANN)
    await ModlogEntry.create(group=None, moderator="admin", action="policy", target="x.example")
    await HeldPost.create(
        group=group, actor_url=ANN, object_id=f"{ANN}/statuses/9", activity={}, object={}
    )
    held = await HeldPost.get(group=group)
    assert held.state == HeldState.HELD and held.decided_at is None
    await group.delete()
    assert await ModlogEntry.filter(group_id=None).count() == 1
    assert await HeldPost.all().count() == 0


async def check_group_moves_from_0006() -> None:
    """0007 lets a group record where it moved and what it was, and a membership wait for a
    moved member's Follow; the existing group and member are as they were."""
    await check_rows_from_0001()
    group = await Group.get(name="jazzpiano")
    assert group.moved_to is None and not group.also_known_as
    group.moved_to = "https://new.example/groups/jazzpiano"
    group.also_known_as = ["https://old.example/groups/jazzpiano"]
    await group.save()
    again = await Group.get(name="jazzpiano")
    assert again.also_known_as == ["https://old.example/groups/jazzpiano"]
    await Membership.filter(group=group).update(state=MembershipState.MOVED)
    assert (await Membership.get(group=group)).state == MembershipState.MOVED


ROWS_WITH_A_BAN = {
    **ROWS_WITH_TWO_THREADS,
    "bans": [
        {"id": 1, "group_id": 1, "actor_url": "https://x.example/users/y", "reason": "spam",
         "created_at": NOW},
    ],
}


async def check_moderators_and_moderated_posts_from_0007() -> None:
    """0008 adds moderators, a ban's expiry, and removed/locked/pinned marks on posts; what
    was there is untouched: bans stay for good, posts are neither removed, locked nor
    pinned, and the threads still read whole."""
    ban = await Ban.get(id=1)
    assert (ban.reason, ban.expires_at) == ("spam", None)
    posts = await StoredObject.filter(group_id=1).order_by("id")
    assert len(posts) == 4
    assert not any(p.removed or p.locked or p.pinned_at for p in posts)
    group = await Group.get(name="jazzpiano")
    await Moderator.create(group=group, actor_url=ANN, added_by="admin")
    assert [m.actor_url for m in await Moderator.filter(group=group)] == [ANN]


async def check_reports_and_modlog_settings_from_0008() -> None:
    """0009 adds reports and the group's moderation-log settings (off: nothing of the log is
    published by an upgrade); the group and its rows are untouched."""
    group = await Group.get(name="jazzpiano")
    assert (group.publish_modlog, group.modlog_names_moderators) == (False, False)
    assert group.display_name == "Jazz piano"
    report = await Report.create(
        group=group, flag_id="https://x.example/flags/1", reporter=ANN, flag={}, objects=[ANN]
    )
    assert report.state == ReportState.OPEN and report.forwarded_at is None


ROWS_WITH_OLD_DOMAIN_RULES = {
    **ROWS_AT_0001,
    # No ids: the rows take them from the table's sequence, as the server's did.
    "domain_policies": [
        {"domain": "bad.example", "action": "block", "reason": "spam farm",
         "created_at": NOW},
        {"domain": "loud.example", "action": "limit", "reason": "", "created_at": NOW},
        {"domain": "pics.example", "action": "reject_media", "reason": "gore",
         "created_at": NOW},
        {"domain": "friends.example", "action": "allow", "reason": "partner",
         "created_at": NOW},
    ],
}


async def check_domain_rules_from_0009() -> None:
    """0010 turns each old `action` into Mastodon's shape: block is a suspension, limit a
    silence, reject_media a noop rule rejecting media, and allow an allow-list entry; the
    old reason becomes the private note, and the rules decide as before."""
    rules = {
        p.domain: (p.severity, p.reject_media, p.reject_reports, p.private_note, p.group_id)
        for p in await DomainPolicy.all()
    }
    assert rules == {
        "bad.example": ("suspend", False, False, "spam farm", None),
        "loud.example": ("silence", False, False, "", None),
        "pics.example": ("noop", True, False, "gore", None),
    }
    allowed = [(a.domain, a.comment, a.created_at) for a in await DomainAllow.all()]
    assert allowed == [("friends.example", "partner", NOW)]
    policies = await load_policies(Settings(allowlist_mode=True))
    assert policies.treatment("sub.bad.example").suspended
    assert policies.treatment("friends.example").severity == "noop"
    assert policies.treatment("elsewhere.example").suspended  # not on the allow list
    group = await Group.get(name="jazzpiano")
    await DomainPolicy.create(domain="bad.example", group=group, severity="silence")
    assert await DomainPolicy.filter(domain="bad.example").count() == 2


async def check_cache_epochs_from_0010() -> None:
    """0011 adds the cache epochs, empty (a server's first look clears everything anyway);
    the rows from before are untouched and the CLI's bump works on the upgraded file."""
    assert await CacheEpoch.all().count() == 0
    assert (await Group.get(name="jazzpiano")).display_name == "Jazz piano"
    await bump("domain_rules")
    await bump("domain_rules")
    assert (await CacheEpoch.get(name="domain_rules")).epoch == 2


# Each earlier migration a database may still be at, with rows that exercise what follows it.
UPGRADE_CASES = [
    pytest.param(UpgradeCase("0001_initial", ROWS_AT_0001), check_rows_from_0001, id="0001"),
    pytest.param(
        UpgradeCase("0001_initial", ROWS_AT_0001), check_0002_group_tombstones, id="0002"
    ),
    pytest.param(
        UpgradeCase("0002_group_tombstones", HOSTS_AS_0002_SPELT_THEM),
        check_hosts_made_canonical,
        id="0003",
    ),
    pytest.param(
        UpgradeCase("0003_canonical_hosts", ROWS_WITH_A_THREAD), check_thread_from_0003, id="0004"
    ),
    pytest.param(
        UpgradeCase("0004_conversation_indexes", ROWS_WITH_TWO_THREADS),
        check_threads_from_0004,
        id="0005",
    ),
    pytest.param(
        UpgradeCase("0005_threads_and_events", ROWS_WITH_TWO_THREADS),
        check_modlog_and_held_from_0005,
        id="0006",
    ),
    pytest.param(
        UpgradeCase("0006_moderation_log_and_held_posts", ROWS_AT_0001),
        check_group_moves_from_0006,
        id="0007",
    ),
    pytest.param(
        UpgradeCase("0007_group_moves", ROWS_WITH_A_BAN),
        check_moderators_and_moderated_posts_from_0007,
        id="0008",
    ),
    pytest.param(
        UpgradeCase("0008_moderators_removals_pins_locks", ROWS_AT_0001),
        check_reports_and_modlog_settings_from_0008,
        id="0009",
    ),
    pytest.param(
        UpgradeCase("0009_reports_and_published_modlog", ROWS_WITH_OLD_DOMAIN_RULES),
        check_domain_rules_from_0009,
        id="0010",
    ),
    pytest.param(
        UpgradeCase("0010_domain_policies_as_mastodon", ROWS_AT_0001),
        check_cache_epochs_from_0010,
        id="0011",
    ),
]


# --- databases -----------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh SQLite file, or a throwaway database on the local PostgreSQL, dropped after."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/fedgroup.sqlite3"
        return
    name = f"fedgroup_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield f"postgres://postgres@127.0.0.1:5432/{name}"
    finally:
        await Tortoise.close_connections()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _model_tables() -> set[str]:
    return {model._meta.db_table for model in Tortoise.apps[APP_LABEL].values()}


# --- tests ---------------------------------------------------------------------------------


def test_migrations_are_numbered_in_sequence() -> None:
    assert MIGRATIONS[0] == "0001_initial"
    numbers = [int(re.match(r"\d+", name).group()) for name in MIGRATIONS]  # type: ignore[union-attr]
    assert numbers == list(range(1, len(numbers) + 1))


async def test_fresh_database_gets_every_table(database_url: str) -> None:
    await open_database(database_url)
    try:
        expected = _model_tables() | {RECORD_TABLE}
    finally:
        await close_database()
    assert await table_names(database_url) == expected
    assert await applied_migrations(database_url) == MIGRATIONS


async def test_reopening_is_a_no_op_that_keeps_rows(database_url: str) -> None:
    await open_database(database_url)
    try:
        await Group.create(name="kept", private_key_pem="a", public_key_pem="b")
    finally:
        await close_database()
    for _ in range(2):
        await open_database(database_url)
        try:
            assert [g.name for g in await Group.all()] == ["kept"]
        finally:
            await close_database()
    assert await applied_migrations(database_url) == MIGRATIONS


async def test_sqlite_file_is_created_in_an_existing_directory(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/fedgroup.sqlite3"
    await open_database(url)
    await close_database()
    assert (tmp_path / "fedgroup.sqlite3").is_file()


async def test_only_the_default_data_directory_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mistyped directory is an error, not a new empty database; ./data, the default
    database's directory, is created so a fresh checkout serves without setup."""
    with pytest.raises(DatabaseUnavailable, match="directory .*new/dir does not exist"):
        await open_database(f"sqlite://{tmp_path}/new/dir/fedgroup.sqlite3")
    assert not (tmp_path / "new").exists()
    monkeypatch.chdir(tmp_path)
    await open_database(DEFAULT_DATABASE_URL)
    await close_database()
    assert (tmp_path / "data" / "fedgroup.sqlite3").is_file()


@pytest.mark.parametrize(("case", "check"), UPGRADE_CASES)
async def test_upgrade_keeps_rows(database_url: str, case: UpgradeCase, check: Any) -> None:
    await upgrade_from(database_url, case)
    try:
        await check()
    finally:
        await close_database()
    assert await applied_migrations(database_url) == MIGRATIONS


async def test_build_database_at_stops_at_the_target(database_url: str) -> None:
    """The helper really builds the old schema: before 0001 nothing, at 0001 the initial one."""
    await build_database_at(database_url, "0001_initial")
    tables = await table_names(database_url)
    assert {"groups", "memberships", "remote_actors", RECORD_TABLE} <= tables
    assert await applied_migrations(database_url) == ["0001_initial"]
    await insert_raw(database_url, {"groups": ROWS_AT_0001["groups"]})
    await open_database(database_url)
    try:
        assert await Group.filter(name="jazzpiano").count() == 1
        assert await RemoteActor.all().count() == 0
    finally:
        await close_database()


async def test_models_match_migrations() -> None:
    """A model changed without its migration would leave existing databases behind."""
    config = tortoise_config("sqlite://:memory:")
    await Tortoise.init(config=config)
    try:
        pending = await MigrationAutodetector(Tortoise.apps, config["apps"]).changes()
    finally:
        await Tortoise.close_connections()
    assert not pending, (
        "models changed without a migration; run makemigrations (README, Schema migrations): "
        + ", ".join(f"{w.name}: {[type(op).__name__ for op in w.operations]}" for w in pending)
    )
