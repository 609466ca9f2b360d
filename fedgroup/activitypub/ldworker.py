"""JSON-LD work (canonicalization for LD signatures) in child processes, with a time budget.

URDNA2015 canonicalization is pure Python and its cost grows faster than linearly with the
size of a document: done on the event loop, one forwarded activity with a few thousand `cc`
entries stops every request, `/healthz` included. So every LD signature made or checked runs
here instead:

- only for documents whose JSON is at most `LdLimits.max_bytes` long (larger ones are refused
  without any work: real activities are a few kilobytes);
- in a child process, one call at a time per child, within `LdLimits.time_budget` seconds
  counted from the call (waiting for a free child included); a child that overruns is killed
  and replaced, and the call is refused.

A refusal is an `LdRefused` whose `reason` says which limit was met: the caller treats the
signature as unchecked (an inbound activity must then be vouched for otherwise) or sends its
own activity without one.

The children are shared by the whole process (like its CPUs): they are started on first use,
hold no state between calls and die with the process. Nothing here is bound to one event
loop, so every server in a process (tests run many) shares them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import struct
import subprocess
import sys
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import jsonld, ldsig
from .keys import load_private_key, load_public_pem

log = logging.getLogger(__name__)

_NICENESS = 10
_HEADER = struct.Struct(">I")  # each message: its length, then that much JSON


class LdRefused(Exception):
    """JSON-LD work on a document was refused or abandoned; `reason` is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LdLimits:
    """How big a document we canonicalize at all, how long one call may take, and how many
    child processes do the work (each call uses one)."""

    max_bytes: int = 262_144
    time_budget: float = 5.0
    workers: int = 1


# -- the child side ---------------------------------------------------------------------------


def _verify_and_compact(doc: dict[str, Any], public_key_pem: str) -> dict[str, Any] | None:
    if not ldsig.verify_document(doc, load_public_pem(public_key_pem)):
        return None
    return jsonld.compact_known_terms(doc)


def _sign(doc: dict[str, Any], private_key_pem: str, key_id: str) -> dict[str, Any]:
    return ldsig.sign_document(doc, private_key=load_private_key(private_key_pem), key_id=key_id)


def _sign_many(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each item (`_sign`'s arguments) signed on its own: one that fails is refused alone."""
    answers: list[dict[str, Any]] = []
    for item in items:
        try:
            answers.append({"result": _sign(**item)})
        except jsonld.JsonLdProcessingError as exc:
            answers.append({"refused": str(exc)})
        except Exception as exc:  # this document's failure, not the batch's
            answers.append({"refused": f"{type(exc).__name__}: {exc}"})
    return answers


_OPERATIONS = {"verify_and_compact": _verify_and_compact, "sign": _sign, "sign_many": _sign_many}


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _write_frame(fd: int, data: bytes) -> None:
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def child_main() -> None:
    """Answer framed requests on stdin, on a private copy of stdout, until stdin closes."""
    replies = os.dup(1)
    os.dup2(2, 1)  # anything printed goes to the log, never into our replies
    # Below the server in the CPU's queue: on a busy machine the event loop answering
    # requests comes first, the signature being checked waits.
    os.nice(_NICENESS)
    while True:
        try:
            (size,) = _HEADER.unpack(_read_exactly(0, _HEADER.size))
            request = json.loads(_read_exactly(0, size))
        except (EOFError, OSError):
            return
        try:
            answer = {"result": _OPERATIONS[request["op"]](**request["args"])}
        except jsonld.JsonLdProcessingError as exc:
            answer = {"refused": str(exc)}
        except Exception as exc:  # any failure is this document's, reported, never fatal
            answer = {"refused": f"{type(exc).__name__}: {exc}"}
        _write_frame(replies, json.dumps(answer).encode("utf-8"))


# -- the parent side --------------------------------------------------------------------------

_CHILD_COMMAND = "from fedgroup.activitypub.ldworker import child_main; child_main()"
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class _Child:
    """One child Python process, spoken to over its stdin and stdout.

    A plain subprocess, not multiprocessing: nothing of ours (event loop, sockets, the main
    script) is copied or re-run in it."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CHILD_COMMAND],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.requests, self.replies = self.process.stdin, self.process.stdout
        os.set_blocking(self.requests.fileno(), False)
        os.set_blocking(self.replies.fileno(), False)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        for pipe in (self.requests, self.replies):
            with contextlib.suppress(Exception):
                pipe.close()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=1)


_idle: list[_Child] = []
_busy = 0
#: Calls waiting for a child, first come first served: a child that comes back is handed to
#: the oldest waiter directly (on the waiter's own event loop: several servers may share
#: this process's children), never left idle for a newcomer to take. Before, a woken waiter
#: raced every newcomer for the child and went to the back of the line when it lost: under
#: a steady stream of posts a few calls waited seconds, and the inbound batch waiting for
#: them stalled with them.
_waiting: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[_Child | None]]] = deque()


def _hand_over(child: _Child | None) -> None:
    """Give `child` (None: a child slot freed, no process) to the oldest waiter still waiting,
    or put it back when nobody waits."""
    global _busy
    while _waiting:
        loop, waiter = _waiting.popleft()
        if loop.is_closed() or waiter.done():
            continue

        def deliver(waiter: asyncio.Future[_Child | None] = waiter) -> None:
            if waiter.done():  # it gave up meanwhile: the next in line gets the child
                _hand_over(child)
            else:
                waiter.set_result(child)

        loop.call_soon_threadsafe(deliver)
        return
    if child is not None:
        _busy -= 1
        _idle.append(child)


async def _wait_for_child(workers: int, deadline: float, budget: float) -> _Child:
    if not _waiting:  # nobody is ahead of this call
        child = _take_child(workers)
        if child is not None:
            return child
    loop = asyncio.get_running_loop()
    while True:
        waiter: asyncio.Future[_Child | None] = loop.create_future()
        entry = (loop, waiter)
        _waiting.append(entry)
        handed: _Child | None = None
        try:
            async with asyncio.timeout(max(deadline - time.monotonic(), 0)):
                handed = await asyncio.shield(waiter)
        except TimeoutError:
            raise LdRefused(f"no JSON-LD worker free within {budget:g} s") from None
        finally:
            with contextlib.suppress(ValueError):
                _waiting.remove(entry)
            if handed is None and waiter.done() and not waiter.cancelled():
                _hand_over(waiter.result())  # handed to us as we gave up: pass it on
            waiter.cancel()
        if handed is not None:
            return handed
        # A slot freed without a process (a replacement could not start): start one.
        child = _take_child(workers)
        if child is not None:
            return child


def _take_child(workers: int) -> _Child | None:
    """A free live child, a new one if fewer than `workers` exist, or None (all busy)."""
    global _busy
    while _idle:
        child = _idle.pop()
        if child.alive():
            _busy += 1
            return child
        child.kill()
    if _busy < workers:
        _busy += 1
        try:
            return _Child()
        except OSError as exc:  # out of processes or file descriptors: refuse, do not crash
            _busy -= 1
            log.warning("JSON-LD worker could not start: %s", exc)
            raise LdRefused("JSON-LD worker could not start") from None
        except BaseException:
            _busy -= 1
            raise
    return None


async def _send(child: _Child, payload: bytes) -> None:
    """Write one request from the event loop: the child is idle and reading, so the pipe
    takes most frames at once; a frame bigger than the pipe's buffer waits for room.

    (A thread used to write it: with the loop busy, handing the write to a thread and back
    cost several milliseconds of waiting for the GIL on each call, more than the signature.)"""
    loop = asyncio.get_running_loop()
    fd = child.requests.fileno()
    view = memoryview(_HEADER.pack(len(payload)) + payload)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            pass
        if not view:
            return
        writable: asyncio.Future[None] = loop.create_future()
        loop.add_writer(fd, lambda f=writable: f.done() or f.set_result(None))
        try:
            await writable
        finally:
            loop.remove_writer(fd)


def _give_back(child: _Child, *, healthy: bool) -> None:
    global _busy
    if healthy:
        _hand_over(child)
        return
    child.kill()
    # Its replacement starts now, so the next call does not also wait for Python to start.
    try:
        replacement = _Child()
    except OSError:
        _busy -= 1
        _hand_over(None)
        return
    _hand_over(replacement)


async def _read_frame(child: _Child, deadline: float) -> bytes:
    """The child's next reply, read as it becomes available, or TimeoutError at `deadline`."""
    loop = asyncio.get_running_loop()
    fd = child.replies.fileno()
    buffer = b""
    wanted: int | None = None
    while wanted is None or len(buffer) < wanted:
        readable: asyncio.Future[None] = loop.create_future()
        loop.add_reader(fd, lambda f=readable: f.done() or f.set_result(None))
        try:
            async with asyncio.timeout(max(deadline - time.monotonic(), 0)):
                await readable
        finally:
            loop.remove_reader(fd)
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            continue
        if not chunk:
            raise EOFError
        buffer += chunk
        if wanted is None and len(buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack(buffer[: _HEADER.size])
            buffer, wanted = buffer[_HEADER.size :], size
    return buffer


async def _call(
    op: str, args: dict[str, Any], limits: LdLimits, *, what: str, deadline: float | None = None
) -> Any:
    """One request to a free child, answered by `deadline` (by default the time budget from
    now, waiting for the child included) or refused."""
    if deadline is None:
        deadline = time.monotonic() + limits.time_budget
    payload = json.dumps({"op": op, "args": args}).encode("utf-8")
    child = await _wait_for_child(limits.workers, deadline, limits.time_budget)
    healthy = False
    try:
        async with asyncio.timeout(max(deadline - time.monotonic(), 0)):
            await _send(child, payload)
        raw = await _read_frame(child, deadline)
        healthy = True
    except TimeoutError:
        log.warning("JSON-LD %s of %s took over %g s: worker killed", op, what, limits.time_budget)
        raise LdRefused(f"JSON-LD processing over its {limits.time_budget:g} s budget") from None
    except (EOFError, OSError) as exc:
        raise LdRefused(f"JSON-LD worker failed: {type(exc).__name__}") from None
    finally:
        _give_back(child, healthy=healthy)
    answer = json.loads(raw)
    if "refused" in answer:
        raise LdRefused(answer["refused"])
    return answer["result"]


def _document_size(doc: dict[str, Any]) -> int:
    return len(json.dumps(doc, ensure_ascii=False).encode("utf-8"))


def _check_size(doc: dict[str, Any], limits: LdLimits) -> None:
    if _document_size(doc) > limits.max_bytes:
        raise LdRefused(f"document over {limits.max_bytes} bytes: not canonicalized")


async def verify_and_compact(
    doc: dict[str, Any], public_key_pem: str, limits: LdLimits
) -> dict[str, Any] | None:
    """The document reduced to what its RsaSignature2017 covers (see
    `jsonld.compact_known_terms`) if the signature verifies with the key, else None."""
    _check_size(doc, limits)
    args = {"doc": doc, "public_key_pem": public_key_pem}
    return await _call("verify_and_compact", args, limits, what=str(doc.get("id")))


#: At most this many signatures go to a child in one request.
MAX_SIGN_BATCH = 32


@dataclass
class _SignRequest:
    item: dict[str, Any]  # `_sign`'s arguments
    size: int
    deadline: float
    done: asyncio.Future[dict[str, Any]]


@dataclass
class _SignQueue:
    """The signatures asked for on one event loop and not yet sent to a child."""

    waiting: deque[_SignRequest] = field(default_factory=deque)
    senders: int = 0


_sign_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _SignQueue] = (
    weakref.WeakKeyDictionary()
)
_senders: set[asyncio.Task[None]] = set()


async def sign(
    doc: dict[str, Any], *, private_key_pem: str, key_id: str, limits: LdLimits
) -> dict[str, Any]:
    """A copy of `doc` with an RsaSignature2017 signature by `key_id` (see
    `ldsig.sign_document`).

    Signatures asked for while the children are busy are sent together, up to
    `MAX_SIGN_BATCH` (and `limits.max_bytes` of documents) per request: a post announced in
    a busy group waited for a child's round trip, a few milliseconds of handing over,
    for each of its signatures; now the round trip is shared, as a group commit shares a
    flush. Each signature still gets its own answer, and its budget counts from this call."""
    size = _document_size(doc)
    if size > limits.max_bytes:
        raise LdRefused(f"document over {limits.max_bytes} bytes: not canonicalized")
    loop = asyncio.get_running_loop()
    queue = _sign_queues.setdefault(loop, _SignQueue())
    item = {"doc": doc, "private_key_pem": private_key_pem, "key_id": key_id}
    request = _SignRequest(item, size, time.monotonic() + limits.time_budget, loop.create_future())
    queue.waiting.append(request)
    if queue.senders < limits.workers:
        queue.senders += 1
        sender = loop.create_task(_send_signatures(queue, limits), name="ld-signatures")
        _senders.add(sender)
        sender.add_done_callback(_senders.discard)
    return await request.done


def _next_batch(queue: _SignQueue, limits: LdLimits) -> list[_SignRequest]:
    batch: list[_SignRequest] = []
    total = 0
    while queue.waiting and len(batch) < MAX_SIGN_BATCH:
        request = queue.waiting[0]
        if batch and total + request.size > limits.max_bytes:
            break
        queue.waiting.popleft()
        if not request.done.done():  # its caller may have given up
            batch.append(request)
            total += request.size
    return batch


async def _send_signatures(queue: _SignQueue, limits: LdLimits) -> None:
    """Send what waits, batch after batch, until nothing does."""
    try:
        while queue.waiting:
            batch = _next_batch(queue, limits)
            if not batch:
                continue
            try:
                answers = await _call(
                    "sign_many",
                    {"items": [request.item for request in batch]},
                    limits,
                    what=f"{len(batch)} documents",
                    deadline=min(request.deadline for request in batch),
                )
            except Exception as exc:
                reason = exc.reason if isinstance(exc, LdRefused) else type(exc).__name__
                answers = [{"refused": reason}] * len(batch)
            for request, answer in zip(batch, answers, strict=True):
                if request.done.done():
                    continue
                if "refused" in answer:
                    request.done.set_exception(LdRefused(answer["refused"]))
                else:
                    request.done.set_result(answer["result"])
    finally:
        queue.senders -= 1


def warm_up(limits: LdLimits) -> None:
    """Start the children now, so the first signature does not wait for Python to start."""
    while len(_idle) + _busy < limits.workers:
        _idle.append(_Child())


def shutdown() -> None:
    """Stop the idle children (busy ones are killed when their call ends)."""
    while _idle:
        _idle.pop().kill()


_limits = LdLimits()


def configure(limits: LdLimits) -> None:
    """Set the limits the server was configured with, for callers that hold no settings."""
    global _limits
    _limits = limits


def configured_limits() -> LdLimits:
    return _limits
