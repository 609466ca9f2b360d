"""The safe fetch path, against real loopback servers: limits, SSRF guard, origin rule."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web

from fedgroup.activitypub.fetch import (
    ACTIVITY_ACCEPT,
    BadContentType,
    BadResponse,
    FetchError,
    FetchTimeout,
    InvalidDocument,
    OriginMismatch,
    ResponseTooLarge,
    TooManyRedirects,
    UnreachableHost,
    UnsafeURL,
    fetch_bytes,
    fetch_json,
    same_origin,
)
from fedgroup.activitypub.netguard import (
    GuardedResolver,
    check_url,
    is_forbidden_address,
    make_client_session,
)
from tests.fakes import FakeInstance, StaticResolver, next_loopback_address

UA = "fedgroup-test/0"


@pytest.fixture
async def remote() -> AsyncIterator[FakeInstance]:
    async with FakeInstance() as instance:
        yield instance


@pytest.fixture
async def other() -> AsyncIterator[FakeInstance]:
    async with FakeInstance() as instance:
        yield instance


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with make_client_session(allow_private=True, user_agent=UA) as client:
        yield client


class ConnectionCounter:
    """A bare TCP listener that counts accepted connections: proof that none was made."""

    def __init__(self) -> None:
        self.address = next_loopback_address()
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ConnectionCounter:
        async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            writer.close()

        self._server = await asyncio.start_server(accept, self.address, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


def note(instance: FakeInstance, path: str, **extra: object) -> dict[str, object]:
    return {"id": instance.url(path), "type": "Note", "content": "hello", **extra}


# -- the address rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.0.0.2",
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "0.1.2.3",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.7",
        "198.18.0.1",
        "::1",
        "::",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.5",
        "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
        "2002:a00:5::1",  # 6to4 of 10.0.0.5
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "fe80::1%eth0",
        "fec0::1",
        "ff02::1",
        "2001:db8::1",
        "not an address",
    ],
)
def test_forbidden_addresses(address: str) -> None:
    assert is_forbidden_address(address)


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.215.14"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert not is_forbidden_address(address)


@pytest.mark.parametrize(
    "url",
    [
        "http://social.example/users/a",
        "ftp://social.example/x",
        "file:///etc/passwd",
        "https://user:secret@social.example/users/a",
        "https://social.example@10.0.0.5/users/a",
        "https:///nohost",
        "/relative/path",
        "https://10.0.0.5/users/a",
        "https://127.0.0.1:8080/",
        "https://[::1]/",
        "https://[::ffff:169.254.169.254]/latest/meta-data",
        "https://2130706433/",
        "https://0x7f.1/",
        "https://127.1/",
        "https://localhost/",
        "https://x.localhost/",
    ],
)
def test_check_url_refuses(url: str) -> None:
    with pytest.raises(UnsafeURL):
        check_url(url, allow_private=False)


def test_check_url_allows_public_https_and_private_when_told() -> None:
    check_url("https://social.example/users/a", allow_private=False)
    check_url("https://social.example:8443/users/a", allow_private=False)
    check_url("https://[2606:4700:4700::1111]/x", allow_private=False)
    check_url("http://127.0.0.2:8080/users/a", allow_private=True)
    check_url("http://localhost:3000/", allow_private=True)
    with pytest.raises(UnsafeURL):
        check_url("https://u:p@127.0.0.2/", allow_private=True)
    with pytest.raises(UnsafeURL):
        check_url("gopher://127.0.0.2/", allow_private=True)


async def test_guarded_resolver_drops_forbidden_answers() -> None:
    inner = StaticResolver({"mixed.example": ["10.0.0.5", "93.184.215.14"]})
    inner.add("bad.example", ["10.0.0.5", "::1"])
    guard = GuardedResolver(inner, allow_private=False)
    answers = await guard.resolve("mixed.example", 443)
    assert [a["host"] for a in answers] == ["93.184.215.14"]
    with pytest.raises(OSError, match="forbidden"):
        await guard.resolve("bad.example", 443)
    relaxed = GuardedResolver(inner, allow_private=True)
    assert len(await relaxed.resolve("bad.example", 443)) == 2


# -- the guard on real connections -----------------------------------------------------------


async def test_name_resolving_to_private_address_is_refused_before_connecting() -> None:
    async with ConnectionCounter() as listener:
        dns = StaticResolver({"good.example": listener.address, "bad.example": "10.0.0.5"})
        async with make_client_session(allow_private=False, user_agent=UA, resolver=dns) as s:
            for url in (
                f"https://good.example:{listener.port}/users/a",
                "https://bad.example/users/a",
            ):
                started = time.monotonic()
                with pytest.raises(UnsafeURL, match="forbidden"):
                    await fetch_json(s, url, allow_private=False)
                assert time.monotonic() - started < 1
        assert dns.lookups == ["good.example", "bad.example"]
        assert listener.connections == 0


async def test_private_ip_literal_is_refused_before_connecting() -> None:
    async with ConnectionCounter() as listener:
        async with make_client_session(allow_private=False, user_agent=UA) as s:
            url = f"https://{listener.address}:{listener.port}/"
            with pytest.raises(UnsafeURL, match="not on the public internet"):
                await fetch_json(s, url, allow_private=False)
        assert listener.connections == 0


async def test_plain_http_is_refused_without_allow_private() -> None:
    dns = StaticResolver({"good.example": "93.184.215.14"})
    async with make_client_session(allow_private=False, user_agent=UA, resolver=dns) as s:
        with pytest.raises(UnsafeURL, match="scheme 'http'"):
            await fetch_json(s, "http://good.example/users/a", allow_private=False)
    assert dns.lookups == []


def treating_as_public(*addresses: str) -> Callable[[str], bool]:
    """A forbidden-address rule under which some loopback test servers count as public."""
    return lambda ip: ip not in addresses and is_forbidden_address(ip)


async def test_redirect_to_a_private_address_is_refused(
    remote: FakeInstance, other: FakeInstance
) -> None:
    # `remote` plays a public server; `other` plays a host on the operator's LAN.
    dns = StaticResolver({"public.example": remote.address, "lan.example": other.address})
    other.serve("/secret", {"id": f"http://lan.example:{other.port}/secret"})
    remote.redirect("/go", f"http://lan.example:{other.port}/secret")
    async with make_client_session(
        allow_private=False,
        user_agent=UA,
        resolver=dns,
        forbidden=treating_as_public(remote.address),
    ) as s:
        url = f"http://public.example:{remote.port}/go"
        with pytest.raises(UnsafeURL, match="lan.example"):
            await fetch_json(s, url, allow_private=True)
    assert [r.path_qs for r in remote.requests] == ["/go"]
    assert other.requests == []


@pytest.mark.parametrize(
    "location", ["https://user:pw@{host}/doc", "ftp://{host}/doc", "file:///etc/passwd"]
)
async def test_every_redirect_hop_is_checked(
    session: aiohttp.ClientSession, remote: FakeInstance, location: str
) -> None:
    remote.redirect("/go", location.format(host=remote.domain))
    with pytest.raises(UnsafeURL):
        await fetch_json(session, remote.url("/go"), allow_private=True)
    assert [r.path_qs for r in remote.requests] == ["/go"]


# -- fetching --------------------------------------------------------------------------------


async def test_fetches_an_actor_from_a_remote_instance(
    session: aiohttp.ClientSession, remote: FakeInstance
) -> None:
    remote.add_actor("alice")
    actor = await fetch_json(session, remote.actor_url("alice"), allow_private=True)
    assert actor["id"] == remote.actor_url("alice")
    assert actor["publicKey"]["publicKeyPem"] == remote.public_key_pem
    seen = remote.requests[-1]
    assert seen.method == "GET"
    assert seen.headers["Accept"] == ACTIVITY_ACCEPT
    assert seen.headers["User-Agent"] == UA
    assert seen.headers["Host"] == remote.domain
    assert "Signature" not in seen.headers


@pytest.mark.parametrize(
    "content_type",
    ["application/activity+json", 'application/ld+json; profile="x"', "application/json"],
)
async def test_accepts_json_media_types(
    session: aiohttp.ClientSession, remote: FakeInstance, content_type: str
) -> None:
    remote.serve("/n", note(remote, "/n"), content_type=content_type)
    assert (await fetch_json(session, remote.url("/n"), allow_private=True))["type"] == "Note"


async def test_refuses_non_json_media_type(
    session: aiohttp.ClientSession, remote: FakeInstance
) -> None:
    remote.serve_bytes("/page", b"<html></html>", content_type="text/html")
    with pytest.raises(BadContentType, match="text/html"):
        await fetch_json(session, remote.url("/page"), allow_private=True)


@pytest.mark.parametrize(
    ("body", "match"),
    [(b"{not json", "invalid JSON"), (b"[1, 2]", "not an object"), (b'{"type": "Note"}', "id")],
)
async def test_refuses_bad_documents(
    session: aiohttp.ClientSession, remote: FakeInstance, body: bytes, match: str
) -> None:
    remote.serve_bytes("/bad", body, content_type="application/activity+json")
    with pytest.raises(InvalidDocument, match=match):
        await fetch_json(session, remote.url("/bad"), allow_private=True)


@pytest.mark.parametrize("status", [404, 410, 500])
async def test_error_status_is_reported(
    session: aiohttp.ClientSession, remote: FakeInstance, status: int
) -> None:
    remote.serve("/gone", {"error": "x"}, status=status)
    with pytest.raises(BadResponse) as caught:
        await fetch_json(session, remote.url("/gone"), allow_private=True)
    assert caught.value.status == status


async def test_refuses_document_whose_id_is_on_another_origin(
    session: aiohttp.ClientSession, remote: FakeInstance, other: FakeInstance
) -> None:
    remote.serve("/forged", note(other, "/notes/1"))
    with pytest.raises(OriginMismatch, match="foreign id"):
        await fetch_json(session, remote.url("/forged"), allow_private=True)
    document = await fetch_json(
        session, remote.url("/forged"), allow_private=True, expect_same_origin_id=False
    )
    assert document["id"] == other.url("/notes/1")


async def test_origin_rule_uses_the_final_url_after_redirects(
    session: aiohttp.ClientSession, remote: FakeInstance, other: FakeInstance
) -> None:
    other.serve("/notes/1", note(other, "/notes/1"))
    remote.redirect("/moved", other.url("/notes/1"), status=301)
    document = await fetch_json(session, remote.url("/moved"), allow_private=True)
    assert document["id"] == other.url("/notes/1")

    other.serve("/claims-remote", note(remote, "/notes/2"))
    remote.redirect("/moved-2", other.url("/claims-remote"))
    with pytest.raises(OriginMismatch):
        await fetch_json(session, remote.url("/moved-2"), allow_private=True)


def test_same_origin() -> None:
    assert same_origin("https://a.example/x", "https://A.example:443/y")
    assert not same_origin("https://a.example/x", "http://a.example/x")
    assert not same_origin("https://a.example/x", "https://a.example:8443/x")
    assert not same_origin("https://a.example/x", "https://b.a.example/x")
    assert not same_origin("/x", "https://a.example/x")


async def test_redirect_chain_over_the_limit_is_refused(
    session: aiohttp.ClientSession, remote: FakeInstance
) -> None:
    for hop in range(4):
        remote.redirect(f"/r{hop}", f"/r{hop + 1}" if hop < 3 else "/doc", status=307)
    remote.serve("/doc", note(remote, "/doc"))
    with pytest.raises(TooManyRedirects):
        await fetch_json(session, remote.url("/r0"), allow_private=True, max_redirects=3)
    assert [r.path_qs for r in remote.requests] == ["/r0", "/r1", "/r2", "/r3"]
    document = await fetch_json(session, remote.url("/r0"), allow_private=True, max_redirects=4)
    assert document["id"] == remote.url("/doc")


async def test_redirect_without_location_is_refused(
    session: aiohttp.ClientSession, remote: FakeInstance
) -> None:
    remote.serve_bytes("/nowhere", b"", content_type="text/plain", status=302)
    with pytest.raises(TooManyRedirects, match="without Location"):
        await fetch_json(session, remote.url("/nowhere"), allow_private=True)


async def test_signer_is_called_for_every_hop_with_that_hops_url(
    session: aiohttp.ClientSession, remote: FakeInstance, other: FakeInstance
) -> None:
    other.serve("/notes/1", note(other, "/notes/1"))
    remote.redirect("/start", other.url("/notes/1"))
    calls: list[tuple[str, str, dict[str, str]]] = []

    def signer(method: str, url: str, headers: dict[str, str]) -> dict[str, str]:
        calls.append((method, url, dict(headers)))
        return {"Signature": f'keyId="k",signature="{url}"'}

    await fetch_json(session, remote.url("/start"), allow_private=True, signer=signer)
    assert [(m, u) for m, u, _ in calls] == [
        ("GET", remote.url("/start")),
        ("GET", other.url("/notes/1")),
    ]
    assert calls[0][2]["Host"] == remote.domain
    assert calls[1][2]["Host"] == other.domain
    assert {"Accept", "Date"} <= calls[0][2].keys()
    signed = {"Signature": f'keyId="k",signature="{remote.url("/start")}"'}
    assert remote.requests[0].headers["Signature"] == signed["Signature"]
    signed = {"Signature": f'keyId="k",signature="{other.url("/notes/1")}"'}
    assert other.requests[0].headers["Signature"] == signed["Signature"]
    assert other.requests[0].headers["Date"] == calls[1][2]["Date"]


# -- size and time limits --------------------------------------------------------------------


async def test_oversized_response_with_content_length_is_refused(
    session: aiohttp.ClientSession, remote: FakeInstance
) -> None:
    remote.serve("/big", note(remote, "/big", content="x" * 5000))
    with pytest.raises(ResponseTooLarge, match="announces"):
        await fetch_json(session, remote.url("/big"), allow_private=True, max_bytes=4096)
    document = await fetch_json(session, remote.url("/big"), allow_private=True, max_bytes=8192)
    assert len(document["content"]) == 5000


async def test_oversized_chunked_response_is_refused(
    session: aiohttp.ClientSession, remote: FakeInstance
) -> None:
    sent: list[int] = []

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/activity+json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"id": "' + remote.url("/endless").encode() + b'", "pad": "')
        try:
            for _ in range(10_000):
                await response.write(b"x" * 1024)
                sent.append(1024)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response

    remote.route("/endless", endless)
    with pytest.raises(ResponseTooLarge, match="more than 65536"):
        await fetch_json(session, remote.url("/endless"), allow_private=True, max_bytes=65536)
    assert "Content-Length" not in remote.requests[0].headers


async def test_oversized_body_without_content_length_is_refused(
    session: aiohttp.ClientSession, remote: FakeInstance
) -> None:
    async def unannounced(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.force_close()  # HTTP/1.0 style: the body ends when the connection does
        await response.prepare(request)
        await response.write(b"[" + b"0," * 50_000 + b"0]")
        return response

    remote.route("/unannounced", unannounced)
    with pytest.raises(ResponseTooLarge):
        await fetch_bytes(session, remote.url("/unannounced"), allow_private=True, max_bytes=1000)


async def test_compressed_bomb_is_limited_after_decompression(
    session: aiohttp.ClientSession, remote: FakeInstance
) -> None:
    start = b'{"id": "' + remote.url("/bomb").encode() + b'", "x": "'
    bomb = gzip.compress(start + b"0" * 5_000_000)
    assert len(bomb) < 65536
    remote.serve_bytes(
        "/bomb",
        bomb,
        content_type="application/activity+json",
        headers={"Content-Encoding": "gzip"},
    )
    with pytest.raises(ResponseTooLarge, match="more than 65536"):
        await fetch_json(session, remote.url("/bomb"), allow_private=True, max_bytes=65536)


async def test_slow_server_hits_the_total_timeout(
    session: aiohttp.ClientSession, remote: FakeInstance
) -> None:
    async def slow_headers(_request: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.json_response(note(remote, "/slow"))

    async def slow_body(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/activity+json"})
        await response.prepare(request)
        for _ in range(30):
            await response.write(b" ")
            await asyncio.sleep(0.1)
        return response

    remote.route("/slow", slow_headers)
    remote.route("/trickle", slow_body)
    for path in ("/slow", "/trickle"):
        started = time.monotonic()
        with pytest.raises(FetchTimeout):
            await fetch_json(session, remote.url(path), allow_private=True, total_timeout=0.5)
        assert time.monotonic() - started < 1.5


async def test_connection_refused_and_unknown_names_are_fetch_errors() -> None:
    async with ConnectionCounter() as listener:
        address, port = listener.address, listener.port
    dns = StaticResolver()
    async with make_client_session(allow_private=True, user_agent=UA, resolver=dns) as s:
        with pytest.raises(UnreachableHost):
            await fetch_json(s, f"http://{address}:{port}/x", allow_private=True)
        with pytest.raises(UnreachableHost, match="cannot resolve"):
            await fetch_json(s, "http://nowhere.example/x", allow_private=True)


async def test_fetch_bytes_returns_any_media_type_and_the_final_url(
    session: aiohttp.ClientSession, remote: FakeInstance
) -> None:
    remote.add_actor("alice")
    remote.redirect("/ni", "/.well-known/nodeinfo")
    fetched = await fetch_bytes(session, remote.url("/ni"), allow_private=True)
    assert fetched.url == remote.url("/.well-known/nodeinfo")
    assert fetched.content_type == "application/json"
    assert b"nodeinfo.diaspora.software/ns/schema/2.1" in fetched.body


def test_every_error_is_a_fetch_error() -> None:
    for error in (
        UnsafeURL,
        ResponseTooLarge,
        TooManyRedirects,
        OriginMismatch,
        BadContentType,
        InvalidDocument,
        FetchTimeout,
        UnreachableHost,
    ):
        assert issubclass(error, FetchError)
    assert issubclass(BadResponse, FetchError)
