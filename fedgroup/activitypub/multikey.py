"""Multibase (base58btc, `z…`) and Ed25519 Multikey encoding.

FEP-8b32 proofs carry their signature as a multibase string, and actors publish the matching
Ed25519 public key as a Multikey (`publicKeyMultibase: "z6Mk…"`): multibase base58btc of the
multicodec prefix 0xed 0x01 followed by the 32 raw key bytes.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {char: index for index, char in enumerate(_BASE58_ALPHABET)}

#: Multicodec prefixes (unsigned varints) for Ed25519 keys.
ED25519_PUB_PREFIX = b"\xed\x01"
ED25519_PRIV_PREFIX = b"\x80\x26"


class MultibaseError(ValueError):
    """A multibase or Multikey string is malformed or of a kind we do not handle."""


def base58btc_encode(data: bytes) -> str:
    """Bitcoin-alphabet base58; each leading zero byte becomes a leading `1`."""
    zeros = len(data) - len(data.lstrip(b"\0"))
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while number:
        number, remainder = divmod(number, 58)
        digits.append(_BASE58_ALPHABET[remainder])
    return "1" * zeros + "".join(reversed(digits))


def base58btc_decode(text: str) -> bytes:
    """Inverse of base58btc_encode; raises MultibaseError on a character outside the alphabet."""
    number = 0
    for char in text:
        try:
            number = number * 58 + _BASE58_INDEX[char]
        except KeyError:
            raise MultibaseError(f"invalid base58btc character {char!r}") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body


def multibase_encode(data: bytes) -> str:
    """Multibase base58btc (`z` prefix), the only base FEP-8b32 and Multikey use."""
    return "z" + base58btc_encode(data)


def multibase_decode(text: str) -> bytes:
    """Decode a base58btc multibase string; other bases are refused."""
    if not isinstance(text, str) or not text.startswith("z"):
        raise MultibaseError("only base58btc multibase ('z' prefix) is supported")
    return base58btc_decode(text[1:])


def decode_ed25519_public_multikey(text: str) -> Ed25519PublicKey:
    """Ed25519 public key from a Multikey `publicKeyMultibase` (`z6Mk…`)."""
    raw = multibase_decode(text)
    if not raw.startswith(ED25519_PUB_PREFIX) or len(raw) != len(ED25519_PUB_PREFIX) + 32:
        raise MultibaseError("not an Ed25519 public Multikey (multicodec 0xed01, 32 bytes)")
    return Ed25519PublicKey.from_public_bytes(raw[len(ED25519_PUB_PREFIX) :])


def encode_ed25519_public_multikey(key: Ed25519PublicKey) -> str:
    """Multikey `publicKeyMultibase` for an Ed25519 public key, to publish on our actors."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return multibase_encode(ED25519_PUB_PREFIX + raw)


def decode_ed25519_private_multikey(text: str) -> Ed25519PrivateKey:
    """Ed25519 private key from a `secretKeyMultibase` (multicodec 0x1300, 32-byte seed)."""
    raw = multibase_decode(text)
    if not raw.startswith(ED25519_PRIV_PREFIX) or len(raw) != len(ED25519_PRIV_PREFIX) + 32:
        raise MultibaseError("not an Ed25519 private Multikey (multicodec 0x1300, 32 bytes)")
    return Ed25519PrivateKey.from_private_bytes(raw[len(ED25519_PRIV_PREFIX) :])
