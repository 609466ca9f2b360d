"""Handle -> actor URL over WebFinger, against a fake remote instance on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from yarl import URL

from fedgroup.activitypub.fetch import BadResponse, ResponseTooLarge, UnsafeURL, fetch_json
from fedgroup.activitypub.netguard import make_client_session
from fedgroup.activitypub.webfinger_client import (
    Handle,
    MalformedHandle,
    NoActorLink,
    actor_link,
    parse_handle,
    resolve_handle,
    webfinger_url,
)
from tests.fakes import FakeInstance, StaticResolver

UA = "fedgroup-test/0"


@pytest.fixture
async def remote() -> AsyncIterator[FakeInstance]:
    async with FakeInstance(software="lemmy") as instance:
        instance.add_actor("alice")
        instance.add_actor("jazz", type="Group")
        yield instance


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with make_client_session(allow_private=True, user_agent=UA) as client:
        yield client


@pytest.mark.parametrize("form", ["@{n}@{d}", "{n}@{d}", "acct:{n}@{d}", "  @{n}@{d}\n"])
async def test_resolves_every_handle_form_to_the_actor(
    session: aiohttp.ClientSession, remote: FakeInstance, form: str
) -> None:
    handle = form.format(n="alice", d=remote.domain)
    actor_url = await resolve_handle(session, handle, allow_private=True)
    assert actor_url == remote.actor_url("alice")
    request = remote.requests[-1]
    assert request.path_qs.startswith("/.well-known/webfinger?")
    assert "application/jrd+json" in request.headers["Accept"]


async def test_resolved_actor_can_then_be_fetched(
    session: aiohttp.ClientSession, remote: FakeInstance
) -> None:
    actor_url = await resolve_handle(session, remote.handle("jazz"), allow_private=True)
    actor = await fetch_json(session, actor_url, allow_private=True)
    assert actor["type"] == "Group"
    assert actor["preferredUsername"] == "jazz"


async def test_unknown_account_is_a_404(
    session: aiohttp.ClientSession, remote: FakeInstance
) -> None:
    with pytest.raises(BadResponse) as caught:
        await resolve_handle(session, f"nobody@{remote.domain}", allow_private=True)
    assert caught.value.status == 404


async def test_answer_without_activitypub_self_link_is_refused(
    session: aiohttp.ClientSession, remote: FakeInstance
) -> None:
    jrd = {
        "subject": f"acct:bob@{remote.domain}",
        "links": [
            {"rel": "http://webfinger.net/rel/profile-page", "href": remote.url("/@bob")},
            {"rel": "self", "type": "text/html", "href": remote.url("/@bob")},
        ],
    }
    remote.serve("/.well-known/webfinger", jrd, content_type="application/jrd+json")
    with pytest.raises(NoActorLink, match="names no ActivityPub actor"):
        await resolve_handle(session, f"bob@{remote.domain}", allow_private=True)


async def test_webfinger_answer_has_the_same_size_limit(
    session: aiohttp.ClientSession, remote: FakeInstance
) -> None:
    jrd = {"subject": "acct:x@y", "padding": "x" * 4000, "links": []}
    remote.serve("/.well-known/webfinger", jrd, content_type="application/jrd+json")
    with pytest.raises(ResponseTooLarge):
        await resolve_handle(session, f"x@{remote.domain}", allow_private=True, max_bytes=1000)


async def test_loopback_handle_is_not_looked_up_without_allow_private(
    remote: FakeInstance,
) -> None:
    async with make_client_session(allow_private=False, user_agent=UA) as strict:
        with pytest.raises(UnsafeURL):
            await resolve_handle(strict, remote.handle("alice"), allow_private=False)
    assert remote.requests == []


async def test_localhost_names_use_plain_http_when_private_networks_are_allowed() -> None:
    async with FakeInstance(hostname="lemmy.localhost") as named:
        named.add_actor("carol")
        dns = StaticResolver({"lemmy.localhost": named.address})
        async with make_client_session(allow_private=True, user_agent=UA, resolver=dns) as s:
            actor_url = await resolve_handle(s, f"carol@{named.domain}", allow_private=True)
        assert actor_url == f"http://lemmy.localhost:{named.port}/users/carol"


@pytest.mark.parametrize(
    ("handle", "allow_private", "expected"),
    [
        ("a@social.example", False, "https://social.example/.well-known/webfinger"),
        ("a@social.example", True, "https://social.example/.well-known/webfinger"),
        ("a@127.0.0.2:8080", True, "http://127.0.0.2:8080/.well-known/webfinger"),
        ("a@127.0.0.2:8080", False, "https://127.0.0.2:8080/.well-known/webfinger"),
        ("a@localhost:3000", True, "http://localhost:3000/.well-known/webfinger"),
        ("a@x.localhost", True, "http://x.localhost/.well-known/webfinger"),
        ("a@[::1]:8080", True, "http://[::1]:8080/.well-known/webfinger"),
        ("a@93.184.215.14", True, "https://93.184.215.14/.well-known/webfinger"),
    ],
)
def test_scheme_rule(handle: str, allow_private: bool, expected: str) -> None:
    url = URL(webfinger_url(parse_handle(handle), allow_private=allow_private))
    assert str(url.with_query(None)) == expected
    assert url.query["resource"] == f"acct:{handle}"


def test_parse_handle() -> None:
    assert parse_handle("@Alice@Social.Example") == Handle("Alice", "social.example")
    assert parse_handle("ACCT:bob@x.example:8443") == Handle("bob", "x.example:8443")
    assert parse_handle("mañana@bücher.example") == Handle("mañana", "xn--bcher-kva.example")
    assert parse_handle("first.last-x_y@a.example").acct == "acct:first.last-x_y@a.example"
    assert str(parse_handle("acct:jazz@groups.example")) == "@jazz@groups.example"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "alice",
        "@alice",
        "alice@",
        "@@host.example",
        "a@b@c.example",
        "@a@b@c.example",
        "al ice@host.example",
        "alice@host example",
        "alice@host.example/path",
        "alice@host.example?x=1",
        "ali/ce@host.example",
        "alice@-bad.example",
        "alice@host.example:99999",
        "alice@host.example:",
        "alice@user:pw@host.example",
        "https://host.example/users/alice",
        "alice@[not-ipv6]",
        "alice@host..example",
    ],
)
async def test_malformed_handles_are_refused_without_a_request(
    session: aiohttp.ClientSession, remote: FakeInstance, text: str
) -> None:
    with pytest.raises(MalformedHandle):
        await resolve_handle(session, text, allow_private=True)
    assert isinstance(MalformedHandle("x"), ValueError)
    assert remote.requests == []


@pytest.mark.parametrize(
    ("media_type", "chosen"),
    [
        ("application/activity+json", True),
        ('application/ld+json; profile="https://www.w3.org/ns/activitystreams"', True),
        ("application/ld+json", True),
        ('application/ld+json; profile="https://example.org/other"', False),
        ("text/html", False),
    ],
)
def test_actor_link_picks_activitypub_self_links(media_type: str, chosen: bool) -> None:
    jrd = {
        "links": [
            {"rel": "http://webfinger.net/rel/profile-page", "href": "https://a.example/@x"},
            {"rel": "self", "type": media_type, "href": "https://a.example/users/x"},
        ]
    }
    assert actor_link(jrd) == ("https://a.example/users/x" if chosen else None)


def test_actor_link_ignores_unusable_links() -> None:
    assert actor_link({"links": "nope"}) is None
    assert actor_link({}) is None
    jrd = {
        "links": [
            "junk",
            {"rel": "self", "type": "application/activity+json"},
            {"rel": "self", "type": "application/activity+json", "href": "/relative"},
            {"rel": "self", "type": "application/activity+json", "href": "https://a.example/u"},
        ]
    }
    assert actor_link(jrd) == "https://a.example/u"
