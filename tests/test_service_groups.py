"""Group operations against a real (temporary) SQLite database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from fedgroup.config import Settings
from fedgroup.service import groups, lifecycle
from fedgroup.service.errors import (
    AlreadyExists,
    InvalidValue,
    NotFound,
    Reserved,
    ServiceError,
)
from fedgroup.service.media import load_image_file, sniff_image_media_type
from fedgroup.storage.models import (
    Activity,
    Delivery,
    Group,
    GroupTombstone,
    Membership,
    MembershipMode,
    MembershipState,
    RemoteActor,
    StoredObject,
    Visibility,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
GIF = b"GIF89a" + b"\x00" * 32
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 24
SETTINGS = Settings(base_url="https://groups.example")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


async def add_member(group: Group, actor_url: str, state: MembershipState) -> Membership:
    actor = await RemoteActor.create(
        url=actor_url, host="remote.example", inbox=actor_url + "/inbox"
    )
    return await Membership.create(group=group, actor=actor, state=state)


async def add_object(group: Group, ap_id: str, *, reply_to: str | None = None, deleted=False):
    return await StoredObject.create(
        ap_id=ap_id,
        type="Note",
        attributed_to="https://remote.example/users/a",
        group=group,
        in_reply_to=reply_to,
        document={"id": ap_id},
        deleted=deleted,
    )


# --- names -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["jazz", "a", "jazz_piano", "2024", "x" * 64])
def test_valid_names_are_returned_unchanged(name):
    assert groups.validate_group_name(name) == name


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "empty"),
        ("x" * 65, "65 characters"),
        ("Jazz", "use 'jazz'"),
        ("jazz-piano", "lowercase letters"),
        ("jazz piano", "lowercase letters"),
        ("café", "lowercase letters"),
        ("jazz\n", "lowercase letters"),
        ("admin", "reserved"),
        ("inbox", "reserved"),
        ("instance", "reserved"),
        ("nodeinfo", "reserved"),
    ],
)
def test_invalid_names_are_refused_with_a_reason(name, fragment):
    with pytest.raises(InvalidValue, match=fragment) as info:
        groups.validate_group_name(name)
    assert "\n" not in str(info.value)


def test_error_family():
    for cls in (NotFound, AlreadyExists, InvalidValue):
        assert issubclass(cls, ServiceError)


# --- create / get / list -------------------------------------------------------------------


async def test_create_group_defaults_and_key_pair(database):
    group = await groups.create_group("jazz")
    stored = await Group.get(name="jazz")
    assert stored.id == group.id
    assert stored.display_name == "jazz"
    assert stored.visibility == Visibility.PUBLIC
    assert stored.membership_mode == MembershipMode.OPEN
    assert not stored.posting_restricted_to_mods and not stored.publish_members
    private = serialization.load_pem_private_key(stored.private_key_pem.encode(), None)
    public = serialization.load_pem_public_key(stored.public_key_pem.encode())
    assert private.public_key().public_numbers() == public.public_numbers()


async def test_create_group_with_every_option(database):
    await groups.create_group(
        "grief",
        display_name="  Grief support  ",
        summary="A quiet place.",
        rules="Be kind.\nNo advice unless asked.",
        approval_required=True,
        members_only=True,
        posting_restricted_to_mods=True,
        publish_members=True,
    )
    stored = await Group.get(name="grief")
    assert stored.display_name == "Grief support"
    assert stored.summary == "A quiet place."
    assert stored.rules == "Be kind.\nNo advice unless asked."
    assert stored.membership_mode == MembershipMode.APPROVAL
    assert stored.visibility == Visibility.MEMBERS_ONLY
    assert stored.posting_restricted_to_mods and stored.publish_members


async def test_each_group_gets_its_own_key(database):
    first = await groups.create_group("one")
    second = await groups.create_group("two")
    assert first.private_key_pem != second.private_key_pem


async def test_duplicate_name_is_refused(database):
    await groups.create_group("jazz")
    with pytest.raises(AlreadyExists, match="'jazz' exists already"):
        await groups.create_group("jazz", display_name="Other")
    assert await Group.filter(name="jazz").count() == 1


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"name": "Jazz"}, "uppercase"),
        ({"name": "admin"}, "reserved"),
        ({"name": "jazz", "display_name": "   "}, "display name is empty"),
        ({"name": "jazz", "display_name": "a\nb"}, "one line"),
        ({"name": "jazz", "display_name": "x" * 201}, "limit is 200"),
        ({"name": "jazz", "summary": "nul\x00byte"}, "control characters"),
        ({"name": "jazz", "rules": "r" * 20_001}, "limit is 20000"),
    ],
)
async def test_create_refuses_bad_values_and_stores_nothing(database, kwargs, fragment):
    with pytest.raises(InvalidValue, match=fragment):
        await groups.create_group(**kwargs)
    assert await Group.all().count() == 0


async def test_get_and_list(database):
    for name in ("zither", "accordion", "banjo"):
        await groups.create_group(name)
    assert (await groups.get_group("banjo")).name == "banjo"
    assert [g.name for g in await groups.list_groups()] == ["accordion", "banjo", "zither"]
    assert await groups.count_groups() == 3
    with pytest.raises(NotFound, match="no group named 'nope'"):
        await groups.get_group("nope")
    with pytest.raises(NotFound, match="lowercase"):
        await groups.get_group("Banjo")


# --- edit ----------------------------------------------------------------------------------


async def test_edit_changes_only_what_is_given(database):
    await groups.create_group("jazz", summary="old summary", rules="old rules")
    before = await Group.get(name="jazz")
    edited = await groups.edit_group(
        SETTINGS,
        "jazz",
        display_name="Jazz Piano",
        approval_required=True,
        members_only=True,
        posting_restricted_to_mods=True,
        publish_members=True,
        discoverable=False,
    )
    stored = await Group.get(name="jazz")
    assert edited.display_name == stored.display_name == "Jazz Piano"
    assert stored.summary == "old summary" and stored.rules == "old rules"
    assert stored.membership_mode == MembershipMode.APPROVAL
    assert stored.visibility == Visibility.MEMBERS_ONLY
    assert stored.posting_restricted_to_mods and stored.publish_members
    assert stored.discoverable is False
    assert stored.private_key_pem == before.private_key_pem
    assert stored.updated_at >= before.updated_at

    await groups.edit_group(
        SETTINGS, "jazz", summary="", approval_required=False, members_only=False
    )
    stored = await Group.get(name="jazz")
    assert stored.summary == ""
    assert stored.membership_mode == MembershipMode.OPEN
    assert stored.visibility == Visibility.PUBLIC
    assert stored.display_name == "Jazz Piano"


async def test_edit_icon_and_image(database):
    await groups.create_group("jazz")
    await groups.edit_group(SETTINGS, "jazz", icon=(PNG, "image/png"), image=(WEBP, "image/webp"))
    stored = await Group.get(name="jazz")
    assert (bytes(stored.icon), stored.icon_media_type) == (PNG, "image/png")
    assert (bytes(stored.image), stored.image_media_type) == (WEBP, "image/webp")

    await groups.edit_group(SETTINGS, "jazz", clear_icon=True)
    stored = await Group.get(name="jazz")
    assert stored.icon is None and stored.icon_media_type is None
    assert stored.image_media_type == "image/webp"


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"icon": (SVG, "image/png")}, "not a PNG, JPEG, GIF or WebP"),
        ({"icon": (JPEG, "image/png")}, "image/jpeg, not image/png"),
        ({"image": (b"", "image/png")}, "empty"),
        ({"icon": (PNG, "image/png"), "clear_icon": True}, "not both"),
        ({"display_name": ""}, "display name is empty"),
    ],
)
async def test_edit_refuses_bad_values_and_keeps_the_group(database, changes, fragment):
    await groups.create_group("jazz", display_name="Jazz")
    with pytest.raises(InvalidValue, match=fragment):
        await groups.edit_group(SETTINGS, "jazz", **changes)
    stored = await Group.get(name="jazz")
    assert stored.icon is None and stored.image is None and stored.display_name == "Jazz"


async def test_edit_unknown_group(database):
    with pytest.raises(NotFound):
        await groups.edit_group(SETTINGS, "nope", summary="x")


# --- delete / stats / demo -----------------------------------------------------------------


async def test_stats_count_this_groups_members_and_posts(database):
    jazz = await groups.create_group("jazz")
    other = await groups.create_group("other")
    await add_member(jazz, "https://remote.example/users/a", MembershipState.ACCEPTED)
    await add_member(jazz, "https://remote.example/users/b", MembershipState.ACCEPTED)
    await add_member(jazz, "https://remote.example/users/c", MembershipState.PENDING)
    await add_member(other, "https://remote.example/users/d", MembershipState.ACCEPTED)
    await add_object(jazz, "https://remote.example/notes/1")
    await add_object(jazz, "https://remote.example/notes/2", deleted=True)
    await add_object(
        jazz, "https://remote.example/notes/3", reply_to="https://remote.example/notes/1"
    )
    await add_object(other, "https://remote.example/notes/4")
    assert await groups.group_stats(jazz) == {
        "members_accepted": 2,
        "members_pending": 1,
        "posts": 1,
        "comments": 1,
    }


async def test_edit_queues_an_update_of_the_group_to_member_servers(database):
    jazz = await groups.create_group("jazz")
    await add_member(jazz, "https://remote.example/users/a", MembershipState.ACCEPTED)
    await add_member(jazz, "https://remote.example/users/b", MembershipState.PENDING)
    await groups.edit_group(SETTINGS, "jazz", display_name="Jazz Piano")
    update = await Activity.get(type="Update", inbound=False)
    assert update.payload["actor"] == "https://groups.example/groups/jazz"
    assert update.payload["object"]["id"] == "https://groups.example/groups/jazz"
    assert update.payload["object"]["name"] == "Jazz Piano"
    inboxes = await Delivery.filter(activity=update).values_list("inbox", flat=True)
    assert sorted(inboxes) == [
        "https://remote.example/users/a/inbox",
        "https://remote.example/users/b/inbox",
    ]


async def test_delete_removes_the_group_with_its_memberships_and_posts(database):
    jazz = await groups.create_group("jazz")
    keep = await groups.create_group("keep")
    await add_member(jazz, "https://remote.example/users/a", MembershipState.ACCEPTED)
    await add_member(keep, "https://remote.example/users/b", MembershipState.ACCEPTED)
    await add_object(jazz, "https://remote.example/notes/1")
    await lifecycle.delete_group(SETTINGS, "jazz")
    assert not await Group.exists(name="jazz")
    assert await Membership.all().count() == 1
    assert await StoredObject.all().count() == 0
    assert await RemoteActor.all().count() == 2  # remote people are not ours to forget
    with pytest.raises(NotFound, match="deleted on"):
        await lifecycle.delete_group(SETTINGS, "jazz")
    assert (await groups.get_group("keep")).id == keep.id
    # The Delete waits for its delivery; until then the tombstone keeps the key.
    tombstone = await GroupTombstone.get(name="jazz")
    assert tombstone.private_key_pem and tombstone.settled_at is None
    delete = await Activity.get(ap_id=tombstone.delete_activity)
    assert delete.payload["object"] == "https://groups.example/groups/jazz"
    assert await Delivery.filter(activity=delete).count() == 1


async def test_delete_of_a_group_without_members_settles_at_once(database):
    await groups.create_group("jazz")
    tombstone = await lifecycle.delete_group(SETTINGS, "jazz")
    assert tombstone.settled_at is not None
    assert tombstone.private_key_pem is None and tombstone.public_key_pem is None


async def test_a_deleted_name_is_reserved_until_reuse_is_allowed_and_due(database):
    await groups.create_group("jazz")
    await lifecycle.delete_group(SETTINGS, "jazz")
    with pytest.raises(Reserved, match="--allow-reuse"):
        await groups.create_group("jazz")
    with pytest.raises(Reserved, match="can be reused from"):
        await groups.create_group("jazz", reuse_after=3600)
    # An old enough deletion may be taken over, by explicit request only.
    await GroupTombstone.filter(name="jazz").update(deleted_at=datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(Reserved):
        await groups.create_group("jazz")
    again = await groups.create_group("jazz", reuse_after=3600)
    assert again.name == "jazz" and not await GroupTombstone.exists(name="jazz")


async def test_a_name_whose_delete_is_still_going_out_cannot_be_reused(database):
    jazz = await groups.create_group("jazz")
    await add_member(jazz, "https://remote.example/users/a", MembershipState.ACCEPTED)
    await lifecycle.delete_group(SETTINGS, "jazz")
    with pytest.raises(Reserved, match="still being delivered"):
        await groups.create_group("jazz", reuse_after=0)


async def test_ensure_demo_does_nothing_when_demo_was_deleted(database):
    await groups.create_group(groups.DEMO_GROUP_NAME)
    await lifecycle.delete_group(SETTINGS, groups.DEMO_GROUP_NAME)
    assert await groups.ensure_demo_group() is None


async def test_ensure_demo_group_only_on_an_empty_server(database):
    demo = await groups.ensure_demo_group()
    assert demo is not None and demo.name == groups.DEMO_GROUP_NAME
    assert await groups.ensure_demo_group() is None
    assert await Group.all().count() == 1


async def test_ensure_demo_group_leaves_a_server_with_groups_alone(database):
    await groups.create_group("jazz")
    assert await groups.ensure_demo_group() is None
    assert [g.name for g in await groups.list_groups()] == ["jazz"]


# --- media ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "media_type"),
    [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"), (WEBP, "image/webp")],
)
def test_image_types_are_sniffed_from_bytes(tmp_path: Path, data, media_type):
    path = tmp_path / "picture.txt"  # the extension is deliberately wrong
    path.write_bytes(data)
    assert sniff_image_media_type(data) == media_type
    assert load_image_file(path, max_bytes=1024) == (data, media_type)


@pytest.mark.parametrize(
    "data",
    [SVG, b"<html></html>", b"RIFF\x00\x00\x00\x00WAVEfmt ", b"GIF8", b"BM" + b"\x00" * 40],
)
def test_other_files_are_refused_even_when_named_png(tmp_path: Path, data):
    path = tmp_path / "icon.png"
    path.write_bytes(data)
    with pytest.raises(InvalidValue, match="not a PNG, JPEG, GIF or WebP image"):
        load_image_file(path, max_bytes=1024)


def test_oversized_empty_missing_and_directory_files_are_refused(tmp_path: Path):
    big = tmp_path / "big.png"
    big.write_bytes(PNG + b"\x00" * 2000)
    with pytest.raises(InvalidValue, match="larger than the 1024-byte limit"):
        load_image_file(big, max_bytes=1024)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(InvalidValue, match="empty"):
        load_image_file(empty, max_bytes=1024)
    with pytest.raises(InvalidValue, match="no such file"):
        load_image_file(tmp_path / "missing.png", max_bytes=1024)
    with pytest.raises(InvalidValue, match="not a regular file"):
        load_image_file(tmp_path, max_bytes=1024)
