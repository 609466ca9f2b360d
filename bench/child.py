"""Running the other side of a benchmark in its own process.

Remote servers do not share our CPU in production. If the load generator or the receiving
servers ran in the server's event loop, every figure would measure both at once, so they run
in a child Python process (`python -m bench.<module>`) that gets one JSON document on stdin and
answers with JSON lines on stdout.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
_LINE_LIMIT = 64 * 1024 * 1024  # a load report carries every latency sample


class Child:
    """A started child: `await child.next_message()` for each JSON line it prints."""

    def __init__(self, process: asyncio.subprocess.Process, module: str) -> None:
        self.process = process
        self.module = module

    async def next_message(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            code = await self.process.wait()
            raise RuntimeError(f"bench child {self.module} exited ({code}) without answering")
        return json.loads(line)

    async def close(self) -> None:
        """Close its stdin (children stop when it closes) and wait; kill it if it lingers."""
        if self.process.returncode is None:
            if self.process.stdin is not None and not self.process.stdin.is_closing():
                self.process.stdin.close()
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def start_child(module: str, request: dict[str, Any], *, keep_stdin: bool = False) -> Child:
    """Start `python -m bench.<module>` and send it `request`; stdin stays open only if the
    child is meant to run until told to stop (`keep_stdin`)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"bench.{module}",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT,
        env=env,
        limit=_LINE_LIMIT,
    )
    assert process.stdin is not None
    process.stdin.write(json.dumps(request).encode() + b"\n")
    await process.stdin.drain()
    if not keep_stdin:
        process.stdin.close()
    return Child(process, module)


def read_request() -> dict[str, Any]:
    """In the child: the request document (the first line of stdin)."""
    line = sys.stdin.buffer.readline()
    if not line:
        raise SystemExit("bench child: no request on stdin")
    return json.loads(line)


def answer(message: dict[str, Any]) -> None:
    """In the child: one JSON line to the parent."""
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()
