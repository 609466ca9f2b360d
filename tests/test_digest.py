"""Body digests: the values remote servers send and check (RFC 3230 Digest, RFC 9530)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedgroup.activitypub.digest import (
    DigestError,
    content_digest_header,
    digest_header,
    digest_headers,
    verify_body_digest,
)

BODY = b'{"hello": "world"}'
# RFC 9530 §B / RFC 9421 B.2 and draft-cavage examples use this body.
SHA256 = "X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="
SHA512 = "WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew=="


def test_headers_have_the_published_values():
    assert digest_header(BODY) == f"SHA-256={SHA256}"
    assert content_digest_header(BODY) == f"sha-256=:{SHA256}:"
    assert content_digest_header(BODY, "sha-512") == f"sha-512=:{SHA512}:"
    assert digest_headers(BODY) == {
        "Digest": f"SHA-256={SHA256}",
        "Content-Digest": f"sha-256=:{SHA256}:",
    }
    with pytest.raises(ValueError):
        content_digest_header(BODY, "md5")


@pytest.mark.parametrize(
    "headers",
    [
        {"Digest": f"SHA-256={SHA256}"},
        {"digest": f"sha-256={SHA256}"},
        {"Digest": f"MD5=Sd/dVLAcvNLSq16eXua5uQ==, SHA-256={SHA256}"},
        {"Content-Digest": f"sha-256=:{SHA256}:"},
        {"Content-Digest": f"sha-512=:{SHA512}:"},
        {"Content-Digest": f"sha-256=:{SHA256}:, sha-512=:{SHA512}:"},
        {"Content-Digest": f"unixsum=:AAAA:, sha-256=:{SHA256}:;foo=bar"},
        {"Digest": f"SHA-256={SHA256}", "Content-Digest": f"sha-512=:{SHA512}:"},
    ],
)
def test_matching_digests_are_accepted(headers):
    verify_body_digest(headers, BODY)


def test_repeated_header_lines_are_combined():
    verify_body_digest(
        [("Content-Digest", f"sha-256=:{SHA256}:"), ("Content-Digest", f"sha-512=:{SHA512}:")],
        BODY,
    )


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "no Digest"),
        ({"Digest": f"SHA-256={SHA256}"}, "does not match"),
        ({"Content-Digest": f"sha-512=:{SHA512}:"}, "does not match"),
        ({"Digest": "MD5=Sd/dVLAcvNLSq16eXua5uQ=="}, "no supported"),
        ({"Content-Digest": "md5=:Sd/dVLAcvNLSq16eXua5uQ==:"}, "no supported"),
        ({"Digest": "SHA-256=not base64!"}, "malformed"),
        ({"Digest": "SHA-256"}, "malformed"),
        ({"Content-Digest": f"sha-256={SHA256}"}, "byte sequence"),
        ({"Content-Digest": f"sha-256=:{SHA256}:,"}, "malformed"),
        ({"Content-Digest": f"SHA-256=:{SHA256}:"}, "malformed"),
    ],
)
def test_bad_digests_are_refused(headers, reason):
    body = BODY + b"!" if reason == "does not match" else BODY
    with pytest.raises(DigestError, match=reason):
        verify_body_digest(headers, body)


def test_when_both_are_present_both_must_match():
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    with pytest.raises(DigestError, match="does not match"):
        verify_body_digest(
            {"Digest": f"SHA-256={SHA256}", "Content-Digest": f"sha-256=:{wrong}:"}, BODY
        )
    with pytest.raises(DigestError, match="does not match"):
        verify_body_digest(
            {"Digest": f"SHA-256={wrong}", "Content-Digest": f"sha-256=:{SHA256}:"}, BODY
        )


@given(st.binary(max_size=2048), st.binary(min_size=1, max_size=64))
def test_made_headers_verify_their_body_and_no_other(body, suffix):
    headers = digest_headers(body)
    verify_body_digest(headers, body)
    with pytest.raises(DigestError):
        verify_body_digest(headers, body + suffix)


@given(st.text(max_size=200), st.text(max_size=200))
def test_arbitrary_header_values_only_raise_digest_error(digest, content_digest):
    try:
        verify_body_digest({"Digest": digest, "Content-Digest": content_digest}, BODY)
    except DigestError:
        pass
