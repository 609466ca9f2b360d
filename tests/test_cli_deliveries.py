"""The admin CLI's `deliveries` commands, as an operator runs them."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fedgroup.activitypub.keys import generate_rsa_key_pair
from fedgroup.cli.main import main
from fedgroup.service.outbound import queue_activity
from fedgroup.storage.db import close_database, open_database
from fedgroup.storage.models import Delivery, DeliveryState, Group, Instance

SINCE = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite://{tmp_path}/db.sqlite3"
    for name in list(os.environ):
        if name.startswith("FEDGROUP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FEDGROUP_DATABASE_URL", url)
    return url


def seed(url: str) -> None:
    """Three deliveries to a.test (one given up on, host unreachable), one delivered to b.test."""

    async def run() -> None:
        await open_database(url)
        try:
            private_pem, public_pem = generate_rsa_key_pair()
            group = await Group.create(
                name="jazz", private_key_pem=private_pem, public_key_pem=public_pem
            )
            await queue_activity(
                {"id": "https://g.test/a/1", "type": "Announce", "actor": "https://g.test/g"},
                group=group,
                inboxes=["https://a.test/inbox", "https://a.test/u/1/inbox"],
            )
            await queue_activity(
                {"id": "https://g.test/a/2", "type": "Announce", "actor": "https://g.test/g"},
                group=group,
                inboxes=["https://a.test/inbox", "https://b.test/inbox"],
            )
            later = datetime.now(UTC) + timedelta(hours=2)
            await Delivery.filter(host="a.test").update(
                state=DeliveryState.RETRYING, next_attempt_at=later
            )
            await Delivery.filter(host="a.test", inbox="https://a.test/u/1/inbox").update(
                state=DeliveryState.FAILED
            )
            await Delivery.filter(host="b.test").update(state=DeliveryState.DELIVERED)
            await Instance.create(host="a.test", first_failure_at=SINCE, unreachable_since=SINCE)
        finally:
            await close_database()

    asyncio.run(run())


def read(url: str, host: str) -> tuple[list[Delivery], Instance | None]:
    async def run():
        await open_database(url)
        try:
            return await Delivery.filter(host=host), await Instance.get_or_none(host=host)
        finally:
            await close_database()

    return asyncio.run(run())


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_status_as_json(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(db_url)
    code, out, err = cli(capsys, "deliveries", "status", "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["counts"] == {
        "queued": 0,
        "retrying": 2,
        "delivered": 1,
        "dropped": 0,
        "failed": 1,
    }
    assert status["unreachable"] == [
        {
            "host": "a.test",
            "unreachable_since": SINCE.isoformat(),
            "failing_since": SINCE.isoformat(),
        }
    ]
    assert [(b["host"], b["pending"]) for b in status["backlog"]] == [("a.test", 2)]


def test_status_as_text(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(db_url)
    code, out, _ = cli(capsys, "deliveries", "status")
    assert code == 0
    assert "retrying:" in out and "failed:" in out
    assert "unreachable instances:" in out and "a.test" in out
    assert "backlog:" in out


def test_status_of_an_empty_queue(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "deliveries", "status")
    assert code == 0
    assert "unreachable instances: none" in out and "backlog: none" in out


def test_retry_makes_a_host_due_and_clears_unreachable(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(db_url)
    code, out, err = cli(capsys, "deliveries", "retry", "a.test", "--json")
    assert code == 0, err
    assert json.loads(out) == {"host": "a.test", "due": 3}
    deliveries, instance = read(db_url, "a.test")
    now = datetime.now(UTC)
    assert len(deliveries) == 3
    assert all(d.state is DeliveryState.RETRYING and d.next_attempt_at <= now for d in deliveries)
    assert instance is not None and instance.unreachable_since is None
    others, _ = read(db_url, "b.test")
    assert [d.state for d in others] == [DeliveryState.DELIVERED]


def test_retry_accepts_an_inbox_url(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(db_url)
    code, out, _ = cli(capsys, "deliveries", "retry", "https://A.test/inbox")
    assert code == 0
    assert "3 deliveries to a.test are due now" in out


def test_retry_of_an_unknown_host_is_one_error_line(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(db_url)
    code, out, err = cli(capsys, "deliveries", "retry", "nowhere.test")
    assert code == 1 and out == ""
    assert err.splitlines() == ["error: no deliveries to nowhere.test and no such instance known"]
