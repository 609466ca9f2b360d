"""One spelling per host: the only function that decides whether two hosts are the same.

A host can be written many ways that all reach the same server: upper case, a trailing dot,
fullwidth letters, the ideographic full stop, its Unicode or its punycode form, with or
without the scheme's default port. Anything that compares or stores hosts (domain rules,
bans, origin checks, instance rows, delivery grouping) goes through `canonical_host` or
`canonical_authority`, so a block written one way cannot be passed by writing the host
another way.

The canonical form is IDNA 2008 with the UTS-46 mapping (the `idna` package, what browsers
do): A-labels, lower case, no trailing dot. IP literals are normalized by `ipaddress`.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import idna

DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_HOST_LENGTH = 253


class InvalidHost(ValueError):
    """Not something that names a host; `str()` says why, fit for a refusal or a CLI line."""


def _split_authority(value: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL or a bare `host[:port]`."""
    text = value.strip()
    if "://" in text:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        netloc = parts.netloc.rsplit("@", 1)[-1]
    else:
        scheme = ""
        netloc = text.split("/", 1)[0]
    if netloc.startswith("["):
        host, closed, rest = netloc[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if not closed or (rest and not rest.startswith(":")):
            raise InvalidHost(f"not a host: {value[:200]!r}")
        if ":" not in host:
            raise InvalidHost(f"brackets around a non-IPv6 host: {value[:200]!r}")
    elif netloc.count(":") == 1:
        host, port_text = netloc.split(":")
    else:
        host, port_text = netloc, ""
    port = None
    if port_text:
        if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InvalidHost(f"bad port in {value[:200]!r}")
        port = int(port_text)
    return scheme, host, port


def _canonical_name(host: str, shown: str) -> str:
    if not host:
        raise InvalidHost(f"no host in {shown[:200]!r}")
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        ip = None
    if ip is not None:
        return f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    try:
        # UTS-46 maps fullwidth letters and the ideographic/fullwidth full stops to ASCII
        # before the trailing dot is dropped.
        mapped = idna.uts46_remap(host, std3_rules=False, transitional=False).rstrip(".")
        name = idna.encode(mapped, uts46=False).decode("ascii").lower()
    except (idna.IDNAError, UnicodeError, ValueError) as exc:
        raise InvalidHost(f"not a valid host name: {shown[:200]!r} ({exc})") from None
    if not name or len(name) > _MAX_HOST_LENGTH:
        raise InvalidHost(f"not a valid host name: {shown[:200]!r}")
    return name


def canonical_host(value: str) -> str:
    """The host of a URL, a `host[:port]` or a bare host, in its one canonical spelling,
    without any port: what domain rules and bans are written against and matched with."""
    _scheme, host, _port = _split_authority(value)
    return _canonical_name(host, value)


def canonical_authority(value: str) -> str:
    """`host[:port]` of a URL (or of a `host[:port]`), canonical, the scheme's default port
    dropped: the unit instances and deliveries are grouped by, and origins compared by."""
    scheme, host, port = _split_authority(value)
    name = _canonical_name(host, value)
    if port is None or DEFAULT_PORTS.get(scheme) == port:
        return name
    return f"{name}:{port}"


def host_or_none(value: str) -> str | None:
    """`canonical_host`, or None for something that names no valid host (a refusal elsewhere)."""
    try:
        return canonical_host(value)
    except InvalidHost:
        return None


def authority_or_none(value: str) -> str | None:
    """`canonical_authority`, or None for something that names no valid host."""
    try:
        return canonical_authority(value)
    except InvalidHost:
        return None


def origin_of(url: str) -> tuple[str, str] | None:
    """(scheme, canonical authority) of an absolute http(s) URL: the unit of trust for
    ActivityPub ids (FEP-fe34). None for anything else, including URLs with userinfo or
    backslashes, which parsers disagree about."""
    if not isinstance(url, str) or "\\" in url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or "@" in parts.netloc:
        return None
    authority = authority_or_none(url)
    return (scheme, authority) if authority else None


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs have the same scheme and canonical host and port."""
    origin = origin_of(str(a))
    return origin is not None and origin == origin_of(str(b))
