"""Keep outbound requests away from the operator's own network (SSRF).

Strangers name the URLs we fetch (actor ids, key ids, object ids, inboxes), so a hostile
document could point us at `http://127.0.0.1:6379/`, a cloud metadata address or a printer on
the LAN. Two checks close that door:

* `check_url` refuses a URL before any request: wrong scheme, userinfo, no host, or an IP
  literal in a forbidden range (aiohttp never asks the resolver about IP literals).
* `GuardedResolver` sits in the ONE client session's connector and removes forbidden
  addresses from every DNS answer, so the check is made on the very addresses we connect to
  and a name that re-binds to 10.0.0.5 between "check" and "connect" gains nothing.

Both are relaxed only by an explicit `allow_private=True` (FEDGROUP_ALLOW_PRIVATE_NETWORK),
which tests and local development use to talk to instances on loopback over plain HTTP.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from fedgroup.activitypub.hosts import host_or_none

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(Exception):
    """A remote resource could not be fetched safely; `reason` is fit for a log line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnsafeURL(FetchError):
    """The URL, or the address its host resolves to, must not be requested."""


class ForbiddenAddress(OSError):
    """Raised by `GuardedResolver` when every address of a name is forbidden.

    An `OSError` because that is what aiohttp's connector expects from a resolver; it wraps
    it in `ClientConnectorDNSError`, and `fetch.py` turns it back into `UnsafeURL`.
    """

    def __init__(self, host: str, addresses: list[str]) -> None:
        shown = ", ".join(addresses) or "no address"
        super().__init__(f"{host} resolves only to forbidden addresses ({shown})")
        self.host = host
        self.addresses = addresses


_FORBIDDEN_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata services
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
    )
)

_FORBIDDEN_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::/128",  # unspecified
        "::1/128",  # loopback
        "::/96",  # IPv4-compatible (deprecated)
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments, Teredo
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    return None


def is_forbidden_address(ip: str | IPAddress) -> bool:
    """True when connecting to `ip` could reach something that is not the public internet.

    Fails closed: a string that is not an IP address counts as forbidden.
    """
    if isinstance(ip, str):
        try:
            ip = ipaddress.ip_address(ip.split("%", 1)[0])  # drop an IPv6 zone id
        except ValueError:
            return True
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_forbidden_address(embedded)
        if any(ip in net for net in _FORBIDDEN_V6):
            return True
    elif any(ip in net for net in _FORBIDDEN_V4):
        return True
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
    )


class GuardedResolver(AbstractResolver):
    """A resolver that never hands the connector a forbidden address.

    Forbidden addresses are dropped from the answer; if none is left, `ForbiddenAddress` is
    raised so the request fails before any connection is attempted. `forbidden` can widen the
    rule (an operator's own public ranges) or, in tests, declare one loopback address "public".
    """

    def __init__(
        self,
        inner: AbstractResolver | None = None,
        *,
        allow_private: bool,
        forbidden: Callable[[str], bool] = is_forbidden_address,
    ) -> None:
        self._inner = inner if inner is not None else ThreadedResolver()
        self.allow_private = allow_private
        self.forbidden = forbidden

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        if self.allow_private:
            return answers
        allowed = [a for a in answers if not self.forbidden(a["host"])]
        if not allowed:
            raise ForbiddenAddress(host, [a["host"] for a in answers])
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def make_client_session(
    *,
    allow_private: bool,
    user_agent: str,
    resolver: AbstractResolver | None = None,
    forbidden: Callable[[str], bool] = is_forbidden_address,
    per_host_limit: int = 4,
    total_limit: int = 100,
) -> aiohttp.ClientSession:
    """The process's one outbound HTTP session, with the SSRF guard in its connector.

    No cookies (remote servers must not be able to track or steer us), no proxy settings from
    the environment, pooled keep-alive connections with per-host concurrency limits.
    Must be called inside a running event loop; close it on shutdown.
    """
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(resolver, allow_private=allow_private, forbidden=forbidden),
        limit=total_limit,
        limit_per_host=per_host_limit,
        ttl_dns_cache=60,
    )
    return aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": user_agent},
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        timeout=aiohttp.ClientTimeout(total=60, sock_connect=10),
    )


_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_url(url: str | URL, *, allow_private: bool) -> None:
    """Raise `UnsafeURL` unless `url` may be requested at all.

    Only `https` (plus `http` when `allow_private`), no `user:password@`, a host, and an IP
    literal host outside the forbidden ranges. Host names are checked later, on the
    addresses they resolve to, by `GuardedResolver`.
    """
    try:
        parsed = url if isinstance(url, URL) else URL(url)
    except (ValueError, TypeError) as exc:
        raise UnsafeURL(f"unparsable URL {str(url)[:200]!r}: {exc}") from None
    shown = str(parsed)[:200]
    allowed_schemes = {"https", "http"} if allow_private else {"https"}
    if parsed.scheme not in allowed_schemes:
        raise UnsafeURL(f"scheme {parsed.scheme or '(none)'!r} not allowed: {shown}")
    if parsed.raw_user is not None or parsed.raw_password is not None:
        raise UnsafeURL(f"credentials in URL not allowed: {parsed.scheme}://…@{parsed.host}")
    host = parsed.raw_host
    if not host:
        raise UnsafeURL(f"URL has no host: {shown}")
    ip = _ip_literal(host)
    if ip is None:
        # Forms like 2130706433, 0x7f.1 or 127.1 are IPv4 addresses to some resolvers.
        if _NUMERIC_LABEL.match(host.rstrip(".").rsplit(".", 1)[-1]):
            raise UnsafeURL(f"numeric host is not a canonical IP address: {host}")
        if host_or_none(host) is None:
            # What domain rules cannot name (underscores, bad labels) we do not fetch either,
            # or a blocked domain could be reached through a spelling the rules cannot see.
            raise UnsafeURL(f"host {host[:200]} is not a valid host name")
        name = host.rstrip(".").lower()
        if not allow_private and (name == "localhost" or name.endswith(".localhost")):
            raise UnsafeURL(f"host {host} is a loopback name")
        return
    if not allow_private and is_forbidden_address(ip):
        raise UnsafeURL(f"address {ip} is not on the public internet")
