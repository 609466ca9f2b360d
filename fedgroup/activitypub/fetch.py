"""The one path every remote GET takes: SSRF-checked, size- and time-limited, redirect-capped.

`fetch_json` is for ActivityStreams documents (actors, keys, objects, collections) and enforces
Mastodon's origin rule: the document's `id` must be on the origin we finally fetched it from,
so a server cannot hand us a document that claims to live somewhere else. `fetch_bytes` is
the lower level (NodeInfo, WebFinger, media metadata) with the same limits and no JSON rules.

Every failure is a `FetchError` whose `reason` is one line for the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from fedgroup.activitypub.hosts import same_origin
from fedgroup.activitypub.jsonparse import DEFAULT_LIMITS, JsonLimits, JsonShapeError, parse_json
from fedgroup.activitypub.netguard import FetchError, ForbiddenAddress, UnsafeURL, check_url

__all__ = [
    "ACTIVITY_ACCEPT",
    "ACTIVITY_CONTENT_TYPES",
    "BadContentType",
    "BadResponse",
    "FetchError",
    "FetchTimeout",
    "Fetched",
    "InvalidDocument",
    "OriginMismatch",
    "ResponseTooLarge",
    "Signer",
    "TooManyRedirects",
    "UnreachableHost",
    "UnsafeURL",
    "fetch_bytes",
    "fetch_json",
    "parse_json_object",
    "same_origin",
]

ACTIVITY_ACCEPT = (
    "application/activity+json, "
    'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
)
ACTIVITY_CONTENT_TYPES = frozenset(
    {"application/activity+json", "application/ld+json", "application/json"}
)
DEFAULT_MAX_BYTES = 1_048_576
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024

Signer = Callable[[str, str, dict[str, str]], Mapping[str, str]]
"""`signer(method, url, headers) -> headers to add`; called once per request, per hop.

`headers` is a copy of what we will send (Accept, Host, Date); the returned headers
(`Signature`, or `Signature-Input` + `Signature`, …) are added to the request.
"""


class ResponseTooLarge(FetchError):
    """The body is (or announces to be) bigger than we are willing to read."""


class TooManyRedirects(FetchError):
    """More redirect hops than allowed, or a redirect without a usable Location."""


class OriginMismatch(FetchError):
    """The document's `id` is not on the origin it was fetched from."""


class BadResponse(FetchError):
    """A non-success HTTP status; callers look at `status` (404/410 mean gone)."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = status


class BadContentType(FetchError):
    """The response is not of a media type we asked for."""


class InvalidDocument(FetchError):
    """The body is not valid JSON, not a JSON object, or lacks a usable `id`."""


class FetchTimeout(FetchError):
    """The whole fetch (all hops, the body included) took longer than allowed."""


class UnreachableHost(FetchError):
    """DNS failure, refused connection, TLS failure, connection reset…"""


@dataclass(frozen=True)
class Fetched:
    """A successful response body and where it finally came from (after redirects)."""

    url: str
    status: int
    content_type: str
    headers: CIMultiDictProxy[str]
    body: bytes


def _host_header(url: URL) -> str:
    """What aiohttp sends as Host, made explicit so a signer signs exactly that."""
    return url.host_port_subcomponent or ""


def _request_headers(url: URL, accept: str, signer: Signer | None) -> dict[str, str]:
    headers = {
        "Accept": accept,
        "Host": _host_header(url),
        "Date": formatdate(usegmt=True),
    }
    if signer is not None:
        headers.update(signer("GET", str(url), dict(headers)))
    return headers


def _redirect_target(url: URL, response: aiohttp.ClientResponse) -> URL:
    location = response.headers.get("Location")
    if not location:
        raise TooManyRedirects(f"{response.status} without Location from {url}")
    try:
        return url.join(URL(location)).with_fragment(None)
    except ValueError:
        raise TooManyRedirects(f"unusable Location {location[:200]!r} from {url}") from None


async def _read_limited(response: aiohttp.ClientResponse, url: URL, max_bytes: int) -> bytes:
    if response.content_length is not None and response.content_length > max_bytes:
        raise ResponseTooLarge(
            f"{url} announces {response.content_length} bytes, limit is {max_bytes}"
        )
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise ResponseTooLarge(f"{url} sent more than {max_bytes} bytes")
    return bytes(body)


async def _follow(
    session: aiohttp.ClientSession,
    start: URL,
    *,
    allow_private: bool,
    signer: Signer | None,
    accept: str,
    content_types: Collection[str] | None,
    max_bytes: int,
    connect_timeout: float,
    max_redirects: int,
) -> Fetched:
    url = start
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout)
    for _hop in range(max_redirects + 1):
        check_url(url, allow_private=allow_private)
        headers = _request_headers(url, accept, signer)
        async with session.get(
            url, headers=headers, allow_redirects=False, timeout=timeout
        ) as response:
            if response.status in _REDIRECT_STATUSES:
                url = _redirect_target(url, response)
                continue
            if not 200 <= response.status < 300:
                raise BadResponse(f"{url} answered HTTP {response.status}", response.status)
            if content_types is not None and response.content_type not in content_types:
                expected = ", ".join(sorted(content_types))
                raise BadContentType(f"{url} sent {response.content_type!r}, not {expected}")
            body = await _read_limited(response, url, max_bytes)
            return Fetched(
                url=str(url),
                status=response.status,
                content_type=response.content_type,
                headers=response.headers,
                body=body,
            )
    raise TooManyRedirects(f"more than {max_redirects} redirects starting at {start}")


async def fetch_bytes(
    session: aiohttp.ClientSession,
    url: str,
    *,
    allow_private: bool,
    signer: Signer | None = None,
    accept: str = "*/*",
    content_types: Collection[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    connect_timeout: float = 5,
    total_timeout: float = 15,
    max_redirects: int = 3,
) -> Fetched:
    """GET `url` safely and return the body; `content_types=None` accepts any media type.

    `total_timeout` bounds everything: every hop, connecting, and reading the body.
    """
    try:
        start = URL(url).with_fragment(None)
    except (ValueError, TypeError) as exc:
        raise UnsafeURL(f"unparsable URL {str(url)[:200]!r}: {exc}") from None
    try:
        async with asyncio.timeout(total_timeout):
            return await _follow(
                session,
                start,
                allow_private=allow_private,
                signer=signer,
                accept=accept,
                content_types=content_types,
                max_bytes=max_bytes,
                connect_timeout=connect_timeout,
                max_redirects=max_redirects,
            )
    except TimeoutError:
        raise FetchTimeout(
            f"fetching {start} timed out (limits: connect {connect_timeout}s, "
            f"total {total_timeout}s)"
        ) from None
    except aiohttp.ClientConnectorDNSError as exc:
        if isinstance(exc.os_error, ForbiddenAddress):
            raise UnsafeURL(str(exc.os_error)) from None
        raise UnreachableHost(f"cannot resolve {exc.host}: {exc.os_error}") from None
    except aiohttp.InvalidURL as exc:
        raise UnsafeURL(f"invalid URL: {exc}") from None
    except aiohttp.ClientError as exc:
        raise UnreachableHost(f"fetching {start} failed: {type(exc).__name__}: {exc}") from None


def parse_json_object(fetched: Fetched, limits: JsonLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The body as a JSON object within `limits` (depth, members), or `InvalidDocument`."""
    try:
        document = parse_json(fetched.body, limits)
    except JsonShapeError as exc:
        raise InvalidDocument(f"{fetched.url} sent invalid JSON: {exc.reason}") from None
    if not isinstance(document, dict):
        raise InvalidDocument(f"{fetched.url} sent JSON that is not an object")
    return document


async def fetch_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    allow_private: bool,
    signer: Signer | None = None,
    accept: str = ACTIVITY_ACCEPT,
    content_types: Collection[str] = ACTIVITY_CONTENT_TYPES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    connect_timeout: float = 5,
    total_timeout: float = 15,
    max_redirects: int = 3,
    expect_same_origin_id: bool = True,
    limits: JsonLimits = DEFAULT_LIMITS,
) -> dict[str, Any]:
    """GET an ActivityStreams document (or other JSON object) safely.

    With `expect_same_origin_id` the document must have a string `id` on the same origin as
    the final URL (after redirects); anything else is refused, as Mastodon does.
    """
    fetched = await fetch_bytes(
        session,
        url,
        allow_private=allow_private,
        signer=signer,
        accept=accept,
        content_types=content_types,
        max_bytes=max_bytes,
        connect_timeout=connect_timeout,
        total_timeout=total_timeout,
        max_redirects=max_redirects,
    )
    document = parse_json_object(fetched, limits)
    if expect_same_origin_id:
        doc_id = document.get("id")
        if not isinstance(doc_id, str) or not doc_id:
            raise InvalidDocument(f"{fetched.url} sent a document without an id")
        if not same_origin(doc_id, fetched.url):
            raise OriginMismatch(f"{fetched.url} sent a document with foreign id {doc_id[:200]}")
    return document
