"""Body digests for signed requests: `Digest` (RFC 3230) and `Content-Digest` (RFC 9530).

A signature covers the digest header, not the body, so the body is only authenticated once
the digest is recomputed and compared. Mastodon and most of the fediverse send
`Digest: SHA-256=<b64>` next to a draft-cavage signature; RFC 9421 signers send
`Content-Digest: sha-256=:<b64>:`. We make both and accept both. Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping

__all__ = [
    "DigestError",
    "content_digest_header",
    "digest_header",
    "digest_headers",
    "verify_body_digest",
]

# Algorithms we compute, keyed by their lowercased name (RFC 3230 names are case-insensitive,
# RFC 9530 keys are lowercase). Anything else (md5, sha, unixsum…) cannot be checked.
_HASHES: dict[str, Callable[[bytes], bytes]] = {
    "sha-256": lambda body: hashlib.sha256(body).digest(),
    "sha-512": lambda body: hashlib.sha512(body).digest(),
}

_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.*")
_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")

Headers = Mapping[str, str] | Iterable[tuple[str, str]]


class DigestError(ValueError):
    """The body does not match its digest header, or the header cannot be checked."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def digest_header(body: bytes) -> str:
    """Value for `Digest:` (RFC 3230) over `body`, as Mastodon sends and checks it."""
    return "SHA-256=" + _b64(_HASHES["sha-256"](body))


def content_digest_header(body: bytes, algorithm: str = "sha-256") -> str:
    """Value for `Content-Digest:` (RFC 9530) over `body`; `algorithm` is sha-256 or sha-512."""
    if algorithm not in _HASHES:
        raise ValueError(f"unsupported content-digest algorithm {algorithm!r}")
    return f"{algorithm}=:{_b64(_HASHES[algorithm](body))}:"


def digest_headers(body: bytes) -> dict[str, str]:
    """Both headers, for a sender that does not know which one its peer checks."""
    return {"Digest": digest_header(body), "Content-Digest": content_digest_header(body)}


def _strict_b64(text: str, what: str) -> bytes:
    if not text or not set(text) <= _B64_CHARS:
        raise DigestError(f"malformed {what} value")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise DigestError(f"malformed {what} value") from None


def _field_lines(headers: Headers, name: str) -> list[str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [value for key, value in pairs if key.lower() == name]


def _parse_digest(value: str) -> list[tuple[str, bytes]]:
    """`SHA-256=abc=, MD5=…` → [(lowercased algorithm, digest bytes)] (RFC 3230 §4.3.2)."""
    entries = []
    for member in value.split(","):
        member = member.strip(" \t")
        algorithm, sep, encoded = member.partition("=")
        if not sep or not algorithm or not algorithm.replace("-", "").isalnum():
            raise DigestError("malformed Digest header")
        algorithm = algorithm.lower()
        if algorithm in _HASHES:
            entries.append((algorithm, _strict_b64(encoded.strip(" \t"), "Digest")))
    return entries


def _parse_content_digest(value: str) -> list[tuple[str, bytes]]:
    """`sha-256=:abc=:, sha-512=:…:` → [(algorithm, digest bytes)].

    A Structured Fields dictionary whose members are byte sequences (RFC 9530 §2); member
    parameters are allowed by the syntax and ignored, as RFC 9530 defines none.
    """
    entries = []
    pos, end = 0, len(value)

    def skip(chars: str) -> None:
        nonlocal pos
        while pos < end and value[pos] in chars:
            pos += 1

    def key() -> str:
        nonlocal pos
        start = pos
        if (
            pos >= end
            or not (value[pos].islower() or value[pos] == "*")
            or not value[pos].isascii()
        ):
            raise DigestError("malformed Content-Digest header")
        while pos < end and (value[pos] in _KEY_CHARS):
            pos += 1
        return value[start:pos]

    def parameter_value() -> None:
        nonlocal pos
        if pos < end and value[pos] == '"':
            pos += 1
            while pos < end and value[pos] != '"':
                pos += 2 if value[pos] == "\\" else 1
            if pos >= end:
                raise DigestError("malformed Content-Digest header")
            pos += 1
        else:
            start = pos
            while pos < end and value[pos] not in ",; \t":
                pos += 1
            if pos == start:
                raise DigestError("malformed Content-Digest header")

    skip(" ")
    while pos < end:
        algorithm = key()
        if value[pos : pos + 2] != "=:":
            raise DigestError("Content-Digest member is not a byte sequence")
        close = value.find(":", pos + 2)
        if close < 0:
            raise DigestError("malformed Content-Digest header")
        raw = value[pos + 2 : close]
        pos = close + 1
        while pos < end and value[pos] == ";":
            pos += 1
            skip(" ")
            key()
            if pos < end and value[pos] == "=":
                pos += 1
                parameter_value()
        if algorithm in _HASHES:
            entries.append((algorithm, _strict_b64(raw, "Content-Digest") if raw else b""))
        skip(" \t")
        if pos >= end:
            break
        if value[pos] != ",":
            raise DigestError("malformed Content-Digest header")
        pos += 1
        skip(" \t")
        if pos >= end:
            raise DigestError("malformed Content-Digest header")
    return entries


def verify_body_digest(headers: Headers, body: bytes) -> None:
    """Raise DigestError unless `body` matches every checkable digest in `headers`.

    Looks at `Digest` and `Content-Digest`; when both are present, every sha-256/sha-512
    entry in either must match. Entries in algorithms we cannot compute are ignored, but at
    least one checkable entry is required, so an `MD5=`-only header is refused.
    """
    digest_lines = _field_lines(headers, "digest")
    content_lines = _field_lines(headers, "content-digest")
    if not digest_lines and not content_lines:
        raise DigestError("no Digest or Content-Digest header")
    entries: list[tuple[str, bytes]] = []
    if digest_lines:
        entries += _parse_digest(", ".join(digest_lines))
    if content_lines:
        entries += _parse_content_digest(", ".join(line.strip(" \t") for line in content_lines))
    if not entries:
        raise DigestError("no supported digest algorithm (need sha-256 or sha-512)")
    for algorithm, expected in entries:
        if not hmac.compare_digest(_HASHES[algorithm](body), expected):
            raise DigestError(f"body does not match its {algorithm} digest")
