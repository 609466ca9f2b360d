"""HTTP signatures, sign and verify, as the pure functions the inbox and the delivery worker
call: every delivery signs once, every inbound POST verifies once, so these rates bound both.

RSA-2048, as every fediverse server can verify it; a Mastodon-sized activity body, so the
digest is part of the cost as it is in real traffic.
"""

from __future__ import annotations

import json
import time

from cryptography.hazmat.primitives.asymmetric import rsa

from fedgroup.activitypub.httpsig import Scheme, parse_request_signature, sign_request

from .report import Figure, emit

DEFAULT_COUNT = 1000
SCHEMES: tuple[Scheme, ...] = ("cavage", "rfc9421")
INBOX = "https://groups.example/groups/jazz/inbox"
KEY_ID = "https://social.example/users/alice#main-key"


def sample_body() -> bytes:
    """About 1.5 kB of JSON: a Create of a short Note, the common case."""
    note = {
        "id": "https://social.example/users/alice/statuses/1",
        "type": "Note",
        "attributedTo": "https://social.example/users/alice",
        "to": ["https://www.w3.org/ns/activitystreams#Public"],
        "cc": ["https://groups.example/groups/jazz"],
        "content": "<p>" + "Who plays stride piano? " * 30 + "</p>",
    }
    activity = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": note["id"] + "/activity",
        "type": "Create",
        "actor": note["attributedTo"],
        "object": note,
    }
    return json.dumps(activity).encode()


def measure_scheme(scheme: Scheme, count: int, key: rsa.RSAPrivateKey) -> list[Figure]:
    """Sign `count` requests, then parse and verify each; two figures (sign, verify)."""
    body = sample_body()
    public_key = key.public_key()
    signed: list[dict[str, str]] = []
    sign_times: list[float] = []
    started = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        signed.append(
            sign_request("POST", INBOX, None, body, key_id=KEY_ID, private_key=key, scheme=scheme)
        )
        sign_times.append(time.perf_counter() - t0)
    sign_wall = time.perf_counter() - started

    verify_times: list[float] = []
    refused = 0
    now = time.time()
    started = time.perf_counter()
    for headers in signed:
        t0 = time.perf_counter()
        claim = parse_request_signature("POST", INBOX, headers, has_body=True, body=body, now=now)
        if not claim.verify(public_key):
            refused += 1
        verify_times.append(time.perf_counter() - t0)
    verify_wall = time.perf_counter() - started
    if refused:
        raise RuntimeError(f"{scheme}: {refused} of {count} own signatures did not verify")
    return [
        Figure(f"sign {scheme} rsa-2048", count, sign_wall, "signatures", sign_times),
        Figure(
            f"verify {scheme} rsa-2048 (parse+digest+verify)",
            count,
            verify_wall,
            "signatures",
            verify_times,
        ),
    ]


def run(count: int = DEFAULT_COUNT) -> list[Figure]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    figures = []
    for scheme in SCHEMES:
        figures.extend(emit(figure) for figure in measure_scheme(scheme, count, key))
    return figures
