"""Join from your own server: the form sends a visitor to their server's follow page, or says
plainly why it cannot, whatever they type and however their server answers.

The visitor's servers are fakes on their own loopback addresses; lookups go through the same
guarded fetcher as federation. Private-address refusals are checked on a server that does
not allow private networks (as in production), where no request to such an address is made.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web

from fedgroup.activitypub.netguard import make_client_session
from fedgroup.activitypub.signed_fetch import Fetcher
from fedgroup.service.joining import FollowRouter, LookupFailed, Problem, Route
from fedgroup.storage.models import Instance
from tests.fakes import FakeInstance, StaticResolver
from tests.fakes.server import FedgroupServer
from tests.test_web_pages import visible_text

SUBSCRIBE = "/authorize_interaction?uri={uri}"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[FedgroupServer]:
    async with FedgroupServer(tmp_path, join_lookup_timeout=1) as running:
        await running.create_group("jazz", display_name="Jazz piano", rules="Be kind.")
        await running.create_group("circle", members_only=True, approval=True)
        yield running


@pytest.fixture
async def mastodon() -> AsyncIterator[FakeInstance]:
    async with FakeInstance(software="mastodon", subscribe_path=SUBSCRIBE) as remote:
        remote.add_actor("alice")
        yield remote


@pytest.fixture
async def lemmy() -> AsyncIterator[FakeInstance]:
    async with FakeInstance(software="lemmy") as remote:
        remote.add_actor("bob")
        yield remote


async def submit(server: FedgroupServer, typed: str, group: str = "jazz") -> tuple[int, str, str]:
    """POST the join form as a browser does; (status, Location or "", visible text)."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            server.url(f"/groups/{group}/join"), data={"home": typed}, allow_redirects=False
        ) as response,
    ):
        html = await response.text()
        return response.status, response.headers.get("Location", ""), visible_text(html)


@pytest.mark.parametrize("form", ["@{n}@{d}", "{n}@{d}", "acct:{n}@{d}", "  @{n}@{d} "])
async def test_mastodon_account_goes_to_its_follow_page_with_the_group_handle(
    server: FedgroupServer, mastodon: FakeInstance, form: str
) -> None:
    status, location, _ = await submit(server, form.format(n="alice", d=mastodon.domain))
    assert status == 303
    target = urlsplit(location)
    assert f"{target.scheme}://{target.netloc}" == mastodon.base_url
    assert target.path == "/authorize_interaction"
    assert parse_qs(target.query) == {"uri": [f"jazz@{server.settings.domain}"]}
    assert any(r.path_qs.startswith("/.well-known/webfinger?") for r in mastodon.requests)


async def test_members_only_group_can_be_asked_to_join_the_same_way(
    server: FedgroupServer, mastodon: FakeInstance
) -> None:
    status, location, _ = await submit(server, mastodon.handle("alice"), group="circle")
    assert status == 303
    assert parse_qs(urlsplit(location).query) == {"uri": [f"circle@{server.settings.domain}"]}


@pytest.mark.parametrize("typed", ["{handle}", "{domain}", "http://{domain}/"])
async def test_lemmy_has_no_template_so_its_search_finds_the_community(
    server: FedgroupServer, lemmy: FakeInstance, typed: str
) -> None:
    status, location, _ = await submit(
        server, typed.format(handle=lemmy.handle("bob"), domain=lemmy.domain)
    )
    assert status == 303
    target = urlsplit(location)
    assert f"{target.scheme}://{target.netloc}" == lemmy.base_url and target.path == "/search"
    assert parse_qs(target.query) == {"q": [f"!jazz@{server.settings.domain}"]}
    assert any(r.path_qs == "/.well-known/nodeinfo" for r in lemmy.requests)


async def test_a_server_alone_without_template_gets_the_handle_to_search_for(
    server: FedgroupServer, mastodon: FakeInstance
) -> None:
    status, location, text = await submit(server, mastodon.domain)
    assert status == 200 and location == ""
    assert "we need your whole account" in text
    assert f"@jazz@{server.settings.domain}" in text


async def test_an_account_without_template_on_unknown_software_gets_the_handle(
    server: FedgroupServer,
) -> None:
    async with FakeInstance(software="someblog") as remote:
        remote.add_actor("carol")
        status, _, text = await submit(server, remote.handle("carol"))
    assert status == 200
    assert "has no page we can send you to" in text
    assert f"@jazz@{server.settings.domain}" in text


async def test_unknown_account_is_said_plainly(
    server: FedgroupServer, mastodon: FakeInstance
) -> None:
    status, _, text = await submit(server, f"nobody@{mastodon.domain}")
    assert status == 400
    assert "says it has no such account" in text
    assert "Be kind." in text, "the rules stay in view"


@pytest.mark.parametrize(
    "typed",
    ["", "   ", "hello there", "a@b@c", "@@", "javascript:alert(1)", "x" * 400, "a@exa mple.org"],
)
async def test_what_is_not_an_account_or_server_is_refused_with_a_hint(
    server: FedgroupServer, typed: str
) -> None:
    status, location, text = await submit(server, typed)
    assert (status, location) == (400, "")
    assert "does not look like an account or a server" in text


async def test_unknown_group_is_a_404(server: FedgroupServer, mastodon: FakeInstance) -> None:
    status, _, _ = await submit(server, mastodon.handle("alice"), group="nope")
    assert status == 404


async def test_an_oversized_form_is_refused(server: FedgroupServer) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.url("/groups/jazz/join"), data={"home": "a" * 10_000}) as response,
    ):
        assert response.status == 413


# -- hostile answers and addresses ---------------------------------------------------------


async def test_a_server_that_never_answers_gets_a_clear_message(server: FedgroupServer) -> None:
    async with FakeInstance() as remote:
        remote.add_actor("slow")

        async def never(_request: web.Request) -> web.Response:
            await asyncio.sleep(60)
            return web.Response(status=500)

        remote.route("/.well-known/webfinger", never)
        status, _, text = await submit(server, remote.handle("slow"))
    assert status == 504
    assert "did not answer in time" in text


async def test_a_huge_answer_is_cut_short_with_a_clear_message(server: FedgroupServer) -> None:
    async with FakeInstance() as remote:
        remote.add_actor("big")

        async def endless(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/jrd+json"})
            await response.prepare(request)
            for _ in range(1000):  # 64 MB if nobody stopped reading
                await response.write(b" " * 65536)
            return response

        remote.route("/.well-known/webfinger", endless)
        status, _, text = await submit(server, remote.handle("big"))
    assert status == 502
    assert "far too large" in text


@pytest.mark.parametrize(
    "template",
    [
        "https://phishing.example/follow?uri={uri}",  # another server
        "javascript:alert(document.cookie)//{uri}",
        "data:text/html,{uri}",
        "http://10.0.0.1/admin?uri={uri}",  # someone's router
        "//{uri}",
    ],
)
async def test_a_subscribe_template_elsewhere_is_never_followed(
    server: FedgroupServer, template: str
) -> None:
    async with FakeInstance() as remote:
        jrd = {
            "subject": f"acct:eve@{remote.domain}",
            "links": [{"rel": "http://ostatus.org/schema/1.0/subscribe", "template": template}],
        }
        remote.serve("/.well-known/webfinger", jrd, content_type="application/jrd+json")
        status, location, text = await submit(server, f"eve@{remote.domain}")
    assert (status, location) == (502, "")
    assert "gave an answer we cannot use" in text


@pytest.fixture
async def closed_server(tmp_path: Path) -> AsyncIterator[FedgroupServer]:
    """As in production: no private networks, plain HTTP refused."""
    async with FedgroupServer(tmp_path, allow_private_network=0) as running:
        await running.create_group("jazz")
        yield running


@pytest.mark.parametrize(
    "typed",
    [
        "alice@127.0.0.1",
        "alice@127.0.0.1:8080",
        "@alice@localhost",
        "alice@app.localhost",
        "alice@[::1]",
        "alice@10.0.0.1",
        "alice@192.168.1.1",
        "alice@169.254.169.254",
        "alice@[::ffff:127.0.0.1]",
        "172.16.0.1",
        "http://127.0.0.1:8080/",
        "localhost",
    ],
)
async def test_private_addresses_are_refused_before_any_request(
    closed_server: FedgroupServer, typed: str
) -> None:
    status, location, text = await submit(closed_server, typed)
    assert (status, location) == (400, "")
    assert "is not a server on the internet" in text


# -- the router itself ------------------------------------------------------------------------


@pytest.fixture
async def fetcher_with_dns() -> AsyncIterator[tuple[Fetcher, StaticResolver]]:
    dns = StaticResolver()
    session = make_client_session(allow_private=False, user_agent="test", resolver=dns)
    try:
        yield Fetcher(session, False, 1_048_576, "k", "unused"), dns
    finally:
        await session.close()


async def test_a_name_that_resolves_to_a_private_address_is_refused(
    fetcher_with_dns: tuple[Fetcher, StaticResolver], database: str
) -> None:
    fetcher, dns = fetcher_with_dns
    dns.add("evil.example", "10.0.0.5")
    dns.add("sneaky.example", ["127.0.0.1", "::1"])
    router = FollowRouter(fetcher, timeout=5)
    for typed in ("alice@evil.example", "sneaky.example", "https://evil.example/@alice"):
        with pytest.raises(LookupFailed) as failed:
            await router.route(typed, "jazz@groups.example")
        assert failed.value.problem == Problem.PRIVATE, typed
    assert dns.lookups  # the guard saw the answers; nothing was connected to


async def test_lookups_beyond_the_limit_are_turned_away_not_queued(
    fetcher_with_dns: tuple[Fetcher, StaticResolver], database: str
) -> None:
    async with make_client_session(allow_private=True, user_agent="test") as session:
        fetcher = Fetcher(session, True, 1_048_576, "k", "unused")
        router = FollowRouter(fetcher, timeout=5, max_concurrent=1)
        arrived = asyncio.Event()
        release = asyncio.Event()
        async with FakeInstance(subscribe_path=SUBSCRIBE) as remote:
            remote.add_actor("alice")

            async def held(_request: web.Request) -> web.Response:
                arrived.set()
                await release.wait()
                return web.Response(status=404)

            remote.route("/.well-known/webfinger", held)
            first = asyncio.create_task(router.route(remote.handle("alice"), "jazz@g.example"))
            await arrived.wait()
            with pytest.raises(LookupFailed) as busy:
                await router.route(remote.handle("alice"), "jazz@g.example")
            assert busy.value.problem == Problem.BUSY
            release.set()
            with pytest.raises(LookupFailed) as done:
                await first
            assert done.value.problem == Problem.UNKNOWN_ACCOUNT


async def test_what_visitors_type_leaves_no_rows_behind(
    server: FedgroupServer, lemmy: FakeInstance, mastodon: FakeInstance
) -> None:
    before = await Instance.all().count()
    for typed in (lemmy.domain, lemmy.handle("bob"), mastodon.handle("alice"), "nobody@x.invalid"):
        await submit(server, typed)
    assert await Instance.all().count() == before


async def test_route_kinds(lemmy: FakeInstance, mastodon: FakeInstance, database: str) -> None:
    """The router's answer, without the web page around it."""
    async with make_client_session(allow_private=True, user_agent="test") as session:
        router = FollowRouter(Fetcher(session, True, 1_048_576, "k", "unused"), timeout=5)
        subscribe = await router.route(mastodon.handle("alice"), "jazz@g.example")
        search = await router.route(lemmy.domain, "jazz@g.example")
        manual = await router.route(mastodon.domain, "jazz@g.example")
    assert (subscribe.route, subscribe.server) == (Route.SUBSCRIBE, mastodon.domain)
    assert subscribe.url == mastodon.url("/authorize_interaction?uri=jazz%40g.example")
    assert (search.route, search.url) == (Route.SEARCH, lemmy.url("/search?q=!jazz@g.example"))
    assert (manual.route, manual.url, manual.knows_account) == (Route.MANUAL, None, False)
