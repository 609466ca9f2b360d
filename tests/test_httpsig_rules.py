"""What the inbox refuses before and after fetching a key: stale or future dates, expired
signatures, signatures that do not cover what matters, unknown algorithms, malformed headers,
wrong keys; and that whatever a peer sends, only SignatureError comes out."""

from __future__ import annotations

import base64
from email.utils import formatdate

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from fedgroup.activitypub.digest import content_digest_header, digest_header
from fedgroup.activitypub.httpsig import (
    DEFAULT_MAX_AGE,
    DEFAULT_MAX_FUTURE,
    SignatureError,
    cavage_signing_string,
    is_signature_rejection,
    load_public_key,
    parse_request_signature,
    read_cavage_signature,
    read_rfc9421_signature,
    sign_request,
    sign_rfc9421,
)

NOW = 1_700_000_000
KEY_ID = "https://peer.example/users/bob#main-key"
URL = "https://groups.example/inbox"
BODY = b'{"type":"Follow"}'


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def signed(rsa_key, scheme="cavage", at=NOW, body=BODY, method="POST") -> dict[str, str]:
    return sign_request(
        method, URL, None, body, key_id=KEY_ID, private_key=rsa_key, scheme=scheme, now=at
    )


def parse(headers, now=NOW, body=BODY, **kwargs):
    return parse_request_signature(
        "POST" if body is not None else "GET",
        URL,
        headers,
        has_body=body is not None,
        body=body,
        now=now,
        **kwargs,
    )


def cavage_by_hand(private_key, covered, headers, *, algorithm, extra="", method="POST"):
    """A draft-cavage header built independently of sign_request()."""
    base = cavage_signing_string(
        method, URL, headers, covered, created=NOW - 10, expires=NOW + 50, algorithm=algorithm
    )
    if isinstance(private_key, rsa.RSAPrivateKey):
        raw = private_key.sign(base.encode(), padding.PKCS1v15(), hashes.SHA256())
    else:
        raw = private_key.sign(base.encode())
    return (
        f'keyId="{KEY_ID}",algorithm="{algorithm}",headers="{" ".join(covered)}"{extra},'
        f'signature="{base64.b64encode(raw).decode()}"'
    )


def base_headers(at=NOW, body=BODY):
    return {
        "Host": "groups.example",
        "Date": formatdate(at, usegmt=True),
        "Digest": digest_header(body),
        "Content-Type": "application/activity+json",
    }


# ---------------------------------------------------------------------------------- freshness


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
def test_freshness_window(rsa_key, scheme):
    # Mastodon's window: 65 minutes old (created + 5 min + 1 h), an hour in the future.
    assert DEFAULT_MAX_AGE == 3900 and DEFAULT_MAX_FUTURE == 3600
    parse(signed(rsa_key, scheme, at=NOW - 3899))
    parse(signed(rsa_key, scheme, at=NOW + 3599))
    with pytest.raises(SignatureError, match="too old"):
        parse(signed(rsa_key, scheme, at=NOW - 3901))
    with pytest.raises(SignatureError, match="in the future"):
        parse(signed(rsa_key, scheme, at=NOW + 3601))
    # both bounds are configurable
    with pytest.raises(SignatureError, match="too old"):
        parse(signed(rsa_key, scheme, at=NOW - 301), max_age=300)
    parse(signed(rsa_key, scheme, at=NOW - 7000), max_age=7200)
    with pytest.raises(SignatureError, match="in the future"):
        parse(signed(rsa_key, scheme, at=NOW + 31), max_future=30)


def test_rfc9421_expires_in_the_past_is_refused(rsa_key):
    headers = base_headers()
    headers["Content-Digest"] = content_digest_header(BODY)
    for expires, ok in [(NOW + 1, True), (NOW - 1, False)]:
        signature = sign_rfc9421(
            "POST",
            URL,
            headers,
            components=["@method", "@target-uri", "@authority", "content-digest"],
            params={"created": NOW - 60, "expires": expires, "keyid": KEY_ID},
            private_key=rsa_key,
            algorithm="rsa-v1_5-sha256",
        )
        if ok:
            assert parse({**headers, **signature}).verify(rsa_key.public_key())
        else:
            with pytest.raises(SignatureError, match="expired"):
                parse({**headers, **signature})


def test_cavage_created_and_expires_with_hs2019(ed_key):
    headers = base_headers()
    covered = ["(request-target)", "(created)", "(expires)", "host", "digest"]
    value = cavage_by_hand(
        ed_key, covered, headers, algorithm="hs2019",
        extra=f",created={NOW - 10},expires={NOW + 50}",
    )  # fmt: skip
    claim = parse({**headers, "Signature": value})
    assert "(created): 1699999990\n(expires): 1700000050" in claim.signature_base
    assert claim.verify(ed_key.public_key())
    with pytest.raises(SignatureError, match="expired"):
        parse({**headers, "Signature": value}, now=NOW + 51)


def test_malformed_date_is_refused(rsa_key):
    headers = signed(rsa_key)
    headers["Date"] = "yesterday"
    with pytest.raises(SignatureError, match="Date"):
        parse(headers)


# ------------------------------------------------------------------------ required components


@pytest.mark.parametrize(
    ("covered", "reason"),
    [
        (["host", "date", "digest"], "request target"),
        (["(request-target)", "date", "digest"], "host"),
        (["(request-target)", "host", "digest"], "date"),
        (["(request-target)", "host", "date"], "digest"),
    ],
)
def test_cavage_must_cover_target_host_date_and_digest(rsa_key, covered, reason):
    headers = base_headers()
    value = cavage_by_hand(rsa_key, covered, headers, algorithm="rsa-sha256")
    with pytest.raises(SignatureError, match=reason):
        parse({**headers, "Signature": value})


@pytest.mark.parametrize(
    ("components", "params", "reason"),
    [
        (["@target-uri", "@authority", "content-digest"], {"created": NOW}, "request target"),
        (["@method", "@authority", "content-digest"], {"created": NOW}, "request target"),
        (["@method", "@path", "content-digest"], {"created": NOW}, "host"),
        (["@method", "@target-uri", "content-digest"], {}, "date"),
        (["@method", "@target-uri", "@authority"], {"created": NOW}, "digest"),
    ],
)
def test_rfc9421_must_cover_target_host_date_and_digest(rsa_key, components, params, reason):
    headers = base_headers()
    headers["Content-Digest"] = content_digest_header(BODY)
    signature = sign_rfc9421(
        "POST", URL, headers, components=components, params={**params, "keyid": KEY_ID},
        private_key=rsa_key, algorithm="rsa-v1_5-sha256",
    )  # fmt: skip
    with pytest.raises(SignatureError, match=reason):
        parse({**headers, **signature})


def test_rfc9421_equivalents_are_accepted(rsa_key):
    """@method + @path + host header + date header is as good as our own choice."""
    headers = base_headers()
    signature = sign_rfc9421(
        "POST", URL, headers, components=["@method", "@path", "host", "date", "digest"],
        params={"keyid": KEY_ID}, private_key=rsa_key, algorithm="rsa-v1_5-sha256",
    )  # fmt: skip
    claim = parse({**headers, **signature})
    assert claim.algorithm is None
    assert claim.verify(rsa_key.public_key())


def test_rfc9421_first_acceptable_signature_is_chosen(rsa_key):
    headers = base_headers()
    headers["Content-Digest"] = content_digest_header(BODY)
    weak = sign_rfc9421(
        "POST", URL, headers, components=["@authority"], params={"keyid": "weak"},
        private_key=rsa_key, algorithm="rsa-v1_5-sha256", label="a",
    )  # fmt: skip
    good = signed(rsa_key, "rfc9421")
    headers = {
        **good,
        "Signature-Input": f"{weak['Signature-Input']}, {good['Signature-Input']}",
        "Signature": f"{weak['Signature']}, {good['Signature']}",
    }
    claim = parse(headers)
    assert (claim.label, claim.key_id) == ("sig1", KEY_ID)
    with pytest.raises(SignatureError, match="request target"):
        parse({**headers, "Signature-Input": weak["Signature-Input"]})


def test_only_covered_digests_authenticate_the_body(rsa_key):
    """A covered MD5-only Digest next to an uncovered, matching Content-Digest for a swapped
    body must not pass: only covered digest headers are checked."""
    headers = base_headers()
    headers["Digest"] = "MD5=Sd/dVLAcvNLSq16eXua5uQ=="
    value = cavage_by_hand(
        rsa_key, ["(request-target)", "host", "date", "digest"], headers, algorithm="rsa-sha256"
    )
    swapped = b'{"type":"Delete"}'
    forged = {**headers, "Signature": value, "Content-Digest": content_digest_header(swapped)}
    with pytest.raises(SignatureError, match="digest: no supported"):
        parse(forged, body=swapped)


# ------------------------------------------------------------------------- keys, algorithms


def test_wrong_key_does_not_verify(rsa_key, ed_key):
    for scheme in ("cavage", "rfc9421"):
        claim = parse(signed(rsa_key, scheme))
        assert claim.verify(rsa_key.public_key())
        assert not claim.verify(rsa.generate_private_key(65537, 1024).public_key())
        assert not claim.verify(ed_key.public_key())
        assert not claim.verify(ec.generate_private_key(ec.SECP256R1()).public_key())
        assert not claim.verify(b"shared secret")


def test_hs2019_with_rsa_accepts_mastodon_pkcs1_and_the_drafts_pss(rsa_key):
    headers = base_headers()
    covered = ["(request-target)", "host", "date", "digest"]
    base = cavage_signing_string("POST", URL, headers, covered).encode()
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
    for raw in (
        rsa_key.sign(base, padding.PKCS1v15(), hashes.SHA256()),
        rsa_key.sign(base, pss, hashes.SHA512()),
    ):
        value = (
            f'keyId="{KEY_ID}",algorithm="hs2019",headers="{" ".join(covered)}",'
            f'signature="{base64.b64encode(raw).decode()}"'
        )
        assert parse({**headers, "Signature": value}).verify(rsa_key.public_key())
    # rsa-sha256 means PKCS#1 v1.5 only
    value = value.replace("hs2019", "rsa-sha256")
    assert not parse({**headers, "Signature": value}).verify(rsa_key.public_key())


@pytest.mark.parametrize("algorithm", ["rsa-sha512", "hmac-sha256", "ecdsa-sha256", "RSA-SHA256"])
def test_cavage_unknown_algorithm(rsa_key, algorithm):
    headers = signed(rsa_key)
    headers["Signature"] = headers["Signature"].replace("rsa-sha256", algorithm)
    with pytest.raises(SignatureError, match="unsupported algorithm"):
        parse(headers)


def test_rfc9421_unknown_algorithm(rsa_key):
    headers = signed(rsa_key, "rfc9421")
    headers["Signature-Input"] = headers["Signature-Input"].replace("rsa-v1_5-sha256", "rsa-sha1")
    with pytest.raises(SignatureError, match="unsupported algorithm"):
        parse(headers)


def test_load_public_key_formats(rsa_key, ed_key):
    spki = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pkcs1 = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
    )
    for pem in (spki, spki.decode(), pkcs1.decode()):
        assert load_public_key(pem).public_numbers() == rsa_key.public_key().public_numbers()
    # did:key / Multikey test vector: z6Mk… is Ed25519 with this JWK "x"
    key = load_public_key("z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")
    assert key.public_bytes_raw() == base64.urlsafe_b64decode(
        "Lm_M42cB3HkUiODQsXRcweM6TByfzEHGO9ND274JcOY="
    )
    # an Ed25519 Multikey of our own verifies our own signature
    raw = b"\xed\x01" + ed_key.public_key().public_bytes_raw()
    claim = parse(signed(ed_key, "rfc9421"))
    assert claim.verify(load_public_key("z" + _base58btc(raw)))


def _base58btc(data: bytes) -> str:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    number, out = int.from_bytes(data, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        out = alphabet[digit] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----",
        "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do0",  # 0 is not base58
        "z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do",  # one character short
        "zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme",  # secp256k1: not supported
        "mO0EEjU2ZKA",  # base64 multibase
    ],
)
def test_load_public_key_refuses_garbage(text):
    with pytest.raises(SignatureError):
        load_public_key(text)


# ---------------------------------------------------------------------------- malformed input


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        ('algorithm="rsa-sha256",headers="date",signature="AAAA"', "keyId"),
        ('keyId="",headers="date",signature="AAAA"', "keyId"),
        ('keyId="k",headers="date",signature="not base64!"', "signature value"),
        ('keyId="k",headers="date"', "signature value"),
        ('keyId="k",keyId="j",headers="date",signature="AAAA"', "duplicate"),
        ('keyId="k,headers="date",signature="AAAA"', "malformed"),
        ('keyId="k" headers="date"', "malformed"),
        ('keyId="k",headers="",signature="AAAA"', "empty headers"),
        ('keyId="k",headers="x-missing",signature="AAAA"', "missing"),
        ('keyId="k",created=soon,headers="date",signature="AAAA"', "created"),
        ('keyId="k",expires=-1,headers="date",signature="AAAA"', "expires"),
        ('keyId="k",headers="(expires)",signature="AAAA"', "missing"),
    ],
)
def test_malformed_cavage_headers(signature, reason):
    headers = {**base_headers(), "Signature": signature}
    with pytest.raises(SignatureError, match=reason):
        read_cavage_signature("POST", URL, headers)


@pytest.mark.parametrize(
    ("signature_input", "signature", "reason"),
    [
        ('sig1=("@method");created=1', "sig2=:AAAA:", "no Signature for label"),
        ('sig1="@method";keyid="k"', "sig1=:AAAA:", "not an inner list"),
        ('sig1=("@method");keyid="k"', 'sig1="AAAA"', "not a byte sequence"),
        ('sig1=("@method");created=1', "sig1=:AAAA:", "missing keyid"),
        ('sig1=("@method");keyid=k', "sig1=:AAAA:", "missing keyid"),
        ('sig1=("@method");keyid="k";created=1.5', "sig1=:AAAA:", "decimal"),
        ('sig1=("@method");keyid="k";created="1"', "sig1=:AAAA:", "created"),
        ('sig1=("@method");keyid="k";alg=ed25519', "sig1=:AAAA:", "malformed alg"),
        ('sig1=("@method" "@method");keyid="k"', "sig1=:AAAA:", "duplicate"),
        ('sig1=("@unknown");keyid="k"', "sig1=:AAAA:", "unsupported derived"),
        ('sig1=("Host");keyid="k"', "sig1=:AAAA:", "lowercase"),
        ('sig1=("x-missing");keyid="k"', "sig1=:AAAA:", "missing"),
        ('sig1=("@signature-params");keyid="k"', "sig1=:AAAA:", "cannot be covered"),
        ('sig1=(date);keyid="k"', "sig1=:AAAA:", "strings"),
        ('sig1=(@method);keyid="k"', "sig1=:AAAA:", "malformed"),
        ('sig1=("@method";keyid="k"', "sig1=:AAAA:", "malformed"),
        ('sig1=("@method");keyid="k",', "sig1=:AAAA:", "malformed"),
        ('sig1=("@method");keyid="k"', "sig1=:AA:", "byte sequence"),
        ('sig1=("@method");keyid="k\\x"', "sig1=:AAAA:", "string"),
        ('sig1=("@method");keyid="k"', "sig1=:AAAA", "unterminated"),
        ('Sig1=("@method");keyid="k"', "sig1=:AAAA:", "malformed"),
        ('sig1=("@method");keyid="ké"', "sig1=:AAAA:", "ASCII"),
        ('sig1=("host";sf);keyid="k"', "sig1=:AAAA:", "unsupported component parameter"),
        ("", "sig1=:AAAA:", "empty"),
    ],
)
def test_malformed_rfc9421_headers(signature_input, signature, reason):
    headers = {**base_headers(), "Signature-Input": signature_input, "Signature": signature}
    with pytest.raises(SignatureError, match=reason):
        read_rfc9421_signature("POST", URL, headers)
    with pytest.raises(SignatureError):
        parse(headers)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Signature"},
        {"Date": "Tue, 14 Nov 2023 22:13:20 GMT"},
    ],
)
def test_unsigned_requests_are_refused(headers):
    with pytest.raises(SignatureError):
        parse(headers)


# ------------------------------------------------------------------------------------ fuzzing

SF_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789@-_.*:;=(),"?\\ /+é\t'
fuzz = st.text(max_size=120) | st.text(alphabet=SF_ALPHABET, max_size=120)
FUZZED_HEADERS = ["Signature", "Signature-Input", "Authorization", "Date", "Digest", "Host"]


@settings(max_examples=400, deadline=None)
@given(
    values=st.dictionaries(st.sampled_from(FUZZED_HEADERS), fuzz, min_size=1),
    body=st.none() | st.just(BODY),
)
def test_arbitrary_headers_only_ever_raise_signature_error(values, body):
    try:
        claim = parse({**base_headers(), "Content-Digest": "sha-256=:AAAA:", **values}, body=body)
    except SignatureError as error:
        assert error.reason and "\n" not in error.reason
        return
    assert claim.verify(b"secret") in (True, False)


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.sampled_from(
        ['sig1=("@method" "@target-uri" "@authority");created=1700000000;keyid="k"', 'sig1=("', ""]
    ),
    tail=st.text(alphabet=SF_ALPHABET, max_size=60),
    url=st.text(max_size=40),
)
def test_near_valid_signature_input_only_raises_signature_error(prefix, tail, url):
    headers = {"Signature-Input": prefix + tail, "Signature": "sig1=:AAAA:"}
    try:
        parse_request_signature("GET", url, headers, has_body=False, now=NOW)
    except SignatureError:
        pass


# -------------------------------------------------------------------------- delivery helper


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, "", True),
        (401, "Unauthorized", True),
        (400, "Invalid Signature", True),
        (400, '{"error":"Verification failed for signature"}', True),
        (400, "Bad JSON", False),
        (403, "signature", False),
        (202, "", False),
        (500, "signature", False),
    ],
)
def test_is_signature_rejection(status, body, expected):
    assert is_signature_rejection(status, body) is expected
