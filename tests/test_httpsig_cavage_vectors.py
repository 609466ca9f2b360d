"""draft-cavage-http-signatures-12: the §2.3 signing-string example and Appendix C test values.

Source: https://datatracker.ietf.org/doc/html/draft-cavage-http-signatures-12 (Appendix C
opens with "WARNING: THESE TEST VECTORS ARE OLD AND POSSIBLY WRONG"). What we found, checking
every published signature against the printed signing strings with the published key:

* C.1, C.2 and C.3 signatures are all correct for the signing strings *as printed*.
* The key is called "RSA 2048-bit" but is a 1024-bit key.
* C.1 signs `date` when `headers` is absent; draft-12 §2.1.6 says the default is `(created)`.
  Earlier drafts defaulted to `date` and so does the fediverse; we use `(created)` only when
  a `created` parameter is present, else `date`, which reproduces C.1.
* C.3's printed header lists `(created) (expires)` with `algorithm="rsa-sha256"`, which §2.3
  says MUST produce an error, and the printed signing string (and the published signature)
  leave those two lines out. We refuse the header as printed and verify the published
  signature with the header that matches the printed string:
  `headers="(request-target) host date content-type digest content-length"`.
"""

from __future__ import annotations

import base64
from email.utils import parsedate_to_datetime

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from fedgroup.activitypub.digest import verify_body_digest
from fedgroup.activitypub.httpsig import (
    SignatureError,
    cavage_signing_string,
    load_public_key,
    parse_request_signature,
    read_cavage_signature,
)

TEST_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDCFENGw33yGihy92pDjZQhl0C3
6rPJj+CvfSC8+q28hxA161QFNUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6
Z4UMR7EOcpfdUE9Hf3m/hs+FUR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJw
oYi+1hqp1fIekaxsyQIDAQAB
-----END PUBLIC KEY-----"""

TEST_PRIVATE_KEY = """-----BEGIN RSA PRIVATE KEY-----
MIICXgIBAAKBgQDCFENGw33yGihy92pDjZQhl0C36rPJj+CvfSC8+q28hxA161QF
NUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6Z4UMR7EOcpfdUE9Hf3m/hs+F
UR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJwoYi+1hqp1fIekaxsyQIDAQAB
AoGBAJR8ZkCUvx5kzv+utdl7T5MnordT1TvoXXJGXK7ZZ+UuvMNUCdN2QPc4sBiA
QWvLw1cSKt5DsKZ8UETpYPy8pPYnnDEz2dDYiaew9+xEpubyeW2oH4Zx71wqBtOK
kqwrXa/pzdpiucRRjk6vE6YY7EBBs/g7uanVpGibOVAEsqH1AkEA7DkjVH28WDUg
f1nqvfn2Kj6CT7nIcE3jGJsZZ7zlZmBmHFDONMLUrXR/Zm3pR5m0tCmBqa5RK95u
412jt1dPIwJBANJT3v8pnkth48bQo/fKel6uEYyboRtA5/uHuHkZ6FQF7OUkGogc
mSJluOdc5t6hI1VsLn0QZEjQZMEOWr+wKSMCQQCC4kXJEsHAve77oP6HtG/IiEn7
kpyUXRNvFsDE0czpJJBvL/aRFUJxuRK91jhjC68sA7NsKMGg5OXb5I5Jj36xAkEA
gIT7aFOYBFwGgQAQkWNKLvySgKbAZRTeLBacpHMuQdl1DfdntvAyqpAZ0lY0RKmW
G6aFKaqQfOXKCyWoUiVknQJAXrlgySFci/2ueKlIE1QqIiLSZ8V8OlpFLRnb1pzI
7U1yQXnTAEFYM560yJlzUpOb1V4cScGd365tiSMvxLOvTA==
-----END RSA PRIVATE KEY-----"""

# "All examples use this request" (Appendix C)
URL = "https://example.com/foo?param=value&pet=dog"
BODY = b'{"hello": "world"}'
DATE = "Sun, 05 Jan 2014 21:31:40 GMT"
NOW = parsedate_to_datetime(DATE).timestamp() + 30
HEADERS = [
    ("Host", "example.com"),
    ("Date", DATE),
    ("Content-Type", "application/json"),
    ("Digest", "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="),
    ("Content-Length", "18"),
]

C1_SIGNATURE = (
    "SjWJWbWN7i0wzBvtPl8rbASWz5xQW6mcJmn+ibttBqtifLN7Sazz"
    "6m79cNfwwb8DMJ5cou1s7uEGKKCs+FLEEaDV5lp7q25WqS+lavg7T8hc0GppauB"
    "6hbgEKTwblDHYGEtbGmtdHgVCk9SuS13F0hZ8FD0k/5OxEPXe5WozsbM="
)
C1_STRING = "date: Sun, 05 Jan 2014 21:31:40 GMT"

C2_SIGNATURE = (
    "qdx+H7PHHDZgy4y/Ahn9Tny9V3GP6YgBPyUXMmoxWtLbHpUnXS"
    "2mg2+SbrQDMCJypxBLSPQR2aAjn7ndmw2iicw3HMbe8VfEdKFYRqzic+efkb3"
    "nndiv/x1xSHDJWeSWkx3ButlYSuBskLu6kd9Fswtemr3lgdDEmn04swr2Os0="
)
C2_STRING = (
    "(request-target): post /foo?param=value&pet=dog\n"
    "host: example.com\n"
    "date: Sun, 05 Jan 2014 21:31:40 GMT"
)

C3_SIGNATURE = (
    "vSdrb+dS3EceC9bcwHSo4MlyKS59iFIrhgYkz8+oVLEEzmYZZvRs"
    "8rgOp+63LEM3v+MFHB32NfpB2bEKBIvB1q52LaEUHFv120V01IL+TAD48XaERZF"
    "ukWgHoBTLMhYS2Gb51gWxpeIq8knRmPnYePbF5MOkR0Zkly4zKH7s1dE="
)
C3_STRING = (
    "(request-target): post /foo?param=value&pet=dog\n"
    "host: example.com\n"
    "date: Sun, 05 Jan 2014 21:31:40 GMT\n"
    "content-type: application/json\n"
    "digest: SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=\n"
    "content-length: 18"
)
# The header exactly as Appendix C.3 prints it (one line on the wire).
C3_HEADER_AS_PRINTED = (
    'keyId="Test",algorithm="rsa-sha256", created=1402170695, expires=1402170699, '
    'headers="(request-target) (created) (expires) '
    'host date content-type digest content-length", '
    f'signature="{C3_SIGNATURE}"'
)
C3_HEADER_CORRECTED = (
    'keyId="Test",algorithm="rsa-sha256",'
    'headers="(request-target) host date content-type digest content-length",'
    f'signature="{C3_SIGNATURE}"'
)


@pytest.fixture(scope="module")
def test_key():
    return load_public_key(TEST_PUBLIC_KEY)


@pytest.fixture(scope="module")
def test_private_key():
    return load_pem_private_key(TEST_PRIVATE_KEY.encode(), None)


def _pkcs1_sha256(private_key, text: str) -> str:
    signature = private_key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def test_the_test_key_is_1024_bit_not_2048_as_the_draft_says(test_key, test_private_key):
    assert test_key.key_size == 1024
    assert test_key.public_numbers() == test_private_key.public_key().public_numbers()


def test_the_example_digest_is_the_body_digest():
    verify_body_digest(HEADERS, BODY)


def test_section_2_3_signing_string_example():
    """§2.3's worked example: obs-fold unfolded, repeated Cache-Control joined with ", ",
    an empty header signed as `name: ` (the draft text says colon and space; the printed
    example cannot show the trailing space)."""
    headers = [
        ("Host", "example.org"),
        ("Date", "Tue, 07 Jun 2014 20:51:35 GMT"),
        ("X-Example", "Example header\r\n    with some whitespace."),
        ("X-EmptyHeader", ""),
        ("Cache-Control", "max-age=60"),
        ("Cache-Control", "must-revalidate"),
    ]
    covered = "(request-target) (created) host date cache-control x-emptyheader x-example"
    assert cavage_signing_string(
        "GET", "/foo", headers, covered.split(), created=1402170695, algorithm="hs2019"
    ) == (
        "(request-target): get /foo\n"
        "(created): 1402170695\n"
        "host: example.org\n"
        "date: Tue, 07 Jun 2014 20:51:35 GMT\n"
        "cache-control: max-age=60, must-revalidate\n"
        "x-emptyheader: \n"
        "x-example: Example header with some whitespace."
    )


@pytest.mark.parametrize("header_name", ["Signature", "Authorization"])
def test_c1_default_test(test_key, test_private_key, header_name):
    value = f'keyId="Test",algorithm="rsa-sha256",signature="{C1_SIGNATURE}"'
    if header_name == "Authorization":
        value = "Signature " + value
    claim = read_cavage_signature("POST", URL, HEADERS + [(header_name, value)])
    assert claim.covered == ("date",)
    assert claim.signature_base == C1_STRING
    assert claim.key_id == "Test"
    assert claim.algorithm == "rsa-sha256"
    assert claim.verify(test_key)
    assert _pkcs1_sha256(test_private_key, C1_STRING) == C1_SIGNATURE


@pytest.mark.parametrize("header_name", ["Signature", "Authorization"])
def test_c2_basic_test(test_key, test_private_key, header_name):
    value = (
        'keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date",'
        f'signature="{C2_SIGNATURE}"'
    )
    if header_name == "Authorization":
        value = "Signature " + value
    claim = read_cavage_signature("POST", URL, HEADERS + [(header_name, value)])
    assert claim.signature_base == C2_STRING
    assert claim.verify(test_key)
    assert _pkcs1_sha256(test_private_key, C2_STRING) == C2_SIGNATURE
    # it meets our rules for a request without a body, not for one with a body
    parse_request_signature("POST", URL, HEADERS + [(header_name, value)], has_body=False, now=NOW)
    with pytest.raises(SignatureError, match="digest"):
        parse_request_signature(
            "POST", URL, HEADERS + [(header_name, value)], has_body=True, now=NOW
        )


def test_c3_header_as_printed_is_refused():
    """(created) with rsa-sha256 is an error by §2.3 itself (erratum in Appendix C.3)."""
    with pytest.raises(SignatureError, match=r"\(created\)"):
        read_cavage_signature("POST", URL, HEADERS + [("Signature", C3_HEADER_AS_PRINTED)])


def test_c3_published_signature_matches_the_printed_signing_string(test_key, test_private_key):
    headers = HEADERS + [("Signature", C3_HEADER_CORRECTED)]
    claim = read_cavage_signature("POST", URL, headers)
    assert claim.signature_base == C3_STRING
    assert claim.verify(test_key)
    assert _pkcs1_sha256(test_private_key, C3_STRING) == C3_SIGNATURE
    # with the digest covered, it is an acceptable inbox request, body included
    accepted = parse_request_signature("POST", URL, headers, has_body=True, body=BODY, now=NOW)
    assert accepted.verify(test_key)
    with pytest.raises(SignatureError, match="digest"):
        parse_request_signature("POST", URL, headers, has_body=True, body=BODY + b" ", now=NOW)


def test_c_signatures_do_not_verify_over_a_changed_request(test_key):
    value = (
        'keyId="Test",algorithm="rsa-sha256",headers="(request-target) host date",'
        f'signature="{C2_SIGNATURE}"'
    )
    for method, url, headers in [
        ("PUT", URL, HEADERS),
        ("POST", "https://example.com/foo?param=value&pet=cat", HEADERS),
        ("POST", URL, [("Host", "example.org")] + HEADERS[1:]),
        ("POST", URL, HEADERS[:1] + [("Date", "Sun, 05 Jan 2014 21:31:41 GMT")] + HEADERS[2:]),
    ]:
        claim = read_cavage_signature(method, url, headers + [("Signature", value)])
        assert not claim.verify(test_key)
