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
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import jsonld, ldsig
from .keys import load_private_key, load_public_pem

log = logging.getLogger(__name__)

_POLL_FALLBACK = 0.5  # seconds: a waiter looks again even if no wake-up reached it
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


_OPERATIONS = {"verify_and_compact": _verify_and_compact, "sign": _sign}


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
#: Calls waiting for a free child, woken one at a time as children come back (each on its
#: own event loop: several servers may share this process's children).
_waiting: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()


def _wake_one() -> None:
    while _waiting:
        loop, waiter = _waiting.popleft()
        if loop.is_closed():
            continue
        loop.call_soon_threadsafe(lambda w=waiter: w.done() or w.set_result(None))
        return


async def _wait_for_child(workers: int, deadline: float, budget: float) -> _Child:
    child = _take_child(workers)
    loop = asyncio.get_running_loop()
    while child is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LdRefused(f"no JSON-LD worker free within {budget:g} s")
        waiter: asyncio.Future[None] = loop.create_future()
        entry = (loop, waiter)
        _waiting.append(entry)
        try:
            # Woken when a child comes back; the poll is only a safety net.
            await asyncio.wait_for(asyncio.shield(waiter), min(remaining, _POLL_FALLBACK))
        except TimeoutError:
            pass
        finally:
            with contextlib.suppress(ValueError):
                _waiting.remove(entry)
        child = _take_child(workers)
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
    """Write one request; the child reads its stdin whenever it is idle, as it is now."""
    frame = _HEADER.pack(len(payload)) + payload
    await asyncio.to_thread(_write_all, child.requests, frame)


def _write_all(pipe: Any, frame: bytes) -> None:
    pipe.write(frame)
    pipe.flush()


def _give_back(child: _Child, *, healthy: bool) -> None:
    global _busy
    _busy -= 1
    if healthy:
        _idle.append(child)
    else:
        child.kill()
        # Its replacement starts now, so the next call does not also wait for Python to start.
        with contextlib.suppress(OSError):
            _idle.append(_Child())
    _wake_one()


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


async def _call(op: str, args: dict[str, Any], doc: dict[str, Any], limits: LdLimits) -> Any:
    started = time.monotonic()
    deadline = started + limits.time_budget
    payload = json.dumps({"op": op, "args": {"doc": doc, **args}}).encode("utf-8")
    child = await _wait_for_child(limits.workers, deadline, limits.time_budget)
    healthy = False
    try:
        await _send(child, payload)
        raw = await _read_frame(child, deadline)
        healthy = True
    except TimeoutError:
        log.warning(
            "JSON-LD %s of %s took over %g s: worker killed", op, doc.get("id"), limits.time_budget
        )
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
    return await _call("verify_and_compact", {"public_key_pem": public_key_pem}, doc, limits)


async def sign(
    doc: dict[str, Any], *, private_key_pem: str, key_id: str, limits: LdLimits
) -> dict[str, Any]:
    """A copy of `doc` with an RsaSignature2017 signature by `key_id` (see
    `ldsig.sign_document`)."""
    _check_size(doc, limits)
    args = {"private_key_pem": private_key_pem, "key_id": key_id}
    return await _call("sign", args, doc, limits)


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
