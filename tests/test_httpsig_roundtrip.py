"""Our signer against our verifier, as a remote inbox would see the request: Mastodon-style
draft-cavage and RFC 9421, then properties over arbitrary paths and bodies, and any single
changed byte in what is signed making the request fail."""

from __future__ import annotations

import re
import string

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fedgroup.activitypub.httpsig import (
    SignatureError,
    parse_request_signature,
    sign_request,
)

NOW = 1_700_000_000.0
KEY_ID = "https://groups.example/groups/jazzpiano#main-key"
INBOX = "https://mastodon.example/users/alice/inbox"
ACTIVITY = (
    b'{"@context":"https://www.w3.org/ns/activitystreams","type":"Announce",'
    b'"actor":"https://groups.example/groups/jazzpiano"}'
)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def accepted(method, url, headers, body, public_key, now=NOW) -> bool:
    """What an inbox decides: rules and digest first, then the signature itself."""
    try:
        claim = parse_request_signature(
            method, url, headers, has_body=body is not None, body=body, now=now
        )
    except SignatureError:
        return False
    return claim.verify(public_key)


def test_mastodon_style_post(rsa_key):
    headers = sign_request(
        "POST", INBOX, {"User-Agent": "fedgroup/0.1"}, ACTIVITY, key_id=KEY_ID,
        private_key=rsa_key, now=NOW,
    )  # fmt: skip
    assert headers["Host"] == "mastodon.example"
    assert headers["Date"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert headers["Digest"].startswith("SHA-256=")
    assert headers["Content-Type"] == "application/activity+json"
    assert headers["User-Agent"] == "fedgroup/0.1"
    assert re.fullmatch(
        r'keyId="https://groups\.example/groups/jazzpiano#main-key",algorithm="rsa-sha256",'
        r'headers="\(request-target\) host date digest content-type",signature="[A-Za-z0-9+/=]+"',
        headers["Signature"],
    )
    claim = parse_request_signature(
        "POST", INBOX, headers, has_body=True, body=ACTIVITY, now=NOW + 5
    )
    assert (claim.scheme, claim.key_id, claim.algorithm) == ("cavage", KEY_ID, "rsa-sha256")
    assert claim.signature_base == (
        "(request-target): post /users/alice/inbox\n"
        "host: mastodon.example\n"
        "date: Tue, 14 Nov 2023 22:13:20 GMT\n"
        f"digest: {headers['Digest']}\n"
        "content-type: application/activity+json"
    )
    assert claim.verify(rsa_key.public_key())
    assert not claim.verify(rsa.generate_private_key(65537, 1024).public_key())


def test_mastodon_style_get(rsa_key):
    url = "https://lemmy.example/c/jazz?page=2"
    headers = sign_request("GET", url, None, None, key_id=KEY_ID, private_key=rsa_key, now=NOW)
    assert "Digest" not in headers
    assert 'headers="(request-target) host date accept"' in headers["Signature"]
    claim = parse_request_signature("GET", url, headers, has_body=False, now=NOW)
    assert claim.signature_base.startswith("(request-target): get /c/jazz?page=2\nhost: ")
    assert claim.signature_base.endswith(f"\naccept: {headers['Accept']}")
    assert claim.verify(rsa_key.public_key())


def test_rfc9421_post_and_get(rsa_key, ed_key):
    for key, alg in [(rsa_key, "rsa-v1_5-sha256"), (ed_key, "ed25519")]:
        headers = sign_request(
            "POST", INBOX, None, ACTIVITY, key_id=KEY_ID, private_key=key, scheme="rfc9421",
            now=NOW,
        )  # fmt: skip
        assert "Digest" not in headers
        assert headers["Content-Digest"].startswith("sha-256=:")
        assert headers["Signature-Input"] == (
            'sig1=("@method" "@target-uri" "@authority" "content-digest")'
            f';created=1700000000;keyid="{KEY_ID}";alg="{alg}"'
        )
        claim = parse_request_signature(
            "POST", INBOX, headers, has_body=True, body=ACTIVITY, now=NOW
        )
        assert (claim.scheme, claim.algorithm, claim.label) == ("rfc9421", alg, "sig1")
        assert claim.signature_base == (
            '"@method": POST\n'
            f'"@target-uri": {INBOX}\n'
            '"@authority": mastodon.example\n'
            f'"content-digest": {headers["Content-Digest"]}\n'
            '"@signature-params": ("@method" "@target-uri" "@authority" "content-digest")'
            f';created=1700000000;keyid="{KEY_ID}";alg="{alg}"'
        )
        assert claim.verify(key.public_key())

        get = sign_request(
            "GET", INBOX, {"Accept": "application/activity+json"}, None, key_id=KEY_ID,
            private_key=key, scheme="rfc9421", now=NOW,
        )  # fmt: skip
        assert get["Signature-Input"].startswith('sig1=("@method" "@target-uri" "@authority");')
        claim = parse_request_signature("GET", INBOX, get, has_body=False, now=NOW)
        assert claim.verify(key.public_key())


def test_ed25519_cavage_uses_hs2019(ed_key):
    headers = sign_request(
        "POST", INBOX, None, ACTIVITY, key_id=KEY_ID, private_key=ed_key, now=NOW
    )
    assert 'algorithm="hs2019"' in headers["Signature"]
    assert accepted("POST", INBOX, headers, ACTIVITY, ed_key.public_key())


def test_signed_headers_can_travel_as_authorization(rsa_key):
    headers = sign_request(
        "POST", INBOX, None, ACTIVITY, key_id=KEY_ID, private_key=rsa_key, now=NOW
    )
    headers["Authorization"] = "Signature " + headers.pop("Signature")
    assert accepted("POST", INBOX, headers, ACTIVITY, rsa_key.public_key())


def test_default_port_is_left_out_of_host_and_other_ports_kept(rsa_key):
    for url, host in [
        ("https://a.example:443/inbox", "a.example"),
        ("http://a.example:80/inbox", "a.example"),
        ("http://127.0.0.2:8080/inbox", "127.0.0.2:8080"),
    ]:
        headers = sign_request(
            "POST", url, None, b"{}", key_id=KEY_ID, private_key=rsa_key, now=NOW
        )
        assert headers["Host"] == host
        assert accepted("POST", url, headers, b"{}", rsa_key.public_key())


def test_caller_headers_are_kept_and_stale_signature_headers_replaced(rsa_key):
    headers = sign_request(
        "POST", INBOX, {"content-type": "application/ld+json", "signature": "old", "HOST": "x"},
        ACTIVITY, key_id=KEY_ID, private_key=rsa_key, now=NOW,
    )  # fmt: skip
    assert headers["content-type"] == "application/ld+json"
    assert "HOST" not in headers and "signature" not in headers
    assert (
        "content-type: application/ld+json"
        in parse_request_signature(
            "POST", INBOX, headers, has_body=True, body=ACTIVITY, now=NOW
        ).signature_base
    )


def test_signer_refuses_what_it_cannot_sign(rsa_key):
    with pytest.raises(ValueError):
        sign_request("GET", "/relative", None, None, key_id=KEY_ID, private_key=rsa_key)
    with pytest.raises(ValueError):
        sign_request("GET", INBOX, None, None, key_id='bad"id', private_key=rsa_key)
    with pytest.raises(ValueError):
        sign_request("GET", INBOX, None, None, key_id=KEY_ID, private_key=rsa_key, scheme="x")


# ----------------------------------------------------------------------------------- properties

PATH_CHARS = string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@/"
paths = st.text(alphabet=PATH_CHARS, min_size=0, max_size=40)
queries = st.none() | st.text(alphabet=PATH_CHARS + "?", min_size=1, max_size=30)
bodies = st.binary(max_size=512)
schemes = st.sampled_from(["cavage", "rfc9421"])
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){1,2}", fullmatch=True)

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _url(host: str, path: str, query: str | None) -> str:
    return f"https://{host}/{path}" + (f"?{query}" if query is not None else "")


@SETTINGS
@given(scheme=schemes, host=hosts, path=paths, query=queries, body=st.none() | bodies)
def test_sign_then_verify_round_trips(rsa_key, scheme, host, path, query, body):
    url = _url(host, path, query)
    method = "GET" if body is None else "POST"
    headers = sign_request(
        method, url, None, body, key_id=KEY_ID, private_key=rsa_key, scheme=scheme, now=NOW
    )
    assert accepted(method, url, headers, body, rsa_key.public_key(), now=NOW + 30)


def _change_one_char(data: st.DataObject, text: str, alphabet: str) -> str:
    index = data.draw(st.integers(0, len(text) - 1))
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != text[index]]))
    return text[:index] + replacement + text[index + 1 :]


def _header(headers: dict[str, str], name: str) -> str:
    return next(key for key in headers if key.lower() == name)


@SETTINGS
@given(
    scheme=schemes,
    host=hosts,
    path=paths,
    body=bodies,
    target=st.sampled_from(["method", "path", "host", "date", "digest", "body"]),
    data=st.data(),
)
def test_any_single_changed_byte_is_refused(rsa_key, scheme, host, path, body, target, data):
    url = _url(host, path, None)
    headers = sign_request(
        "POST", url, None, body, key_id=KEY_ID, private_key=rsa_key, scheme=scheme, now=NOW
    )
    method = "POST"
    public_key = rsa_key.public_key()
    assert accepted(method, url, headers, body, public_key)

    if target == "method":
        method = _change_one_char(data, method, string.ascii_uppercase)
    elif target == "path":
        url = _url(host, _change_one_char(data, path, PATH_CHARS) if path else "a", None)
    elif target == "host":
        new_host = _change_one_char(data, host, string.ascii_lowercase + string.digits)
        url = url.replace(f"//{host}/", f"//{new_host}/", 1)
        headers["Host"] = new_host
    elif target == "date":
        if scheme == "cavage":
            headers["Date"] = _change_one_char(data, headers["Date"], string.digits)
        else:  # RFC 9421 dates the signature with its signed `created` parameter
            created = "created=1700000000"
            headers["Signature-Input"] = headers["Signature-Input"].replace(
                created, _change_one_char(data, created, string.digits)
            )
    elif target == "digest":
        name = _header(headers, "digest" if scheme == "cavage" else "content-digest")
        alphabet = string.ascii_letters + string.digits + "+/"
        prefix, _, value = headers[name].partition("=")
        headers[name] = f"{prefix}={_change_one_char(data, value, alphabet)}"
    else:
        index = data.draw(st.integers(0, max(len(body) - 1, 0)))
        if body:
            body = (
                body[:index]
                + bytes([body[index] ^ data.draw(st.integers(1, 255))])
                + body[index + 1 :]
            )
        else:
            body = b"\x00"
    assert not accepted(method, url, headers, body, public_key)
