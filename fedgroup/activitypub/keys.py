"""Key pairs for our actors: RSA, because every fediverse server can verify RSA signatures."""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

RSA_KEY_BITS = 2048


def generate_rsa_key_pair() -> tuple[str, str]:
    """A new (private PEM PKCS#8, public PEM SPKI) pair for a group or server actor."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return private_pem, public_pem


@lru_cache(maxsize=256)
def load_private_key(pem: str) -> PrivateKeyTypes:
    """Parse a stored private key once; signing happens per request, parsing should not."""
    return serialization.load_pem_private_key(pem.encode("ascii"), password=None)


@lru_cache(maxsize=1024)
def load_public_pem(pem: str) -> PublicKeyTypes:
    """Parse a PEM public key (SPKI or PKCS#1), cached because keys repeat per sender."""
    data = pem.encode("ascii")
    if b"BEGIN RSA PUBLIC KEY" in data:
        return serialization.load_pem_public_key(data)
    return serialization.load_pem_public_key(data)
