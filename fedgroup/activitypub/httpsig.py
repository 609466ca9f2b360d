"""HTTP Signatures for server-to-server requests, as pure functions (no network, no server).

Two schemes are spoken in the fediverse:

* draft-cavage-http-signatures-12, what Mastodon, Lemmy, Misskey… send today:
  `Signature: keyId="…",algorithm="rsa-sha256",headers="(request-target) host date digest",
  signature="…"` (or the same parameters after `Authorization: Signature `);
* RFC 9421 HTTP Message Signatures (`Signature-Input` + `Signature`), which Fedify and newer
  Mastodon versions send and accept.

The inbox calls `parse_request_signature()` (no key needed yet: it tells who claims to have
signed, so a blocked domain costs no key fetch), then `SignatureClaim.verify(public_key)`.
The delivery worker calls `sign_request()` and, when a peer refuses one scheme,
`is_signature_rejection()` to decide whether to retry with the other. Every problem with what
a peer sent is a `SignatureError` with a short reason that is safe to log.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from typing import Literal, NoReturn
from urllib.parse import SplitResult, parse_qsl, quote, urlsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from fedgroup.activitypub.digest import (
    DigestError,
    content_digest_header,
    digest_header,
    verify_body_digest,
)
from fedgroup.activitypub.multikey import MultibaseError, base58btc_decode

__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_MAX_FUTURE",
    "PrivateKey",
    "PublicKey",
    "Scheme",
    "SignatureClaim",
    "SignatureError",
    "Token",
    "cavage_signing_string",
    "is_signature_rejection",
    "load_private_key",
    "load_public_key",
    "parse_request_signature",
    "read_cavage_signature",
    "read_rfc9421_signature",
    "rfc9421_signature_base",
    "sign_request",
    "sign_rfc9421",
]

Scheme = Literal["cavage", "rfc9421"]
PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
# What verify() accepts: a public key, or the shared secret of an hmac-sha256 signature.
VerifyingKey = PublicKey | bytes
Headers = Mapping[str, str] | Iterable[tuple[str, str]]

# Mastodon, the most lenient peer, accepts a signature until `created` + 5 min expiry + 1 h of
# clock skew (65 minutes) and up to an hour in the future; we match it, or a peer whose clock
# is off by half an hour is refused by us alone. Settings make both bounds tighter or looser.
DEFAULT_MAX_AGE = 3900
DEFAULT_MAX_FUTURE = 3600

_RFC9421_LABEL = "sig1"
_MAX_FIELD = 16 * 1024  # longer signature headers are refused before any parsing


class SignatureError(Exception):
    """A request's signature cannot be accepted; `reason` is short and safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _fail(reason: str) -> NoReturn:
    raise SignatureError(reason)


# --------------------------------------------------------------------------- message access


def _field_lines(headers: Headers) -> dict[str, list[str]]:
    """Header lines by lowercased name, in order; a multidict's repeated lines all survive."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        fields.setdefault(name.lower(), []).append(value)
    return fields


_OBS_FOLD = re.compile(r"\r?\n[ \t]+")


def _field_value(fields: dict[str, list[str]], name: str) -> str:
    """The canonical value both drafts sign: lines unfolded, trimmed, joined with ", "."""
    if name not in fields:
        _fail(f"covered header {name} is missing")
    value = ", ".join(_OBS_FOLD.sub(" ", line).strip(" \t") for line in fields[name])
    if "\n" in value or "\r" in value:
        _fail(f"header {name} contains a line break")
    return value


def _split_url(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError:
        _fail("malformed request URL")


def _path_and_query(parts: SplitResult) -> str:
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def _authority(parts: SplitResult) -> str:
    """Host and non-default port, lowercased, as `Host` and `@authority` carry them."""
    netloc = parts.netloc.rpartition("@")[2].lower()
    if not netloc:
        _fail("request URL has no authority")
    default = {"https": ":443", "http": ":80"}.get(parts.scheme.lower())
    if default and netloc.endswith(default):
        netloc = netloc[: -len(default)]
    return netloc


# --------------------------------------------------------- structured fields (RFC 8941 subset)


class Token(str):
    """An sf-token (a bare word such as `rsa-sha256`), kept apart from an sf-string."""


BareItem = bool | int | str | bytes
Params = dict[str, BareItem]
InnerList = list[tuple[BareItem, Params]]
Member = tuple[BareItem | InnerList, Params]

_TCHAR = frozenset(
    "!#$%&'*+-.^_`|~:/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_KEY_CHAR = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-.*")
_B64_CHAR = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


class _FieldParser:
    """A strict parser for the Structured Fields RFC 9421 needs: dictionaries whose members
    are items or inner lists, with parameters; items are integers, strings, tokens, byte
    sequences and booleans. Decimals, dates and display strings are refused."""

    def __init__(self, text: str) -> None:
        if not text.isascii():
            _fail("structured field is not ASCII")
        self.text = text.strip(" ")
        self.pos = 0

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip(self, chars: str) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1

    def dictionary(self) -> dict[str, Member]:
        members: dict[str, Member] = {}
        while self.pos < len(self.text):
            key = self._key()
            if self._peek() == "=":
                self.pos += 1
                members[key] = self._item_or_inner_list()
            else:
                members[key] = (True, self._parameters())
            self._skip(" \t")
            if self.pos >= len(self.text):
                break
            if self._peek() != ",":
                _fail("malformed structured field")
            self.pos += 1
            self._skip(" \t")
            if self.pos >= len(self.text):
                _fail("malformed structured field")
        return members

    def _item_or_inner_list(self) -> Member:
        if self._peek() != "(":
            return (self._bare_item(), self._parameters())
        self.pos += 1
        items: InnerList = []
        while self.pos < len(self.text):
            self._skip(" ")
            if self._peek() == ")":
                self.pos += 1
                return (items, self._parameters())
            items.append((self._bare_item(), self._parameters()))
            if self._peek() not in (" ", ")"):
                _fail("malformed structured field")
        _fail("malformed structured field")

    def _parameters(self) -> Params:
        params: Params = {}
        while self._peek() == ";":
            self.pos += 1
            self._skip(" ")
            key = self._key()
            value: BareItem = True
            if self._peek() == "=":
                self.pos += 1
                value = self._bare_item()
            params[key] = value
        return params

    def _key(self) -> str:
        start = self.pos
        first = self._peek()
        if not first or not (first == "*" or "a" <= first <= "z"):
            _fail("malformed structured field")
        while self.pos < len(self.text) and self.text[self.pos] in _KEY_CHAR:
            self.pos += 1
        return self.text[start : self.pos]

    def _bare_item(self) -> BareItem:
        first = self._peek()
        if first == "-" or first.isdigit():
            return self._integer()
        if first == '"':
            return self._string()
        if first == ":":
            return self._byte_sequence()
        if first == "?":
            return self._boolean()
        if first == "*" or first.isalpha():
            start = self.pos
            while self.pos < len(self.text) and self.text[self.pos] in _TCHAR:
                self.pos += 1
            return Token(self.text[start : self.pos])
        _fail("malformed structured field")

    def _integer(self) -> int:
        start = self.pos
        if self._peek() == "-":
            self.pos += 1
        digits = self.pos
        while self._peek().isdigit():
            self.pos += 1
        if self.pos == digits or self.pos - digits > 15:
            _fail("malformed integer")
        if self._peek() == ".":
            _fail("decimal values are not supported")
        return int(self.text[start : self.pos])

    def _string(self) -> str:
        self.pos += 1
        out = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\":
                escaped = self._peek()
                if escaped not in ('"', "\\") or not escaped:
                    _fail("malformed string")
                out.append(escaped)
                self.pos += 1
            elif char == '"':
                return "".join(out)
            elif not " " <= char <= "~":
                _fail("malformed string")
            else:
                out.append(char)
        _fail("unterminated string")

    def _byte_sequence(self) -> bytes:
        end = self.text.find(":", self.pos + 1)
        if end < 0:
            _fail("unterminated byte sequence")
        encoded = self.text[self.pos + 1 : end]
        self.pos = end + 1
        if not set(encoded) <= _B64_CHAR:
            _fail("malformed byte sequence")
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            _fail("malformed byte sequence")

    def _boolean(self) -> bool:
        value = self.text[self.pos + 1 : self.pos + 2]
        if value not in ("0", "1"):
            _fail("malformed boolean")
        self.pos += 2
        return value == "1"


def _parse_dictionary(value: str) -> dict[str, Member]:
    if len(value) > _MAX_FIELD:
        _fail("signature header too long")
    return _FieldParser(value).dictionary()


def _serialize_item(item: BareItem) -> str:
    if isinstance(item, bool):
        return "?1" if item else "?0"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, Token):
        return str(item)
    if isinstance(item, str):
        return '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return ":" + base64.b64encode(item).decode("ascii") + ":"


def _serialize_params(params: Params) -> str:
    return "".join(
        f";{key}" if value is True else f";{key}={_serialize_item(value)}"
        for key, value in params.items()
    )


def _serialize_inner_list(items: InnerList, params: Params) -> str:
    inner = " ".join(_serialize_item(item) + _serialize_params(p) for item, p in items)
    return f"({inner}){_serialize_params(params)}"


def _serialize_member(member: Member) -> str:
    value, params = member
    if isinstance(value, list):
        return _serialize_inner_list(value, params)
    return _serialize_item(value) + _serialize_params(params)


# -------------------------------------------------------------------------------------- keys

# Multicodec prefixes (unsigned varints) of the Multikey public keys we understand.
_MULTICODEC_ED25519 = b"\xed\x01"
_MULTICODEC_P256 = b"\x80\x24"
_MULTICODEC_RSA = b"\x85\x24"


def _base58btc_decode(text: str) -> bytes:
    try:
        return base58btc_decode(text)
    except MultibaseError:
        _fail("malformed multibase key")


def load_public_key(data: str | bytes) -> PublicKey:
    """A public key from an actor document: PEM (SPKI or PKCS#1 `RSA PUBLIC KEY`) from
    `publicKeyPem`, or a Multikey `publicKeyMultibase` (`z6Mk…` Ed25519, also P-256 and RSA)."""
    text = data.decode("ascii", "replace") if isinstance(data, bytes) else data
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
        elif text.startswith("z") and len(text) < 4096:
            raw = _base58btc_decode(text[1:])
            prefix, material = raw[:2], raw[2:]
            if prefix == _MULTICODEC_ED25519 and len(material) == 32:
                key = ed25519.Ed25519PublicKey.from_public_bytes(material)
            elif prefix == _MULTICODEC_P256 and len(material) == 33:
                key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), material)
            elif prefix == _MULTICODEC_RSA:
                key = serialization.load_der_public_key(material)
            else:
                _fail("unsupported multikey type")
        else:
            _fail("unsupported public key format")
    except (ValueError, TypeError, UnsupportedAlgorithm):
        _fail("malformed public key")
    if not isinstance(key, PublicKey):
        _fail("unsupported public key type")
    return key


def load_private_key(pem: str | bytes) -> PrivateKey:
    """One of our own signing keys from its unencrypted PEM (PKCS#8 or PKCS#1/SEC1); ours, so
    the slow RSA consistency check is skipped (see keys.load_private_key)."""
    key = serialization.load_pem_private_key(
        pem.encode() if isinstance(pem, str) else pem, None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(
        key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    ):
        raise ValueError("unsupported private key type")
    return key


# ------------------------------------------------------------------------ signature algorithms

_PSS_SHA512 = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
_PSS_SHA512_VERIFY = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=padding.PSS.AUTO)
_ECDSA = {
    "ecdsa-p256-sha256": (ec.SECP256R1, hashes.SHA256, 32),
    "ecdsa-p384-sha384": (ec.SECP384R1, hashes.SHA384, 48),
}
RFC9421_ALGORITHMS = frozenset(
    {"rsa-pss-sha512", "rsa-v1_5-sha256", "hmac-sha256", "ed25519", *_ECDSA}
)
CAVAGE_ALGORITHMS = frozenset({"rsa-sha256", "hs2019"})


def _verify_with(algorithm: str, key: VerifyingKey, message: bytes, signature: bytes) -> bool:
    """One RFC 9421 algorithm; a key of the wrong type simply does not verify."""
    try:
        if algorithm == "rsa-v1_5-sha256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == "rsa-pss-sha512" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, _PSS_SHA512_VERIFY, hashes.SHA512())
        elif algorithm == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        elif algorithm in _ECDSA and isinstance(key, ec.EllipticCurvePublicKey):
            curve, digest, size = _ECDSA[algorithm]
            if not isinstance(key.curve, curve) or len(signature) != 2 * size:
                return False
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), message, ec.ECDSA(digest()))
        elif algorithm == "hmac-sha256" and isinstance(key, bytes):
            expected = hmac.new(key, message, hashlib.sha256).digest()
            return hmac.compare_digest(expected, signature)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def _sign_with(algorithm: str, key: PrivateKey | bytes, message: bytes) -> bytes:
    if algorithm == "rsa-v1_5-sha256" and isinstance(key, rsa.RSAPrivateKey):
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    if algorithm == "rsa-pss-sha512" and isinstance(key, rsa.RSAPrivateKey):
        return key.sign(message, _PSS_SHA512, hashes.SHA512())
    if algorithm == "ed25519" and isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    if algorithm in _ECDSA and isinstance(key, ec.EllipticCurvePrivateKey):
        curve, digest, size = _ECDSA[algorithm]
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(digest())))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if algorithm == "hmac-sha256" and isinstance(key, bytes):
        return hmac.new(key, message, hashlib.sha256).digest()
    raise ValueError(f"cannot sign {algorithm} with {type(key).__name__}")


def _algorithms_for_key(key: VerifyingKey) -> list[str]:
    """RFC 9421 algorithms to try when the signer did not say: the key decides (RFC 9421 §3.2).
    RSA keys sign rsa-v1_5-sha256 in the fediverse; RFC 9421's own examples use PSS."""
    if isinstance(key, rsa.RSAPublicKey):
        return ["rsa-v1_5-sha256", "rsa-pss-sha512"]
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ["ed25519"]
    if isinstance(key, ec.EllipticCurvePublicKey):
        return [name for name, (curve, _, _) in _ECDSA.items() if isinstance(key.curve, curve)]
    if isinstance(key, bytes):
        return ["hmac-sha256"]
    return []


# ---------------------------------------------------------------------------------- the claim


@dataclass(frozen=True)
class SignatureClaim:
    """Who says they signed a request, and the exact bytes they signed.

    `algorithm` is what the request declared (`rsa-sha256`, `hs2019`, an RFC 9421 `alg`), or
    None when it declared nothing and the key type decides. `covered` lists the covered
    components as the request named them.
    """

    scheme: Scheme
    key_id: str
    algorithm: str | None
    covered: tuple[str, ...]
    signature_base: str
    signature: bytes
    created: int | None = None
    expires: int | None = None
    label: str | None = None

    def verify(self, public_key: VerifyingKey) -> bool:
        """True when `signature` is a valid signature of `signature_base` by `public_key`."""
        try:
            message = self.signature_base.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return False
        if self.scheme == "cavage":
            if self.algorithm == "rsa-sha256":
                candidates = ["rsa-v1_5-sha256"]
            elif isinstance(public_key, rsa.RSAPublicKey):
                # hs2019 with RSA: Mastodon signs PKCS#1 v1.5/SHA-256, the draft says PSS/SHA-512.
                candidates = ["rsa-v1_5-sha256", "rsa-pss-sha512"]
            elif isinstance(public_key, ed25519.Ed25519PublicKey):
                candidates = ["ed25519"]
            else:
                candidates = []
        elif self.algorithm is not None:
            candidates = [self.algorithm]
        else:
            candidates = _algorithms_for_key(public_key)
        return any(_verify_with(alg, public_key, message, self.signature) for alg in candidates)


# ----------------------------------------------------------------- draft-cavage-http-signatures

_CAVAGE_TOKEN = frozenset(_TCHAR - {":", "/"})
_CAVAGE_TIME = re.compile(r"[0-9]{1,15}(\.[0-9]{1,9})?")


def _parse_cavage_params(value: str) -> dict[str, str]:
    """`keyId="…",algorithm="…",…` (auth-params, RFC 7235 §2.1); duplicates are refused
    (draft-cavage-12 §2.2), quoted values may use backslash escapes."""
    params: dict[str, str] = {}
    pos, end = 0, len(value)
    while True:
        while pos < end and value[pos] in " \t":
            pos += 1
        start = pos
        while pos < end and value[pos] in _CAVAGE_TOKEN:
            pos += 1
        name = value[start:pos]
        while pos < end and value[pos] in " \t":
            pos += 1
        if not name or pos >= end or value[pos] != "=":
            _fail("malformed Signature header")
        pos += 1
        while pos < end and value[pos] in " \t":
            pos += 1
        if pos < end and value[pos] == '"':
            pos += 1
            chars = []
            while pos < end and value[pos] != '"':
                if value[pos] == "\\" and pos + 1 < end:
                    pos += 1
                chars.append(value[pos])
                pos += 1
            if pos >= end:
                _fail("malformed Signature header")
            pos += 1
            param = "".join(chars)
        else:
            start = pos
            while pos < end and value[pos] in _CAVAGE_TOKEN:
                pos += 1
            param = value[start:pos]
        if name in params:
            _fail(f"duplicate signature parameter {name}")
        params[name] = param
        while pos < end and value[pos] in " \t":
            pos += 1
        if pos >= end:
            return params
        if value[pos] != ",":
            _fail("malformed Signature header")
        pos += 1


def cavage_signing_string(
    method: str,
    url: str,
    headers: Headers,
    covered: Sequence[str],
    *,
    created: int | None = None,
    expires: int | str | None = None,
    algorithm: str | None = None,
) -> str:
    """The draft-cavage-12 §2.3 signing string over `covered` header names, in order.

    `url` is the request URL or just its path and query. `(request-target)` is the lowercased
    method, a space, and path?query; `(created)`/`(expires)` are the signature parameters and,
    as §2.3 requires, are refused when the algorithm starts with rsa, hmac or ecdsa.
    """
    return _cavage_base(
        method,
        url,
        _field_lines(headers),
        covered,
        created=created,
        expires=expires,
        algorithm=algorithm,
    )


def _cavage_base(
    method: str,
    url: str,
    fields: dict[str, list[str]],
    covered: Sequence[str],
    *,
    created: int | None,
    expires: int | str | None,
    algorithm: str | None,
) -> str:
    lines = []
    for raw_name in covered:
        name = raw_name.lower()
        if name == "(request-target)":
            lines.append(f"{name}: {method.lower()} {_path_and_query(_split_url(url))}")
        elif name in ("(created)", "(expires)"):
            if algorithm and algorithm.startswith(("rsa", "hmac", "ecdsa")):
                _fail(f"{name} cannot be signed with {algorithm}")
            # §2.3 step 3 says (expires) takes the *created* value: a known typo; it is expires.
            value = created if name == "(created)" else expires
            if value is None:
                _fail(f"{name} is covered but the parameter is missing")
            lines.append(f"{name}: {value}")
        else:
            lines.append(f"{name}: {_field_value(fields, name)}")
    return "\n".join(lines)


def _cavage_header(fields: dict[str, list[str]]) -> str:
    if "signature" in fields:
        value = ", ".join(fields["signature"])
    else:
        value = ", ".join(fields.get("authorization", []))
        scheme, _, rest = value.strip(" \t").partition(" ")
        if scheme.lower() != "signature":
            _fail("request is not signed")
        value = rest
    if len(value) > _MAX_FIELD:
        _fail("signature header too long")
    return value


def read_cavage_signature(method: str, url: str, headers: Headers) -> SignatureClaim:
    """Parse a draft-cavage `Signature` (or `Authorization: Signature`) header and rebuild
    its signing string. No policy: see `parse_request_signature()` for what we require."""
    return _cavage_claim(method, url, _field_lines(headers))


def _cavage_claim(method: str, url: str, fields: dict[str, list[str]]) -> SignatureClaim:
    params = _parse_cavage_params(_cavage_header(fields))
    key_id = params.get("keyId", "")
    if not key_id:
        _fail("missing keyId")
    algorithm = params.get("algorithm")
    if algorithm is not None and algorithm not in CAVAGE_ALGORITHMS:
        _fail("unsupported algorithm")
    encoded = params.get("signature", "")
    if not encoded or not set(encoded) <= _B64_CHAR:
        _fail("malformed signature value")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        _fail("malformed signature value")
    created = expires = None
    if "created" in params:
        if not re.fullmatch(r"[0-9]{1,15}", params["created"]):
            _fail("malformed created parameter")
        created = int(params["created"])
    if "expires" in params:
        if not _CAVAGE_TIME.fullmatch(params["expires"]):
            _fail("malformed expires parameter")
        expires = int(float(params["expires"]))
    if "headers" in params:
        covered = tuple(params["headers"].lower().split())
        if not covered:
            _fail("empty headers parameter")
    else:
        # draft-12 §2.1.6 defaults to (created); earlier drafts, and Appendix C.1, to date.
        covered = ("(created)",) if created is not None else ("date",)
    base = _cavage_base(
        method,
        url,
        fields,
        covered,
        created=created,
        expires=params.get("expires"),
        algorithm=algorithm,
    )
    return SignatureClaim(
        scheme="cavage",
        key_id=key_id,
        algorithm=algorithm,
        covered=covered,
        signature_base=base,
        signature=signature,
        created=created,
        expires=expires,
    )


# ------------------------------------------------------------ RFC 9421 HTTP Message Signatures


@dataclass(frozen=True)
class _Message:
    method: str | None
    url: str | None
    fields: dict[str, list[str]]
    status: int | None = None

    def parts(self) -> SplitResult:
        if self.url is None:
            _fail("derived component needs the request URL")
        return _split_url(self.url)


def _derived_value(name: str, params: Params, message: _Message) -> str:
    """The value of an RFC 9421 §2.2 derived component."""
    if params and set(params) != {"name"}:
        _fail(f"unsupported parameters on {name}")
    if name == "@method":
        if not message.method:
            _fail("@method needs the request method")
        return message.method
    if name == "@status":
        if message.status is None:
            _fail("@status is only defined for responses")
        return str(message.status)
    parts = message.parts()
    if name == "@target-uri":
        return message.url or ""
    if name == "@authority":
        return _authority(parts)
    if name == "@scheme":
        return parts.scheme.lower()
    if name == "@request-target":
        return _path_and_query(parts)
    if name == "@path":
        return parts.path or "/"
    if name == "@query":
        return "?" + parts.query
    if name == "@query-param":
        wanted = params.get("name")
        if not isinstance(wanted, str) or isinstance(wanted, Token):
            _fail("@query-param needs a name parameter")
        values = [
            quote(value, safe="")
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
            if quote(key, safe="") == wanted
        ]
        if len(values) != 1:
            _fail("@query-param must name exactly one query parameter")
        return values[0]
    _fail(f"unsupported derived component {name}")


def _field_component_value(name: str, params: Params, message: _Message) -> str:
    """An HTTP field's value (RFC 9421 §2.1), with the `key` and `bs` parameters."""
    if name != name.lower():
        _fail("component names must be lowercase")
    unknown = set(params) - {"key", "bs"}
    if unknown:
        _fail(f"unsupported component parameter {sorted(unknown)[0]}")
    if "bs" in params:
        if params["bs"] is not True or "key" in params:
            _fail("malformed bs parameter")
        if name not in message.fields:
            _fail(f"covered header {name} is missing")
        try:
            wrapped = [
                line.strip(" \t").encode("utf-8", "surrogateescape")
                for line in message.fields[name]
            ]
        except UnicodeEncodeError:
            _fail(f"header {name} is not encodable")
        return ", ".join(_serialize_item(line) for line in wrapped)
    value = _field_value(message.fields, name)
    if "key" in params:
        member_key = params["key"]
        if not isinstance(member_key, str):
            _fail("malformed key parameter")
        members = _parse_dictionary(value)
        if member_key not in members:
            _fail(f"dictionary member {member_key} of {name} is missing")
        return _serialize_member(members[member_key])
    return value


def _signature_base(components: InnerList, params: Params, message: _Message) -> str:
    """RFC 9421 §2.5: one line per covered component, then the `@signature-params` line."""
    lines = []
    seen = set()
    for name, component_params in components:
        if not isinstance(name, str) or isinstance(name, Token) or not name:
            _fail("component identifiers must be strings")
        identifier = _serialize_item(name) + _serialize_params(component_params)
        if identifier in seen:
            _fail("duplicate covered component")
        seen.add(identifier)
        if name == "@signature-params":
            _fail("@signature-params cannot be covered")
        if name.startswith("@"):
            value = _derived_value(name, component_params, message)
        else:
            value = _field_component_value(name, component_params, message)
        if "\n" in value or "\r" in value:
            _fail(f"component {name} contains a line break")
        lines.append(f"{identifier}: {value}")
    lines.append(f'"@signature-params": {_serialize_inner_list(components, params)}')
    return "\n".join(lines)


def _dictionary_field(fields: dict[str, list[str]], name: str) -> dict[str, Member]:
    return _parse_dictionary(", ".join(fields.get(name, [])))


def _signature_input_member(inputs: dict[str, Member], label: str) -> tuple[InnerList, Params]:
    if label not in inputs:
        _fail(f"no Signature-Input for label {label}")
    value, params = inputs[label]
    if not isinstance(value, list):
        _fail("Signature-Input member is not an inner list")
    return value, params


def rfc9421_signature_base(
    method: str | None,
    url: str | None,
    headers: Headers,
    *,
    label: str,
    status: int | None = None,
) -> str:
    """The RFC 9421 signature base for the `Signature-Input` member `label` of a message.

    `status` is set for responses (`@status`); requests leave it None.
    """
    fields = _field_lines(headers)
    components, params = _signature_input_member(
        _dictionary_field(fields, "signature-input"), label
    )
    return _signature_base(components, params, _Message(method, url, fields, status))


def _rfc9421_claim(
    label: str, inputs: dict[str, Member], signatures: dict[str, Member], message: _Message
) -> SignatureClaim:
    components, params = _signature_input_member(inputs, label)
    if label not in signatures:
        _fail(f"no Signature for label {label}")
    signature = signatures[label][0]
    if not isinstance(signature, bytes):
        _fail("Signature member is not a byte sequence")
    key_id = params.get("keyid")
    if not isinstance(key_id, str) or isinstance(key_id, Token) or not key_id:
        _fail("missing keyid")
    algorithm = params.get("alg")
    if algorithm is not None:
        if not isinstance(algorithm, str) or isinstance(algorithm, Token):
            _fail("malformed alg parameter")
        if algorithm not in RFC9421_ALGORITHMS:
            _fail("unsupported algorithm")
    times: dict[str, int | None] = {}
    for name in ("created", "expires"):
        value = params.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            _fail(f"malformed {name} parameter")
        times[name] = value  # type: ignore[assignment]
    base = _signature_base(components, params, message)
    return SignatureClaim(
        scheme="rfc9421",
        key_id=key_id,
        algorithm=algorithm,
        covered=tuple(str(name) for name, _ in components),
        signature_base=base,
        signature=signature,
        created=times["created"],
        expires=times["expires"],
        label=label,
    )


def read_rfc9421_signature(
    method: str | None,
    url: str | None,
    headers: Headers,
    *,
    label: str | None = None,
    status: int | None = None,
) -> SignatureClaim:
    """Parse `Signature-Input`/`Signature` and rebuild the signature base of one signature:
    `label`, or else the first one listed. No policy: see `parse_request_signature()`."""
    fields = _field_lines(headers)
    inputs = _dictionary_field(fields, "signature-input")
    signatures = _dictionary_field(fields, "signature")
    if not inputs:
        _fail("empty Signature-Input")
    message = _Message(method, url, fields, status)
    return _rfc9421_claim(label or next(iter(inputs)), inputs, signatures, message)


# ----------------------------------------------------------------------------------- policy


def _covers_requirements(claim: SignatureClaim, has_body: bool) -> None:
    """The components a fediverse signature must cover to mean anything (see module doc)."""
    covered = set(claim.covered)
    if claim.scheme == "cavage":
        target = "(request-target)" in covered
        host = "host" in covered
        date = "date" in covered or "(created)" in covered
    else:
        target = "@method" in covered and bool(
            covered & {"@target-uri", "@request-target", "@path"}
        )
        host = bool(covered & {"@authority", "host", "@target-uri"})
        date = claim.created is not None or "date" in covered
    if not target:
        _fail("signature does not cover the request target")
    if not host:
        _fail("signature does not cover the host")
    if not date:
        _fail("signature does not cover the date")
    if has_body and not covered & {"digest", "content-digest"}:
        _fail("signature does not cover the body digest")


def _check_freshness(
    claim: SignatureClaim,
    fields: dict[str, list[str]],
    now: float,
    max_age: int,
    max_future: int,
) -> None:
    moments = []
    if claim.created is not None:
        moments.append(("created", float(claim.created)))
    if "date" in claim.covered:
        try:
            date = parsedate_to_datetime(_field_value(fields, "date"))
            if date.tzinfo is None:
                date = date.replace(tzinfo=UTC)
            moments.append(("date", date.timestamp()))
        except (TypeError, ValueError, IndexError, OverflowError):
            _fail("malformed Date header")
    for what, moment in moments:
        if moment > now + max_future:
            _fail(f"signature {what} is in the future")
        if moment < now - max_age:
            _fail(f"signature {what} is too old")
    if claim.expires is not None and claim.expires < now:
        _fail("signature has expired")


def parse_request_signature(
    method: str,
    url: str,
    headers: Headers,
    *,
    has_body: bool,
    now: float,
    body: bytes | None = None,
    max_age: int = DEFAULT_MAX_AGE,
    max_future: int = DEFAULT_MAX_FUTURE,
) -> SignatureClaim:
    """Read an inbound request's signature and enforce what we require before any key fetch.

    RFC 9421 when `Signature-Input` is present (the first signature that meets our rules),
    draft-cavage otherwise. The signature must cover the request target, the host, a date
    (`Date` or created) and, when `has_body`, a digest header; Date/created must lie within
    [now - max_age, now + max_future] and `expires` must not be past. When `body` is given, the
    covered digest header(s) are checked against it. `url` is the full URL the request was
    made to (scheme://host/path?query). Raises SignatureError; then call `claim.verify(key)`.
    """
    fields = _field_lines(headers)
    has_body = has_body or body is not None
    if "signature-input" in fields:
        inputs = _dictionary_field(fields, "signature-input")
        signatures = _dictionary_field(fields, "signature")
        message = _Message(method, url, fields)
        first_error: SignatureError | None = None
        claim = None
        for label in inputs:
            try:
                candidate = _rfc9421_claim(label, inputs, signatures, message)
                _covers_requirements(candidate, has_body)
            except SignatureError as error:
                first_error = first_error or error
                continue
            claim = candidate
            break
        if claim is None:
            raise first_error or SignatureError("empty Signature-Input")
    else:
        claim = _cavage_claim(method, url, fields)
        _covers_requirements(claim, has_body)
    _check_freshness(claim, fields, now, max_age, max_future)
    if body is not None:
        covered_digests = [
            (name, line)
            for name in ("digest", "content-digest")
            if name in claim.covered
            for line in fields.get(name, [])
        ]
        try:
            verify_body_digest(covered_digests, body)
        except DigestError as error:
            raise SignatureError(f"digest: {error.reason}") from None
    return claim


# ----------------------------------------------------------------------------------- signing


def _check_key_id(key_id: str) -> None:
    if not key_id or not all(" " <= char <= "~" for char in key_id) or '"' in key_id:
        raise ValueError("key_id must be printable ASCII without quotes")
    if "\\" in key_id:
        raise ValueError("key_id must not contain backslashes")


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    body: bytes | None,
    *,
    key_id: str,
    private_key: PrivateKey,
    scheme: Scheme = "cavage",
    now: float | None = None,
) -> dict[str, str]:
    """Sign an outgoing request; returns `headers` plus Host, Date, the digest and signature
    headers (any caller-supplied Host/Date/digest/signature header is replaced).

    cavage: POST covers `(request-target) host date digest content-type`, GET covers
    `(request-target) host date accept` (rsa-sha256 for RSA keys, hs2019 for Ed25519).
    rfc9421: POST covers `"@method" "@target-uri" "@authority" "content-digest"`, GET the
    first three, with created, keyid and alg (rsa-v1_5-sha256 or ed25519) parameters.
    A body is sent with Content-Type application/activity+json unless one is given; a GET
    gets an ActivityStreams Accept unless one is given.
    """
    _check_key_id(key_id)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("sign_request needs an absolute http(s) URL")
    moment = time.time() if now is None else now
    generated = {"host", "date", "digest", "content-digest", "signature", "signature-input"}
    out = {name: value for name, value in (headers or {}).items() if name.lower() not in generated}
    present = {name.lower() for name in out}
    out["Host"] = _authority(parts)
    out["Date"] = formatdate(moment, usegmt=True)
    if body is not None and "content-type" not in present:
        out["Content-Type"] = "application/activity+json"
    if body is None and "accept" not in present:
        out["Accept"] = (
            "application/activity+json, application/ld+json; "
            'profile="https://www.w3.org/ns/activitystreams"'
        )
    if isinstance(private_key, rsa.RSAPrivateKey):
        cavage_alg, rfc_alg = "rsa-sha256", "rsa-v1_5-sha256"
    elif isinstance(private_key, ed25519.Ed25519PrivateKey):
        cavage_alg, rfc_alg = "hs2019", "ed25519"
    else:
        raise ValueError("sign_request signs with RSA or Ed25519 keys")

    if scheme == "cavage":
        if body is not None:
            out["Digest"] = digest_header(body)
            covered = ["(request-target)", "host", "date", "digest", "content-type"]
        else:
            covered = ["(request-target)", "host", "date", "accept"]
        base = cavage_signing_string(method, url, out, covered, algorithm=cavage_alg)
        signature = _sign_with(rfc_alg, private_key, base.encode("ascii"))
        out["Signature"] = (
            f'keyId="{key_id}",algorithm="{cavage_alg}",headers="{" ".join(covered)}",'
            f'signature="{base64.b64encode(signature).decode("ascii")}"'
        )
        return out
    if scheme != "rfc9421":
        raise ValueError(f"unknown signature scheme {scheme!r}")
    names = ["@method", "@target-uri", "@authority"]
    if body is not None:
        out["Content-Digest"] = content_digest_header(body)
        names.append("content-digest")
    out.update(
        sign_rfc9421(
            method.upper(),
            url,
            out,
            components=names,
            params={"created": int(moment), "keyid": key_id, "alg": rfc_alg},
            private_key=private_key,
            algorithm=rfc_alg,
        )
    )
    return out


def sign_rfc9421(
    method: str | None,
    url: str | None,
    headers: Headers,
    *,
    components: Sequence[str | tuple[str, Mapping[str, BareItem]]],
    params: Mapping[str, BareItem],
    private_key: PrivateKey | bytes,
    algorithm: str,
    label: str = _RFC9421_LABEL,
    status: int | None = None,
) -> dict[str, str]:
    """`Signature-Input` and `Signature` for one RFC 9421 signature over `components`
    (names, or (name, parameters) such as `("@query-param", {"name": "Pet"})`), with the
    signature parameters `params` in the given order. `algorithm` picks the primitive; put
    it in `params` as `alg` too if the verifier should be told."""
    if algorithm not in RFC9421_ALGORITHMS:
        raise ValueError(f"unknown RFC 9421 algorithm {algorithm!r}")
    items: InnerList = [
        (entry, {}) if isinstance(entry, str) else (entry[0], dict(entry[1]))
        for entry in components
    ]
    signature_params: Params = dict(params)
    message = _Message(method, url, _field_lines(headers), status)
    base = _signature_base(items, signature_params, message)
    signature = _sign_with(algorithm, private_key, base.encode("utf-8"))
    return {
        "Signature-Input": f"{label}={_serialize_inner_list(items, signature_params)}",
        "Signature": f"{label}={_serialize_item(signature)}",
    }


def is_signature_rejection(status: int, body: str) -> bool:
    """Did a peer refuse our delivery because of its signature (so the other scheme may work)?
    401, or a 400 whose body mentions the signature."""
    return status == 401 or (status == 400 and "signature" in body.lower())
