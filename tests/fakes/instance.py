"""An in-process fake remote fediverse server, on its own loopback address and port.

Tests use it as "the other side": it serves actors (with a real RSA public key), WebFinger,
NodeInfo and any document a test registers, and it records every request and every POST to
its inboxes so a test can assert what a remote server would actually have received.

    async with FakeInstance(software="lemmy") as remote:
        remote.add_actor("alice")
        remote.serve("/notes/1", {"id": remote.url("/notes/1"), "type": "Note"})
        remote.inbox_responder = status_sequence(500, 500, then=202)
        ...
        post = await remote.wait_for(lambda p: p.json and p.json["type"] == "Follow")

Each instance binds a distinct 127.0.0.x address (the whole 127/8 is on `lo`), so instances
differ by host as real servers do. With `hostname="lemmy.localhost"` its URLs use that name
instead; map the name to `remote.address` in a `tests.fakes.dns.StaticResolver`.
Inbox signature checking is left to a hook: set `remote.verify`.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from multidict import CIMultiDict

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"
ACTIVITY_JSON = "application/activity+json"
NODEINFO_21 = "http://nodeinfo.diaspora.software/ns/schema/2.1"

_addresses = itertools.count(2)


def next_loopback_address() -> str:
    """A 127.x.y.z address not yet handed out in this process (127.0.0.1 is left alone)."""
    n = next(_addresses)
    while n & 0xFF in (0, 255):
        n = next(_addresses)
    return f"127.{(n >> 16) & 0xFF}.{(n >> 8) & 0xFF}.{n & 0xFF}"


@dataclass
class SeenRequest:
    """Any request the instance received, whatever its method."""

    method: str
    path_qs: str
    headers: CIMultiDict[str]


@dataclass
class ReceivedPost:
    """One POST to an inbox: what a remote server would see, and what it answered."""

    path: str
    headers: CIMultiDict[str]
    body: bytes
    json: Any
    status: int = 0
    verified: bool | None = None


InboxResponder = Callable[[ReceivedPost], int]
Verifier = Callable[[web.Request, bytes], bool | Awaitable[bool]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def status_sequence(*statuses: int, then: int = 202) -> InboxResponder:
    """Answer the given statuses in order, one per POST, then `then` for ever after."""
    pending = list(statuses)

    def respond(_post: ReceivedPost) -> int:
        return pending.pop(0) if pending else then

    return respond


@dataclass
class _Served:
    body: bytes
    content_type: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)


class FakeInstance:
    """A fake fediverse server; an async context manager that starts and stops it."""

    def __init__(
        self,
        *,
        address: str | None = None,
        hostname: str | None = None,
        software: str = "mastodon",
        software_version: str = "4.3.0",
        key_size: int = 2048,
        subscribe_path: str | None = None,
    ) -> None:
        self.address = address or next_loopback_address()
        self.hostname = hostname or self.address
        self.software = software
        self.software_version = software_version
        # Where its users follow a remote account (`/authorize_interaction?uri={uri}` on
        # Mastodon), published in WebFinger answers as the OStatus subscribe template.
        self.subscribe_path = subscribe_path
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
        self.public_key_pem = (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )
        self.private_key_pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        self.port = 0
        self.requests: list[SeenRequest] = []
        self.received: list[ReceivedPost] = []
        self.inbox_responder: InboxResponder = lambda _post: 202
        self.verify: Verifier | None = None
        self._actors: dict[str, tuple[str, dict[str, Any]]] = {}
        self._served: dict[str, _Served] = {}
        self._handlers: dict[str, Handler] = {}
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    # -- addresses ---------------------------------------------------------------------------

    @property
    def domain(self) -> str:
        """`host:port`, the part after the `@` in this instance's handles."""
        return f"{self.hostname}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.domain}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def actor_url(self, name: str) -> str:
        return self.url(f"/users/{name}")

    def key_id(self, name: str) -> str:
        return self.actor_url(name) + "#main-key"

    def inbox_url(self, name: str) -> str:
        return self.actor_url(name) + "/inbox"

    @property
    def shared_inbox_url(self) -> str:
        return self.url("/inbox")

    def handle(self, name: str) -> str:
        return f"@{name}@{self.domain}"

    # -- content -----------------------------------------------------------------------------

    def add_actor(self, name: str, *, type: str = "Person", **fields: Any) -> None:
        """Serve an actor at `actor_url(name)`; `fields` override or extend its document."""
        self._actors[name] = (type, fields)

    def actor_document(self, name: str) -> dict[str, Any]:
        """The JSON this instance serves for actor `name` (needs the instance started)."""
        actor_type, extra = self._actors[name]
        actor = self.actor_url(name)
        document: dict[str, Any] = {
            "@context": [AS_CONTEXT, SECURITY_CONTEXT],
            "id": actor,
            "type": actor_type,
            "preferredUsername": name,
            "name": name.capitalize(),
            "url": self.url(f"/@{name}"),
            "inbox": self.inbox_url(name),
            "outbox": actor + "/outbox",
            "followers": actor + "/followers",
            "following": actor + "/following",
            "endpoints": {"sharedInbox": self.shared_inbox_url},
            "publicKey": {
                "id": self.key_id(name),
                "owner": actor,
                "publicKeyPem": self.public_key_pem,
            },
        }
        document.update(extra)
        return document

    def serve(
        self,
        path: str,
        document: Any,
        *,
        status: int = 200,
        content_type: str = ACTIVITY_JSON,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer GET `path` with `document` as JSON."""
        self.serve_bytes(
            path,
            json.dumps(document).encode(),
            status=status,
            content_type=content_type,
            headers=headers,
        )

    def serve_bytes(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer GET `path` with exactly these bytes."""
        self._served[path] = _Served(body, content_type, status, dict(headers or {}))

    def redirect(self, path: str, location: str, *, status: int = 302) -> None:
        """Answer GET `path` with a redirect to `location` (relative or absolute)."""
        self.serve_bytes(
            path, b"", content_type="text/plain", status=status, headers={"Location": location}
        )

    def route(self, path: str, handler: Handler) -> None:
        """Let `handler` answer every request to `path` (slow, chunked, odd servers…)."""
        self._handlers[path] = handler

    # -- observing ---------------------------------------------------------------------------

    async def wait_for(
        self,
        predicate: Callable[[ReceivedPost], bool] = lambda _post: True,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline argument reads best in tests
    ) -> ReceivedPost:
        """The first inbox POST (already received or yet to come) matching `predicate`."""

        def match() -> ReceivedPost | None:
            return next((post for post in self.received if predicate(post)), None)

        try:
            async with asyncio.timeout(timeout):
                async with self._arrived:
                    await self._arrived.wait_for(lambda: match() is not None)
        except TimeoutError:
            seen = [(p.path, p.status, (p.json or {}).get("type")) for p in self.received]
            raise AssertionError(
                f"{self.domain}: no matching inbox POST within {timeout}s; received {seen}"
            ) from None
        found = match()
        assert found is not None
        return found

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.address, 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeInstance:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- serving -----------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(
            SeenRequest(request.method, request.path_qs, CIMultiDict(request.headers))
        )
        path = request.path
        if path in self._handlers:
            return await self._handlers[path](request)
        if request.method == "POST":
            if path == "/inbox" or (path.startswith("/users/") and path.endswith("/inbox")):
                return await self._inbox(request)
            return web.Response(status=404)
        if request.method not in {"GET", "HEAD"}:
            return web.Response(status=405)
        if path in self._served:
            served = self._served[path]
            return web.Response(
                body=served.body,
                status=served.status,
                headers={"Content-Type": served.content_type, **served.headers},
            )
        if path == "/.well-known/webfinger":
            return self._webfinger(request.query.get("resource", ""))
        if path == "/.well-known/nodeinfo":
            link = {"rel": NODEINFO_21, "href": self.url("/nodeinfo/2.1")}
            return web.json_response({"links": [link]})
        if path == "/nodeinfo/2.1":
            return web.Response(
                body=json.dumps(self._nodeinfo()).encode(),
                headers={"Content-Type": f'application/json; profile="{NODEINFO_21}#"'},
            )
        return self._actor_resource(path)

    def _actor_resource(self, path: str) -> web.Response:
        parts = path.strip("/").split("/")
        if len(parts) < 2 or parts[0] != "users" or parts[1] not in self._actors:
            return web.Response(status=404)
        name = parts[1]
        if len(parts) == 2:
            return _activity_json(self.actor_document(name))
        if len(parts) == 3 and parts[2] in {"outbox", "followers", "following"}:
            collection = {
                "@context": AS_CONTEXT,
                "id": self.url(path),
                "type": "OrderedCollection",
                "totalItems": 0,
                "orderedItems": [],
            }
            return _activity_json(collection)
        return web.Response(status=404)

    def _webfinger(self, resource: str) -> web.Response:
        name = None
        if resource.startswith("acct:"):
            user, _, domain = resource[5:].partition("@")
            if domain.lower() == self.domain.lower():
                name = user
        else:
            name = next((n for n in self._actors if self.actor_url(n) == resource), None)
        if name not in self._actors:
            return web.Response(status=404)
        jrd = {
            "subject": f"acct:{name}@{self.domain}",
            "aliases": [self.actor_url(name)],
            "links": [
                {"rel": "self", "type": ACTIVITY_JSON, "href": self.actor_url(name)},
                {
                    "rel": "http://webfinger.net/rel/profile-page",
                    "type": "text/html",
                    "href": self.url(f"/@{name}"),
                },
            ],
        }
        if self.subscribe_path is not None:
            jrd["links"].append(
                {
                    "rel": "http://ostatus.org/schema/1.0/subscribe",
                    "template": self.url(self.subscribe_path),
                }
            )
        return web.Response(text=json.dumps(jrd), content_type="application/jrd+json")

    def _nodeinfo(self) -> dict[str, Any]:
        return {
            "version": "2.1",
            "software": {"name": self.software, "version": self.software_version},
            "protocols": ["activitypub"],
            "services": {"inbound": [], "outbound": []},
            "openRegistrations": False,
            "usage": {"users": {"total": len(self._actors)}, "localPosts": 0},
            "metadata": {},
        }

    async def _inbox(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        post = ReceivedPost(request.path, CIMultiDict(request.headers), body, parsed)
        if self.verify is not None:
            outcome = self.verify(request, body)
            post.verified = bool(await outcome if inspect.isawaitable(outcome) else outcome)
        post.status = 401 if post.verified is False else self.inbox_responder(post)
        async with self._arrived:
            self.received.append(post)
            self._arrived.notify_all()
        return web.Response(status=post.status)


def _activity_json(document: dict[str, Any]) -> web.Response:
    return web.Response(text=json.dumps(document), content_type=ACTIVITY_JSON)
