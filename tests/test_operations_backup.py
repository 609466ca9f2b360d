"""Backups an operator can trust: taken while the server writes, restored only when safe.

A real `fedgroup serve` process with a real SQLite file receives 1,000 signed posts from a
member's fake server while `admin backup` runs as another process; the backup is then
restored over the database and the server started on it. Nothing the server had answered
202 before the backup began may be missing.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from pathlib import Path

import aiohttp

from fedgroup.activitypub.httpsig import sign_request
from tests.fakes import FakeInstance
from tests.fakes.process import ServerProcess
from tests.fakes.sender import follow_group
from tests.test_cli_groups import assert_one_error_line, cli, cli_json

POSTS = 1000
CONCURRENCY = 8
BACKUP_AFTER = 150


def signed_create(remote: FakeInstance, server: ServerProcess, n: int) -> tuple[str, bytes, dict]:
    actor = remote.actor_url("alice")
    note_id = remote.url(f"/users/alice/statuses/{n}-{uuid.uuid4().hex[:8]}")
    group = server.group_url("jazz")
    create = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": note_id + "/activity",
        "type": "Create",
        "actor": actor,
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": [group],
        "object": {
            "id": note_id,
            "type": "Note",
            "attributedTo": actor,
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
            "cc": [group],
            "content": f"<p>post {n}</p>",
            "tag": [{"type": "Mention", "href": group, "name": "@jazz"}],
            "published": "2026-11-23T10:00:00Z",
        },
    }
    body = json.dumps(create).encode()
    headers = sign_request(
        "POST",
        server.shared_inbox_url,
        {"Content-Type": "application/activity+json"},
        body,
        key_id=remote.key_id("alice"),
        private_key=remote.private_key,
    )
    return create["id"], body, headers


class Writer:
    """Sends the posts, noting when each was acknowledged with 202."""

    def __init__(self, remote: FakeInstance, server: ServerProcess) -> None:
        self.remote, self.server = remote, server
        self.acknowledged: list[tuple[float, str]] = []
        self.refused: list[int] = []
        self.enough = asyncio.Event()

    async def run(self) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(POSTS):
            queue.put_nowait(n)
        async with aiohttp.ClientSession() as session:

            async def send() -> None:
                while not queue.empty():
                    ap_id, body, headers = signed_create(
                        self.remote, self.server, queue.get_nowait()
                    )
                    async with session.post(
                        self.server.shared_inbox_url, data=body, headers=headers
                    ) as answer:
                        if answer.status == 202:
                            self.acknowledged.append((time.monotonic(), ap_id))
                        else:
                            self.refused.append(answer.status)
                    if len(self.acknowledged) >= BACKUP_AFTER:
                        self.enough.set()

            await asyncio.gather(*(send() for _ in range(CONCURRENCY)))
        self.enough.set()


def inbound_ids(database: Path) -> set[str]:
    connection = sqlite3.connect(database)
    try:
        return {row[0] for row in connection.execute("SELECT ap_id FROM activities")}
    finally:
        connection.close()


async def test_a_backup_taken_while_1000_activities_arrive_restores_all_acknowledged(
    tmp_path: Path,
) -> None:
    backup = tmp_path / "backup.sqlite3"
    async with ServerProcess(tmp_path / "server") as server, FakeInstance() as remote:
        remote.add_actor("alice")
        await server.admin.create_group("jazz")
        await follow_group(remote, "alice", server.group_url("jazz"))
        writer = Writer(remote, server)
        sending = asyncio.create_task(writer.run())
        await writer.enough.wait()
        began = time.monotonic()
        acknowledged_before = {ap_id for _, ap_id in writer.acknowledged}
        result = await server.admin("backup", str(backup))
        ended = time.monotonic()
        await sending
        assert "backed up" in result.stdout
        assert not writer.refused
        during = [ap_id for at, ap_id in writer.acknowledged if began < at < ended]
        assert len(acknowledged_before) < POSTS and during, "the backup ran while posts arrived"

        refused = await server.admin("restore", str(backup), check=False)
        assert refused.returncode == 1
        assert "in use" in refused.stderr and "stop the server" in refused.stderr
        await server.stop()
        live = inbound_ids(server.database_path)
        assert {ap_id for _, ap_id in writer.acknowledged} <= live

        restored = await server.admin("restore", str(backup))
        assert "restored" in restored.stdout
        with sqlite3.connect(server.database_path) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        in_backup = inbound_ids(server.database_path)
        missing = acknowledged_before - in_backup
        assert not missing, f"{len(missing)} acknowledged activities missing"
        assert len(in_backup & live) < len(live), "the restored file is the backup, not a copy"
        assert list(tmp_path.joinpath("server").glob("fedgroup.sqlite3.replaced-*"))

        await server.start()
        status, actor = await server.get_json(server.group_url("jazz"))
        assert status == 200 and actor["preferredUsername"] == "jazz"


def test_restore_refuses_files_that_are_not_fedgroup_databases(
    fedgroup_env, capsys, tmp_path: Path
) -> None:
    assert cli(capsys, "group", "create", "jazz")[0] == 0  # a database to protect
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE songs (title TEXT)")
    damaged = tmp_path / "damaged.sqlite3"
    assert cli(capsys, "backup", str(damaged))[0] == 0
    data = bytearray(damaged.read_bytes())
    data[4096:8192] = b"\xff" * 4096  # a page of garbage inside the file
    damaged.write_bytes(bytes(data))
    newer = tmp_path / "newer.sqlite3"
    assert cli(capsys, "backup", str(newer))[0] == 0
    with sqlite3.connect(newer) as connection:
        connection.execute(
            "INSERT INTO tortoise_migrations (app, name, applied_at) "
            "VALUES ('models', '9999_from_the_future', '2030-01-01')"
        )
    for path, reason in (
        (newer, "was made by a newer fedgroup (migration 9999_from_the_future"),
        (text, "is not a SQLite database"),
        (other, "is not a fedgroup database"),
        (damaged, "is damaged"),
        (tmp_path / "missing.sqlite3", "no such file"),
    ):
        code, _, err = cli(capsys, "restore", str(path))
        assert code == 1, err
        assert_one_error_line(err, reason)
    listing = cli_json(capsys, "group", "list")
    assert [g["name"] for g in listing] == ["jazz"], "nothing was replaced"
    code, _, err = cli(capsys, "backup", str(damaged))
    assert code == 1
    assert_one_error_line(err, "exists already")


def test_postgres_is_pointed_at_pg_dump(fedgroup_env, capsys, tmp_path: Path) -> None:
    url = "postgres://fedgroup:secret@127.0.0.1:5432/fedgroup"
    for verb in ("backup", "restore"):
        code, _, err = cli(capsys, verb, str(tmp_path / "x"), "--database-url", url)
        assert code == 1
        assert_one_error_line(err, "pg_dump", "***")
        assert "secret" not in err
