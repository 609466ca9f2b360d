"""Turn a fediverse handle (`@name@host`) into the URL of its ActivityPub actor (RFC 7033).

Moderators and admins type handles; the protocol needs actor URLs. The lookup goes through
`fetch.py`, so it has the same SSRF guard, size, time and redirect limits as every other GET.

Scheme rule: always `https://HOST/.well-known/webfinger`, except when private networks are
allowed (tests, local development) AND the host is a loopback/private name or address —
`localhost`, `*.localhost`, or an IP literal outside the public internet — then plain `http`.
A public-looking name is never asked over plain HTTP.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from fedgroup.activitypub.fetch import (
    DEFAULT_MAX_BYTES,
    FetchError,
    Signer,
    fetch_bytes,
    parse_json_object,
)
from fedgroup.activitypub.netguard import is_forbidden_address

JRD_CONTENT_TYPES = frozenset({"application/jrd+json", "application/json"})
ACTIVITY_STREAMS_PROFILE = "https://www.w3.org/ns/activitystreams"

# A host name (labels of letters, digits, hyphens, punycode), an IPv4 address or a bracketed
# IPv6 address, with an optional port.
_HOST = re.compile(
    r"^(?:(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"|\[[0-9a-f:.]+\])(?::(?P<port>[0-9]{1,5}))?$"
)
# Usernames differ between servers (dots, dashes, unicode); refuse only what cannot be one.
_NAME_FORBIDDEN = re.compile(r"[\s@/?#:\\<>\"'`{}|^\x00-\x1f\x7f]")


class MalformedHandle(FetchError, ValueError):
    """The text is not a `name@host` handle; nothing was requested."""


class NoActorLink(FetchError):
    """The WebFinger answer has no usable `self` link to an ActivityPub actor."""


@dataclass(frozen=True)
class Handle:
    """`name@host` where `host` may carry a port; `acct` is the WebFinger resource."""

    name: str
    host: str

    @property
    def acct(self) -> str:
        return f"acct:{self.name}@{self.host}"

    def __str__(self) -> str:
        return f"@{self.name}@{self.host}"


def parse_handle(text: str) -> Handle:
    """Accept `@name@host`, `name@host` and `acct:name@host`; the host is lower-cased."""
    raw = text.strip()
    handle = raw
    if handle[:5].lower() == "acct:":
        handle = handle[5:]
    elif handle.startswith("@"):
        handle = handle[1:]
    name, sep, host = handle.partition("@")
    if not sep or not name or not host:
        raise MalformedHandle(f"not a handle (expected name@host): {raw[:200]!r}")
    if _NAME_FORBIDDEN.search(name):
        raise MalformedHandle(f"impossible user name in handle {raw[:200]!r}")
    try:
        host = host.encode("idna").decode("ascii").lower() if not host.isascii() else host.lower()
    except UnicodeError:
        raise MalformedHandle(f"impossible host name in handle {raw[:200]!r}") from None
    match = _HOST.match(host)
    if match is None:
        raise MalformedHandle(f"impossible host in handle {raw[:200]!r}")
    if match["port"] is not None and not 0 < int(match["port"]) < 65536:
        raise MalformedHandle(f"impossible port in handle {raw[:200]!r}")
    return Handle(name=name, host=host)


def _is_local_host(host: str) -> bool:
    """`localhost`, `*.localhost`, or an IP literal outside the public internet."""
    bare = URL.build(scheme="http", authority=host).raw_host or ""
    if bare == "localhost" or bare.endswith(".localhost"):
        return True
    try:
        return is_forbidden_address(ipaddress.ip_address(bare))
    except ValueError:
        return False


def webfinger_url(handle: Handle, *, allow_private: bool) -> str:
    """Where to ask about `handle`, following the scheme rule in the module docstring."""
    scheme = "http" if allow_private and _is_local_host(handle.host) else "https"
    base = URL.build(scheme=scheme, authority=handle.host, path="/.well-known/webfinger")
    return str(base.with_query({"resource": handle.acct}))


def _is_activity_type(media_type: str) -> bool:
    """`application/activity+json`, or `application/ld+json` with no or the AS profile."""
    essence, _, params = media_type.partition(";")
    essence = essence.strip().lower()
    if essence == "application/activity+json":
        return True
    if essence != "application/ld+json":
        return False
    profiles = re.findall(r'profile\s*=\s*"?([^";]*)"?', params)
    return not profiles or any(ACTIVITY_STREAMS_PROFILE in p.split() for p in profiles)


def actor_link(jrd: Mapping[str, Any]) -> str | None:
    """The href of the first `self` link typed as an ActivityPub document, if any."""
    links = jrd.get("links")
    if not isinstance(links, list):
        return None
    for link in links:
        if not isinstance(link, dict) or link.get("rel") != "self":
            continue
        media_type, href = link.get("type"), link.get("href")
        if not isinstance(media_type, str) or not isinstance(href, str):
            continue
        try:
            absolute = URL(href).scheme in {"https", "http"}
        except ValueError:
            continue
        if absolute and _is_activity_type(media_type):
            return href
    return None


async def fetch_jrd(
    session: aiohttp.ClientSession,
    handle: Handle,
    *,
    allow_private: bool,
    signer: Signer | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    connect_timeout: float = 5,
    total_timeout: float = 15,
    max_redirects: int = 3,
) -> tuple[dict[str, Any], str]:
    """The WebFinger answer (JRD) for `handle` and the URL it finally came from."""
    fetched = await fetch_bytes(
        session,
        webfinger_url(handle, allow_private=allow_private),
        allow_private=allow_private,
        signer=signer,
        accept="application/jrd+json, application/json",
        content_types=JRD_CONTENT_TYPES,
        max_bytes=max_bytes,
        connect_timeout=connect_timeout,
        total_timeout=total_timeout,
        max_redirects=max_redirects,
    )
    return parse_json_object(fetched), fetched.url


async def resolve_handle(
    session: aiohttp.ClientSession,
    handle: str,
    *,
    allow_private: bool,
    signer: Signer | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    connect_timeout: float = 5,
    total_timeout: float = 15,
    max_redirects: int = 3,
) -> str:
    """The actor URL for `handle`; `MalformedHandle`, `NoActorLink` or another `FetchError`.

    The actor URL is not fetched or checked here: callers fetch it with `fetch_json`, which
    applies the SSRF guard and origin rule to it like to any other URL.
    """
    parsed = parse_handle(handle)
    jrd, _url = await fetch_jrd(
        session,
        parsed,
        allow_private=allow_private,
        signer=signer,
        max_bytes=max_bytes,
        connect_timeout=connect_timeout,
        total_timeout=total_timeout,
        max_redirects=max_redirects,
    )
    href = actor_link(jrd)
    if href is None:
        raise NoActorLink(f"WebFinger for {parsed} names no ActivityPub actor")
    return href
