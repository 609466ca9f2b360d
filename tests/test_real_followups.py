"""Every real Update, Delete, Like, Dislike and Undo payload we hold, rewritten onto fake
instances, and what the group does with it.

As tests/test_real_creates.py does for Creates: each row maps the payload's foreign URL
prefixes onto loopback roles, sets up what the payload acts on (its author joins; the post
it edits, deletes or likes is first posted to the group by its own author), sends it signed
to our shared inbox, and asserts the outcome:

- announced: the Lemmy member's server gets `Announce{<the activity unchanged>}` (FEP-1b12),
  and the row's own check holds (the edit kept, the post deleted);
- left: the sender is no longer a member;
- refused: the inbound row records `ignored: <why>` and nothing is queued outbound.

A moderator's activity (a Lemmy removal, lock, pin, ban) is sent by someone the row makes a
moderator of the group first; an Undo of one (or of an author's Delete) is preceded by the
activity it undoes. Every such payload in the corpus has a row (the last test checks).

Roles: `{author}` (the sender's server), `{owner}` (the server of the post's author, when
someone else acts on it: a vote, a moderator's removal), `{group}` (our group).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from fedgroup.activitypub.posts import trimmed_post
from fedgroup.activitypub.vocab import PUBLIC, id_of
from fedgroup.storage.models import (
    Activity,
    ActivityState,
    Group,
    Membership,
    Moderator,
    StoredObject,
)
from tests.fakes import FakeInstance
from tests.fakes.fixtures import Corpus, rewrite_ids
from tests.fakes.members import join, start_remote, wait_handled
from tests.fakes.sender import post_signed
from tests.fakes.server import FedgroupServer
from tests.fakes.software import lemmy_inner

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROUP = "jazz"
WAIT = 10.0
Check = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Announced:
    """Passed to FEP-1b12 members unchanged; `then` checks what the group now holds."""

    then: Check | None = None


@dataclass(frozen=True)
class Left:
    """An Undo{Follow}: the sender is no longer a member."""


@dataclass(frozen=True)
class Refused:
    reason: str


@dataclass(frozen=True)
class Prior:
    """A post the payload acts on, posted to the group first by its own author."""

    role: str  # "author" or "owner"
    type: str = "Note"
    # The version posted first, for an Update: the payload's object without its edit.
    from_payload: bool = False


@dataclass(frozen=True)
class Case:
    fixture: str
    mapping: dict[str, str]
    expect: Announced | Left | Refused
    prior: Prior | None = None
    software: str = "lemmy"
    owner_name: str | None = None  # the post's author on {owner}, when not the sender
    moderator: bool = False  # the sender moderates the group
    undone_first: bool = False  # an Undo: the activity it undoes is sent (and applied) first


async def edited(payload: dict[str, Any]) -> None:
    row = await StoredObject.get(ap_id=payload["object"]["id"])
    # Kept as the fields we use (activitypub.posts): the newer version's.
    assert row.document == trimmed_post(payload["object"]), "the newer version is kept"


async def deleted(payload: dict[str, Any]) -> None:
    row = await StoredObject.get(ap_id=id_of(payload["object"]))
    assert row.deleted and row.content_html == ""


async def undeleted(payload: dict[str, Any]) -> None:
    row = await StoredObject.get(ap_id=target_of(payload))
    assert not row.deleted and row.content_html == "<p>a post</p>", "back as it was"


async def removed(payload: dict[str, Any]) -> None:
    row = await StoredObject.get(ap_id=id_of(payload["object"]))
    assert row.removed and not row.deleted, "removed by a moderator, restorable"


async def restored(payload: dict[str, Any]) -> None:
    assert not (await StoredObject.get(ap_id=target_of(payload))).removed


async def locked(payload: dict[str, Any]) -> None:
    assert (await StoredObject.get(ap_id=target_of(payload))).locked


async def unlocked(payload: dict[str, Any]) -> None:
    assert not (await StoredObject.get(ap_id=target_of(payload))).locked


async def pinned(payload: dict[str, Any]) -> None:
    assert (await StoredObject.get(ap_id=target_of(payload))).pinned_at is not None


async def unpinned(payload: dict[str, Any]) -> None:
    assert (await StoredObject.get(ap_id=target_of(payload))).pinned_at is None


FRIENDICA = {
    "https://pirati.ca/profile/": "{author}/users/",
    "https://pirati.ca": "{author}",
    "https://ds9.lemmy.ml/c/testcom": "{group}",
}
LEMMY_DS9_AUTHOR = {
    "http://ds9.lemmy.ml/u/": "{author}/users/",
    "http://ds9.lemmy.ml": "{author}",
    "http://enterprise.lemmy.ml/c/main": "{group}",
    "https://enterprise.lemmy.ml/c/main": "{group}",
    "https://enterprise.lemmy.ml/c/tenforward": "{group}",
}
# lemmy_beta on enterprise acts on what lemmy_alpha on ds9 posted.
LEMMY_BETA_ON_ALPHAS_POST = {
    "http://enterprise.lemmy.ml/u/": "{author}/users/",
    "http://enterprise.lemmy.ml/c/main": "{group}",
    "https://enterprise.lemmy.ml/c/main": "{group}",
    "https://enterprise.lemmy.ml/c/tenforward": "{group}",
    "http://enterprise.lemmy.ml": "{author}",
    "http://ds9.lemmy.ml/u/": "{owner}/users/",
    "http://ds9.lemmy.ml": "{owner}",
}

CASES = [
    pytest.param(
        Case("friendica/activities/update_note.json", FRIENDICA, Announced(edited),
             Prior("author", from_payload=True), software="friendica"),
        id="friendica-update-note",
    ),
    pytest.param(
        Case("friendica/activities/delete.json", FRIENDICA, Announced(deleted),
             Prior("author"), software="friendica"),
        id="friendica-delete",
    ),
    pytest.param(
        Case("friendica/activities/like_page.json", FRIENDICA, Announced(),
             Prior("author", "Page"), software="friendica"),
        id="friendica-like",
    ),
    pytest.param(
        Case("friendica/activities/dislike_page.json", FRIENDICA, Announced(),
             Prior("author", "Page"), software="friendica"),
        id="friendica-dislike",
    ),
    pytest.param(
        Case("friendica/activities/undo_dislike_page.json", FRIENDICA, Announced(),
             Prior("author", "Page"), software="friendica"),
        id="friendica-undo-dislike",
    ),
    pytest.param(
        Case("lemmy/activities/create_or_update/update_page.json", LEMMY_DS9_AUTHOR,
             Announced(edited), Prior("author", "Page", from_payload=True)),
        id="lemmy-update-page",
    ),
    pytest.param(
        # lemmy_alpha (a moderator on Lemmy) edits the community itself, which is our group:
        # not a post, and group settings are our admins' (a remote moderator's edit of the
        # group is not taken).
        Case("lemmy/activities/community/update_community.json", LEMMY_DS9_AUTHOR,
             Refused("{group} is not a post in a group here")),
        id="lemmy-update-community",
    ),
    pytest.param(
        Case("lemmy/activities/deletion/delete_page.json", LEMMY_DS9_AUTHOR, Announced(deleted),
             Prior("author", "Page")),
        id="lemmy-delete-page",
    ),
    pytest.param(
        # A private message we never had, deleted by its author: remembered as deleted (its
        # own origin says so), nothing announced.
        Case("lemmy/activities/deletion/delete_private_message.json",
             {"http://enterprise.lemmy.ml/u/": "{author}/users/",
              "http://enterprise.lemmy.ml": "{author}"},
             Refused("delete of unknown {author}/private_message/1")),
        id="lemmy-delete-private-message",
    ),
    pytest.param(
        # The account is gone: its membership goes with it.
        Case("lemmy/activities/deletion/delete_user.json", LEMMY_DS9_AUTHOR, Left()),
        id="lemmy-delete-user",
    ),
    pytest.param(
        # Someone who does not moderate the group cannot remove someone else's comment.
        Case("lemmy/activities/deletion/remove_note.json", LEMMY_BETA_ON_ALPHAS_POST,
             Refused("{author}/users/lemmy_beta is not a moderator of jazz"),
             Prior("owner"), owner_name="lemmy_alpha"),
        id="lemmy-non-moderator-remove-note",
    ),
    pytest.param(
        # A moderator's removal: the comment is removed and the removal announced.
        Case("lemmy/activities/deletion/remove_note.json", LEMMY_BETA_ON_ALPHAS_POST,
             Announced(removed), Prior("owner"), owner_name="lemmy_alpha", moderator=True),
        id="lemmy-moderator-remove-note",
    ),
    pytest.param(
        # Its author deleted the post (sent first), then restored it.
        Case("lemmy/activities/deletion/undo_delete_page.json", LEMMY_DS9_AUTHOR,
             Announced(undeleted), Prior("author", "Page"), undone_first=True),
        id="lemmy-undo-delete-page",
    ),
    pytest.param(
        # A private message is nothing the group holds: nothing to restore.
        Case("lemmy/activities/deletion/undo_delete_private_message.json",
             {"http://enterprise.lemmy.ml/u/": "{author}/users/",
              "http://enterprise.lemmy.ml": "{author}",
              "http://ds9.lemmy.ml/u/": "{owner}/users/"},
             Refused("{author}/private_message/1 is not a post in a group here")),
        id="lemmy-undo-delete-private-message",
    ),
    pytest.param(
        Case("lemmy/activities/deletion/undo_remove_note.json", LEMMY_BETA_ON_ALPHAS_POST,
             Announced(restored), Prior("owner"), owner_name="lemmy_alpha", moderator=True,
             undone_first=True),
        id="lemmy-undo-moderator-remove",
    ),
    pytest.param(
        Case("lemmy/activities/block/undo_block_user.json",
             {"http://enterprise.lemmy.ml/u/main": "{group}",
              "http://enterprise.lemmy.ml/u/": "{author}/users/",
              "http://enterprise.lemmy.ml/c/main": "{group}",
              "http://enterprise.lemmy.ml": "{author}",
              "http://ds9.lemmy.ml/u/": "{owner}/users/"},
             # Its Block (sent first) ended in 2021, so it banned nobody: nothing to undo.
             Refused("no ban on {owner}/users/lemmy_alpha in jazz"), moderator=True,
             undone_first=True),
        id="lemmy-undo-block",
    ),
    pytest.param(
        Case("lemmy/activities/block/block_user.json",
             {"http://enterprise.lemmy.ml/u/main": "{group}",
              "http://enterprise.lemmy.ml/u/": "{author}/users/",
              "http://enterprise.lemmy.ml/c/main": "{group}",
              "http://enterprise.lemmy.ml": "{author}",
              "http://ds9.lemmy.ml/u/": "{owner}/users/"},
             Refused("a ban that ended already (2021-11-01T12:23:50.151874Z)"), moderator=True),
        id="lemmy-block-expired",
    ),
    pytest.param(
        Case("lemmy/activities/community/lock_page.json",
             {"http://lemmy-alpha:8541/u/": "{author}/users/",
              "http://lemmy-alpha:8541/c/main": "{group}",
              "http://lemmy-alpha:8541": "{author}"},
             Announced(locked), Prior("author", "Page"), moderator=True),
        id="lemmy-lock-post",
    ),
    pytest.param(
        Case("lemmy/activities/community/lock_page.json",
             {"http://lemmy-alpha:8541/u/": "{author}/users/",
              "http://lemmy-alpha:8541/c/main": "{group}",
              "http://lemmy-alpha:8541": "{author}"},
             Refused("{author}/users/lemmy_alpha is not a moderator of jazz"),
             Prior("author", "Page")),
        id="lemmy-lock-post-not-moderator",
    ),
    pytest.param(
        Case("lemmy/activities/community/add_featured_post.json",
             {"https://ds9.lemmy.ml/c/main": "{group}", **LEMMY_DS9_AUTHOR,
              "https://ds9.lemmy.ml/u/": "{author}/users/", "https://ds9.lemmy.ml": "{author}"},
             Announced(pinned), Prior("author", "Page"), moderator=True),
        id="lemmy-pin-post",
    ),
    pytest.param(
        Case("lemmy/activities/community/remove_featured_post.json",
             {"https://ds9.lemmy.ml/c/main": "{group}",
              "https://ds9.lemmy.ml/u/": "{author}/users/", "https://ds9.lemmy.ml": "{author}"},
             Refused("{author}/post/2 is not pinned"), Prior("author", "Page"), moderator=True),
        id="lemmy-unpin-post-not-pinned",
    ),
    pytest.param(
        Case("lemmy/activities/community/add_mod.json",
             {"http://enterprise.lemmy.ml/c/main": "{group}",
              "http://enterprise.lemmy.ml/u/": "{author}/users/",
              "http://enterprise.lemmy.ml": "{author}",
              "http://ds9.lemmy.ml/u/": "{owner}/users/"},
             Refused("moderators of jazz are named by this server's admin"), moderator=True),
        id="lemmy-add-mod",
    ),
    pytest.param(
        Case("lemmy/activities/community/undo_lock_note.json",
             {"https://lemmy-alpha/u/": "{author}/users/",
              "https://lemmy-alpha/c/test": "{group}",
              "http://lemmy-alpha/c/main": "{group}",
              "https://lemmy-alpha": "{author}"},
             Announced(unlocked), Prior("author"), moderator=True, undone_first=True),
        id="lemmy-undo-lock-comment",
    ),
    pytest.param(
        Case("lemmy/activities/community/undo_lock_page.json",
             {"http://lemmy-alpha:8541/u/": "{author}/users/",
              "http://lemmy-alpha:8541/c/main": "{group}",
              "http://lemmy-alpha:8541": "{author}"},
             Announced(unlocked), Prior("author", "Page"), moderator=True, undone_first=True),
        id="lemmy-undo-lock-post",
    ),
    pytest.param(
        Case("lemmy/activities/following/undo_follow.json", LEMMY_DS9_AUTHOR, Left()),
        id="lemmy-undo-follow",
    ),
    pytest.param(
        Case("lemmy/activities/voting/dislike_page.json", LEMMY_BETA_ON_ALPHAS_POST,
             Announced(), Prior("owner", "Page"), owner_name="lemmy_alpha"),
        id="lemmy-dislike-post",
    ),
    pytest.param(
        Case("lemmy/activities/voting/like_note.json", LEMMY_DS9_AUTHOR, Announced(),
             Prior("author")),
        id="lemmy-like-own-comment",
    ),
    pytest.param(
        Case("lemmy/activities/voting/undo_dislike_page.json", LEMMY_BETA_ON_ALPHAS_POST,
             Announced(), Prior("owner", "Page"), owner_name="lemmy_alpha"),
        id="lemmy-undo-vote-post",
    ),
    pytest.param(
        Case("lemmy/activities/voting/undo_like_note.json", LEMMY_DS9_AUTHOR, Announced(),
             Prior("author")),
        id="lemmy-undo-like-comment",
    ),
    pytest.param(
        Case("mastodon/activities/delete.json",
             {"https://mastodon.madrid/users/": "{author}/users/",
              "https://mastodon.madrid": "{author}"},
             Announced(deleted), Prior("author"), software="mastodon"),
        id="mastodon-delete",
    ),
    pytest.param(
        Case("mastodon/activities/like_page.json",
             {"https://mastodon.madrid/users/": "{author}/users/",
              "https://mastodon.madrid": "{author}",
              "https://ds9.lemmy.ml": "{owner}"},
             Announced(), Prior("owner", "Page"), software="mastodon", owner_name="nutomic"),
        id="mastodon-like-lemmy-post",
    ),
    pytest.param(
        Case("mastodon/activities/undo_follow.json",
             {"https://masto.asonix.dog/users/": "{author}/users/",
              "https://masto.asonix.dog": "{author}",
              "https://ds9.lemmy.ml/c/testcom": "{group}"},
             Left(), software="mastodon"),
        id="mastodon-undo-follow",
    ),
    pytest.param(
        Case("mastodon/activities/undo_like_page.json",
             {"https://mastodon.madrid/users/": "{author}/users/",
              "https://mastodon.madrid": "{author}",
              "https://ds9.lemmy.ml": "{owner}"},
             Announced(), Prior("owner", "Page"), software="mastodon", owner_name="nutomic"),
        id="mastodon-undo-like-lemmy-post",
    ),
    pytest.param(
        Case("pleroma/activities/delete.json",
             {"https://greenish.red/users/": "{author}/users/",
              "https://greenish.red": "{author}",
              "https://voyager.lemmy.ml/c/main": "{group}",
              "https://voyager.lemmy.ml/u/": "{owner}/users/"},
             Announced(deleted), Prior("author"), software="pleroma"),
        id="pleroma-delete",
    ),
]


# -- the shared world: our server and a Lemmy member who sees what the group wraps ----------


@dataclass
class World:
    server: FedgroupServer
    lemmy: FakeInstance
    remotes: list[FakeInstance] = field(default_factory=list)

    @property
    def group_url(self) -> str:
        return self.server.group_url(GROUP)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with FedgroupServer(tmp_path_factory.mktemp("real-followups")) as server:
        await server.create_group(GROUP)
        lemmy = await start_remote("lemmy", "bob")
        try:
            await join(server, lemmy, "bob", GROUP)
            yield World(server, lemmy)
        finally:
            await lemmy.close()


def name_in(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def serve_at_its_id(remote: FakeInstance, document: dict[str, Any]) -> None:
    assert document["id"].startswith(remote.base_url + "/"), document["id"]
    remote.serve(urlsplit(document["id"]).path, document)


def target_of(payload: dict[str, Any]) -> str:
    """The post a payload acts on (through an Undo)."""
    obj = payload["object"]
    if payload["type"] == "Undo" and isinstance(obj, dict):
        obj = obj["object"]
    return id_of(obj) or ""


async def post_prior(world: World, case: Case, payload: dict, remote: FakeInstance, name: str):
    """The post the payload acts on, posted to the group by its author and announced."""
    assert case.prior is not None
    if case.prior.from_payload:
        post = {k: v for k, v in payload["object"].items() if k != "updated"}
        post["content"] = "<p>before the edit</p>"
    else:
        post = {"id": target_of(payload), "type": case.prior.type,
                "attributedTo": remote.actor_url(name), "content": "<p>a post</p>",
                "name": "A post", "published": "2021-10-29T15:10:51Z"}
    post["to"] = [world.group_url, PUBLIC]
    post["audience"] = world.group_url
    serve_at_its_id(remote, post)
    create = {
        "id": remote.url(f"/activities/create/{uuid.uuid4()}"), "type": "Create",
        "actor": remote.actor_url(name), "to": [PUBLIC], "cc": [world.group_url],
        "audience": world.group_url, "object": post,
    }
    assert (await post_signed(remote, world.server.url("/inbox"), create, actor=name)).status == 202
    row = await wait_handled(create["id"])
    assert row.error is None, row.error


@pytest.mark.parametrize("case", CASES)
async def test_real_followup_payload(world: World, case: Case, conformance_corpus: Corpus):
    author = await start_remote(case.software)
    owner = await start_remote("lemmy")
    try:
        roles = {"author": author.base_url, "owner": owner.base_url, "group": world.group_url}
        mapping = {foreign: role.format(**roles) for foreign, role in case.mapping.items()}
        payload = rewrite_ids(conformance_corpus.load(case.fixture), mapping)
        name = name_in(payload["actor"])
        author.add_actor(name)
        await join(world.server, author, name, GROUP)
        if case.prior is not None:
            if case.prior.role == "owner":
                assert case.owner_name is not None
                owner.add_actor(case.owner_name)
                await join(world.server, owner, case.owner_name, GROUP)
                await post_prior(world, case, payload, owner, case.owner_name)
            else:
                await post_prior(world, case, payload, author, name)
            if case.prior.from_payload:
                serve_at_its_id(author, payload["object"])  # the origin now has the edit

        if case.moderator:
            group = await Group.get(name=GROUP)
            await Moderator.create(group=group, actor_url=payload["actor"], added_by="admin")
        if case.undone_first:
            undone = {"@context": "https://www.w3.org/ns/activitystreams", **payload["object"]}
            await post_signed(author, world.server.url("/inbox"), undone, actor=name)
            await wait_handled(undone["id"])

        outbound_before = await Activity.filter(inbound=False).count()
        answer = await post_signed(author, world.server.url("/inbox"), payload, actor=name)
        assert answer.status == 202, answer.body
        row = await wait_handled(payload["id"])
        match case.expect:
            case Announced(then):
                assert row.state == ActivityState.DONE and row.error is None, row.error
                announce = await world.lemmy.wait_for(
                    lambda p: isinstance((p.json or {}).get("object"), dict)
                    and p.json["object"].get("id") == payload["id"],
                    timeout=WAIT,
                )
                assert announce.verified is True
                assert lemmy_inner(announce, world.group_url) == payload, "passed on unchanged"
                if then is not None:
                    await then(payload)
            case Left():
                assert row.error is None, row.error
                assert not await Membership.exists(actor__url=payload["actor"])
            case Refused(reason):
                assert row.error == "ignored: " + reason.format(**roles), row.error
                assert await Activity.filter(inbound=False).count() == outbound_before
    finally:
        await author.close()
        await owner.close()


FOLLOWUP_TYPES = frozenset({"Update", "Delete", "Like", "Dislike", "Undo"})


async def test_every_followup_payload_in_the_corpus_has_a_case(conformance_corpus: Corpus):
    """No such payload is left out: a file added to the corpus needs its expected outcome
    written above before the suite passes again."""
    held = {
        str(path.relative_to(conformance_corpus.root))
        for path in sorted(conformance_corpus.root.rglob("*.json"))
        if conformance_corpus.load(str(path.relative_to(conformance_corpus.root))).get("type")
        in FOLLOWUP_TYPES
    }
    covered = {param.values[0].fixture for param in CASES}
    assert held, "the corpus holds no Update, Delete, Like, Dislike or Undo at all"
    assert held - covered == set(), "payloads without an asserted outcome"
