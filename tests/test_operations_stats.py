"""`fedgroup admin stats`, run as an operator runs it (a subprocess) against a database whose
every figure is known: what it prints must be exactly what the database holds."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fedgroup.activitypub.keys import generate_rsa_key_pair
from fedgroup.service.outbound import queue_activity
from fedgroup.storage.db import sqlite_file
from fedgroup.storage.models import (
    Activity,
    ActivityState,
    Delivery,
    DeliveryState,
    Group,
    Instance,
    Membership,
    MembershipState,
    RemoteActor,
)
from tests.fakes.process import AdminCli


async def group(name: str) -> Group:
    private_pem, public_pem = generate_rsa_key_pair()
    return await Group.create(name=name, private_key_pem=private_pem, public_key_pem=public_pem)


async def actor(host: str, name: str) -> RemoteActor:
    url = f"https://{host}/users/{name}"
    return await RemoteActor.create(
        url=url, preferred_username=name, host=host, inbox=url + "/inbox"
    )


async def inbound(n: int, *, state: ActivityState, age: timedelta, now: datetime) -> None:
    row = await Activity.create(
        ap_id=f"https://m.test/activities/{n}",
        type="Create",
        actor="https://m.test/users/a1",
        inbound=True,
        payload={},
        state=state,
    )
    await Activity.filter(id=row.id).update(created_at=now - age)


async def seed() -> None:
    """Rows whose ages are counted from now: the test reads them at once."""
    now = datetime.now(UTC)
    jazz, circle = await group("jazz"), await group("circle")
    a1, a2, b1 = (
        await actor("m.test", "a1"),
        await actor("m.test", "a2"),
        await actor("l.test", "b1"),
    )
    for g, who, state in (
        (jazz, a1, MembershipState.ACCEPTED),
        (jazz, a2, MembershipState.ACCEPTED),
        (jazz, b1, MembershipState.PENDING),
        (circle, a1, MembershipState.ACCEPTED),
    ):
        await Membership.create(group=g, actor=who, state=state)
    await Instance.create(host="m.test", last_success_at=now)
    await Instance.create(host="l.test", first_failure_at=now - timedelta(hours=1))
    await Instance.create(
        host="d.test", first_failure_at=now - timedelta(days=3), unreachable_since=now
    )
    await inbound(1, state=ActivityState.RECEIVED, age=timedelta(hours=2), now=now)
    await inbound(2, state=ActivityState.RECEIVED, age=timedelta(seconds=5), now=now)
    await inbound(3, state=ActivityState.DONE, age=timedelta(hours=30), now=now)
    await queue_activity(
        {"id": "https://g.test/out/1", "type": "Announce", "actor": "https://g.test/groups/jazz"},
        group=None,
        inboxes=["https://m.test/inbox", "https://l.test/inbox", "https://d.test/inbox"],
    )
    await Delivery.filter(host="m.test").update(state=DeliveryState.DELIVERED, delivered_at=now)
    await Delivery.filter(host="l.test").update(
        state=DeliveryState.RETRYING, created_at=now - timedelta(hours=3)
    )
    await Delivery.filter(host="d.test").update(state=DeliveryState.FAILED)


async def test_stats_reports_what_the_database_holds(database, fedgroup_env, tmp_path: Path):
    await seed()
    admin = AdminCli(fedgroup_env)
    stats = json.loads((await admin("stats", "--json")).stdout)

    assert stats["groups"] == 2
    assert stats["members"] == {
        "accepted": 3,
        "pending": 1,
        "moved": 0,
        "distinct_accounts": 2,
    }
    assert stats["instances"] == {"known": 3, "reachable": 1, "failing": 1, "dead": 1}
    inbound_queue = stats["queues"]["inbound"]
    assert inbound_queue["depth"] == 2
    assert 7200 <= inbound_queue["oldest_age_seconds"] < 7200 + 120
    outbound_queue = stats["queues"]["outbound"]
    assert outbound_queue["depth"] == 1
    assert 3 * 3600 <= outbound_queue["oldest_age_seconds"] < 3 * 3600 + 120
    assert stats["queues"]["outbound_failed"] == 1
    assert stats["activities"] == {
        "in": {"last_hour": 1, "per_hour_24h": round(2 / 24, 1)},
        "out": {"last_hour": 1, "per_hour_24h": round(1 / 24, 1)},
        "deliveries_last_hour": 1,
    }
    path = sqlite_file(database)
    assert path is not None and stats["database"]["bytes"] >= path.stat().st_size > 0

    text = (await admin("stats")).stdout
    assert "instances:      3 known: 1 reachable, 1 failing, 1 dead" in text
    assert "inbound queue:  2 (oldest 72" in text
    assert "outbound queue: 1 (oldest 108" in text
    assert "members:        3 (1 pending, 2 accounts)" in text


async def test_stats_of_an_empty_server(database, fedgroup_env):
    text = (await AdminCli(fedgroup_env)("stats")).stdout
    assert "groups:         0" in text
    assert "inbound queue:  empty" in text and "outbound queue: empty" in text
