"""Sending a visitor to their own server to follow a group: the pure part.

A person reading a group's page has an account elsewhere. We ask for it (or just its server),
learn where that server lets its users follow something, and send them there with the group's
handle. The places are:

* the OStatus subscribe template in the account's WebFinger answer
  (`http://ostatus.org/schema/1.0/subscribe`; Mastodon, Misskey, Friendica, Pleroma publish it),
* for FEP-1b12 software that publishes none (Lemmy, PieFed, Mbin…), its search page, which
  finds a remote community from `!name@host`.

Everything a visitor or their server names is checked here before we redirect anyone to it:
an http(s) URL, on the server that answered, never a private address (unless the operator
allows private networks), so our page cannot become a redirect to someone's router.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from yarl import URL

from .hosts import InvalidHost, canonical_authority
from .netguard import FetchError, check_url
from .shapes import FEP_1B12_SOFTWARE
from .webfinger_client import Handle, MalformedHandle, parse_handle, webfinger_url

SUBSCRIBE_REL = "http://ostatus.org/schema/1.0/subscribe"
_URI_PLACEHOLDER = "{uri}"
_MAX_INPUT = 300


class UnusableAddress(MalformedHandle):
    """What the visitor typed, or what their server answered, cannot be used to send them on."""


@dataclass(frozen=True)
class HomeServer:
    """Where a visitor's account lives: a full handle, or only the server's authority."""

    authority: str
    handle: Handle | None = None

    def origin(self, *, allow_private: bool) -> str:
        """https://authority, or http for a loopback/private authority in a test network
        (the scheme rule of `webfinger_url`, so both ask the same server the same way)."""
        probe = webfinger_url(Handle("x", self.authority), allow_private=allow_private)
        return str(URL(probe).origin())


def parse_home(text: str) -> HomeServer:
    """`@you@server`, `you@server`, `acct:you@server`, `server`, or `https://server/...`.

    Raises `UnusableAddress` (a `MalformedHandle`) for anything else.
    """
    raw = text.strip()
    if not raw:
        raise UnusableAddress("nothing was typed")
    if len(raw) > _MAX_INPUT:
        raise UnusableAddress(f"longer than {_MAX_INPUT} characters")
    if "://" in raw:
        try:
            url = URL(raw)
        except ValueError:
            raise UnusableAddress(f"not a web address: {raw[:200]!r}") from None
        if url.scheme not in {"http", "https"} or not url.raw_host or url.raw_user:
            raise UnusableAddress(f"not a server's web address: {raw[:200]!r}")
        raw = url.raw_authority
    if "@" in raw.lstrip("@"):
        handle = parse_handle(raw)
        return HomeServer(authority=_authority(handle.host, raw), handle=handle)
    host = raw.lstrip("@").rstrip("/")
    # The same host rules as a handle's, by parsing it as one.
    bare = parse_handle(f"x@{host}").host
    return HomeServer(authority=_authority(bare, raw))


def _authority(host: str, shown: str) -> str:
    try:
        return canonical_authority(host)
    except InvalidHost:
        raise UnusableAddress(f"impossible server name in {shown[:200]!r}") from None


def subscribe_template(jrd: Any) -> str | None:
    """The OStatus subscribe template of a WebFinger answer, if it has a usable one."""
    links = jrd.get("links") if isinstance(jrd, dict) else None
    if not isinstance(links, list):
        return None
    for link in links:
        if not isinstance(link, dict) or link.get("rel") != SUBSCRIBE_REL:
            continue
        template = link.get("template")
        if isinstance(template, str) and _URI_PLACEHOLDER in template and len(template) < 2048:
            return template
    return None


def fill_template(template: str, group_handle: str) -> str:
    """The template with `{uri}` replaced by the group's `name@domain`, percent-encoded."""
    return template.replace(_URI_PLACEHOLDER, quote(group_handle, safe=""))


def has_search_for_communities(software: str | None) -> bool:
    """FEP-1b12 software finds a remote group from its search page (no subscribe template)."""
    return (software or "").lower() in FEP_1B12_SOFTWARE


def community_search_url(origin: str, group_handle: str) -> str:
    """`https://server/search?q=!name@domain`: Lemmy, PieFed and Mbin resolve it there."""
    return str(URL(origin).with_path("/search").with_query({"q": f"!{group_handle}"}))


def checked_destination(url: str, *, expected: set[str], allow_private: bool) -> str:
    """`url` if we may send a visitor there: http(s), public, on one of the `expected`
    authorities (the visitor's server, or where its WebFinger answer finally came from)."""
    try:
        check_url(url, allow_private=allow_private)
        authority = canonical_authority(url)
    except (InvalidHost, FetchError) as exc:
        raise UnusableAddress(f"unusable destination {url[:200]!r}: {exc}") from None
    if authority not in expected:
        raise UnusableAddress(f"destination {url[:200]!r} is not on {sorted(expected)}")
    return url
