"""The JSON-LD worker processes: what they answer, and that every failure is a refusal.

A refusal (`LdRefused`) is what the inbox and the outbound queue expect; anything else
escaping from here would be a 500 or a lost activity.
"""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from fedgroup.activitypub import ldsig, ldworker
from fedgroup.activitypub.keys import generate_rsa_key_pair, load_public_pem

AS = "https://www.w3.org/ns/activitystreams"
KEY_ID = "https://a.example/users/alice#main-key"
LIMITS = ldworker.LdLimits(max_bytes=65_536, time_budget=10.0)


def activity(**extra: object) -> dict:
    return {
        "@context": AS,
        "id": "https://a.example/activities/1",
        "type": "Create",
        "actor": "https://a.example/users/alice",
        **extra,
    }


async def test_a_signature_made_in_the_worker_verifies_here_and_there():
    private_pem, public_pem = generate_rsa_key_pair()
    signed = await ldworker.sign(
        activity(), private_key_pem=private_pem, key_id=KEY_ID, limits=LIMITS
    )
    assert ldsig.verify_document(signed, load_public_pem(public_pem))
    covered = await ldworker.verify_and_compact(signed, public_pem, LIMITS)
    assert covered is not None and covered["id"] == "https://a.example/activities/1"
    _other_private, other_public = generate_rsa_key_pair()
    assert await ldworker.verify_and_compact(signed, other_public, LIMITS) is None


async def test_a_document_over_the_size_cap_is_refused_without_work():
    with pytest.raises(ldworker.LdRefused, match="over 65536 bytes"):
        await ldworker.verify_and_compact(
            activity(content="x" * 70_000), generate_rsa_key_pair()[1], LIMITS
        )


async def test_an_unbundled_context_is_a_refusal():
    private_pem, _ = generate_rsa_key_pair()
    doc = {**activity(), "@context": [AS, "https://evil.example/context.jsonld"]}
    with pytest.raises(ldworker.LdRefused, match="not bundled"):
        await ldworker.sign(doc, private_key_pem=private_pem, key_id=KEY_ID, limits=LIMITS)


async def test_a_worker_that_dies_mid_call_is_a_refusal_and_is_replaced(monkeypatch):
    started: list[ldworker._Child] = []

    class Recorded(ldworker._Child):
        def __init__(self) -> None:
            super().__init__()
            started.append(self)

    ldworker.shutdown()
    monkeypatch.setattr(ldworker, "_Child", Recorded)
    private_pem, _ = generate_rsa_key_pair()
    slow = activity(cc=[f"https://m{i}.example/u" for i in range(3000)])
    roomy = ldworker.LdLimits(max_bytes=1_048_576, time_budget=30.0)
    call = asyncio.create_task(
        ldworker.sign(slow, private_key_pem=private_pem, key_id=KEY_ID, limits=roomy)
    )
    await asyncio.sleep(0.5)  # started, and busy with a second's worth of canonicalization
    assert len(started) == 1 and not call.done()
    started[0].process.kill()
    with pytest.raises(ldworker.LdRefused, match="worker failed"):
        await call
    signed = await ldworker.sign(
        activity(), private_key_pem=private_pem, key_id=KEY_ID, limits=LIMITS
    )
    assert signed["signature"]["creator"] == KEY_ID
    assert len(started) == 2 and ldworker._busy == 0


async def test_a_worker_that_cannot_start_is_a_refusal(monkeypatch):
    ldworker.shutdown()

    def no_more_processes(*_args, **_kwargs):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(subprocess, "Popen", no_more_processes)
    with pytest.raises(ldworker.LdRefused, match="could not start"):
        await ldworker.verify_and_compact(activity(), generate_rsa_key_pair()[1], LIMITS)
    assert ldworker._busy == 0


async def test_signatures_asked_for_together_share_round_trips_and_fail_alone(monkeypatch):
    """A busy group's announces are signed in batches; a document that cannot be signed
    is refused on its own, and every other one still gets its own valid signature."""
    private_pem, public_pem = generate_rsa_key_pair()
    requests: list[int] = []
    real_call = ldworker._call

    async def counted(op, args, limits, **kwargs):
        requests.append(len(args.get("items", [None])))
        return await real_call(op, args, limits, **kwargs)

    monkeypatch.setattr(ldworker, "_call", counted)
    docs = [activity(id=f"https://a.example/activities/{i}") for i in range(40)]
    docs[17] = {**docs[17], "@context": [AS, "https://evil.example/context.jsonld"]}
    results = await asyncio.gather(
        *(
            ldworker.sign(doc, private_key_pem=private_pem, key_id=KEY_ID, limits=LIMITS)
            for doc in docs
        ),
        return_exceptions=True,
    )
    assert isinstance(results[17], ldworker.LdRefused) and "not bundled" in results[17].reason
    public = load_public_pem(public_pem)
    for i, signed in enumerate(results):
        if i != 17:
            assert signed["id"] == f"https://a.example/activities/{i}"
            assert ldsig.verify_document(signed, public)
    assert sum(requests) == 40
    assert len(requests) < 40 and max(requests) <= ldworker.MAX_SIGN_BATCH


async def test_a_call_waiting_for_the_child_is_not_overtaken_by_later_ones():
    """Children go to waiting calls in arrival order: before, a woken call could lose the
    child to a newcomer again and again, and wait seconds under a steady load."""
    ldworker.shutdown()
    _private_pem, public_pem = generate_rsa_key_pair()
    doc = activity()
    order: list[int] = []

    async def verify(n: int) -> None:
        await ldworker.verify_and_compact(doc, public_pem, LIMITS)
        order.append(n)

    first = asyncio.create_task(verify(0))
    await asyncio.sleep(0)  # it holds the only child
    waiting = [asyncio.create_task(verify(n)) for n in range(1, 4)]
    await asyncio.sleep(0)
    await first
    late = [asyncio.create_task(verify(n)) for n in range(4, 8)]  # arrive as 1 gets the child
    await asyncio.gather(*waiting, *late)
    assert order == list(range(8))
