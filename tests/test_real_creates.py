"""Every real Create payload we hold, rewritten onto fake instances, and what the group does.

Each row takes one payload captured from real software (the conformance corpus), maps its
foreign URL prefixes onto loopback roles, has its author join the group, sends it signed to
our shared inbox, and asserts the outcome a group server should give it:

- announced: the Lemmy member's server gets `Announce{<the activity unchanged>}` (FEP-1b12)
  and the Mastodon member's server gets an `Announce` of the object id that it can fetch as
  a public status (a boost);
- announced to members only: a non-public post in a public group reaches members without
  ever naming Public (the wrapped Announce to followers, the group's followers-only quote);
- refused: the inbound row records `ignored: <why>` and nothing is queued outbound;
- rejected at the inbox: the HTTP answer says why and nothing is stored.

Roles a mapping may point at: `{author}` (the author's own fake server), `{group}` (our
group), `{elsewhere}` (a server that is not in the group), `{parent}` (a member's server
whose post, already announced in the group, the payload replies to). One fedgroup server and
the two members' fakes are shared by every row; each row brings its own author's server, so
rows never see each other's ids.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from fedgroup.activitypub.vocab import PUBLIC
from fedgroup.storage.models import Activity, ActivityState
from tests.fakes import FakeInstance
from tests.fakes.fixtures import Corpus, rewrite_ids
from tests.fakes.instance import ReceivedPost
from tests.fakes.sender import Answer, post_signed
from tests.fakes.server import FedgroupServer
from tests.fakes.software import lemmy_inner, mastodon_boost_of, mentions_public
from tests.fakes.verify import verify_signed_post

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROUP = "jazz"
WAIT = 10.0


# -- expected outcomes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Announced:
    """Public post: wrapped for the Lemmy member, a fetchable public boost for Mastodon."""


@dataclass(frozen=True)
class AnnouncedToMembers:
    """Non-public post in a public group: members get it, Public is never named."""


@dataclass(frozen=True)
class Refused:
    """Handled and ignored: the inbound row's error is `ignored: <reason>`."""

    reason: str


@dataclass(frozen=True)
class RejectedAtInbox:
    """Not an activity we store: the inbox answers `status` with `reason`."""

    status: int
    reason: str


Outcome = Announced | AnnouncedToMembers | Refused | RejectedAtInbox


@dataclass(frozen=True)
class Case:
    fixture: str
    software: str  # the author's server software, as its NodeInfo says
    mapping: dict[str, str]  # foreign URL prefix -> role template
    expect: Outcome
    # The member on `{parent}` whose post (announced in the group first) the payload answers.
    parent_author: str | None = None
    parent_software: str = "lemmy"
    # A bare object as captured: wrap it in the Create its software actually delivers.
    wrap_as_delivered: bool = False


NOT_FOR_A_GROUP = "not addressed to a group here"

# Lemmy's two test instances: ds9 is the author's server, enterprise hosts the community
# (its URLs appear with both http and https in the same payload).
LEMMY_AUTHOR_ON_DS9 = {
    "http://ds9.lemmy.ml/u/": "{author}/users/",
    "http://ds9.lemmy.ml": "{author}",
    "http://enterprise.lemmy.ml/c/main": "{group}",
    "https://enterprise.lemmy.ml/c/main": "{group}",
    "https://lemmy.ml": "{author}",  # the post's image link, served by the author's instance
}

CASES = [
    pytest.param(
        Case(
            # lemmy_alpha@ds9 -> author; community enterprise/c/main -> our group.
            "lemmy/activities/create_or_update/create_page.json",
            "lemmy",
            LEMMY_AUTHOR_ON_DS9,
            Announced(),
        ),
        id="lemmy-create-page",
    ),
    pytest.param(
        Case(
            # Same mapping; the comment names the community in cc and audience, so it is for
            # the group even though its parent post/1 is unknown here.
            "lemmy/activities/create_or_update/create_comment.json",
            "lemmy",
            LEMMY_AUTHOR_ON_DS9,
            Announced(),
        ),
        id="lemmy-create-comment",
    ),
    pytest.param(
        Case(
            # lemmy_beta@enterprise -> author; the recipient lemmy_alpha@ds9 -> a person
            # elsewhere. A private message between two people is none of the group's business.
            "lemmy/activities/create_or_update/create_private_message.json",
            "lemmy",
            {
                "http://enterprise.lemmy.ml/u/": "{author}/users/",
                "http://enterprise.lemmy.ml": "{author}",
                "http://ds9.lemmy.ml/u/": "{elsewhere}/users/",
            },
            Refused(NOT_FOR_A_GROUP),
        ),
        id="lemmy-private-message",
    ),
    pytest.param(
        Case(
            # nutomic@enterprise -> author; recipient nutomic@voyager -> a person elsewhere.
            # Lemmy 0.19 sends ChatMessage objects, which are never group posts.
            "lemmy/activities/create_or_update/create_private_message_0.19.json",
            "lemmy",
            {
                "https://enterprise.lemmy.ml/u/": "{author}/users/",
                "https://enterprise.lemmy.ml": "{author}",
                "https://voyager.lemmy.ml/u/": "{elsewhere}/users/",
            },
            Refused("'ChatMessage' objects are not posted to groups"),
        ),
        id="lemmy-0.19-chat-message",
    ),
    pytest.param(
        Case(
            # As above, but the recipient -> our group: a chat message sent to the group is
            # still a chat, not a post the group redistributes.
            "lemmy/activities/create_or_update/create_private_message_0.19.json",
            "lemmy",
            {
                "https://enterprise.lemmy.ml/u/": "{author}/users/",
                "https://enterprise.lemmy.ml": "{author}",
                "https://voyager.lemmy.ml/u/nutomic": "{group}",
            },
            Refused("'ChatMessage' objects are not posted to groups"),
        ),
        id="lemmy-0.19-chat-message-to-the-group",
    ),
    pytest.param(
        Case(
            # felix@mastodon.madrid -> author; retiolus@mamot.fr (mentioned, replied to) ->
            # a person elsewhere. A public reply in someone else's thread, naming no group and
            # answering no post in one: the group must not boost its members' every reply.
            "mastodon/activities/create_note.json",
            "mastodon",
            {
                "https://mastodon.madrid/users/": "{author}/users/",
                "https://mastodon.madrid": "{author}",
                "https://mamot.fr": "{elsewhere}",
            },
            Refused(NOT_FOR_A_GROUP),
        ),
        id="mastodon-reply-elsewhere",
    ),
    pytest.param(
        Case(
            # Same payload, but retiolus@mamot.fr -> a member whose status is a post in the
            # group: a reply within the group's thread is announced though it names no group.
            "mastodon/activities/create_note.json",
            "mastodon",
            {
                "https://mastodon.madrid/users/": "{author}/users/",
                "https://mastodon.madrid": "{author}",
                "https://mamot.fr": "{parent}",
            },
            Announced(),
            parent_author="retiolus",
            parent_software="mastodon",
        ),
        id="mastodon-reply-in-group-thread",
    ),
    pytest.param(
        Case(
            # The capture is a bare Note (no actor): posted as it is, it is not an activity.
            "mastodon/activities/private_message.json",
            "mastodon",
            {
                "https://mastodon.world/users/": "{author}/users/",
                "https://mastodon.world": "{author}",
                "https://ds9.lemmy.ml/u/": "{elsewhere}/users/",
            },
            RejectedAtInbox(400, "activity has no actor"),
        ),
        id="mastodon-bare-note",
    ),
    pytest.param(
        Case(
            # The same Note wrapped the way Mastodon delivers a direct message (Create with
            # the Note's to/cc); nutomic@ds9 -> a person elsewhere.
            "mastodon/activities/private_message.json",
            "mastodon",
            {
                "https://mastodon.world/users/": "{author}/users/",
                "https://mastodon.world": "{author}",
                "https://ds9.lemmy.ml/u/": "{elsewhere}/users/",
            },
            Refused(NOT_FOR_A_GROUP),
            wrap_as_delivered=True,
        ),
        id="mastodon-direct-message",
    ),
    pytest.param(
        Case(
            # The direct message with its only recipient (and mention) nutomic@ds9 -> our
            # group: "mentioned people only" to a public group. The group passes it to its
            # members and never makes it public (no boost of a non-public status).
            "mastodon/activities/private_message.json",
            "mastodon",
            {
                "https://mastodon.world/users/": "{author}/users/",
                "https://mastodon.world": "{author}",
                "https://ds9.lemmy.ml/u/nutomic": "{group}",
            },
            AnnouncedToMembers(),
            wrap_as_delivered=True,
        ),
        id="mastodon-direct-message-to-the-group",
    ),
    pytest.param(
        Case(
            # nutomic@greenish.red -> author; picard@enterprise (addressed, mentioned) and
            # enterprise/post/55143 (replied to) -> a member and his post in the group.
            "pleroma/activities/create_note.json",
            "pleroma",
            {
                "https://greenish.red/users/": "{author}/users/",
                "https://greenish.red": "{author}",
                "https://enterprise.lemmy.ml/u/": "{parent}/users/",
                "https://enterprise.lemmy.ml": "{parent}",
            },
            Announced(),
            parent_author="picard",
        ),
        id="pleroma-reply-in-group-thread",
    ),
    pytest.param(
        Case(
            # Same payload with picard and post/55143 elsewhere: a reply to a post unknown
            # here, addressed to a person, is not for the group.
            "pleroma/activities/create_note.json",
            "pleroma",
            {
                "https://greenish.red/users/": "{author}/users/",
                "https://greenish.red": "{author}",
                "https://enterprise.lemmy.ml/u/": "{elsewhere}/users/",
                "https://enterprise.lemmy.ml": "{elsewhere}",
            },
            Refused(NOT_FOR_A_GROUP),
        ),
        id="pleroma-reply-elsewhere",
    ),
    pytest.param(
        Case(
            # jakob@soc.schuerz.at (Friendica's /profile/ path) -> author; community
            # lemmy.schuerz.at/c/test -> our group; jakob's Lemmy account and the replied-to
            # post/25360 -> elsewhere. Addressed to the community: announced. (Its embedded
            # RsaSignature2017 no longer verifies after the rewrite; the HTTP signature is
            # the actor's own, so it is not needed.)
            "friendica/activities/create_note.json",
            "friendica",
            {
                "https://soc.schuerz.at/profile/": "{author}/users/",
                "https://soc.schuerz.at": "{author}",
                "https://lemmy.schuerz.at/c/test": "{group}",
                "https://lemmy.schuerz.at": "{elsewhere}",
            },
            Announced(),
        ),
        id="friendica-reply-to-community",
    ),
    pytest.param(
        Case(
            # Despite the folder, a Mastodon capture: mastodon@masto.qa -> author; community
            # lemmy.qa/c/lemmy_community (cc, mention, its followers) -> our group.
            "friendica/activities/create_page_1.json",
            "mastodon",
            {
                "https://masto.qa.urbanwildlife.biz/users/": "{author}/users/",
                "https://masto.qa.urbanwildlife.biz": "{author}",
                "https://lemmy.qa.urbanwildlife.biz/c/lemmy_community": "{group}",
            },
            Announced(),
        ),
        id="mastodon-post-mentioning-community",
    ),
    pytest.param(
        Case(
            # heluecht@pirati.ca (Friendica) -> author; community ds9/c/testcom -> our group.
            # An Article with a title, as Friendica posts to Lemmy.
            "friendica/activities/create_page_2.json",
            "friendica",
            {
                "https://pirati.ca/profile/": "{author}/users/",
                "https://pirati.ca": "{author}",
                "https://ds9.lemmy.ml/c/testcom": "{group}",
            },
            Announced(),
        ),
        id="friendica-article-to-community",
    ),
]


# -- the shared world: our server, a Lemmy member, a Mastodon member, a bystander ----------


@dataclass
class World:
    server: FedgroupServer
    lemmy: FakeInstance  # bob is a member; FEP-1b12 software
    masto: FakeInstance  # carol is a member; microblogging software
    elsewhere: FakeInstance  # nobody here is a member

    @property
    def group_url(self) -> str:
        return self.server.group_url(GROUP)


async def start_remote(software: str, *names: str) -> FakeInstance:
    remote = FakeInstance(software=software)
    await remote.start()
    for name in names:
        remote.add_actor(name)
    remote.verify = verify_signed_post
    return remote


async def join(world: World, remote: FakeInstance, name: str) -> None:
    follow = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": remote.url(f"/follows/{uuid.uuid4()}"),
        "type": "Follow",
        "actor": remote.actor_url(name),
        "object": world.group_url,
    }
    answer = await post_signed(remote, world.server.url("/inbox"), follow, actor=name)
    assert answer.status == 202, answer.body

    def accepted(post: ReceivedPost) -> bool:
        body = post.json or {}
        return body.get("type") == "Accept" and (body.get("object") or {}).get("id") == follow["id"]

    await remote.wait_for(accepted, timeout=WAIT)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with FedgroupServer(tmp_path_factory.mktemp("real-creates")) as server:
        await server.create_group(GROUP)
        remotes = [
            await start_remote("lemmy", "bob"),
            await start_remote("mastodon", "carol"),
            await start_remote("lemmy"),
        ]
        try:
            shared = World(server, *remotes)
            await join(shared, shared.lemmy, "bob")
            await join(shared, shared.masto, "carol")
            yield shared
        finally:
            for remote in remotes:
                await remote.close()


# -- building a row's payload --------------------------------------------------------------


def wrap_as_mastodon_delivers(note: dict[str, Any]) -> dict[str, Any]:
    """The Create Mastodon sends for a status: `<status id>/activity`, the status's audience."""
    body = {k: v for k, v in note.items() if k != "@context"}
    return {
        "@context": note.get("@context", "https://www.w3.org/ns/activitystreams"),
        "id": note["id"] + "/activity",
        "type": "Create",
        "actor": note["attributedTo"],
        "published": note.get("published"),
        "to": note.get("to", []),
        "cc": note.get("cc", []),
        "object": body,
    }


def author_name(payload: dict[str, Any]) -> str:
    return str(payload.get("actor") or payload["attributedTo"]).rstrip("/").rsplit("/", 1)[1]


def serve_at_its_id(remote: FakeInstance, document: dict[str, Any]) -> None:
    """Serve a document where its id says it lives (its origin must be `remote`)."""
    assert document["id"].startswith(remote.base_url + "/"), document["id"]
    remote.serve(urlsplit(document["id"]).path, document)


async def post_parent_in_group(world: World, parent: FakeInstance, name: str, post_id: str):
    """The member `name` posts `post_id` to the group, and the group announces it."""
    parent.add_actor(name)
    await join(world, parent, name)
    post = {
        "id": post_id,
        "type": "Page" if parent.software == "lemmy" else "Note",
        "attributedTo": parent.actor_url(name),
        "to": [world.group_url, PUBLIC],
        "audience": world.group_url,
        "name": "Which laptop for music notation?",
        "content": "<p>thinking about a thinkpad</p>",
        "tag": [{"type": "Mention", "href": world.group_url, "name": f"@{GROUP}"}],
        "published": "2021-11-05T11:00:00Z",
    }
    serve_at_its_id(parent, post)
    create = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": parent.url(f"/activities/create/{uuid.uuid4()}"),
        "type": "Create",
        "actor": parent.actor_url(name),
        "to": [PUBLIC],
        "cc": [world.group_url],
        "audience": world.group_url,
        "object": post,
    }
    answer = await post_signed(parent, world.server.url("/inbox"), create, actor=name)
    assert answer.status == 202, answer.body
    row = await wait_handled(create["id"])
    assert row.state == ActivityState.DONE and row.error is None, row.error


async def wait_handled(ap_id: str) -> Activity:
    async with asyncio.timeout(WAIT):
        while True:
            row = await Activity.get_or_none(ap_id=ap_id, inbound=True)
            if row is not None and row.state != ActivityState.RECEIVED:
                return row
            await asyncio.sleep(0.02)


# -- checking what members' servers saw ----------------------------------------------------


def wrapped_announce_of(activity_id: str):
    def match(post: ReceivedPost) -> bool:
        body = post.json or {}
        inner = body.get("object")
        return (
            body.get("type") == "Announce"
            and isinstance(inner, dict)
            and inner.get("id") == activity_id
        )

    return match


def boost_of(object_id: str):
    def match(post: ReceivedPost) -> bool:
        body = post.json or {}
        return body.get("type") == "Announce" and body.get("object") == object_id

    return match


async def assert_announced(world: World, payload: dict[str, Any]) -> None:
    object_id = payload["object"]["id"]
    wrapped = await world.lemmy.wait_for(wrapped_announce_of(payload["id"]), timeout=WAIT)
    assert wrapped.verified is True
    assert lemmy_inner(wrapped, world.group_url) == payload, "embedded unchanged"
    assert wrapped.json["audience"] == world.group_url
    assert PUBLIC in wrapped.json["to"]

    boost = await world.masto.wait_for(boost_of(object_id), timeout=WAIT)
    assert boost.verified is True
    status = await mastodon_boost_of(boost)
    assert status is not None, "Mastodon could not fetch the boosted status as public"
    assert status["id"] == object_id
    assert status["attributedTo"] == payload["actor"]

    row = await wait_handled(payload["id"])
    assert row.state == ActivityState.DONE and row.error is None, row.error


async def assert_announced_to_members(world: World, payload: dict[str, Any]) -> None:
    object_id = payload["object"]["id"]
    wrapped = await world.lemmy.wait_for(wrapped_announce_of(payload["id"]), timeout=WAIT)
    assert wrapped.verified is True
    assert lemmy_inner(wrapped, world.group_url) == payload
    assert not mentions_public(wrapped.json), wrapped.json

    # The group's quote links the original where its author's server shows it.
    original = payload["object"].get("url") or object_id

    def group_quote(post: ReceivedPost) -> bool:
        body = post.json or {}
        note = body.get("object")
        return (
            body.get("type") == "Create"
            and body.get("actor") == world.group_url
            and isinstance(note, dict)
            and original in str(note.get("content"))
        )

    quote = await world.masto.wait_for(group_quote, timeout=WAIT)
    assert quote.verified is True
    assert not mentions_public(quote.json), quote.json
    assert quote.json["object"]["to"] == [world.group_url + "/followers"]
    assert payload["actor"] in quote.json["object"]["content"]
    # A non-public status is never boosted: Mastodon would show nothing, or leak it.
    assert not await Activity.exists(inbound=False, type="Announce", object_id=object_id)

    row = await wait_handled(payload["id"])
    assert row.state == ActivityState.DONE and row.error is None, row.error


async def assert_refused(payload: dict[str, Any], reason: str, outbound_before: int) -> None:
    row = await wait_handled(payload["id"])
    assert row.state == ActivityState.DONE
    assert row.error == f"ignored: {reason}", row.error
    assert await Activity.filter(inbound=False).count() == outbound_before, "nothing queued"


async def assert_outcome(
    world: World, case: Case, payload: dict[str, Any], answer: Answer, outbound_before: int
) -> None:
    match case.expect:
        case RejectedAtInbox(status, reason):
            assert answer.status == status, answer.body
            assert reason in answer.body
            assert not await Activity.exists(ap_id=payload["id"])
            return
        case _:
            assert answer.status == 202, answer.body
    match case.expect:
        case Announced():
            await assert_announced(world, payload)
        case AnnouncedToMembers():
            await assert_announced_to_members(world, payload)
        case Refused(reason):
            await assert_refused(payload, reason, outbound_before)


# -- the test ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
async def test_real_create_payload(
    world: World, case: Case, conformance_corpus: Corpus
) -> None:
    author = await start_remote(case.software)
    parent = await start_remote(case.parent_software) if case.parent_author else None
    try:
        roles = {
            "author": author.base_url,
            "group": world.group_url,
            "elsewhere": world.elsewhere.base_url,
            "parent": parent.base_url if parent else "http://no-parent.invalid",
        }
        mapping = {foreign: role.format(**roles) for foreign, role in case.mapping.items()}
        payload = rewrite_ids(conformance_corpus.load(case.fixture), mapping)
        if case.wrap_as_delivered:
            payload = wrap_as_mastodon_delivers(payload)
        name = author_name(payload)
        author.add_actor(name)
        await join(world, author, name)
        obj = payload.get("object")
        if isinstance(obj, dict):
            serve_at_its_id(author, obj)
        if parent is not None and case.parent_author:
            assert isinstance(obj, dict) and obj["inReplyTo"].startswith(parent.base_url)
            await post_parent_in_group(world, parent, case.parent_author, obj["inReplyTo"])

        outbound_before = await Activity.filter(inbound=False).count()
        answer = await post_signed(author, world.server.url("/inbox"), payload, actor=name)
        await assert_outcome(world, case, payload, answer, outbound_before)
    finally:
        await author.close()
        if parent is not None:
            await parent.close()
