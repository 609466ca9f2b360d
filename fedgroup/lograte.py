"""Rate-limited logging of repeated messages: what strangers can trigger cannot fill a disk.

Thousands of refused requests, or slow connections closed, each log the same line with other
values. `RepeatLimit` lets the first `burst` records of each kind (logger, level, message
template) through per `window` seconds and drops the rest; the next one let through says how
many like it were dropped. Records of our own routine work (below WARNING, from loggers no
stranger drives, and the access log) pass untouched.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

#: Loggers whose INFO lines a remote client causes, one per refusal or closed connection.
#: (The access log, one line per answered request, is not limited: it is what it is for.)
STRANGER_DRIVEN = ("fedgroup.web.", "aiohttp", "asyncio")


class RepeatLimit(logging.Filter):
    """A filter for handlers; see the module docstring."""

    def __init__(self, *, burst: int = 10, window: float = 60.0) -> None:
        super().__init__()
        self.burst, self.window = burst, window
        self._seen: dict[tuple[str, int, str], tuple[float, int, int]] = {}
        self._lock = threading.Lock()

    def _limited(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.startswith(STRANGER_DRIVEN)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._limited(record):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        with self._lock:
            started, passed, dropped = self._seen.get(key, (now, 0, 0))
            if now - started >= self.window:
                started, passed = now, 0
            if passed >= self.burst:
                self._seen[key] = (started, passed, dropped + 1)
                return False
            self._seen[key] = (started, passed + 1, 0)
            if len(self._seen) > 10_000:  # kinds are few; bound the table all the same
                self._seen.clear()
        if dropped:
            record.msg = f"{record.getMessage()} [and {dropped} like it not logged before]"
            record.args = None
        return True


def configure_logging(level: str, *, process: str = "") -> None:
    """Log to stderr, strangers' repeats limited. `process` labels every line of a process
    that shares the log with another (the worker process writes "worker" after the level),
    so an operator can tell who said what."""
    label = f"{process} " if process else ""
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)s {label}%(name)s %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RepeatLimit())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("tortoise").setLevel(logging.WARNING)
