"""RFC 9421 Appendix B, reproduced: the test keys (B.1), every signature base of B.2.1–B.2.6,
B.3 and B.4 byte for byte, the deterministic signatures (Ed25519, HMAC) byte for byte, and the
randomized ones (RSA-PSS, ECDSA) verified with the published public keys.

Source: https://www.rfc-editor.org/rfc/rfc9421 Appendix B. The blocks below are pasted as the
RFC prints them, with RFC 8792 single-backslash line wrapping, and unwrapped by `unwrap()`.
"""

from __future__ import annotations

import base64
import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from fedgroup.activitypub.digest import verify_body_digest
from fedgroup.activitypub.httpsig import (
    SignatureError,
    load_public_key,
    parse_request_signature,
    read_rfc9421_signature,
    rfc9421_signature_base,
    sign_rfc9421,
)


def unwrap(text: str) -> str:
    """Undo RFC 8792 §7 single-backslash wrapping: `\\` + newline + leading spaces vanish."""
    lines = text.strip("\n").split("\n")
    out = []
    joining = False
    for line in lines:
        piece = line.lstrip(" ") if joining else line
        joining = piece.endswith("\\")
        out.append(piece[:-1] if joining else piece + "\n")
    return "".join(out).rstrip("\n")


def header_block(text: str) -> list[tuple[str, str]]:
    """`Name: value` lines (after unwrapping) → header pairs, repeated names kept in order."""
    pairs = []
    for line in unwrap(text).split("\n"):
        name, _, value = line.partition(": ")
        pairs.append((name, value))
    return pairs


# ----------------------------------------------------------------------------- B.1 test keys

TEST_KEY_RSA_PUBLIC = """-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAhAKYdtoeoy8zcAcR874L8cnZxKzAGwd7v36APp7Pv6Q2jdsPBRrw
WEBnez6d0UDKDwGbc6nxfEXAy5mbhgajzrw3MOEt8uA5txSKobBpKDeBLOsdJKFq
MGmXCQvEG7YemcxDTRPxAleIAgYYRjTSd/QBwVW9OwNFhekro3RtlinV0a75jfZg
kne/YiktSvLG34lw2zqXBDTC5NHROUqGTlML4PlNZS5Ri2U4aCNx2rUPRcKIlE0P
uKxI4T+HIaFpv8+rdV6eUgOrB2xeI1dSFFn/nnv5OoZJEIB+VmuKn3DCUcCZSFlQ
PSXSfBDiUGhwOw76WuSSsf1D4b/vLoJ10wIDAQAB
-----END RSA PUBLIC KEY-----"""

TEST_KEY_RSA_PRIVATE = """-----BEGIN RSA PRIVATE KEY-----
MIIEqAIBAAKCAQEAhAKYdtoeoy8zcAcR874L8cnZxKzAGwd7v36APp7Pv6Q2jdsP
BRrwWEBnez6d0UDKDwGbc6nxfEXAy5mbhgajzrw3MOEt8uA5txSKobBpKDeBLOsd
JKFqMGmXCQvEG7YemcxDTRPxAleIAgYYRjTSd/QBwVW9OwNFhekro3RtlinV0a75
jfZgkne/YiktSvLG34lw2zqXBDTC5NHROUqGTlML4PlNZS5Ri2U4aCNx2rUPRcKI
lE0PuKxI4T+HIaFpv8+rdV6eUgOrB2xeI1dSFFn/nnv5OoZJEIB+VmuKn3DCUcCZ
SFlQPSXSfBDiUGhwOw76WuSSsf1D4b/vLoJ10wIDAQABAoIBAG/JZuSWdoVHbi56
vjgCgkjg3lkO1KrO3nrdm6nrgA9P9qaPjxuKoWaKO1cBQlE1pSWp/cKncYgD5WxE
CpAnRUXG2pG4zdkzCYzAh1i+c34L6oZoHsirK6oNcEnHveydfzJL5934egm6p8DW
+m1RQ70yUt4uRc0YSor+q1LGJvGQHReF0WmJBZHrhz5e63Pq7lE0gIwuBqL8SMaA
yRXtK+JGxZpImTq+NHvEWWCu09SCq0r838ceQI55SvzmTkwqtC+8AT2zFviMZkKR
Qo6SPsrqItxZWRty2izawTF0Bf5S2VAx7O+6t3wBsQ1sLptoSgX3QblELY5asI0J
YFz7LJECgYkAsqeUJmqXE3LP8tYoIjMIAKiTm9o6psPlc8CrLI9CH0UbuaA2JCOM
cCNq8SyYbTqgnWlB9ZfcAm/cFpA8tYci9m5vYK8HNxQr+8FS3Qo8N9RJ8d0U5Csw
DzMYfRghAfUGwmlWj5hp1pQzAuhwbOXFtxKHVsMPhz1IBtF9Y8jvgqgYHLbmyiu1
mwJ5AL0pYF0G7x81prlARURwHo0Yf52kEw1dxpx+JXER7hQRWQki5/NsUEtv+8RT
qn2m6qte5DXLyn83b1qRscSdnCCwKtKWUug5q2ZbwVOCJCtmRwmnP131lWRYfj67
B/xJ1ZA6X3GEf4sNReNAtaucPEelgR2nsN0gKQKBiGoqHWbK1qYvBxX2X3kbPDkv
9C+celgZd2PW7aGYLCHq7nPbmfDV0yHcWjOhXZ8jRMjmANVR/eLQ2EfsRLdW69bn
f3ZD7JS1fwGnO3exGmHO3HZG+6AvberKYVYNHahNFEw5TsAcQWDLRpkGybBcxqZo
81YCqlqidwfeO5YtlO7etx1xLyqa2NsCeG9A86UjG+aeNnXEIDk1PDK+EuiThIUa
/2IxKzJKWl1BKr2d4xAfR0ZnEYuRrbeDQYgTImOlfW6/GuYIxKYgEKCFHFqJATAG
IxHrq1PDOiSwXd2GmVVYyEmhZnbcp8CxaEMQoevxAta0ssMK3w6UsDtvUvYvF22m
qQKBiD5GwESzsFPy3Ga0MvZpn3D6EJQLgsnrtUPZx+z2Ep2x0xc5orneB5fGyF1P
WtP+fG5Q6Dpdz3LRfm+KwBCWFKQjg7uTxcjerhBWEYPmEMKYwTJF5PBG9/ddvHLQ
EQeNC8fHGg4UXU8mhHnSBt3EA10qQJfRDs15M38eG2cYwB1PZpDHScDnDA0=
-----END RSA PRIVATE KEY-----"""

TEST_KEY_RSA_PSS_PUBLIC = """-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAr4tmm3r20Wd/PbqvP1s2
+QEtvpuRaV8Yq40gjUR8y2Rjxa6dpG2GXHbPfvMs8ct+Lh1GH45x28Rw3Ry53mm+
oAXjyQ86OnDkZ5N8lYbggD4O3w6M6pAvLkhk95AndTrifbIFPNU8PPMO7OyrFAHq
gDsznjPFmTOtCEcN2Z1FpWgchwuYLPL+Wokqltd11nqqzi+bJ9cvSKADYdUAAN5W
Utzdpiy6LbTgSxP7ociU4Tn0g5I6aDZJ7A8Lzo0KSyZYoA485mqcO0GVAdVw9lq4
aOT9v6d+nb4bnNkQVklLQ3fVAvJm+xdDOp9LCNCN48V2pnDOkFV6+U9nV5oyc6XI
2wIDAQAB
-----END PUBLIC KEY-----"""

TEST_KEY_RSA_PSS_PRIVATE = """-----BEGIN PRIVATE KEY-----
MIIEvgIBADALBgkqhkiG9w0BAQoEggSqMIIEpgIBAAKCAQEAr4tmm3r20Wd/Pbqv
P1s2+QEtvpuRaV8Yq40gjUR8y2Rjxa6dpG2GXHbPfvMs8ct+Lh1GH45x28Rw3Ry5
3mm+oAXjyQ86OnDkZ5N8lYbggD4O3w6M6pAvLkhk95AndTrifbIFPNU8PPMO7Oyr
FAHqgDsznjPFmTOtCEcN2Z1FpWgchwuYLPL+Wokqltd11nqqzi+bJ9cvSKADYdUA
AN5WUtzdpiy6LbTgSxP7ociU4Tn0g5I6aDZJ7A8Lzo0KSyZYoA485mqcO0GVAdVw
9lq4aOT9v6d+nb4bnNkQVklLQ3fVAvJm+xdDOp9LCNCN48V2pnDOkFV6+U9nV5oy
c6XI2wIDAQABAoIBAQCUB8ip+kJiiZVKF8AqfB/aUP0jTAqOQewK1kKJ/iQCXBCq
pbo360gvdt05H5VZ/RDVkEgO2k73VSsbulqezKs8RFs2tEmU+JgTI9MeQJPWcP6X
aKy6LIYs0E2cWgp8GADgoBs8llBq0UhX0KffglIeek3n7Z6Gt4YFge2TAcW2WbN4
XfK7lupFyo6HHyWRiYHMMARQXLJeOSdTn5aMBP0PO4bQyk5ORxTUSeOciPJUFktQ
HkvGbym7KryEfwH8Tks0L7WhzyP60PL3xS9FNOJi9m+zztwYIXGDQuKM2GDsITeD
2mI2oHoPMyAD0wdI7BwSVW18p1h+jgfc4dlexKYRAoGBAOVfuiEiOchGghV5vn5N
RDNscAFnpHj1QgMr6/UG05RTgmcLfVsI1I4bSkbrIuVKviGGf7atlkROALOG/xRx
DLadgBEeNyHL5lz6ihQaFJLVQ0u3U4SB67J0YtVO3R6lXcIjBDHuY8SjYJ7Ci6Z6
vuDcoaEujnlrtUhaMxvSfcUJAoGBAMPsCHXte1uWNAqYad2WdLjPDlKtQJK1diCm
rqmB2g8QE99hDOHItjDBEdpyFBKOIP+NpVtM2KLhRajjcL9Ph8jrID6XUqikQuVi
4J9FV2m42jXMuioTT13idAILanYg8D3idvy/3isDVkON0X3UAVKrgMEne0hJpkPL
FYqgetvDAoGBAKLQ6JZMbSe0pPIJkSamQhsehgL5Rs51iX4m1z7+sYFAJfhvN3Q/
OGIHDRp6HjMUcxHpHw7U+S1TETxePwKLnLKj6hw8jnX2/nZRgWHzgVcY+sPsReRx
NJVf+Cfh6yOtznfX00p+JWOXdSY8glSSHJwRAMog+hFGW1AYdt7w80XBAoGBAImR
NUugqapgaEA8TrFxkJmngXYaAqpA0iYRA7kv3S4QavPBUGtFJHBNULzitydkNtVZ
3w6hgce0h9YThTo/nKc+OZDZbgfN9s7cQ75x0PQCAO4fx2P91Q+mDzDUVTeG30mE
t2m3S0dGe47JiJxifV9P3wNBNrZGSIF3mrORBVNDAoGBAI0QKn2Iv7Sgo4T/XjND
dl2kZTXqGAk8dOhpUiw/HdM3OGWbhHj2NdCzBliOmPyQtAr770GITWvbAI+IRYyF
S7Fnk6ZVVVHsxjtaHy1uJGFlaZzKR4AGNaUTOJMs6NadzCmGPAxNQQOCqoUjn4XR
rOjr9w349JooGXhOxbu8nOxX
-----END PRIVATE KEY-----"""

TEST_KEY_ECC_P256_PUBLIC = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lf
w0EkjqF7xB4FivAxzic30tMM4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==
-----END PUBLIC KEY-----"""

TEST_KEY_ECC_P256_PRIVATE = """-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIFKbhfNZfpDsW43+0+JjUr9K+bTeuxopu653+hBaXGA7oAoGCCqGSM49
AwEHoUQDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lfw0EkjqF7xB4FivAxzic30tMM
4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==
-----END EC PRIVATE KEY-----"""

TEST_KEY_ED25519_PUBLIC = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----"""

TEST_KEY_ED25519_PRIVATE = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----"""

TEST_SHARED_SECRET = base64.b64decode(
    unwrap(
        """
uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBt\\
  bmHhIDi6pcl8jsasjlTMtDQ==
"""
    )
)

# ------------------------------------------------------------------------ B.2 test messages

TEST_REQUEST_URL = "https://example.com/foo?param=Value&Pet=dog"
TEST_REQUEST_BODY = b'{"hello": "world"}'
TEST_REQUEST_HEADERS = header_block(
    """
Host: example.com
Date: Tue, 20 Apr 2021 02:07:55 GMT
Content-Type: application/json
Content-Digest: sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+T\\
  aPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:
Content-Length: 18
"""
)

TEST_RESPONSE_BODY = b'{"message": "good dog"}'
# RFC 9421 as published prints this Content-Digest; the -16 draft printed a different value
# that was not the digest of the body (it was fixed before publication).
TEST_RESPONSE_HEADERS = header_block(
    """
Date: Tue, 20 Apr 2021 02:07:56 GMT
Content-Type: application/json
Content-Digest: sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ4\\
  1QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:
Content-Length: 23
"""
)


@pytest.fixture(scope="module")
def keys() -> dict[str, object]:
    return {
        "rsa-public": load_public_key(TEST_KEY_RSA_PUBLIC),
        "rsa-private": load_pem_private_key(TEST_KEY_RSA_PRIVATE.encode(), None),
        "pss-public": load_public_key(TEST_KEY_RSA_PSS_PUBLIC),
        "ecc-public": load_public_key(TEST_KEY_ECC_P256_PUBLIC),
        "ecc-private": load_pem_private_key(TEST_KEY_ECC_P256_PRIVATE.encode(), None),
        "ed-public": load_public_key(TEST_KEY_ED25519_PUBLIC),
        "ed-private": load_pem_private_key(TEST_KEY_ED25519_PRIVATE.encode(), None),
    }


def test_b1_keys_load_and_pair_up(keys):
    assert isinstance(keys["rsa-public"], rsa.RSAPublicKey)  # PKCS#1 "RSA PUBLIC KEY"
    assert keys["rsa-public"].public_numbers() == keys["rsa-private"].public_key().public_numbers()
    pss_private = load_pem_private_key(TEST_KEY_RSA_PSS_PRIVATE.encode(), None)
    assert keys["pss-public"].public_numbers() == pss_private.public_key().public_numbers()
    assert isinstance(keys["ecc-public"].curve, ec.SECP256R1)
    assert keys["ecc-public"].public_numbers() == keys["ecc-private"].public_key().public_numbers()
    assert isinstance(keys["ed-public"], ed25519.Ed25519PublicKey)
    ed_public = keys["ed-private"].public_key()
    assert keys["ed-public"].public_bytes_raw() == ed_public.public_bytes_raw()
    # JWK "x" of test-key-ed25519 in B.1.4
    assert keys["ed-public"].public_bytes_raw() == base64.urlsafe_b64decode(
        "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs="
    )
    assert len(TEST_SHARED_SECRET) == 64


def test_b2_message_digests_are_the_digests_of_their_bodies():
    verify_body_digest(TEST_REQUEST_HEADERS, TEST_REQUEST_BODY)
    verify_body_digest(TEST_RESPONSE_HEADERS, TEST_RESPONSE_BODY)


# --------------------------------------------------------------------- B.2.1 to B.2.6, B.3

B21_SIGNED = header_block(
    """
Signature-Input: sig-b21=();created=1618884473\\
  ;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"
Signature: sig-b21=:d2pmTvmbncD3xQm8E9ZV2828BjQWGgiwAaw5bAkgibUopem\\
  LJcWDy/lkbbHAve4cRAtx31Iq786U7it++wgGxbtRxf8Udx7zFZsckzXaJMkA7ChG\\
  52eSkFxykJeNqsrWH5S+oxNFlD4dzVuwe8DhTSja8xxbR/Z2cOGdCbzR72rgFWhzx\\
  2VjBqJzsPLMIQKhO4DGezXehhWwE56YCE+O6c0mKZsfxVrogUvA4HELjVKWmAvtl6\\
  UnCh8jYzuVG5WSb/QEVPnP5TmcAnLH1g+s++v6d4s8m0gCw1fV5/SITLq9mhho8K3\\
  +7EPYTU8IU1bLhdxO5Nyt8C8ssinQ98Xw9Q==:
"""
)
B21_BASE = unwrap(
    """
"@signature-params": ();created=1618884473;keyid="test-key-rsa-pss"\\
  ;nonce="b3k2pp5k7z-50gnwp.yemd"
"""
)

B22_SIGNED = header_block(
    """
Signature-Input: sig-b22=("@authority" "content-digest" \\
  "@query-param";name="Pet");created=1618884473\\
  ;keyid="test-key-rsa-pss";tag="header-example"
Signature: sig-b22=:LjbtqUbfmvjj5C5kr1Ugj4PmLYvx9wVjZvD9GsTT4F7GrcQ\\
  EdJzgI9qHxICagShLRiLMlAJjtq6N4CDfKtjvuJyE5qH7KT8UCMkSowOB4+ECxCmT\\
  8rtAmj/0PIXxi0A0nxKyB09RNrCQibbUjsLS/2YyFYXEu4TRJQzRw1rLEuEfY17SA\\
  RYhpTlaqwZVtR8NV7+4UKkjqpcAoFqWFQh62s7Cl+H2fjBSpqfZUJcsIk4N6wiKYd\\
  4je2U/lankenQ99PZfB4jY3I5rSV2DSBVkSFsURIjYErOs0tFTQosMTAoxk//0RoK\\
  UqiYY8Bh0aaUEb0rQl3/XaVe4bXTugEjHSw==:
"""
)
B22_BASE = unwrap(
    """
"@authority": example.com
"content-digest": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX\\
  +TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:
"@query-param";name="Pet": dog
"@signature-params": ("@authority" "content-digest" \\
  "@query-param";name="Pet")\\
  ;created=1618884473;keyid="test-key-rsa-pss"\\
  ;tag="header-example"
"""
)

B23_SIGNED = header_block(
    """
Signature-Input: sig-b23=("date" "@method" "@path" "@query" \\
  "@authority" "content-type" "content-digest" "content-length")\\
  ;created=1618884473;keyid="test-key-rsa-pss"
Signature: sig-b23=:bbN8oArOxYoyylQQUU6QYwrTuaxLwjAC9fbY2F6SVWvh0yB\\
  iMIRGOnMYwZ/5MR6fb0Kh1rIRASVxFkeGt683+qRpRRU5p2voTp768ZrCUb38K0fU\\
  xN0O0iC59DzYx8DFll5GmydPxSmme9v6ULbMFkl+V5B1TP/yPViV7KsLNmvKiLJH1\\
  pFkh/aYA2HXXZzNBXmIkoQoLd7YfW91kE9o/CCoC1xMy7JA1ipwvKvfrs65ldmlu9\\
  bpG6A9BmzhuzF8Eim5f8ui9eH8LZH896+QIF61ka39VBrohr9iyMUJpvRX2Zbhl5Z\\
  JzSRxpJyoEZAFL2FUo5fTIztsDZKEgM4cUA==:
"""
)
B23_BASE = unwrap(
    """
"date": Tue, 20 Apr 2021 02:07:55 GMT
"@method": POST
"@path": /foo
"@query": ?param=Value&Pet=dog
"@authority": example.com
"content-type": application/json
"content-digest": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX\\
  +TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:
"content-length": 18
"@signature-params": ("date" "@method" "@path" "@query" \\
  "@authority" "content-type" "content-digest" "content-length")\\
  ;created=1618884473;keyid="test-key-rsa-pss"
"""
)

B24_SIGNED = header_block(
    """
Signature-Input: sig-b24=("@status" "content-type" \\
  "content-digest" "content-length");created=1618884473\\
  ;keyid="test-key-ecc-p256"
Signature: sig-b24=:wNmSUAhwb5LxtOtOpNa6W5xj067m5hFrj0XQ4fvpaCLx0NK\\
  ocgPquLgyahnzDnDAUy5eCdlYUEkLIj+32oiasw==:
"""
)
B24_BASE = unwrap(
    """
"@status": 200
"content-type": application/json
"content-digest": sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ4\\
  1QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:
"content-length": 23
"@signature-params": ("@status" "content-type" "content-digest" \\
  "content-length");created=1618884473;keyid="test-key-ecc-p256"
"""
)

B25_SIGNED = header_block(
    """
Signature-Input: sig-b25=("date" "@authority" "content-type")\\
  ;created=1618884473;keyid="test-shared-secret"
Signature: sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:
"""
)
B25_BASE = unwrap(
    """
"date": Tue, 20 Apr 2021 02:07:55 GMT
"@authority": example.com
"content-type": application/json
"@signature-params": ("date" "@authority" "content-type")\\
  ;created=1618884473;keyid="test-shared-secret"
"""
)

B26_SIGNED = header_block(
    """
Signature-Input: sig-b26=("date" "@method" "@path" "@authority" \\
  "content-type" "content-length");created=1618884473\\
  ;keyid="test-key-ed25519"
Signature: sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1\\
  u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:
"""
)
B26_BASE = unwrap(
    """
"date": Tue, 20 Apr 2021 02:07:55 GMT
"@method": POST
"@path": /foo
"@authority": example.com
"content-type": application/json
"content-length": 18
"@signature-params": ("date" "@method" "@path" "@authority" \\
  "content-type" "content-length");created=1618884473\\
  ;keyid="test-key-ed25519"
"""
)

B3_URL = "https://service.internal.example/foo?param=Value&Pet=dog"
B3_HEADERS = header_block(
    """
Host: service.internal.example
Date: Tue, 20 Apr 2021 02:07:55 GMT
Content-Type: application/json
Content-Length: 18
Client-Cert: :MIIBqDCCAU6gAwIBAgIBBzAKBggqhkjOPQQDAjA6MRswGQYDVQQKD\\
  BJMZXQncyBBdXRoZW50aWNhdGUxGzAZBgNVBAMMEkxBIEludGVybWVkaWF0ZSBDQT\\
  AeFw0yMDAxMTQyMjU1MzNaFw0yMTAxMjMyMjU1MzNaMA0xCzAJBgNVBAMMAkJDMFk\\
  wEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8YnXXfaUgmnMtOXU/IncWalRhebrXmck\\
  C8vdgJ1p5Be5F/3YC8OthxM4+k1M6aEAEFcGzkJiNy6J84y7uzo9M6NyMHAwCQYDV\\
  R0TBAIwADAfBgNVHSMEGDAWgBRm3WjLa38lbEYCuiCPct0ZaSED2DAOBgNVHQ8BAf\\
  8EBAMCBsAwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHQYDVR0RAQH/BBMwEYEPYmRjQGV\\
  4YW1wbGUuY29tMAoGCCqGSM49BAMCA0gAMEUCIBHda/r1vaL6G3VliL4/Di6YK0Q6\\
  bMjeSkC3dFCOOB8TAiEAx/kHSB4urmiZ0NX5r5XarmPk0wmuydBVoU4hBVZ1yhk=:
Signature-Input: ttrp=("@path" "@query" "@method" "@authority" \\
  "client-cert");created=1618884473;keyid="test-key-ecc-p256"
Signature: ttrp=:xVMHVpawaAC/0SbHrKRs9i8I3eOs5RtTMGCWXm/9nvZzoHsIg6\\
  Mce9315T6xoklyy0yzhD9ah4JHRwMLOgmizw==:
"""
)
B3_BASE = unwrap(
    """
"@path": /foo
"@query": ?param=Value&Pet=dog
"@method": POST
"@authority": service.internal.example
"client-cert": :MIIBqDCCAU6gAwIBAgIBBzAKBggqhkjOPQQDAjA6MRswGQYDVQQ\\
  KDBJMZXQncyBBdXRoZW50aWNhdGUxGzAZBgNVBAMMEkxBIEludGVybWVkaWF0ZSBD\\
  QTAeFw0yMDAxMTQyMjU1MzNaFw0yMTAxMjMyMjU1MzNaMA0xCzAJBgNVBAMMAkJDM\\
  FkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8YnXXfaUgmnMtOXU/IncWalRhebrXm\\
  ckC8vdgJ1p5Be5F/3YC8OthxM4+k1M6aEAEFcGzkJiNy6J84y7uzo9M6NyMHAwCQY\\
  DVR0TBAIwADAfBgNVHSMEGDAWgBRm3WjLa38lbEYCuiCPct0ZaSED2DAOBgNVHQ8B\\
  Af8EBAMCBsAwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHQYDVR0RAQH/BBMwEYEPYmRjQ\\
  GV4YW1wbGUuY29tMAoGCCqGSM49BAMCA0gAMEUCIBHda/r1vaL6G3VliL4/Di6YK0\\
  Q6bMjeSkC3dFCOOB8TAiEAx/kHSB4urmiZ0NX5r5XarmPk0wmuydBVoU4hBVZ1yhk=:
"@signature-params": ("@path" "@query" "@method" "@authority" \\
  "client-cert");created=1618884473;keyid="test-key-ecc-p256"
"""
)

REQUEST_CASES = [
    # label, signed headers, expected base, verifying key name
    ("sig-b21", B21_SIGNED, B21_BASE, "pss-public"),
    ("sig-b22", B22_SIGNED, B22_BASE, "pss-public"),
    ("sig-b23", B23_SIGNED, B23_BASE, "pss-public"),
    ("sig-b25", B25_SIGNED, B25_BASE, "secret"),
    ("sig-b26", B26_SIGNED, B26_BASE, "ed-public"),
]


def _key(keys, name):
    return TEST_SHARED_SECRET if name == "secret" else keys[name]


@pytest.mark.parametrize(("label", "signed", "base", "key_name"), REQUEST_CASES)
def test_b2_request_signature_base_byte_for_byte(label, signed, base, key_name):
    headers = TEST_REQUEST_HEADERS + signed
    assert rfc9421_signature_base("POST", TEST_REQUEST_URL, headers, label=label) == base


@pytest.mark.parametrize(("label", "signed", "base", "key_name"), REQUEST_CASES)
def test_b2_request_published_signature_verifies(keys, label, signed, base, key_name):
    claim = read_rfc9421_signature("POST", TEST_REQUEST_URL, TEST_REQUEST_HEADERS + signed)
    assert claim.label == label
    assert claim.signature_base == base
    assert claim.created == 1618884473
    assert claim.verify(_key(keys, key_name))


@pytest.mark.parametrize(("label", "signed", "base", "key_name"), REQUEST_CASES)
def test_b2_request_mutated_message_or_signature_fails(keys, label, signed, base, key_name):
    key = _key(keys, key_name)
    # one bit of the signature flipped
    claim = read_rfc9421_signature("POST", TEST_REQUEST_URL, TEST_REQUEST_HEADERS + signed)
    flipped = bytes([claim.signature[0] ^ 1]) + claim.signature[1:]
    assert not dataclasses.replace(claim, signature=flipped).verify(key)
    # the signed created parameter changed (every B.2 signature covers @signature-params)
    tampered = [(n, v.replace("1618884473", "1618884474")) for n, v in signed]
    claim = read_rfc9421_signature("POST", TEST_REQUEST_URL, TEST_REQUEST_HEADERS + tampered)
    assert not claim.verify(key)


def test_b2_a_key_of_another_type_does_not_verify(keys):
    claim = read_rfc9421_signature("POST", TEST_REQUEST_URL, TEST_REQUEST_HEADERS + B26_SIGNED)
    assert not claim.verify(keys["pss-public"])
    assert not claim.verify(keys["ecc-public"])
    assert not claim.verify(TEST_SHARED_SECRET)


def test_b24_response_signature_base_and_ecdsa_signature():
    headers = TEST_RESPONSE_HEADERS + B24_SIGNED
    assert rfc9421_signature_base(None, None, headers, label="sig-b24", status=200) == B24_BASE
    claim = read_rfc9421_signature(None, None, headers, status=200)
    assert claim.verify(load_public_key(TEST_KEY_ECC_P256_PUBLIC))
    # the same signature over another status does not verify
    assert not read_rfc9421_signature(None, None, headers, status=201).verify(
        load_public_key(TEST_KEY_ECC_P256_PUBLIC)
    )


def test_b25_hmac_and_b26_ed25519_signatures_reproduced_byte_for_byte(keys):
    b25 = sign_rfc9421(
        "POST",
        TEST_REQUEST_URL,
        TEST_REQUEST_HEADERS,
        components=["date", "@authority", "content-type"],
        params={"created": 1618884473, "keyid": "test-shared-secret"},
        private_key=TEST_SHARED_SECRET,
        algorithm="hmac-sha256",
        label="sig-b25",
    )
    assert list(b25.items()) == B25_SIGNED
    b26 = sign_rfc9421(
        "POST",
        TEST_REQUEST_URL,
        TEST_REQUEST_HEADERS,
        components=["date", "@method", "@path", "@authority", "content-type", "content-length"],
        params={"created": 1618884473, "keyid": "test-key-ed25519"},
        private_key=keys["ed-private"],
        algorithm="ed25519",
        label="sig-b26",
    )
    assert list(b26.items()) == B26_SIGNED


def test_b22_signer_reproduces_signature_input_with_query_param(keys):
    # RSA-PSS is randomized: the Signature-Input is reproduced, the signature verifies.
    pss_private = load_pem_private_key(TEST_KEY_RSA_PSS_PRIVATE.encode(), None)
    signed = sign_rfc9421(
        "POST",
        TEST_REQUEST_URL,
        TEST_REQUEST_HEADERS,
        components=["@authority", "content-digest", ("@query-param", {"name": "Pet"})],
        params={"created": 1618884473, "keyid": "test-key-rsa-pss", "tag": "header-example"},
        private_key=pss_private,
        algorithm="rsa-pss-sha512",
        label="sig-b22",
    )
    assert signed["Signature-Input"] == dict(B22_SIGNED)["Signature-Input"]
    assert signed["Signature"] != dict(B22_SIGNED)["Signature"]
    claim = read_rfc9421_signature(
        "POST", TEST_REQUEST_URL, TEST_REQUEST_HEADERS + list(signed.items())
    )
    assert claim.signature_base == B22_BASE
    assert claim.verify(keys["pss-public"])


def test_ecdsa_p256_signer_round_trip(keys):
    signed = sign_rfc9421(
        None,
        None,
        TEST_RESPONSE_HEADERS,
        components=["@status", "content-type", "content-digest", "content-length"],
        params={"created": 1618884473, "keyid": "test-key-ecc-p256"},
        private_key=keys["ecc-private"],
        algorithm="ecdsa-p256-sha256",
        label="sig-b24",
        status=200,
    )
    assert signed["Signature-Input"] == dict(B24_SIGNED)["Signature-Input"]
    claim = read_rfc9421_signature(
        None, None, TEST_RESPONSE_HEADERS + list(signed.items()), status=200
    )
    assert claim.signature_base == B24_BASE
    assert claim.verify(keys["ecc-public"])


def test_test_key_rsa_signs_rsa_v1_5_sha256(keys):
    signed = sign_rfc9421(
        "POST",
        TEST_REQUEST_URL,
        TEST_REQUEST_HEADERS,
        components=["@method", "@target-uri", "@authority", "content-digest"],
        params={"created": 1618884473, "keyid": "test-key-rsa", "alg": "rsa-v1_5-sha256"},
        private_key=keys["rsa-private"],
        algorithm="rsa-v1_5-sha256",
    )
    claim = read_rfc9421_signature(
        "POST", TEST_REQUEST_URL, TEST_REQUEST_HEADERS + list(signed.items())
    )
    assert claim.algorithm == "rsa-v1_5-sha256"
    assert claim.signature_base.splitlines()[1] == (
        '"@target-uri": https://example.com/foo?param=Value&Pet=dog'
    )
    assert claim.verify(keys["rsa-public"])
    assert not claim.verify(keys["pss-public"])


def test_b3_tls_terminating_proxy_signature():
    assert rfc9421_signature_base("POST", B3_URL, B3_HEADERS, label="ttrp") == B3_BASE
    claim = read_rfc9421_signature("POST", B3_URL, B3_HEADERS)
    assert claim.label == "ttrp"
    assert claim.verify(load_public_key(TEST_KEY_ECC_P256_PUBLIC))


def test_b26_passes_our_inbox_rules_and_b21_does_not(keys):
    """B.2.6 covers method, path, authority and has `created`: acceptable (without a body
    requirement). B.2.1 covers nothing, so the same request is refused before key lookup."""
    now = 1618884473 + 10
    claim = parse_request_signature(
        "POST", TEST_REQUEST_URL, TEST_REQUEST_HEADERS + B26_SIGNED, has_body=False, now=now
    )
    assert claim.key_id == "test-key-ed25519"
    assert claim.verify(keys["ed-public"])
    with pytest.raises(SignatureError, match="request target"):
        parse_request_signature(
            "POST", TEST_REQUEST_URL, TEST_REQUEST_HEADERS + B21_SIGNED, has_body=False, now=now
        )
    # with a body, B.2.6 does not cover Content-Digest, so it is refused
    with pytest.raises(SignatureError, match="digest"):
        parse_request_signature(
            "POST", TEST_REQUEST_URL, TEST_REQUEST_HEADERS + B26_SIGNED, has_body=True, now=now
        )


# ---------------------------------------------------------------- B.4 message transformations

B4_SIGNATURE = header_block(
    """
Signature-Input: transform=("@method" "@path" "@authority" \\
  "accept");created=1618884473;keyid="test-key-ed25519"
Signature: transform=:ZT1kooQsEHpZ0I1IjCqtQppOmIqlJPeo7DHR3SoMn0s5J\\
  Z1eRGS0A+vyYP9t/LXlh5QMFFQ6cpLt2m0pmj3NDA==:
"""
)
B4_BASE = unwrap(
    """
"@method": GET
"@path": /demo
"@authority": example.org
"accept": application/json, */*
"@signature-params": ("@method" "@path" "@authority" "accept")\\
  ;created=1618884473;keyid="test-key-ed25519"
"""
)
B4_ORIGINAL = (
    "GET",
    "https://example.org/demo?name1=Value1&Name2=value2",
    [
        ("Host", "example.org"),
        ("Date", "Fri, 15 Jul 2022 14:24:55 GMT"),
        ("Accept", "application/json"),
        ("Accept", "*/*"),
    ],
)
B4_STILL_VALID = [
    (
        "GET",
        "https://example.org/demo?name1=Value1&Name2=value2&param=added",
        [
            ("Host", "example.org"),
            ("Date", "Fri, 15 Jul 2022 14:24:55 GMT"),
            ("Accept", "application/json"),
            ("Accept", "*/*"),
            ("Accept-Language", "en-US,en;q=0.5"),
        ],
    ),
    (
        "GET",
        "https://example.org/demo?name1=Value1&Name2=value2",
        [
            ("Host", "example.org"),
            ("Referer", "https://developer.example.org/demo"),
            ("Accept", "application/json, */*"),
        ],
    ),
    (
        "GET",
        "https://example.org/demo?name1=Value1&Name2=value2",
        [
            ("Accept", "application/json"),
            ("Accept", "*/*"),
            ("Date", "Fri, 15 Jul 2022 14:24:55 GMT"),
            ("Host", "example.org"),
        ],
    ),
]
B4_NO_LONGER_VALID = [
    (
        "POST",
        "https://example.com/demo?name1=Value1&Name2=value2",
        [
            ("Host", "example.com"),
            ("Date", "Fri, 15 Jul 2022 14:24:55 GMT"),
            ("Accept", "application/json"),
            ("Accept", "*/*"),
        ],
    ),
    (
        "GET",
        "https://example.org/demo?name1=Value1&Name2=value2",
        [
            ("Host", "example.org"),
            ("Date", "Fri, 15 Jul 2022 14:24:55 GMT"),
            ("Accept", "*/*"),
            ("Accept", "application/json"),
        ],
    ),
]


def test_b4_original_base_and_signature_byte_for_byte(keys):
    method, url, headers = B4_ORIGINAL
    assert rfc9421_signature_base(method, url, headers + B4_SIGNATURE, label="transform") == (
        B4_BASE
    )
    signed = sign_rfc9421(
        method,
        url,
        headers,
        components=["@method", "@path", "@authority", "accept"],
        params={"created": 1618884473, "keyid": "test-key-ed25519"},
        private_key=keys["ed-private"],
        algorithm="ed25519",
        label="transform",
    )
    assert list(signed.items()) == B4_SIGNATURE


@pytest.mark.parametrize(("method", "url", "headers"), B4_STILL_VALID)
def test_b4_allowed_transformations_keep_the_signature_valid(keys, method, url, headers):
    claim = read_rfc9421_signature(method, url, headers + B4_SIGNATURE)
    assert claim.signature_base == B4_BASE
    assert claim.verify(keys["ed-public"])


@pytest.mark.parametrize(("method", "url", "headers"), B4_NO_LONGER_VALID)
def test_b4_covered_changes_break_the_signature(keys, method, url, headers):
    claim = read_rfc9421_signature(method, url, headers + B4_SIGNATURE)
    assert claim.signature_base != B4_BASE
    assert not claim.verify(keys["ed-public"])
